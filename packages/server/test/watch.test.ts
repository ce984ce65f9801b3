/**
 * `GET /api/v1/watch` over a real listening socket on 127.0.0.1 (Node's fetch): snapshot, live
 * changes, cursors derived from store state, resume after a dropped connection (also on another
 * replica), RBAC, heartbeats, the request timeout not applying to streams, and no leaked store watches.
 */

import type { Socket } from 'node:net';
import type { ConfigStore, HeadListener, WatchOptions } from '@summit-config/core';
import { refKey } from '@summit-config/core';
import { harness } from '@summit-config/test-support/service';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConfigServerOptions, createConfigServer } from '../src/index.js';
import { watchCursor } from '../src/routes/watch.js';
import {
  OPEN_ENVIRONMENTS,
  ROOT_ACTOR,
  SERVER_RBAC,
  type ServerHarness,
  serverHarness,
  staticBearer,
  TOKENS,
} from './support.js';

interface SseEvent {
  id?: string;
  event: string;
  data?: Record<string, unknown>;
}

/** A real store whose watches are counted (opened minus closed), to prove none is leaked. */
function counted(store: ConfigStore): { store: ConfigStore; active: () => number } {
  let active = 0;
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'watch') {
        return (listener: HeadListener, options?: WatchOptions) => {
          const unwatch = target.watch(listener, options);
          active++;
          let done = false;
          return () => {
            if (!done) active--;
            done = true;
            unwatch();
          };
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, active: () => active };
}

/** An SSE client over fetch: parses events and comments as they arrive. */
class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  ended = false;
  private readonly controller = new AbortController();
  private wake: (() => void) | undefined;

  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const c = new SseClient();
    const res = await fetch(url, { headers, signal: c.controller.signal });
    c.status = res.status;
    if (res.status !== 200 || !res.body) {
      c.ended = true;
      c.events.push({ event: 'http-error', data: (await res.json()) as Record<string, unknown> });
      return c;
    }
    void c.read(res.body);
    return c;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          this.block(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
        this.wake?.();
      }
    } catch {
      // aborted by the test
    }
    this.ended = true;
    this.wake?.();
  }

  private block(text: string): void {
    const e: SseEvent = { event: 'message' };
    let any = false;
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) e.id = line.slice(4);
      else if (line.startsWith('event: ')) e.event = line.slice(7);
      else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6)) as Record<string, unknown>;
      else continue;
      if (!line.startsWith(':')) any = true;
    }
    if (any) this.events.push(e);
  }

  /** The id of the last event that had one (what an EventSource sends as Last-Event-ID). */
  lastId(): string | undefined {
    return this.events.findLast((e) => e.id !== undefined)?.id;
  }

  async until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/**
 * Listens on 127.0.0.1. `close()` also drops connections the client opened but sent no request on
 * (fetch opens spare ones): Node counts those active until its request timeout, so `close()` would wait.
 */
async function serve(app: FastifyInstance): Promise<string> {
  const spare = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    spare.add(socket);
    socket.once('close', () => spare.delete(socket));
  });
  app.server.on('request', (request: { socket: Socket }) => spare.delete(request.socket));
  app.addHook('preClose', async () => {
    for (const socket of spare) socket.destroy();
  });
  return app.listen({ host: '127.0.0.1', port: 0 });
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const ROOT = bearer('root-secret');

interface Running {
  s: ServerHarness;
  base: string;
  active: () => number;
  /** The counted store the server watches (replicas share it, so their watches count too). */
  store: ConfigStore;
  extra: FastifyInstance[];
}

let running: Running | undefined;
const clients: SseClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  if (running) {
    for (const app of running.extra) await app.close();
    await running.s.close();
  }
  running = undefined;
});

async function start(
  backing: 'memory' | 'postgres' = 'memory',
  options: Partial<ConfigServerOptions> = {},
): Promise<Running> {
  const s = await serverHarness(backing);
  await s.app.close();
  const watched = counted(s.h.store);
  s.app = createConfigServer({
    service: s.h.service,
    store: watched.store,
    authenticators: [staticBearer()],
    ...options,
  });
  const address = await serve(s.app);
  running = { s, base: address, active: watched.active, store: watched.store, extra: [] };
  return running;
}

async function open(r: Running, query = '', headers: Record<string, string> = ROOT, base = r.base): Promise<SseClient> {
  const c = await SseClient.open(`${base}/api/v1/watch${query}`, headers);
  clients.push(c);
  return c;
}

