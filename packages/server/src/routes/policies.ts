/**
 * Policies: named JSON documents kept in the governance storage (`putPolicy`, `getPolicy`,
 * `listPolicies`); the service checks `policy:read` / `policy:write` and the name, and audits a put.
 */
import type { JsonObject } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance } from 'fastify';
import { actorOf, callOptions } from '../request-context.js';
import { errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

const policySchema = {
  type: 'object',
  description: 'A stored policy (StoredPolicy)',
  properties: { name: { type: 'string' }, policy: jsonObject, updatedAt: { type: 'string' } },
  required: ['name', 'policy', 'updatedAt'],
  additionalProperties: true,
} as const;

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', description: '1-128 characters of `[A-Za-z0-9_.-]`' } },
  required: ['name'],
} as const;

/** The name from the path: the service checks its characters; `.` and `..` are refused here (URL resolution). */
function policyName(name: string): string {
  if (name === '.' || name === '..') throw errors.constraint('a policy name in a URL cannot be "." or ".."');
  return name;
}

export function policyRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/policies',
    {
      schema: {
        tags: ['policies'],
        summary: 'List policies',
        security,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: policySchema } }, required: ['items'] },
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: await service.listPolicies(actorOf(request)) }),
  );

  app.get(
    '/api/v1/policies/:name',
    {
      schema: {
        tags: ['policies'],
        summary: 'Get a policy',
        security,
        params: nameParams,
        response: { 200: policySchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const name = policyName((request.params as { name: string }).name);
      const found = await service.getPolicy(actorOf(request), name);
      if (!found) throw errors.notFound(`no policy ${name}`);
      return found;
    },
  );

  app.put(
    '/api/v1/policies/:name',
    {
      schema: {
        tags: ['policies'],
        summary: 'Create or replace a policy (the whole document)',
        security,
        params: nameParams,
        body: {
          type: 'object',
          properties: { policy: jsonObject },
          required: ['policy'],
          additionalProperties: false,
        },
        response: { 200: policySchema, ...errorResponses(413) },
      },
    },
    async (request) => {
      const name = policyName((request.params as { name: string }).name);
      const { policy } = request.body as { policy: JsonObject };
      return service.putPolicy(actorOf(request), name, policy, callOptions(request));
    },
  );
}
