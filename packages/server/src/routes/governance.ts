/** Environments (list, create, update) and schemas (list, get, register). */
import type { Environment } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance } from 'fastify';
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
}
