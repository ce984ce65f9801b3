/**
 * Who is calling (`GET /api/v1/whoami`) and API token administration (`/api/v1/tokens`: list,
 * create, revoke) with the rules of `tokens/admin.ts`. The secret is in the creation response only.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, authOf, callOptions } from '../request-context.js';
import { errorResponses, security } from '../schemas.js';
import { createTokenAdmin } from '../tokens/admin.js';
import type { ServerContext } from './context.js';

const tokenRecordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    owner: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    expiresAt: { type: 'string' },
    lastUsedAt: { type: 'string' },
    revokedAt: { type: 'string' },
    revokedBy: { type: 'string' },
  },
  required: ['id', 'name', 'owner', 'roles', 'createdAt'],
} as const;

const createBody = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    owner: { type: 'string', minLength: 1, maxLength: 256, description: 'default: the caller' },
    roles: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 64 },
    expiresAt: { type: 'string', format: 'date-time' },
  },
  required: ['name', 'roles'],
  additionalProperties: false,
} as const;

interface CreateBody {
  name: string;
  owner?: string;
  roles: string[];
  expiresAt?: string;
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['id'],
} as const;

function unavailable(request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(
    request,
    reply,
    problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without token administration'),
  );
}

export function identityRoutes(app: FastifyInstance, { tokens, rbac, service }: ServerContext): void {
  const admin = tokens && rbac && createTokenAdmin({ store: tokens, rbac, service });
  app.get(
    '/api/v1/whoami',
    {
      schema: {
        tags: ['tokens'],
        summary: 'The authenticated principal',
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              roles: { type: 'array', items: { type: 'string' } },
              method: { type: 'string', enum: ['token', 'oidc'] },
              tokenId: { type: 'string' },
              credential: { type: 'string' },
            },
            required: ['id', 'roles', 'method'],
          },
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const actor = actorOf(request);
      return {
        id: actor.id,
        roles: [...(actor.roles ?? [])],
        method: auth?.method ?? 'token',
        ...(auth?.tokenId !== undefined ? { tokenId: auth.tokenId } : {}),
        ...(actor.credential !== undefined ? { credential: actor.credential } : {}),
      };
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'List API tokens (never their secrets)',
        security,
        querystring: {
          type: 'object',
          properties: { owner: { type: 'string', minLength: 1 } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: tokenRecordSchema } },
            required: ['items'],
          },
          ...errorResponses(501),
        },
      },
    },
    async (request, reply) => {
      if (!admin) return unavailable(request, reply);
      const { owner } = request.query as { owner?: string };
      return { items: await admin.list(actorOf(request), owner !== undefined ? { owner } : {}) };
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token: its secret is in this response only',
        security,
        body: createBody,
        response: {
          201: {
            type: 'object',
            properties: { token: { type: 'string' }, record: tokenRecordSchema },
            required: ['token', 'record'],
          },
          ...errorResponses(501),
        },
      },
    },
    async (request, reply) => {
      if (!admin) return unavailable(request, reply);
      const created = await admin.create(actorOf(request), request.body as CreateBody, callOptions(request));
      reply.code(201);
      return created;
    },
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token (holds from the next request on every replica)',
        security,
        params: idParams,
        response: { 200: tokenRecordSchema, ...errorResponses(404, 501) },
      },
    },
    async (request, reply) => {
      if (!admin) return unavailable(request, reply);
      const { id } = request.params as { id: string };
      const revoked = await admin.revoke(actorOf(request), id, callOptions(request));
      return revoked;
    },
  );
}
