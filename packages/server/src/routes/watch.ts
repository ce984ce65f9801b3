/**
 * Watch as Server-Sent Events: `GET /api/v1/watch?scope=&prefix=&snapshot=` streams the head changes
 * of the server's store (`text/event-stream`), filtered to what the actor may list.
 *
 * Cursors come from store state, not from this process: an event's `id` is `w1.<filter>.<digest>`,
 * where the digest is an order-independent hash (a sum of SHA-256 prefixes, modulo 2^128) of the
 * `(ref, version, checksum)` heads the client has been told of. Any replica can recompute it from
 * `listHeads`, so a client resuming with `Last-Event-ID` on another replica is served the same way:
 * - the cursor matches the current heads: nothing was missed, `ready` with `resumed: true`, then live;
 * - it does not (changes while away, another filter, another replica's older view, a malformed id):
 *   a `reset` event, then every current head as a `change` with `snapshot: true`, then `ready`.
 *   The client replaces its view with the snapshot, so it never silently misses a change.
 * Changes are per ref, in order, coalesced to heads (a client learns the newest version of every ref
 * it watches, as with a store watch; it fetches documents with `GET /api/v1/configs/...`).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type HeadChange, isConfigError, refKey, type Scope } from '@summit-config/core';
import { parseScope } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, AuthRequest } from '../auth.js';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, writeCallOptions } from '../request-context.js';
import { errorResponses, security } from '../schemas.js';
import type { ServerContext } from './context.js';

export const WATCH_CURSOR_PREFIX = 'w1';
/** Buffered bytes of a stream over which the client is too slow: the stream ends (it resumes). */
export const WATCH_MAX_BUFFERED_BYTES = 1024 * 1024;
/** The reconnection delay suggested to EventSource clients (`retry:`), in milliseconds. */
export const WATCH_RETRY_MS = 1_000;

const MASK = (1n << 128n) - 1n;

export interface WatchFilter {
  scope?: Scope | undefined;
  prefix?: string | undefined;
}

export interface WatchHead {
  /** `<scope>/<id>` */
  key: string;
  version: number;
  checksum: string;
}

function entryHash(key: string, version: number, checksum: string): bigint {
  const digest = createHash('sha256').update(`${key}\n${version}\n${checksum}`).digest();
  return BigInt(`0x${digest.subarray(0, 16).toString('hex')}`);
}

function filterTag(filter: WatchFilter): string {
  return createHash('sha256')
    .update(`${filter.scope ?? ''}\n${filter.prefix ?? ''}`)
    .digest()
    .subarray(0, 6)
    .toString('base64url');
}

/** The heads a client has been told of, and their digest, kept up to date in O(1) per change. */
export class HeadView {
  private readonly heads = new Map<string, { version: number; hash: bigint }>();
  private sum = 0n;
  private readonly tag: string;

  constructor(filter: WatchFilter) {
    this.tag = filterTag(filter);
  }

  /** Moves a head forward; false when the view already has this version or a later one. */
  advance(head: WatchHead): boolean {
    const current = this.heads.get(head.key);
    if (current && current.version >= head.version) return false;
    const hash = entryHash(head.key, head.version, head.checksum);
    this.sum = (this.sum - (current?.hash ?? 0n) + hash) & MASK;
    this.heads.set(head.key, { version: head.version, hash });
    return true;
  }

  get size(): number {
    return this.heads.size;
  }

  cursor(): string {
    const digest = Buffer.from(this.sum.toString(16).padStart(32, '0'), 'hex').toString('base64url');
    return `${WATCH_CURSOR_PREFIX}.${this.tag}.${digest}`;
  }
}

/** The cursor of a set of heads under a filter: what any replica computes from `listHeads`. */
export function watchCursor(heads: readonly WatchHead[], filter: WatchFilter = {}): string {
  const view = new HeadView(filter);
  for (const h of heads) view.advance(h);
  return view.cursor();
}

