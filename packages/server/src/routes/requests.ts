/** Change requests: propose, list, get, approve, reject, cancel, apply. */
import type { ChangeKind, JsonObject, RequestQuery, RequestStatus } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import { actorOf, callOptions } from '../request-context.js';
import { changeRequestSchema, emptyBodyAsObject, errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
  required: ['id'],
} as const;

const proposeBody = {
  type: 'object',
  properties: {
    ref: { type: 'string', description: '`<scope>/<id>`' },
    kind: { type: 'string', enum: ['set', 'delete', 'rollback'] },
    config: jsonObject,
    overrides: { type: 'object', additionalProperties: jsonObject },
    rollout: { anyOf: [jsonObject, { type: 'null' }] },
    metadata: jsonObject,
    to: { type: 'integer', minimum: 1 },
    baseVersion: { type: 'integer', minimum: 0 },
    message: { type: 'string' },
    applyAt: { type: 'string', format: 'date-time' },
  },
  required: ['ref'],
  additionalProperties: false,
} as const;

interface ProposeBody {
  ref: string;
  kind?: ChangeKind;
  config?: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  metadata?: JsonObject;
  to?: number;
  baseVersion?: number;
  message?: string;
  applyAt?: string;
}

function decision(summary: string, text: { name: string; required: boolean }) {
  return {
    tags: ['change requests'],
    summary,
    security,
    params: idParams,
    body: {
      type: 'object',
      properties: { [text.name]: { type: 'string' } },
      ...(text.required ? { required: [text.name] } : {}),
      additionalProperties: false,
    },
    response: { 200: changeRequestSchema, ...errorResponses(404, 409) },
  };
}

export function requestRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.post(
    '/api/v1/change-requests',
    {
      schema: {
        tags: ['change requests'],
        summary: 'Propose a change (set, delete or rollback) for approval',
        security,
        body: proposeBody,
        response: { 201: changeRequestSchema, ...errorResponses(404, 409, 413, 422) },
      },
    },
    async (request, reply) => {
      const created = await service.propose(
        actorOf(request),
        { ...(request.body as ProposeBody) },
        callOptions(request),
      );
      reply.code(201).header('Location', `/api/v1/change-requests/${encodeURIComponent(created.id)}`);
      return created;
    },
  );

  app.get(
    '/api/v1/change-requests',
    {
      schema: {
        tags: ['change requests'],
        summary: 'List change requests, oldest first',
        security,
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'array', items: { type: 'string' } },
            ref: { type: 'string' },
            requestedBy: { type: 'string' },
            reviewPending: { type: 'boolean' },
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: changeRequestSchema } },
            required: ['items'],
          },
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const q = { ...(request.query as object) } as Omit<RequestQuery, 'status'> & { status?: RequestStatus[] };
      return { items: await service.listRequests(actorOf(request), q) };
    },
  );

  app.get(
    '/api/v1/change-requests/:id',
    {
      schema: {
        tags: ['change requests'],
        summary: 'Get a change request',
        security,
        params: idParams,
        response: { 200: changeRequestSchema, ...errorResponses(404) },
      },
    },
    async (request) => service.getRequest(actorOf(request), (request.params as { id: string }).id),
  );

  app.post(
    '/api/v1/change-requests/:id/approve',
    {
      preValidation: emptyBodyAsObject,
      schema: decision('Approve a change request', { name: 'comment', required: false }),
    },
    async (request) => {
      const { comment } = (request.body ?? {}) as { comment?: string };
      return service.approve(actorOf(request), (request.params as { id: string }).id, {
        ...callOptions(request),
        ...(comment !== undefined ? { comment } : {}),
      });
    },
  );

  app.post(
    '/api/v1/change-requests/:id/reject',
    {
      preValidation: emptyBodyAsObject,
      schema: decision('Reject a change request', { name: 'reason', required: true }),
    },
    async (request) => {
      const { reason } = request.body as { reason: string };
      return service.reject(actorOf(request), (request.params as { id: string }).id, {
        ...callOptions(request),
        reason,
      });
    },
  );

  app.post(
    '/api/v1/change-requests/:id/cancel',
    {
      preValidation: emptyBodyAsObject,
      schema: decision('Cancel a change request (its requester)', { name: 'reason', required: false }),
    },
    async (request) => {
      const { reason } = (request.body ?? {}) as { reason?: string };
      return service.cancel(actorOf(request), (request.params as { id: string }).id, {
        ...callOptions(request),
        ...(reason !== undefined ? { reason } : {}),
      });
    },
  );

  app.post(
    '/api/v1/change-requests/:id/apply',
    {
      schema: {
        tags: ['change requests'],
        summary: 'Apply an approved change request',
        security,
        params: idParams,
        response: { 200: changeRequestSchema, ...errorResponses(404, 409) },
      },
    },
    async (request) => service.apply(actorOf(request), (request.params as { id: string }).id, callOptions(request)),
  );
}
