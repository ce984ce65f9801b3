/**
 * Request limits. Before authentication: the `Host` allow-list (`421` for another host, so a
 * DNS-rebinding page cannot talk to a loopback server) and CORS, closed unless the `Origin` is listed.
 * The body limit is Fastify's own (`bodyLimit`), answered `413` by the error handler. Around every
 * route handler: the request timeout (`504`, the service call's signal aborted). The rate limit per
 * principal, after authentication, is `rate-limit.ts`.
 */
import { errors } from '@summit-config/core/internal';
import type { FastifyReply, FastifyRequest, RouteHandlerMethod, RouteOptions } from 'fastify';
import type { CheckedOptions } from './options.js';
import { problem } from './problems.js';
import { sendProblem } from './reply.js';
import { setSignal } from './request-context.js';

const ALLOWED_METHODS = 'GET, PUT, POST, PATCH, DELETE';
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match';
const EXPOSED_HEADERS = 'ETag, Location, WWW-Authenticate, request-id';

/** The host name of a `Host` header, lower case, without port or IPv6 brackets. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? undefined : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export function hostGuard(options: CheckedOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const name = hostName(request.headers.host);
    if (name !== undefined && options.allowedHosts.has(name)) return;
    await sendProblem(
      request,
      reply,
      problem(421, 'CONSTRAINT_VIOLATION', 'this server does not answer for the Host of the request'),
    );
  };
}

/**
 * CORS: an `Origin` in `cors.origins` gets `Access-Control-Allow-Origin` (and a preflight its `204`);
 * any other origin gets no `Access-Control-*` header at all, so the browser refuses the response.
 */
export function corsGuard(options: CheckedOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const origin = request.headers.origin;
    if (origin === undefined || !options.corsOrigins.has(origin)) return;
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Vary', 'Origin');
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (!preflight) {
      reply.header('Access-Control-Expose-Headers', EXPOSED_HEADERS);
      return;
    }
    reply.header('Access-Control-Allow-Methods', ALLOWED_METHODS);
    reply.header('Access-Control-Allow-Headers', ALLOWED_HEADERS);
    reply.header('Access-Control-Max-Age', '600');
    await reply.code(204).send();
  };
}

/**
 * The request timeout, as an `onRoute` hook: each route handler races a timer of `requestTimeoutMs`.
 * When the timer wins, the request's `AbortSignal` (given to the service calls that accept one) is
 * aborted and the request fails with `TIMEOUT` (`504`); whatever the handler does later is ignored.
 * The timer stops when the handler answers (`reply.send`), so a streamed body (the watch's events,
 * an export) is not cut at the timeout.
 */
export function timeoutOnRoute(options: CheckedOptions) {
  const ms = options.requestTimeoutMs;
  return (route: RouteOptions): void => {
    const handler = route.handler as RouteHandlerMethod;
    if (typeof handler !== 'function') return;
    route.handler = async function timed(this: unknown, request: FastifyRequest, reply: FastifyReply) {
      const controller = new AbortController();
      setSignal(request, controller.signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = errors.timeout(`the request took longer than ${ms} ms`);
          controller.abort(error);
          reject(error);
        }, ms);
      });
      // The timer covers the handler until it answers. A streamed body (watch, export) is sent after
      // that: the handler returns the reply, a thenable that settles only when the response ends.
      const send = reply.send.bind(reply);
      reply.send = ((payload?: unknown) => {
        clearTimeout(timer);
        return send(payload);
      }) as typeof reply.send;
      const work = Promise.resolve().then(() => handler.call(this as never, request as never, reply as never));
      // The handler may still fail after the timeout answered: that failure has no one to tell.
      work.catch(() => undefined);
      try {
        return await Promise.race([work, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    } as RouteHandlerMethod;
  };
}
