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
import { cookieValue, type OpenSession, setSessionOf } from './sessions.js';

export const API_PREFIX = '/api/v1';
/** Methods that change nothing: a cookie request with one of them needs no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
    // The console's OIDC sign-in (`routes/oidc-login.ts`) is reached before any credential exists.
    if (request.routeOptions.config?.publicRoute === true) return;
    let seen = authRequest(request);
    // The console's cookie stands for the credential its session holds (`sessions.ts`); a request
    // with an Authorization header is authenticated by that header alone. A state-changing request
    // made with the cookie must carry the session's CSRF token in `X-CSRF-Token`.
    const sessions = options.console?.sessions;
    const cookie =
      sessions && seen.authorization === undefined
        ? cookieValue(request.headers.cookie, sessions.cookieName)
        : undefined;
    if (sessions && cookie !== undefined) {
      const session: OpenSession | undefined = await sessions.open(cookie);
      if (session === undefined) {
        reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
        await sendProblem(request, reply, problem(401, 'ACCESS_DENIED', 'the console session is unknown or expired'));
        return;
      }
      const csrf = request.headers['x-csrf-token'];
      if (
        !SAFE_METHODS.has(request.method) &&
        !sessions.csrfMatches(session, typeof csrf === 'string' ? csrf : undefined)
      ) {
        await sendProblem(
          request,
          reply,
          problem(403, 'ACCESS_DENIED', 'a request made with the console session needs its CSRF token (X-CSRF-Token)'),
        );
        return;
      }
      setSessionOf(request, session);
      seen = { ...seen, authorization: session.credential };
      // Routes that authenticate again later (a watch stream's heartbeats) read the header.
      request.headers.authorization = session.credential;
    }
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