/** One SSE event; `data` is one line of JSON (JSON never holds a raw newline). */
function sseEvent(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

interface WatchQuery {
  scope?: string;
  prefix?: string;
  snapshot: boolean;
}

/** The stream's body, for the OpenAPI document (an event stream has no JSON schema). */
const EVENTS_DESCRIPTION =
  'Server-Sent Events; each `data:` is one line of JSON. `change` (id: a cursor): ' +
  '{ ref: "<scope>/<id>", version, checksum, deleted?: boolean (when the store delivered the document), ' +
  'snapshot?: true (a head of a snapshot) }. `reset` (no id): { reason: "unknown-cursor" | "other-filter" | ' +
  '"changed" }, a snapshot follows. `ready` (id: a cursor): { resumed: boolean, refs: number }. ' +
  'Comment lines are heartbeats.';

export function watchRoutes(app: FastifyInstance, options: ServerContext): void {
  const { service, store } = options;
  const { heartbeatMs, maxStreamMs } = options.watch;
  const open = new Set<() => void>();
  // `close()` waits for open connections: end every stream first (clients resume elsewhere).
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get(
    '/api/v1/watch',
    {
      // No HEAD twin: it would start a stream whose body nothing reads.
      exposeHeadRoute: false,
      schema: {
        tags: ['configs'],
        summary: 'Head changes as Server-Sent Events, resumable with Last-Event-ID',
        description:
          'Events: `change` (data: ref, version, checksum, deleted?, snapshot?), `reset` (the cursor is ' +
          'unknown or heads changed while away: a snapshot follows, replace your view), `ready` (the ' +
          'snapshot or resume is complete; live changes follow). Comments are heartbeats.',
        security,
        querystring: {
          type: 'object',
          properties: {
            scope: { type: 'string', description: '`global` or `app:<name>`; default: every scope the actor may list' },
            prefix: { type: 'string', description: 'only ids starting with this' },
            snapshot: { type: 'boolean', default: true, description: 'start with every current head' },
          },
          additionalProperties: false,
        },
        headers: {
          type: 'object',
          properties: { 'last-event-id': { type: 'string', description: 'the `id` of the last event received' } },
        },
        response: {
          200: {
            description: 'an event stream',
            content: {
              'text/event-stream': { schema: { type: 'string', description: EVENTS_DESCRIPTION } },
            },
          },
          ...errorResponses(501),
        },
      },
    },
    async (request, reply) => {
      if (!store) {
        return sendProblem(
          request,
          reply,
          problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without a store to watch'),
        );
      }
      const q = request.query as WatchQuery;
      const actor = actorOf(request);
      const filter: WatchFilter = { scope: q.scope === undefined ? undefined : parseScope(q.scope), prefix: q.prefix };
      const given = request.headers['last-event-id'];
      const lastId = typeof given === 'string' ? given.trim() : undefined;

      // Subscribe first and keep what arrives, then list: no change falls between the two. The
      // store's current heads come first (`initial`): a store whose feed starts asynchronously
      // (PostgreSQL's LISTEN) takes its baseline after the listing may have run, and a head in that
      // baseline is never emitted as a change; the view skips what the listing already holds.
      let started = false;
      let closed = false;
      const queue: HeadChange[] = [];
      const unwatch = store.watch(
        (change) => {
          if (closed) return;
          queue.push(change);
          if (started) drain();
        },
        filter.scope === undefined ? { initial: true } : { scope: filter.scope, initial: true },
      );
      let heads: Awaited<ReturnType<typeof service.list>>;
      try {
        // The RBAC check (`config:list` on the scope, or the scopes the actor may list) and the snapshot.
        heads = await service.list(actor, { ...filter });
      } catch (error) {
        unwatch();
        throw error;
      }
      // The request timed out while listing (`504` was sent): nothing to stream.
      if (writeCallOptions(request).signal?.aborted) {
        unwatch();
        return reply;
      }

      const view = new HeadView(filter);
      for (const h of heads) view.advance({ key: refKey(h.ref), version: h.version, checksum: h.checksum });
      const resumed = lastId !== undefined && lastId === view.cursor();
      // Scopes the actor may list: known from the snapshot; another is checked once, when first seen.
      const scopes = new Map<string, Promise<boolean>>(heads.map((h) => [h.ref.scope, Promise.resolve(true)]));
      if (filter.scope !== undefined) scopes.set(filter.scope, Promise.resolve(true));
      const allowed = (scope: Scope): Promise<boolean> => {
        let known = scopes.get(scope);
        if (!known) {
          known = service.list(actor, { scope, prefix: filter.prefix }).then(
            () => true,
            (error: unknown) => {
              if (isConfigError(error, 'ACCESS_DENIED')) return false;
              throw error;
            },
          );
          scopes.set(scope, known);
        }
        return known;
      };

      const stream = new Readable({
        read() {},
        destroy(error, callback) {
          cleanup();
          callback(error);
        },
      });
      let heartbeat: NodeJS.Timeout | undefined;
      let lifetime: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        queue.length = 0;
        unwatch();
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        open.delete(end);
      };
      const end = (why = 'reconnect with Last-Event-ID'): void => {
        if (closed) return;
        cleanup();
        stream.push(`: closing; ${why}\n\n`);
        stream.push(null);
      };
      open.add(end);

      let draining = false;
      const drain = (): void => {
        if (draining || closed) return;
        draining = true;
        void (async () => {
          try {
            while (queue.length > 0 && !closed) {
              const change = queue.shift() as HeadChange;
              if (filter.prefix !== undefined && !change.ref.id.startsWith(filter.prefix)) continue;
              if (!(await allowed(change.ref.scope))) continue;
              if (closed) return;
              const head = { key: change.key, version: change.version, checksum: change.checksum };
              if (!view.advance(head)) continue;
              const data: Record<string, unknown> = { ref: head.key, version: head.version, checksum: head.checksum };
              if (change.document) data.deleted = change.document.metadata.deleted === true;
              stream.push(sseEvent('change', data, view.cursor()));
              // A client this far behind is let go: it resumes with its cursor.
              if (stream.readableLength > WATCH_MAX_BUFFERED_BYTES) end();
            }
          } catch {
            // The permission check failed (the storage is unavailable): end; the client resumes.
            end();
          } finally {
            draining = false;
          }
        })();
      };

      stream.push(`retry: ${WATCH_RETRY_MS}\n\n`);
      if (lastId !== undefined && !resumed) {
        stream.push(sseEvent('reset', { reason: resetReason(lastId, view.cursor()) }));
      }
      if (!resumed && (q.snapshot || lastId !== undefined)) {
        for (const h of heads) {
          stream.push(
            sseEvent('change', { ref: refKey(h.ref), version: h.version, checksum: h.checksum, snapshot: true }),
          );
        }
      }
      stream.push(sseEvent('ready', { resumed, refs: view.size }, view.cursor()));
      // Each heartbeat also authenticates the stream's credential again: a revoked or expired one
      // ends the stream (its reconnection is then refused), as it would refuse the next request.
      const stillValid = credentialCheck(options.authenticators, request, actor.id);
      let checking = false;
      heartbeat = setInterval(() => {
        stream.push(': heartbeat\n\n');
        if (checking) return;
        checking = true;
        void stillValid().then((ok) => {
          checking = false;
          if (!ok) end('the credential is no longer valid');
        });
      }, heartbeatMs);
      lifetime = setTimeout(() => end(), maxStreamMs);
      started = true;
      drain();

      // The stream outlives the request timeout (the handler returns now) and the idle-socket
      // timeout: heartbeats keep the socket busy, and a peer that stops reading stalls the writes
      // until this timeout ends the connection.
      request.raw.socket?.setTimeout(heartbeatMs * 2 + 5_000);
      return sendEvents(reply, stream);
    },
  );
}

