/**
 * Sessions and the leader lock against the real Consul.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createConsulSession, createLeaderLock, type LeaderLock, readLeaderLock } from '@summit-config/backends/consul';
import type { ConfigError } from '@summit-config/core';
import { prefixes } from '@summit-config/test-support/consul';
import { repoRoot, services } from '@summit-config/test-support/services';
import { slowly, until } from '@summit-config/test-support/wait';
import { afterEach, describe, expect, it } from 'vitest';

const { consulAddr } = services();
const newPrefix = prefixes();
const locks: LeaderLock[] = [];
afterEach(async () => {
  await Promise.all(locks.splice(0).map((l) => l.close()));
});

async function consul(method: string, path: string, body?: string): Promise<unknown> {
  const res = await fetch(`${consulAddr}/v1/${path}`, { method, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function lockEntry(key: string): Promise<{ Session?: string; LockIndex: number } | undefined> {
  const res = await fetch(`${consulAddr}/v1/kv/${key}?consistent`);
  if (res.status === 404) return undefined;
  return ((await res.json()) as Array<{ Session?: string; LockIndex: number }>)[0];
}

describe('consul sessions', () => {
  it('creates, renews and destroys a session with TTL, lock-delay and behavior', async () => {
    const session = await createConsulSession({
      address: consulAddr,
      name: 'test-session',
      ttlMs: 10_000,
      lockDelayMs: 2000,
      behavior: 'delete',
      autoRenew: false,
    });
    const info = await session.info();
    expect(info).toMatchObject({ ID: session.id, Name: 'test-session', TTL: '10s', Behavior: 'delete' });
    expect(info?.LockDelay).toBe(2_000_000_000); // nanoseconds
    expect(await session.renew()).toBe(true);
    await session.destroy();
    await session.destroy(); // idempotent
    await expect(session.renew()).rejects.toMatchObject({ code: 'CLOSED' });
    const after = await fetch(`${consulAddr}/v1/session/info/${session.id}`);
    expect((await after.json()) ?? []).toEqual([]);
  });

  it('reports a session destroyed behind its back as lost', async () => {
    const lost: ConfigError[] = [];
    const session = await createConsulSession({ address: consulAddr, autoRenew: false, onLost: (e) => lost.push(e) });
    await consul('PUT', `session/destroy/${session.id}`);
    expect(await session.renew()).toBe(false);
    expect(lost).toHaveLength(1);
    await session.destroy();
  });

  it('names bad options', async () => {
    await expect(createConsulSession({ address: consulAddr, ttlMs: 5 })).rejects.toThrow(/ttlMs/);
    await expect(createConsulSession({ address: consulAddr, lockDelayMs: -1 })).rejects.toThrow(/lockDelayMs/);
    await expect(createConsulSession({ address: consulAddr, behavior: 'keep' as never })).rejects.toThrow(/behavior/);
    expect(() => createLeaderLock({ address: consulAddr, name: '../x' })).toThrow(/name/);
    expect(() => createLeaderLock({ address: consulAddr, name: 'x', waitMs: 1 })).toThrow(/waitMs/);
  });
});

describe('leader lock (one process)', () => {
  const prefix = newPrefix();
  const make = (name: string) => {
    const lock = createLeaderLock({ address: consulAddr, prefix, name, ttlMs: 10_000, lockDelayMs: 0, waitMs: 2000 });
    locks.push(lock);
    return lock;
  };

  it('acquires with a fencing token, guards writes, notices loss, and re-acquires with a larger token', async () => {
    const lock = make('jobs');
    const lost: ConfigError[] = [];
    lock.onLost((e) => lost.push(e));
    expect(lock.isHeld).toBe(false);
    const token = await lock.acquire();
    expect(lock.isHeld).toBe(true);
    expect(lock.fencingToken).toBe(token);
    expect(await lock.verify()).toBe(true);
    const entry = await lockEntry(lock.key);
    expect(entry).toMatchObject({ Session: lock.sessionId, LockIndex: token });

    // A protected write carries the guard: it commits only while the lock is held.
    const guarded = (value: string) =>
      consul(
        'PUT',
        'txn',
        JSON.stringify([
          lock.guardOp(),
          { KV: { Verb: 'set', Key: `${prefix}protected`, Value: Buffer.from(value).toString('base64') } },
        ]),
      );
    await guarded('by the leader');

    const guard = lock.guardOp();
    await consul('PUT', `session/destroy/${lock.sessionId}`);
    await until(() => lost.length === 1, 'the loss to be noticed', slowly);
    expect(lock.isHeld).toBe(false);
    expect(lock.fencingToken).toBeUndefined();
    // A deposed leader's guarded write is refused by Consul.
    const refused = await fetch(`${consulAddr}/v1/txn`, {
      method: 'PUT',
      body: JSON.stringify([guard, { KV: { Verb: 'set', Key: `${prefix}protected`, Value: 'eA==' } }]),
    });
    expect(refused.status).toBe(409);

    const again = await lock.acquire();
    expect(again).toBeGreaterThan(token);
    await lock.release();
    expect(lock.isHeld).toBe(false);
    expect((await lockEntry(lock.key))?.Session).toBeUndefined();
  });

  it('readLeaderLock names the holder and its term, nobody between terms, and never turns an outage into "nobody"', async () => {
    const read = () => readLeaderLock({ address: consulAddr, prefix, name: 'watched' });
    expect(await read()).toBeUndefined();
    const a = createLeaderLock({ address: consulAddr, prefix, name: 'watched', holder: 'agent-a', lockDelayMs: 0 });
    const b = createLeaderLock({ address: consulAddr, prefix, name: 'watched', holder: 'agent-b', lockDelayMs: 0 });
    locks.push(a, b);
    const tokenA = await a.acquire();
    expect(await read()).toEqual({ holder: 'agent-a', session: a.sessionId, lockIndex: tokenA });
    await a.release();
    // Released: the key keeps the last holder's name but no session holds it.
    expect(await read()).toBeUndefined();
    const tokenB = await b.acquire();
    expect(await read()).toEqual({ holder: 'agent-b', session: b.sessionId, lockIndex: tokenB });
    expect(tokenB).toBeGreaterThan(tokenA);
    // Nothing listens on port 1: the read fails with a typed error.
    await expect(
      readLeaderLock({ address: 'http://127.0.0.1:1', prefix, name: 'watched', timeoutMs: 1000 }),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(readLeaderLock({ address: consulAddr, prefix, name: '../x' })).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
    });
  });

  it('lets one of two contenders hold it; release hands it over', async () => {
    const a = make('pair');
    const b = make('pair');
    const tokenA = await a.acquire();
    expect(await b.tryAcquire()).toBe(false);
    const controller = new AbortController();
    const waiting = b.acquire({ signal: controller.signal });
    await a.release();
    const tokenB = await waiting;
    expect(tokenB).toBeGreaterThan(tokenA);
    expect(b.isHeld).toBe(true);
    expect(a.isHeld).toBe(false);
  });

  it('stops waiting when the signal aborts, and is closed for good after close()', async () => {
    const a = make('abort');
    const b = make('abort');
    await a.acquire();
    const controller = new AbortController();
    const waiting = b.acquire({ signal: controller.signal });
    controller.abort(new Error('give up'));
    await expect(waiting).rejects.toThrow('give up');
    await b.close();
    await expect(b.acquire()).rejects.toMatchObject({ code: 'CLOSED' });
    await a.close();
    expect((await lockEntry(a.key))?.Session).toBeUndefined();
  });
});

describe('leader lock (two processes)', () => {
  it('exactly one process holds the lock; destroying its session hands it to the other', async () => {
    const prefix = newPrefix();
    const script = join(repoRoot, 'test', 'backends', 'consul-lock-child.ts');
    type Event = { label: string; event: string; token?: number; session?: string; code?: string };
    const events: Event[] = [];
    const children: ChildProcessWithoutNullStreams[] = [];
    const start = (label: string) => {
      const child = spawn('npx', ['tsx', '--conditions=source', script, consulAddr, prefix, 'race', label], {
        cwd: repoRoot,
        stdio: 'pipe',
      });
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl = buffer.indexOf('\n');
        while (nl >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.startsWith('{')) events.push(JSON.parse(line) as Event);
          nl = buffer.indexOf('\n');
        }
      });
      children.push(child);
    };
    const key = `${prefix}locks/race`;
    try {
      start('p1');
      start('p2');
      await until(() => events.filter((e) => e.event === 'ready').length === 2, 'both children to start', {
        ...slowly,
        timeoutMs: 30_000,
      });
      await until(
        () => events.some((e) => e.event === 'acquired') && events.some((e) => e.event === 'waiting'),
        'one holder and one waiting contender',
        { ...slowly, timeoutMs: 30_000 },
      );
      const first = events.find((e) => e.event === 'acquired') as Event;
      expect(events.find((e) => e.event === 'waiting')?.label).not.toBe(first.label);
      // The lock key says the same: the first holder's session, and nobody else acquired.
      expect((await lockEntry(key))?.Session).toBe(first.session);
      expect(events.filter((e) => e.event === 'acquired')).toHaveLength(1);

      await consul('PUT', `session/destroy/${first.session}`);
      await until(
        () => events.some((e) => e.event === 'acquired' && e.label !== first.label),
        'the other process to take over',
        // A liveness bound: two tsx children and Consul share 2 cores with the parallel suites.
        { ...slowly, timeoutMs: 60_000 },
      );
      const second = events.find((e) => e.event === 'acquired' && e.label !== first.label) as Event;
      expect(second.token).toBeGreaterThan(first.token as number);
      await until(
        () => events.some((e) => e.event === 'lost' && e.label === first.label),
        'the first to notice',
        slowly,
      );
      const entry = await lockEntry(key);
      expect(entry?.Session).toBe(second.session);
      // One holder at a time: the first, then (after its session was destroyed) the second only.
      expect(events.filter((e) => e.event === 'acquired').map((e) => e.label)).toEqual([first.label, second.label]);
    } finally {
      for (const child of children) {
        child.stdin.end();
        child.kill('SIGTERM');
      }
    }
  }, 90_000);
});