const set = (r: Running, ref: string, n: number) => r.s.h.service.set(ROOT_ACTOR, { ref, config: { n } });
const ready = (c: SseClient, count = 1) =>
  c.until(() => c.events.filter((e) => e.event === 'ready').length >= count, 'ready');

/** A seeded generator (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A client's view: every change applied (a `reset` starts a new view from the snapshot after it). */
function viewOf(events: readonly SseEvent[]): Map<string, number> {
  const view = new Map<string, number>();
  for (const e of events) {
    if (e.event === 'reset') view.clear();
    if (e.event !== 'change' || !e.data) continue;
    const ref = e.data.ref as string;
    const version = e.data.version as number;
    if (!e.data.snapshot) expect(version, `${ref} moved forward`).toBeGreaterThan(view.get(ref) ?? 0);
    view.set(ref, version);
  }
  return view;
}

async function storeView(r: Running): Promise<Map<string, number>> {
  return new Map((await r.s.h.store.listHeads()).map((h) => [refKey(h.ref), h.version]));
}

describe('watch: events', () => {
  it('starts with a snapshot and ready, then streams each change with a cursor derived from the heads', async () => {
    const r = await start();
    await set(r, 'global/db', 1);
    await set(r, 'app:web/feature', 1);
    const c = await open(r);
    expect(c.status).toBe(200);
    await ready(c);
    expect(c.events.map((e) => e.event)).toEqual(['change', 'change', 'ready']);
    expect(c.events[0]?.data).toMatchObject({ ref: 'app:web/feature', version: 1, snapshot: true });
    const heads = () => r.s.h.store.listHeads();
    const asWatchHeads = async () =>
      (await heads()).map((h) => ({ key: refKey(h.ref), version: h.version, checksum: h.checksum }));
    expect(c.lastId()).toBe(watchCursor(await asWatchHeads()));
    expect(c.events[2]?.data).toEqual({ resumed: false, refs: 2 });

    const v2 = await set(r, 'global/db', 2);
    await r.s.h.service.delete(ROOT_ACTOR, 'app:web/feature');
    await c.until(() => c.events.length >= 5, 'two changes');
    expect(c.events[3]).toMatchObject({
      event: 'change',
      data: { ref: 'global/db', version: 2, checksum: v2.checksum },
    });
    expect(c.events[3]?.data?.snapshot).toBeUndefined();
    expect(c.events[4]?.data).toMatchObject({ ref: 'app:web/feature', version: 2 });
    // Any replica computes the same cursor from the store's heads.
    expect(c.lastId()).toBe(watchCursor(await asWatchHeads()));
  });

  it('filters by scope and prefix, and snapshot=false starts with ready alone', async () => {
    const r = await start();
    await set(r, 'app:web/db/pool', 1);
    const c = await open(r, '?scope=app:web&prefix=db/&snapshot=false');
    await ready(c);
    expect(c.events.map((e) => e.event)).toEqual(['ready']);
    await set(r, 'global/db/pool', 1);
    await set(r, 'app:web/feature', 1);
    await set(r, 'app:api/db/pool', 1);
    await set(r, 'app:web/db/pool', 2);
    await c.until(() => c.events.length >= 2, 'one change');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(c.events.slice(1).map((e) => e.data)).toEqual([
      expect.objectContaining({ ref: 'app:web/db/pool', version: 2 }),
    ]);
  });

  it('is text/event-stream with heartbeats, and outlives the request timeout', async () => {
    const r = await start('memory', { requestTimeoutMs: 300, watch: { heartbeatMs: 40 } });
    const res = await fetch(`${r.base}/api/v1/watch`, { headers: ROOT });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    await res.body?.cancel();
    const c = await open(r);
    await ready(c);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(c.ended).toBe(false);
    expect(c.comments.filter((m) => m === 'heartbeat').length).toBeGreaterThanOrEqual(3);
    await set(r, 'global/late', 1);
    await c.until(() => c.events.some((e) => e.data?.ref === 'global/late'), 'a change after the timeout');
  });

  it('ends a stream after maxStreamMs with a comment saying to reconnect', async () => {
    const r = await start('memory', { watch: { maxStreamMs: 150 } });
    const c = await open(r);
    await c.until(() => c.ended, 'the end of the stream');
    expect(c.comments).toContain('closing; reconnect with Last-Event-ID');
    await c.until(() => r.active() === 0, 'the store watch released');
  });
});

