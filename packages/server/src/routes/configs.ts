/**
 * Config documents: list, get (raw, `?version=N`), set (`If-Match` -> `expectedVersion`), delete,
 * versions, diff (RFC 6902) and rollback. A ref is `{scope}/{id}` in the path; the id may contain `/`.
 */
import { type ConfigService, type JsonObject, refKey } from '@summit-config/core';
import { errors, parseScope } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf, etagOf, expectedVersionOf, writeCallOptions } from '../request-context.js';
import {
  emptyBodyAsObject,
  errorResponses,
  headSchema,
  ifMatchHeader,
  jsonObject,
  refParams,
  security,
  versionSchema,
} from '../schemas.js';
import type { ServerContext } from './context.js';

interface RefParams {
  scope: string;
  '*': string;
}

/**
 * An id from a URL path. The service validates ids (`INVALID_CONFIG_REF`); the server also refuses
 * `.` and `..` segments, which a URL client or proxy may resolve to another ref.
 */
export function pathId(id: string): string {
  if (id.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw errors.invalidRef('an id in a URL has no "." or ".." segment', id.slice(0, 300));
  }
  return id;
}

/** `<scope>/<id>` of the path (the service validates it: `INVALID_CONFIG_REF`). */
export function refOf(request: FastifyRequest): string {
  const p = request.params as RefParams;
  return `${p.scope}/${pathId(p['*'])}`;
}

const setBody = {
  type: 'object',
  properties: {
    config: { ...jsonObject, description: 'the whole document (set replaces; it does not merge)' },
    overrides: { type: 'object', additionalProperties: jsonObject },
    rollout: { anyOf: [jsonObject, { type: 'null' }] },
    metadata: jsonObject,
    message: { type: 'string' },
    emergency: { type: 'boolean', description: 'apply at once in guarded environments (when allowed)' },
  },
  required: ['config'],
  additionalProperties: false,
} as const;

interface SetBody {
  config: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  metadata?: JsonObject;
  message?: string;
  emergency?: boolean;
}

/** `?scope=&prefix=` of a list of heads (`GET /configs`, `GET /rollouts`). */
export const listQuery = {
  type: 'object',
  properties: { scope: { type: 'string' }, prefix: { type: 'string' } },
  additionalProperties: false,
} as const;

/** The heads the request's actor may list, filtered by the service with `?scope=` and `?prefix=`. */
export function listHeads(service: ConfigService, request: FastifyRequest) {
  const q = request.query as { scope?: string; prefix?: string };
  return service.list(actorOf(request), {
    ...(q.scope !== undefined ? { scope: parseScope(q.scope) } : {}),
    ...(q.prefix !== undefined ? { prefix: q.prefix } : {}),
  });
}

