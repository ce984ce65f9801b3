/** The audit trail: list with filters, and verify. */
import type { AuditQuery } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import { actorOf } from '../request-context.js';
import { auditEventSchema, errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

export function auditRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Audit events, oldest first, with filters',
        security,
        querystring: {
          type: 'object',
          properties: {
            ref: { type: 'string', description: '`<scope>/<id>`' },
            actor: { type: 'string' },
            action: { type: 'string', description: 'exact, or a prefix ending in `.`' },
            requestId: { type: 'string' },
            since: { type: 'string', format: 'date-time' },
            until: { type: 'string', format: 'date-time' },
            afterSeq: { type: 'integer', minimum: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: auditEventSchema } },
            required: ['items'],
          },
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: await service.audit(actorOf(request), { ...(request.query as AuditQuery) }) }),
  );

  app.post(
    '/api/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit trail (hash chain, signatures, checkpoints)',
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              checked: { type: 'integer' },
              problems: { type: 'array', items: jsonObject },
            },
            required: ['ok', 'checked', 'problems'],
            additionalProperties: true,
          },
          ...errorResponses(),
        },
      },
    },
    async (request) => service.verifyAudit(actorOf(request)),
  );
}