describe('watch: resume with Last-Event-ID', () => {
  it.each([
    ['memory', 18],
    ['memory', 7],
    ['memory', 2026],
    ['postgres', 5],
  ] as const)(
    'gives every change missed while away, over rounds of random writes and drops (property, %s, seed %i)',
    async (backing, seed) => {
      const r = await start(backing);
      const replica = createConfigServer({ service: r.s.h.service, store: r.store, authenticators: [staticBearer()] });
      r.extra.push(replica);
      const other = await serve(replica);
      const next = random(seed);
      const refs = ['global/a', 'global/b', 'app:web/c', 'app:web/d/e', 'app:api/f'];
      const written = new Map<string, number>();
      const write = async (count: number) => {
        for (let i = 0; i < count; i++) {
          const ref = refs[Math.floor(next() * refs.length)] as string;
          const doc = await set(r, ref, Math.floor(next() * 1000));
          written.set(ref, doc.version);
        }
      };
      await write(3);
      let c = await open(r);
      let received: SseEvent[] = [];
      for (let round = 0; round < 12; round++) {
        await ready(c);
        await write(Math.floor(next() * 6));
        // Live: the client catches up with everything written so far.
        await c.until(() => sameView(viewOf([...received, ...c.events]), written), `round ${round} live`);
        const lastId = c.lastId() as string;
        received = [...received, ...c.events];
        c.close();
        // Away: maybe no writes at all (then the cursor still matches and nothing is resent).
        const away = round % 3 === 0 ? 0 : 1 + Math.floor(next() * 5);
        await write(away);
        const base = round % 2 === 0 ? other : r.base;
        // Some rounds also write while the client reconnects (racing the server's list and watch).
        const racing = round % 4 === 3 ? write(1 + Math.floor(next() * 4)) : undefined;
        c = await open(r, '', { ...ROOT, 'last-event-id': lastId }, base);
        await ready(c);
        await racing;
        const resumedEvent = c.events.find((e) => e.event === 'ready');
        if (racing) {
          // Either way the view converges below.
        } else if (away === 0) {
          expect(resumedEvent?.data).toMatchObject({ resumed: true });
          expect(c.events.map((e) => e.event)).toEqual(['ready']);
        } else {
          expect(c.events[0]).toMatchObject({ event: 'reset', data: { reason: 'changed' } });
        }
        await c.until(() => sameView(viewOf([...received, ...c.events]), written), `round ${round} resumed`);
      }
      received = [...received, ...c.events];
      // What was received is exactly what was written: the final view is the store's heads.
      expect(viewOf(received)).toEqual(written);
      expect(await storeView(r)).toEqual(written);
    },
  );

  it('answers an unknown cursor, or one of another filter, with reset and a snapshot', async () => {
    const r = await start();
    await set(r, 'global/a', 1);
    const bad = await open(r, '', { ...ROOT, 'last-event-id': 'not-a-cursor' });
    await ready(bad);
    expect(bad.events.map((e) => e.event)).toEqual(['reset', 'change', 'ready']);
    expect(bad.events[0]?.data).toEqual({ reason: 'unknown-cursor' });
    const all = await open(r);
    await ready(all);
    const scoped = await open(r, '?scope=global', { ...ROOT, 'last-event-id': all.lastId() as string });
    await ready(scoped);
    expect(scoped.events[0]?.data).toEqual({ reason: 'other-filter' });
    expect(scoped.events[1]?.data).toMatchObject({ ref: 'global/a', snapshot: true });
  });
});

