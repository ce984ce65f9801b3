/**
 * `GET /api/v1/report`: the audit report of a window (docs/reports.md), computed by core's
 * `auditReport` through the change service, so the caller needs `config:audit:read`. The window and
 * `top` are checked by core: a bad one is a 400 problem with `CONSTRAINT_VIOLATION` and the same
 * message as the CLI's direct mode.
 */
import { auditReport } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../request-context.js';
import { errorResponses, security } from '../schemas.js';
import type { ServerContext } from './context.js';

const count = { type: 'integer', minimum: 0 } as const;
const msOrNull = { type: ['number', 'null'], minimum: 0 } as const;

const row = (key: string, value: string) =>
  ({
    type: 'object',
    properties: { [key]: { type: 'string' }, [value]: count },
    required: [key, value],
    additionalProperties: false,
  }) as const;

/** The JSON schema of an `AuditReport` (core's `report/types.ts`). */
const auditReportSchema = {
  type: 'object',
  properties: {
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    events: count,
    changes: count,
    changesPerDay: { type: 'array', items: row('day', 'changes') },
    topRefs: { type: 'array', items: row('ref', 'changes') },
    topActors: { type: 'array', items: row('actor', 'changes') },
    approvals: {
      type: 'object',
      properties: {
        requests: count,
        decided: count,
        approvedFirst: count,
        rejectedFirst: count,
        undecided: count,
        p50Ms: msOrNull,
        p95Ms: msOrNull,
        method: { type: 'string', enum: ['nearest-rank'] },
      },
      required: ['requests', 'decided', 'approvedFirst', 'rejectedFirst', 'undecided', 'p50Ms', 'p95Ms', 'method'],
      additionalProperties: false,
    },
    rotations: {
      type: 'object',
      properties: {
        succeeded: count,
        failed: count,
        successRate: { type: ['number', 'null'], minimum: 0, maximum: 1 },
      },
      required: ['succeeded', 'failed', 'successRate'],
      additionalProperties: false,
    },
    drift: {
      type: 'object',
      properties: {
        incidents: count,
        byKind: { type: 'array', items: row('kind', 'incidents') },
        repaired: count,
        unrepaired: count,
        meanTimeToRepairMs: msOrNull,
        unmatchedRepairs: count,
      },
      required: ['incidents', 'byKind', 'repaired', 'unrepaired', 'meanTimeToRepairMs', 'unmatchedRepairs'],
      additionalProperties: false,
    },
  },
  required: [
    'since',
    'until',
    'events',
    'changes',
    'changesPerDay',
    'topRefs',
    'topActors',
    'approvals',
    'rotations',
    'drift',
  ],
  additionalProperties: false,
} as const;

export function reportRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/report',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit report of a window: changes per day, top refs, approval latency, rotations, drift',
        security,
        querystring: {
          type: 'object',
          properties: {
            since: {
              type: 'string',
              description:
                'start (inclusive): ISO-8601 time or a duration before `until` (`30d`, `12h`, `90m`, `2w`); default `30d`',
            },
            until: {
              type: 'string',
              description: 'end (exclusive): ISO-8601 time or a duration before now; default now',
            },
            top: { type: 'string', description: 'how many refs and actors to list, 1-1000; default 10' },
          },
          additionalProperties: false,
        },
        response: { 200: auditReportSchema, ...errorResponses() },
      },
    },
    async (request) => {
      const q = request.query as { since?: string; until?: string; top?: string };
      return auditReport(service, actorOf(request), {
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        ...(q.top !== undefined ? { top: /^-?\d+$/.test(q.top) ? Number(q.top) : (q.top as unknown as number) } : {}),
      });
    },
  );
}
