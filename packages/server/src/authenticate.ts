/**
 * The authentication hook of every `/api/v1` route: each authenticator in turn; the first result
 * names the actor. No credential any authenticator handles, or one it refuses (`ACCESS_DENIED`),
 * is `401` with `WWW-Authenticate: Bearer`. Authorisation is not decided here: the change service
 * checks its RBAC for the actor on every call.
 */
import { isConfigError } from '@summit-config/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthRequest, AuthResult } from './auth.js';
import type { CheckedOptions } from './options.js';
import { problem } from './problems.js';
import { sendProblem } from './reply.js';
import { setAuth } from './request-context.js';

export const API_PREFIX = '/api/v1';

function authRequest(request: FastifyRequest): AuthRequest {
  const authorization = request.headers.authorization;
  const userAgent = request.headers['user-agent'];
  return {
    authorization: typeof authorization === 'string' ? authorization : undefined,
    remoteAddress: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent : undefined,
  };
}

export function authenticationHook(options: CheckedOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Decided on the route that matched, not on the raw URL, so no spelling of a path (encoded
    // characters, dot segments) reaches an API route unauthenticated.
    const route = request.routeOptions.url;
    if (route === undefined || !route.startsWith(`${API_PREFIX}/`)) return;
    const seen = authRequest(request);
    let result: AuthResult | undefined;
    try {
      for (const authenticate of options.authenticators) {
        result = await authenticate(seen);
        if (result !== undefined) break;
      }
    } catch (error) {
      if (!isConfigError(error, 'ACCESS_DENIED')) throw error;
      reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      await sendProblem(request, reply, problem(401, 'ACCESS_DENIED', 'the credential was refused'));
      return;
    }
    if (result === undefined) {
      reply.header('WWW-Authenticate', 'Bearer');
      await sendProblem(request, reply, problem(401, 'ACCESS_DENIED', 'authentication is required'));
      return;
    }
    setAuth(request, result);
  };
}
