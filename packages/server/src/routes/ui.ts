/**
 * The web console (issue 19): its built assets at `/ui` and its cookie sessions at
 * `/api/v1/session` (`sessions.ts` says what a session is). docs/console.md documents both.
 *
 * - `GET /ui`, `GET /ui/*`: `index.html` for every client route, `no-store`; `GET /ui/assets/<file>`:
 *   the hashed files Vite wrote, `immutable` for a year. A strict Content-Security-Policy (scripts,
 *   styles and connections from this origin only, no inline script, no framing) on every answer.
 *   Not in the OpenAPI document, not authenticated: the assets hold no data.
 * - `POST /api/v1/session`: authenticated like any API call (`Authorization: Bearer <token>`), it
 *   opens a session and sets the HttpOnly cookie; the body carries the CSRF token.
 * - `GET /api/v1/session`: the session of the cookie (principal, CSRF token, expiry), to restore the
 *   console after a reload.
 * - `DELETE /api/v1/session`: ends the session on the server and clears the cookie.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthResult } from '../auth.js';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { authOf, callOptions, originOf } from '../request-context.js';
import { errorResponses } from '../schemas.js';
import {
  createMemorySessionStore,
  createSessionManager,
  DEFAULT_SESSION_IDLE_MS,
  DEFAULT_SESSION_TTL_MS,
  type SessionManager,
  type SessionStore,
  sessionCookie,
  sessionOf,
} from '../sessions.js';
import type { ServerContext } from './context.js';

export interface ConsoleOptions {
  /**
   * The built console (`index.html`, `assets/`). Default: `ui/` beside the package's compiled code
   * (`packages/server/dist/ui`, written by `pnpm run build`). Read on first use; while it holds no
   * `index.html`, `/ui` answers `404` saying how to build it.
   */
  assetsDir?: string;
  /** Where sessions live. Default: this process's memory (`createMemorySessionStore`). Borrowed. */
  sessions?: SessionStore;
  /** How long a session lasts from sign-in, in milliseconds. Default 8 hours. */
  sessionTtlMs?: number;
  /** A session ends after this long without a request, in milliseconds. Default 30 minutes. */
  sessionIdleMs?: number;
  /** The cookie's `Secure` flag. Default: on when the server speaks TLS (`tls`). */
  secureCookie?: boolean;
}

export function checkConsole(
  given: ConsoleOptions | false | undefined,
  tls: boolean,
): { assetsDir: string | undefined; sessions: SessionManager } | undefined {
  if (given === false) return undefined;
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw errors.constraint('config server option console must be an object or false');
  }
  const o = given ?? {};
  if (o.assetsDir !== undefined && (typeof o.assetsDir !== 'string' || o.assetsDir === '')) {
    throw errors.constraint('config server option console.assetsDir must be a folder path');
  }
  const store = o.sessions ?? createMemorySessionStore();
  if (
    typeof store?.put !== 'function' ||
    typeof store.get !== 'function' ||
    typeof store.delete !== 'function' ||
    typeof store.touch !== 'function'
  ) {
    throw errors.constraint('config server option console.sessions must be a SessionStore');
  }
  const ttlMs = o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000) {
    throw errors.constraint('config server option console.sessionTtlMs must be an integer of at least 1000 (ms)');
  }
  const idleTimeoutMs = o.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  if (!Number.isSafeInteger(idleTimeoutMs) || idleTimeoutMs < 1000) {
    throw errors.constraint('config server option console.sessionIdleMs must be an integer of at least 1000 (ms)');
  }
  if (o.secureCookie !== undefined && typeof o.secureCookie !== 'boolean') {
    throw errors.constraint('config server option console.secureCookie must be a boolean');
  }
  return {
    assetsDir: o.assetsDir,
    sessions: createSessionManager({ store, ttlMs, idleTimeoutMs, secure: o.secureCookie ?? tls }),
  };
}

/** The console's Content-Security-Policy: everything from this origin, no inline script, no framing. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
}

/** The default assets folder: `dist/ui` of this package, from `dist/routes` or from `src/routes`. */
function defaultAssetsDir(): string {
  const fromDist = fileURLToPath(new URL('../ui/', import.meta.url));
  const fromSrc = fileURLToPath(new URL('../../dist/ui/', import.meta.url));
  try {
    if (statSync(join(fromDist, 'index.html')).isFile()) return fromDist;
  } catch {
    // not the compiled layout
  }
  return fromSrc;
}

/** Every file of the build, read once (a few hundred kilobytes): index.html and assets/. */
function loadAssets(dir: string): Map<string, Asset> | undefined {
  let index: Buffer;
  try {
    index = readFileSync(join(dir, 'index.html'));
  } catch {
    return undefined;
  }
  const assets = new Map<string, Asset>([['index.html', { body: index, type: TYPES['.html'] as string }]]);
  let names: string[] = [];
  try {
    names = readdirSync(join(dir, 'assets'));
  } catch {
    // a build without assets
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    assets.set(`assets/${name}`, { body: readFileSync(join(dir, 'assets', name)), type });
  }
  return assets;
}