export function configRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/configs',
    {
      schema: {
        tags: ['configs'],
        summary: 'List configs (their heads)',
        security,
        querystring: listQuery,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: headSchema } }, required: ['items'] },
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const heads = await listHeads(service, request);
      return { items: heads.map((h) => ({ ...h, ref: refKey(h.ref) })) };
    },
  );

  app.get(
    '/api/v1/configs/:scope/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'Get a config document (the head, or `?version=N`)',
        security,
        params: refParams,
        querystring: {
          type: 'object',
          properties: { version: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
        response: { 200: versionSchema, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const ref = refOf(request);
      const { version } = request.query as { version?: number };
      const doc = await service.get(actorOf(request), ref, version === undefined ? {} : { version });
      if (!doc) throw errors.notFound(`${ref} does not exist`, { ref });
      reply.header('ETag', etagOf(doc));
      return doc;
    },
  );

  app.put(
    '/api/v1/configs/:scope/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'Set a config document (a new version); `If-Match: "<version>"` makes it a compare-and-set',
        security,
        params: refParams,
        headers: ifMatchHeader,
        body: setBody,
        response: { 200: versionSchema, 201: versionSchema, ...errorResponses(404, 409, 412, 413, 422) },
      },
    },
    async (request, reply) => {
      const ref = refOf(request);
      const body = request.body as SetBody;
      const expectedVersion = expectedVersionOf(request);
      const doc = await service.set(
        actorOf(request),
        // The service reads an absent field and an undefined one alike.
        {
          ref,
          config: body.config,
          overrides: body.overrides,
          rollout: body.rollout,
          metadata: body.metadata,
          message: body.message,
        },
        { ...writeCallOptions(request), expectedVersion, emergency: body.emergency },
      );
      reply.header('ETag', etagOf(doc));
      if (doc.version === 1) reply.code(201).header('Location', `/api/v1/configs/${ref}`);
      return doc;
    },
  );

  app.delete(
    '/api/v1/configs/:scope/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'Delete a config (appends a tombstone version)',
        security,
        params: refParams,
        headers: ifMatchHeader,
        querystring: {
          type: 'object',
          properties: { message: { type: 'string' }, emergency: { type: 'boolean' } },
          additionalProperties: false,
        },
        response: { 200: versionSchema, ...errorResponses(404, 409, 412) },
      },
    },
    async (request, reply) => {
      const q = request.query as { message?: string; emergency?: boolean };
      const expectedVersion = expectedVersionOf(request);
      const doc = await service.delete(actorOf(request), refOf(request), {
        ...writeCallOptions(request),
        expectedVersion,
        message: q.message,
        emergency: q.emergency,
      });
      reply.header('ETag', etagOf(doc));
      return doc;
    },
  );

  app.get(
    '/api/v1/versions/:scope/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'The version history of a config, newest first',
        security,
        params: refParams,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    version: { type: 'integer' },
                    checksum: { type: 'string' },
                    createdAt: { type: 'string' },
                    createdBy: { type: 'string' },
                    message: { type: 'string' },
                    deleted: { type: 'boolean' },
                    metadata: jsonObject,
                  },
                },
              },
            },
            required: ['items'],
          },
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const ref = refOf(request);
      const { limit } = request.query as { limit: number };
      const items = await service.history(actorOf(request), ref, { limit });
      if (items.length === 0) throw errors.notFound(`${ref} does not exist`, { ref });
      return { items };
    },
  );

  app.get(
    '/api/v1/diffs/:scope/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'The RFC 6902 JSON Patch between two versions (`to` defaults to the head)',
        security,
        params: refParams,
        querystring: {
          type: 'object',
          properties: { from: { type: 'integer', minimum: 0 }, to: { type: 'integer', minimum: 0 } },
          required: ['from'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              ref: { type: 'string' },
              from: { type: 'integer' },
              to: { type: 'integer' },
              patch: { type: 'array', items: jsonObject },
            },
            required: ['ref', 'from', 'to', 'patch'],
          },
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const q = request.query as { from: number; to?: number };
      return service.diff(actorOf(request), refOf(request), q.from, q.to);
    },
  );

  app.post(
    '/api/v1/rollbacks/:scope/*',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags: ['configs'],
        summary: 'Roll a config back: append the content of version `to` (default: the one before the head)',
        security,
        params: refParams,
        headers: ifMatchHeader,
        body: {
          type: 'object',
          properties: {
            to: { type: 'integer', minimum: 1 },
            message: { type: 'string' },
            emergency: { type: 'boolean' },
          },
          additionalProperties: false,
        },
        response: { 200: versionSchema, ...errorResponses(404, 409, 412, 422) },
      },
    },
    async (request, reply) => {
      const body = (request.body ?? {}) as { to?: number; message?: string; emergency?: boolean };
      const expectedVersion = expectedVersionOf(request);
      const doc = await service.rollback(actorOf(request), refOf(request), {
        ...writeCallOptions(request),
        expectedVersion,
        to: body.to,
        message: body.message,
        emergency: body.emergency,
      });
      reply.header('ETag', etagOf(doc));
      return doc;
    },
  );
}
