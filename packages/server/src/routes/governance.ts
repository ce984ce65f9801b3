/**
 * Environments (list, create, update) and schemas (list, get, register; publish with a
 * compatibility report, and a compatibility check that writes nothing).
 */
import { type Environment, isConfigError, type PublishReport } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Problem, problem, problemOf } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, callOptions } from '../request-context.js';
import { environmentSchema, errorResponses, jsonObject, security } from '../schemas.js';
import { pathId } from './configs.js';
import type { ServerContext } from './context.js';

const environmentBody = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    parent: { type: ['string', 'null'] },
    production: { type: 'boolean' },
    approvalPolicy: { anyOf: [jsonObject, { type: 'null' }] },
  },
  required: ['name'],
  additionalProperties: false,
} as const;

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string' } },
  required: ['name'],
} as const;

export function environmentRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/environments',
    {
      schema: {
        tags: ['environments'],
        summary: 'List environments',
        security,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: environmentSchema } },
            required: ['items'],
          },
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: await service.listEnvironments(actorOf(request)) }),
  );

  app.post(
    '/api/v1/environments',
    {
      schema: {
        tags: ['environments'],
        summary: 'Create an environment',
        security,
        body: environmentBody,
        response: { 201: environmentSchema, ...errorResponses(404, 409, 422) },
      },
    },
    async (request, reply) => {
      const env = await service.createEnvironment(
        actorOf(request),
        { ...(request.body as Environment) },
        callOptions(request),
      );
      reply.code(201).header('Location', `/api/v1/environments/${env.name}`);
      return env;
    },
  );

  app.put(
    '/api/v1/environments/:name',
    {
      schema: {
        tags: ['environments'],
        summary: 'Update an environment (the whole definition)',
        security,
        params: nameParams,
        body: environmentBody,
        response: { 200: environmentSchema, ...errorResponses(404, 422) },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const body = { ...(request.body as Environment) };
      if (body.name !== name) throw errors.constraint(`the body names environment "${body.name}", the path "${name}"`);
      return service.updateEnvironment(actorOf(request), body, callOptions(request));
    },
  );
}

const schemaItem = {
  type: 'object',
  properties: { id: { type: 'string' }, version: { type: 'integer' }, versions: { type: 'integer' } },
} as const;

export function schemaRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/schemas',
    {
      schema: {
        tags: ['schemas'],
        summary: 'List schema ids with their latest version',
        security,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: schemaItem } }, required: ['items'] },
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: await service.listSchemas(actorOf(request)) }),
  );

  app.get(
    '/api/v1/schemas/*',
    {
      schema: {
        tags: ['schemas'],
        summary: 'Get a schema (the latest, or `?version=N`)',
        security,
        params: {
          type: 'object',
          properties: { '*': { type: 'string', description: 'the config id; may contain `/`' } },
          required: ['*'],
        },
        querystring: {
          type: 'object',
          properties: { version: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, version: { type: 'integer' }, schema: jsonObject },
            required: ['id', 'version', 'schema'],
          },
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const id = pathId((request.params as { '*': string })['*']);
      const { version } = request.query as { version?: number };
      const found = await service.getSchema(actorOf(request), id, version);
      if (!found) throw errors.notFound(`no schema ${id}${version === undefined ? '' : ` v${version}`}`);
      return found;
    },
  );

  app.put(
    '/api/v1/schemas/*',
    {
      schema: {
        tags: ['schemas'],
        summary: 'Register a new version of a schema (JSON Schema 2020-12)',
        security,
        params: {
          type: 'object',
          properties: { '*': { type: 'string', description: 'the config id; may contain `/`' } },
          required: ['*'],
        },
        body: { type: 'object', properties: { schema: jsonObject }, required: ['schema'], additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, version: { type: 'integer' } },
            required: ['id', 'version'],
          },
          ...errorResponses(409, 422),
        },
      },
    },
    async (request) => {
      const id = pathId((request.params as { '*': string })['*']);
      const { schema } = request.body as { schema: unknown };
      const version = await service.registerSchema(actorOf(request), id, schema, callOptions(request));
      return { id, version };
    },
  );
  schemaPublishRoutes(app, service);
}

const changeSchema = {
  type: 'object',
  properties: {
    pointer: { type: 'string' },
    kind: { type: 'string' },
    breaking: { type: 'boolean' },
    message: { type: 'string' },
  },
  additionalProperties: true,
} as const;