describe('watch: access and resources', () => {
  it('needs a credential and config:list; a scoped actor sees only its scopes', async () => {
    const h = await harness('memory', {
      rbac: { ...SERVER_RBAC, bindings: [{ users: ['scoped'], roles: ['reader'], scopes: ['app:web'] }] },
      environments: OPEN_ENVIRONMENTS,
    });
    const watched = counted(h.store);
    const tokens = {
      ...TOKENS,
      'scoped-secret': { id: 'scoped', roles: [], kind: 'token' as const },
      'none-secret': { id: 'none', roles: [], kind: 'token' as const },
    };
    const app = createConfigServer({
      service: h.service,
      store: watched.store,
      authenticators: [staticBearer(tokens)],
    });
    const base = await serve(app);
    try {
      const r: Running = {
        s: { h, app, close: async () => undefined },
        base,
        active: watched.active,
        store: watched.store,
        extra: [],
      };
      await set(r, 'app:web/a', 1);
      await set(r, 'global/a', 1);
      const anonymous = await fetch(`${base}/api/v1/watch`);
      expect(anonymous.status).toBe(401);
      const none = await open(r, '', bearer('none-secret'));
      expect(none.status).toBe(403);
      expect(none.events[0]?.data).toMatchObject({ code: 'ACCESS_DENIED' });
      const denied = await open(r, '?scope=global', bearer('scoped-secret'));
      expect(denied.status).toBe(403);
      expect(watched.active()).toBe(0);

      const c = await open(r, '', bearer('scoped-secret'));
      await ready(c);
      expect(c.events.filter((e) => e.event === 'change').map((e) => e.data?.ref)).toEqual(['app:web/a']);
      await set(r, 'global/a', 2);
      await set(r, 'app:api/x', 1);
      await set(r, 'app:web/a', 2);
      await c.until(() => c.events.length >= 3, 'a change');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(c.events.slice(2).map((e) => e.data?.ref)).toEqual(['app:web/a']);
      c.close();
      await c.until(() => watched.active() === 0, 'the store watch released');
    } finally {
      for (const c of clients.splice(0)) c.close();
      await app.close();
      await h.service.close();
      await h.close();
    }
  });

  it('answers problems the OpenAPI document declares: 401, 400 for a bad scope, 501 without a store', async () => {
    const s = await serverHarness('memory', { store: undefined });
    try {
      expect((await s.app.inject({ url: '/api/v1/watch' })).statusCode).toBe(401);
      const bad = await s.app.inject({ url: '/api/v1/watch?scope=nope', headers: ROOT });
      expect([bad.statusCode, JSON.parse(bad.body).code]).toEqual([501, 'CONSTRAINT_VIOLATION']);
    } finally {
      await s.close();
    }
    const withStore = await serverHarness();
    try {
      const bad = await withStore.app.inject({ url: '/api/v1/watch?scope=nope', headers: ROOT });
      expect([bad.statusCode, JSON.parse(bad.body).code]).toEqual([400, 'INVALID_CONFIG_REF']);
    } finally {
      await withStore.close();
    }
  });

  it('ends a stream at the next heartbeat once its credential is revoked; reconnecting is 401', async () => {
    const tokens = { ...TOKENS, 'temp-secret': { id: 'temp', roles: ['reader'], kind: 'token' as const } };
    const r = await start('memory', { authenticators: [staticBearer(tokens)], watch: { heartbeatMs: 50 } });
    const c = await open(r, '', bearer('temp-secret'));
    await ready(c);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(c.ended).toBe(false);
    delete (tokens as Record<string, unknown>)['temp-secret'];
    await c.until(() => c.ended, 'the end of the stream');
    expect(c.comments).toContain('closing; the credential is no longer valid');
    await c.until(() => r.active() === 0, 'the store watch released');
    const again = await open(r, '', { ...bearer('temp-secret'), 'last-event-id': c.lastId() as string });
    expect(again.status).toBe(401);
  });

  it('releases the store watch when clients disconnect, and app.close() ends open streams', async () => {
    const r = await start();
    // No HEAD twin of the route (its stream would have no reader).
    expect((await fetch(`${r.base}/api/v1/watch`, { method: 'HEAD', headers: ROOT })).status).toBe(404);
    expect(r.active()).toBe(0);
    const streams = await Promise.all([open(r), open(r, '?scope=global'), open(r, '?scope=app:web')]);
    for (const c of streams) await ready(c);
    expect(r.active()).toBe(3);
    streams[0]?.close();
    streams[1]?.close();
    await streams[0]?.until(() => r.active() === 1, 'two watches released');
    await r.s.app.close();
    const last = streams[2] as SseClient;
    await last.until(() => last.ended, 'the stream ended by close()');
    expect(r.active()).toBe(0);
  });
});

function sameView(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

describe('watch: PostgreSQL', () => {
  it('resumes on another replica after a dropped connection', async () => {
    const r = await start('postgres');
    const twin = await r.s.h.twin();
    const replica = createConfigServer({ service: twin.service, store: r.store, authenticators: [staticBearer()] });
    r.extra.push(replica);
    const other = await serve(replica);
    try {
      await set(r, 'global/a', 1);
      const c = await open(r);
      await ready(c);
      await set(r, 'global/a', 2);
      await c.until(() => c.events.some((e) => e.data?.version === 2), 'the live change');
      const lastId = c.lastId() as string;
      c.close();
      await set(r, 'global/a', 3);
      await set(r, 'app:web/b', 1);
      const resumed = await open(r, '', { ...ROOT, 'last-event-id': lastId }, other);
      await ready(resumed);
      expect(viewOf([...c.events, ...resumed.events])).toEqual(await storeView(r));
      await set(r, 'app:web/b', 2);
      await resumed.until(
        () => resumed.events.some((e) => e.data?.ref === 'app:web/b' && e.data.version === 2),
        'live',
      );
      resumed.close();
      await resumed.until(() => r.active() === 0, 'watches released');
    } finally {
      await twin.close();
    }
  });
});