/** Whether the request's credential still authenticates the same principal. */
function credentialCheck(
  authenticators: readonly Authenticator[],
  request: FastifyRequest,
  actorId: string,
): () => Promise<boolean> {
  const authorization = request.headers.authorization;
  const userAgent = request.headers['user-agent'];
  const seen: AuthRequest = {
    authorization: typeof authorization === 'string' ? authorization : undefined,
    remoteAddress: request.ip,
    userAgent: typeof userAgent === 'string' ? userAgent : undefined,
  };
  return async () => {
    try {
      for (const authenticate of authenticators) {
        const result = await authenticate(seen);
        if (result !== undefined) return result.actor.id === actorId;
      }
      return false;
    } catch {
      // Refused (`ACCESS_DENIED`), or the authenticator failed: the client authenticates again.
      return false;
    }
  };
}

function resetReason(lastId: string, current: string): string {
  const [prefix, tag] = lastId.split('.');
  const [, currentTag] = current.split('.');
  if (prefix !== WATCH_CURSOR_PREFIX || tag === undefined) return 'unknown-cursor';
  if (tag !== currentTag) return 'other-filter';
  return 'changed';
}

function sendEvents(reply: FastifyReply, stream: Readable): FastifyReply {
  return (
    reply
      .code(200)
      .type('text/event-stream; charset=utf-8')
      .header('X-Accel-Buffering', 'no')
      // The socket is not reused after a stream: `close()` need not wait for it to go idle.
      .header('Connection', 'close')
      .send(stream)
  );
}