const compatibilitySchema = {
  type: 'object',
  description: 'CompatibilityReport: every change found between the two versions, and the breaking subset',
  properties: {
    compatible: { type: 'boolean' },
    changes: { type: 'array', items: changeSchema },
    breaking: { type: 'array', items: changeSchema },
  },
  required: ['compatible', 'changes', 'breaking'],
} as const;

const publishBody = {
  type: 'object',
  properties: {
    schema: jsonObject,
    force: { type: 'boolean', description: '`publish` only: publish although breaking or documents stop validating' },
  },
  required: ['schema'],
  additionalProperties: false,
} as const;

/** A `PublishReport` (`publish`) or `{ id, against, compatibility, documentsChecked: false }` (`compatibility`). */
const publishResponse = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    version: { type: 'integer', description: '`publish`: the version published (the latest when unchanged)' },
    previousVersion: { type: ['integer', 'null'] },
    changed: { type: 'boolean', description: '`publish`: false when the schema equals the latest version' },
    forced: { type: 'boolean' },
    against: { type: ['integer', 'null'], description: '`compatibility`: the latest version compared with' },
    compatibility: compatibilitySchema,
    documents: { type: 'array', items: jsonObject },
    stopsValidating: { type: 'array', items: { type: 'string' } },
    documentsChecked: { type: 'boolean' },
  },
  required: ['id', 'compatibility'],
  additionalProperties: true,
} as const;

/** A refused publish: the service's error carries the report (breaking change, documents that stop validating). */
function reportOf(error: unknown): PublishReport | undefined {
  if (!isConfigError(error)) return undefined;
  const report = (error as { report?: unknown }).report;
  return typeof report === 'object' && report !== null ? (report as PublishReport) : undefined;
}

/**
 * `POST /api/v1/schemas/{id}/publish` and `POST /api/v1/schemas/{id}/compatibility`: one route, as
 * ids contain `/` (the last segment is the action; an id may itself end in `publish`).
 */
function schemaPublishRoutes(app: FastifyInstance, service: ServerContext['service']): void {
  app.post(
    '/api/v1/schemas/*',
    {
      schema: {
        tags: ['schemas'],
        summary:
          '`{id}/publish`: publish a new version with its compatibility report (refused when breaking or when stored documents stop validating, unless `force`); `{id}/compatibility`: compare with the latest version, writing nothing',
        security,
        params: {
          type: 'object',
          properties: {
            '*': { type: 'string', description: '`<config id>/publish` or `<config id>/compatibility`' },
          },
          required: ['*'],
        },
        body: publishBody,
        response: { 200: publishResponse, ...errorResponses(404, 422) },
      },
    },
    async (request, reply) => {
      const m = /^(.+)\/(publish|compatibility)$/.exec((request.params as { '*': string })['*']);
      if (!m) {
        const path = request.url.split('?', 1)[0] as string;
        return sendProblem(request, reply, problem(404, 'NOT_FOUND', `no route POST ${path.slice(0, 300)}`));
      }
      const id = pathId(m[1] as string);
      const { schema, force } = request.body as { schema: unknown; force?: boolean };
      if (m[2] === 'compatibility') {
        if (force !== undefined) throw errors.constraint('force applies to publish, not to a compatibility check');
        return compatibilityOf(service, request, id, schema);
      }
      return publish(service, request, reply, id, schema, force === true);
    },
  );
}

async function publish(
  service: ServerContext['service'],
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  schema: unknown,
  force: boolean,
): Promise<unknown> {
  try {
    return await service.publishSchema(actorOf(request), id, schema, { ...callOptions(request), force });
  } catch (error) {
    const report = reportOf(error);
    if (!report) throw error;
    // The refusal's problem (400 for a breaking change, 422 for documents) with the report inside.
    const body: Problem & { report: PublishReport } = { ...problemOf(error, false), report };
    return sendProblem(request, reply, body);
  }
}

async function compatibilityOf(
  service: ServerContext['service'],
  request: FastifyRequest,
  id: string,
  schema: unknown,
): Promise<unknown> {
  // `schema:read` (and the id) first: a caller without it learns nothing of the latest version.
  const latest = await service.getSchema(actorOf(request), id);
  const checked = service.schemas.checkSchema(schema, id);
  const compatibility = latest
    ? service.schemas.compatibility(latest.schema, checked)
    : { compatible: true, changes: [], breaking: [] };
  return { id, against: latest?.version ?? null, compatibility, documentsChecked: false };
}
