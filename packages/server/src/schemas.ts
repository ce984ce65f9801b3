/**
 * JSON Schemas shared by the routes: they validate input (Fastify's ajv) and become the OpenAPI
 * document. Response shapes list their main fields and allow more (`additionalProperties`), so a
 * field added to a core type is served, not dropped.
 */

const open = { additionalProperties: true } as const;

export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details; `code` is the ConfigError code',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    requestId: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'detail', 'code'],
  ...open,
} as const;

/** The `$id` of `problemSchema` as a shared schema (`components.schemas.Problem` in the document). */
export const PROBLEM_SCHEMA_ID = 'Problem';

/** An error response: problem+json (the content type `sendProblem` answers with), `problemSchema`. */
export const problemResponse = {
  description: 'RFC 9457 problem details (`application/problem+json`); `code` is the ConfigError code',
  content: { 'application/problem+json': { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } },
} as const;

export const jsonObject = { type: 'object', ...open } as const;

export const refSchema = {
  type: 'object',
  properties: { scope: { type: 'string' }, id: { type: 'string' } },
  required: ['scope', 'id'],
} as const;

export const versionSchema = {
  type: 'object',
  description: 'A config version (ConfigVersion)',
  properties: {
    ref: refSchema,
    version: { type: 'integer' },
    config: jsonObject,
    overrides: jsonObject,
    rollout: { anyOf: [jsonObject, { type: 'null' }] },
    metadata: jsonObject,
    checksum: { type: 'string' },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    message: { type: 'string' },
  },
  ...open,
} as const;

export const headSchema = {
  type: 'object',
  properties: { ref: { type: 'string' }, version: { type: 'integer' }, checksum: { type: 'string' } },
  ...open,
} as const;

export const environmentSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    parent: { type: 'string' },
    production: { type: 'boolean' },
    approvalPolicy: jsonObject,
  },
  required: ['name'],
  ...open,
} as const;

export const changeRequestSchema = {
  type: 'object',
  description: 'A change request',
  properties: {
    id: { type: 'string' },
    ref: refSchema,
    kind: { type: 'string' },
    status: { type: 'string' },
    baseVersion: { type: 'integer' },
    requestedBy: { type: 'string' },
    environments: { type: 'array', items: { type: 'string' } },
    requiredApprovals: { type: 'integer' },
  },
  ...open,
} as const;

export const auditEventSchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string' },
    actor: { type: 'string' },
    action: { type: 'string' },
    ref: { type: 'string' },
    version: { type: 'integer' },
    message: { type: 'string' },
    source: { type: 'string' },
    origin: {
      type: 'object',
      description: 'where the call came from (a server request)',
      properties: {
        method: { type: 'string' },
        tokenId: { type: 'string' },
        remoteAddress: { type: 'string' },
        userAgent: { type: 'string' },
        requestId: { type: 'string' },
      },
    },
  },
  ...open,
} as const;

/** `{scope}/{id...}` in a path: `scope` and the wildcard `*` (ids contain `/`). */
export const refParams = {
  type: 'object',
  properties: {
    scope: { type: 'string', description: '`global` or `app:<name>`' },
    '*': { type: 'string', description: 'the config id; may contain `/`' },
  },
  required: ['scope', '*'],
} as const;

export const ifMatchHeader = {
  type: 'object',
  properties: {
    'if-match': { type: 'string', description: '"<version>" (or an ETag): the head this change is based on' },
  },
} as const;

/**
 * Error responses of a route: those every service call may give and `statuses`. The server's own
 * hooks' answers (421, 401, 429, 413, 415...) are added to every operation of the document by
 * `openapi.ts`.
 */
export function errorResponses(...statuses: number[]): Record<string, typeof problemResponse> {
  const out: Record<string, typeof problemResponse> = {};
  for (const s of [400, 401, 403, ...statuses, 429, 500, 503, 504]) out[String(s)] = problemResponse;
  return out;
}

export const security = [{ bearer: [] }];

/** A route whose body is optional: no body validates as `{}`. */
export async function emptyBodyAsObject(request: { body: unknown }): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {};
}
