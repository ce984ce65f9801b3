/**
 * Resolved reads: the value an app sees for an id in an environment, with the details (versions,
 * checksum, reason, rollout rule and variant) and, with `?explain=true`, which layer set each leaf.
 * Resolution is the client's own (`createConfigClient` over the store, the governance storage's
 * environments, the service's schema registry), as the CLI's `get --environment` and `explain` do.
 */
import { createConfigClient, isConfigError } from '@summit-config/core';
import { errors, withoutAcks } from '@summit-config/core/internal';
import type { FastifyInstance } from 'fastify';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf } from '../request-context.js';
import { errorResponses, jsonObject, security } from '../schemas.js';
import { pathId } from './configs.js';
import type { ServerContext } from './context.js';

/** `key=value` pairs; a value that parses as JSON is that value, else the text. */
function contextOf(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw errors.constraint(`context "${pair.slice(0, 100)}" must be key=value`);
    const key = pair.slice(0, eq);
    const text = pair.slice(eq + 1);
    try {
      out[key] = JSON.parse(text) as unknown;
    } catch {
      out[key] = text;
    }
  }
  return { ...out };
}

export function resolvedRoutes(app: FastifyInstance, { service, store }: ServerContext): void {
  app.get(
    '/api/v1/resolved/:app/:environment/*',
    {
      schema: {
        tags: ['configs'],
        summary: 'The resolved value of an id for an app in an environment (with `explain`)',
        security,
        params: {
          type: 'object',
          properties: {
            app: { type: 'string' },
            environment: { type: 'string' },
            '*': { type: 'string', description: 'the config id; may contain `/`' },
          },
          required: ['app', 'environment', '*'],
        },
        querystring: {
          type: 'object',
          properties: {
            explain: { type: 'boolean', default: false },
            context: { type: 'array', items: { type: 'string' }, description: 'rollout context, `key=value`' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              app: { type: 'string' },
              environment: { type: 'string' },
              value: jsonObject,
              details: jsonObject,
              explain: jsonObject,
            },
            required: ['id', 'app', 'environment', 'value', 'details'],
          },
          ...errorResponses(404, 501),
        },
      },
    },
    async (request, reply) => {
      if (!store) {
        return sendProblem(
          request,
          reply,
          problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without a store for resolved reads'),
        );
      }
      const p = request.params as { app: string; environment: string; '*': string };
      const q = request.query as { explain: boolean; context?: string[] };
      const actor = actorOf(request);
      const id = pathId(p['*']);
      // Reading both documents checks `config:read` on both scopes and validates the app and the id.
      const [globalDoc, appDoc] = await Promise.all([
        service.get(actor, `global/${id}`),
        service.get(actor, `app:${p.app}/${id}`),
      ]);
      if (!globalDoc && !appDoc) throw errors.notFound(`no document for id ${id} in global or app:${p.app}`);
      const environments = await service.listEnvironments(actor);
      if (!environments.some((e) => e.name === p.environment)) throw errors.environmentNotFound(p.environment);
      // The registry answers the client synchronously: load the id's schema first (a role without
      // schema:read resolves without schema defaults).
      await service.getSchema(actor, id).catch((error: unknown) => {
        if (!isConfigError(error, 'ACCESS_DENIED')) throw error;
      });
      const context = contextOf(q.context ?? []);
      const client = await createConfigClient({
        store: withoutAcks(store),
        app: p.app,
        environment: p.environment,
        environments,
        schemas: service.schemas,
        instance: 'summit-config-server',
      });
      try {
        const details = client.resolve(id, context);
        if (details.value === undefined) throw errors.notFound(`no document for id ${id} in global or app:${p.app}`);
        const { value, ...rest } = details;
        return {
          id,
          app: p.app,
          environment: p.environment,
          value,
          details: rest,
          ...(q.explain ? { explain: client.explain(id, context) ?? {} } : {}),
        };
      } finally {
        await client.close();
      }
    },
  );
}
