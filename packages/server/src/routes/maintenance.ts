/**
 * Maintenance an operator starts by hand (the CLI's `audit checkpoint`, `trust resign` and
 * `reconcile` in remote mode): checkpoint the audit trail (the service checks `config:audit:read`,
 * and `policy:write` to adopt), re-sign the heads that do not verify (the service checks `import`),
 * and copy the versions one durable tier lacks from the other (`config:write`, checked with the
 * server's `rbac`; a failover store only).
 */
import type { ConfigStore } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, callOptions, writeCallOptions } from '../request-context.js';
import { emptyBodyAsObject, errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

/** What a failover chain adds for `reconcile` (`@summit-config/backends`' `FailoverStore`), structurally. */
interface Reconciling {
  reconcile(options?: { signal?: AbortSignal }): Promise<object>;
  status(): { tiers: ReadonlyArray<{ name: string; durable: boolean }> };
}

function reconciling(store: ConfigStore | undefined): (ConfigStore & Reconciling) | undefined {
  const s = store as (ConfigStore & Partial<Reconciling>) | undefined;
  return s && typeof s.reconcile === 'function' && typeof s.status === 'function'
    ? (s as ConfigStore & Reconciling)
    : undefined;
}

const flagBody = (name: string, description: string) =>
  ({
    type: 'object',
    properties: { [name]: { type: 'boolean', default: false, description } },
    additionalProperties: false,
  }) as const;

export function maintenanceRoutes(app: FastifyInstance, { service, store, rbac }: ServerContext): void {
  app.post(
    '/api/v1/audit/checkpoint',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit trail, sign its head and write the checkpoint to every anchor',
        security,
        body: flagBody('adopt', 'the first checkpoint of a trail written before signing (needs policy:write)'),
        response: { 200: jsonObject, ...errorResponses(409, 422) },
      },
    },
    async (request) => {
      const { adopt } = request.body as { adopt: boolean };
      const signal = writeCallOptions(request).signal;
      return service.checkpointAudit(actorOf(request), { adopt, ...(signal ? { signal } : {}) });
    },
  );

  app.post(
    '/api/v1/resign',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags: ['configs'],
        summary: 'Re-sign every head that does not verify with the server key (`dryRun`: list them only)',
        security,
        body: flagBody('dryRun', 'list the heads that would be re-signed; write nothing'),
        response: { 200: jsonObject, ...errorResponses(409) },
      },
    },
    async (request) => {
      const { dryRun } = request.body as { dryRun: boolean };
      return service.resignHeads(actorOf(request), { ...callOptions(request), dryRun });
    },
  );

  app.post(
    '/api/v1/reconcile',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags: ['operations'],
        summary: 'Copy the versions one durable tier lacks from the other now',
        security,
        body: { type: 'object', additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              tiers: { type: 'array', items: { type: 'string' } },
              primary: { type: 'string' },
              record: { type: 'string' },
            },
            required: ['tiers', 'primary'],
            additionalProperties: true,
          },
          ...errorResponses(501),
        },
      },
    },
    async (request, reply) => {
      const chain = reconciling(store);
      if (!chain || !rbac) {
        return sendProblem(
          request,
          reply,
          problem(
            501,
            'CONSTRAINT_VIOLATION',
            'this server was started without a failover store and rbac to reconcile',
          ),
        );
      }
      rbac.check(actorOf(request), 'config:write');
      const signal = writeCallOptions(request).signal;
      const report = await chain.reconcile(signal ? { signal } : {});
      const { tiers } = chain.status();
      const durable = tiers.filter((t) => t.durable).map((t) => t.name);
      return {
        tiers: tiers.map((t) => t.name),
        primary: durable[0] ?? tiers[0]?.name ?? store?.name ?? 'store',
        ...(durable[1] !== undefined ? { record: durable[1] } : {}),
        ...report,
      };
    },
  );
}