const sessionBody = {
  type: 'object',
  properties: {
    principal: {
      type: 'object',
      properties: { id: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } } },
      required: ['id', 'roles'],
    },
    csrfToken: { type: 'string', description: 'send it in `X-CSRF-Token` with every state-changing request' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
  required: ['principal', 'csrfToken', 'expiresAt'],
} as const;

const sessionSecurity: Array<Record<string, string[]>> = [{ bearer: [] }, { session: [] }];

export function uiRoutes(app: FastifyInstance, options: ServerContext): void {
  const settings = options.console;
  if (settings === undefined) return;
  const { sessions } = settings;
  const dir = settings.assetsDir ?? defaultAssetsDir();
  let assets: Map<string, Asset> | undefined;

  app.register(async (ui) => {
    // After the server's own `no-store`: hashed assets never change, so they are cached for good.
    ui.addHook('onSend', async (request, reply) => {
      reply.header('Content-Security-Policy', CONSOLE_CSP);
      reply.header('X-Content-Type-Options', 'nosniff');
      reply.header('Referrer-Policy', 'no-referrer');
      reply.header('X-Frame-Options', 'DENY');
      if (reply.statusCode === 200 && request.url.startsWith('/ui/assets/')) {
        reply.header('Cache-Control', 'public, max-age=31536000, immutable');
      }
    });
    const serve = async (path: string, request: FastifyRequest, reply: FastifyReply) => {
      assets ??= loadAssets(dir);
      if (assets === undefined) {
        return sendProblem(
          request,
          reply,
          problem(404, 'NOT_FOUND', 'the console is not built: run pnpm run build (it writes packages/server/dist/ui)'),
        );
      }
      const asset = path.startsWith('assets/') ? assets.get(path) : assets.get('index.html');
      if (asset === undefined)
        return sendProblem(request, reply, problem(404, 'NOT_FOUND', `no console asset ${path}`));
      return reply.code(200).type(asset.type).send(asset.body);
    };
    ui.get('/ui', { schema: { hide: true } }, async (request, reply) => serve('', request, reply));
    ui.get<{ Params: { '*': string } }>('/ui/*', { schema: { hide: true } }, async (request, reply) =>
      serve(request.params['*'], request, reply),
    );
  });

  app.post(
    '/api/v1/session',
    {
      schema: {
        tags: ['console'],
        summary: 'Sign in to the console: a session cookie for the bearer credential of this request',
        security: [{ bearer: [] }],
        response: { 201: sessionBody, ...errorResponses() },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const credential = request.headers.authorization;
      if (auth === undefined || sessionOf(request) !== undefined || typeof credential !== 'string') {
        return sendProblem(
          request,
          reply,
          problem(400, 'CONSTRAINT_VIOLATION', 'sign in with an Authorization header, not a session cookie'),
        );
      }
      // Audited first, as Vault does: no session is opened that the trail does not show.
      await recordSessionEvent(options, request, auth, 'session.sign-in', 'console sign-in with a bearer credential');
      const session = await sessions.create(credential, auth.actor.id);
      reply.header('Set-Cookie', sessionCookie(sessions, session.id, Math.floor(sessions.ttlMs / 1000)));
      return reply.code(201).send({
        principal: { id: auth.actor.id, roles: [...(auth.actor.roles ?? [])] },
        csrfToken: session.csrfToken,
        expiresAt: new Date(session.expiresAt).toISOString(),
      });
    },
  );

  app.get(
    '/api/v1/session',
    {
      schema: {
        tags: ['console'],
        summary: "The console session of this request's cookie",
        security: sessionSecurity,
        response: { 200: sessionBody, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const session = sessionOf(request);
      if (auth === undefined || session === undefined) {
        return sendProblem(request, reply, problem(404, 'NOT_FOUND', 'this request carries no console session'));
      }
      return reply.code(200).send({
        principal: { id: auth.actor.id, roles: [...(auth.actor.roles ?? [])] },
        csrfToken: session.csrfToken,
        expiresAt: new Date(session.expiresAt).toISOString(),
      });
    },
  );

  app.delete(
    '/api/v1/session',
    {
      schema: {
        tags: ['console'],
        summary: 'Sign out: the session ends on the server and the cookie is cleared',
        security: sessionSecurity,
        response: { 204: { type: 'null', description: 'signed out' }, ...errorResponses() },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request);
      const auth = authOf(request);
      if (session !== undefined && (await sessions.end(session.id)) && auth !== undefined) {
        // Signing out is never refused: a trail that cannot be written is logged, the session still ends.
        await recordSessionEvent(options, request, auth, 'session.sign-out', 'console sign-out').catch(
          (error: unknown) => request.log.warn({ err: error }, 'the sign-out could not be audited'),
        );
      }
      reply.header('Set-Cookie', sessionCookie(sessions, '', 0));
      return reply.code(204).send();
    },
  );
}

/**
 * Records a console session event (`session.sign-in`, `session.sign-out`) in the audit trail, as the
 * principal concerned, with where the request came from. Rejects when the trail cannot be written.
 */
export async function recordSessionEvent(
  options: ServerContext,
  request: FastifyRequest,
  auth: AuthResult,
  action: 'session.sign-in' | 'session.sign-out',
  message: string,
): Promise<void> {
  await options.service.recordEvent(
    { ...auth.actor, origin: originOf(request, auth) },
    { action, message },
    callOptions(request),
  );
}
