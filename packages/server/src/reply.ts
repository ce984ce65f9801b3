/** Sending a problem: `application/problem+json`, the request id inside, bypassing response schemas. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Problem } from './problems.js';

export function sendProblem(request: FastifyRequest, reply: FastifyReply, p: Problem): FastifyReply {
  const body: Problem = { ...p, requestId: request.id };
  return reply.code(p.status).type('application/problem+json; charset=utf-8').serializer(JSON.stringify).send(body);
}
