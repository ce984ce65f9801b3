/** The rate limit per principal (429, Retry-After), the request timeout (504, aborted signal) and their options. */
import type { ConfigService } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigServer } from '../src/index.js';
import { checkOptions } from '../src/options.js';
import { TokenBuckets } from '../src/rate-limit.js';
import { auth, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness, staticBearer, TOKENS } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const ALICE = auth('alice-secret');

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    clock: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

async function statuses(app: ServerHarness['app'], headers: Record<string, string>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await app.inject({ url: '/api/v1/configs', headers })).statusCode);
  return out;
}

describe('rate limit per principal', () => {
  it('after the burst a principal gets 429 problem+json with Retry-After in whole seconds', async () => {
    const t = manualClock();
    s = await serverHarness('memory', { rateLimit: { perSecond: 1, burst: 3, clock: t.clock } });
    expect(await statuses(s.app, ROOT, 3)).toEqual([200, 200, 200]);
    const over = await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, 'x-request-id': 'rl-1' } });
    expect(over.statusCode).toBe(429);
    expect(over.headers['retry-after']).toBe('1');
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(over.headers['request-id']).toBe('rl-1');
    expect(json(over)).toMatchObject({
      status: 429,
      title: 'Too Many Requests',
      code: 'RATE_LIMITED',
      type: 'urn:summit-config:problem:rate-limited',
      requestId: 'rl-1',
    });
    // A write over the limit writes nothing.
    const write = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: { config: { a: 1 } },
      headers: ROOT,
    });
    expect(write.statusCode).toBe(429);
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
  });

  it('Retry-After is the whole seconds until one token is back', async () => {
    const t = manualClock();
    s = await serverHarness('memory', { rateLimit: { perSecond: 0.25, burst: 1, clock: t.clock } });
    expect(await statuses(s.app, ROOT, 1)).toEqual([200]);
    const over = await s.app.inject({ url: '/api/v1/configs', headers: ROOT });
    expect(over.headers['retry-after']).toBe('4');
    t.advance(1500);
    expect((await s.app.inject({ url: '/api/v1/configs', headers: ROOT })).headers['retry-after']).toBe('3');
  });

  it('separate principals have separate buckets (keyed by credential, else id)', async () => {
    const t = manualClock();
    const tokens = {
      ...TOKENS,
      // The same id under two credentials: two principals.
      'root-2-secret': { ...ROOT_ACTOR, credential: 'token:t-root-2' },
      // No credential: keyed by id.
      'dave-secret': { id: 'dave', roles: ['superuser'], kind: 'oidc' as const },
    };
    s = await serverHarness('memory', {
      authenticators: [staticBearer(tokens)],
      rateLimit: { perSecond: 1, burst: 2, clock: t.clock },
    });
    expect(await statuses(s.app, ROOT, 3)).toEqual([200, 200, 429]);
    expect(await statuses(s.app, ALICE, 3)).toEqual([200, 200, 429]);
    expect(await statuses(s.app, auth('root-2-secret'), 3)).toEqual([200, 200, 429]);
    expect(await statuses(s.app, auth('dave-secret'), 3)).toEqual([200, 200, 429]);
    expect(await statuses(s.app, ROOT, 1)).toEqual([429]);
  });

  it('the bucket refills with time, up to the burst', async () => {
    const t = manualClock();
    s = await serverHarness('memory', { rateLimit: { perSecond: 2, burst: 3, clock: t.clock } });
    expect(await statuses(s.app, ROOT, 4)).toEqual([200, 200, 200, 429]);
    t.advance(500); // one token
    expect(await statuses(s.app, ROOT, 2)).toEqual([200, 429]);
    t.advance(1000); // two tokens
    expect(await statuses(s.app, ROOT, 3)).toEqual([200, 200, 429]);
    t.advance(60_000); // full again, not more than the burst
    expect(await statuses(s.app, ROOT, 4)).toEqual([200, 200, 200, 429]);
  });

  it('unauthenticated requests are 401 before rate limiting and take no token', async () => {
    const t = manualClock();
    s = await serverHarness('memory', { rateLimit: { perSecond: 1, burst: 2, clock: t.clock } });
    for (let i = 0; i < 5; i++) {
      expect((await s.app.inject({ url: '/api/v1/configs' })).statusCode).toBe(401);
      expect((await s.app.inject({ url: '/api/v1/configs', headers: auth('nope') })).statusCode).toBe(401);
    }
    expect(await statuses(s.app, ROOT, 3)).toEqual([200, 200, 429]);
    // The OpenAPI document (no authentication) is not limited.
    for (let i = 0; i < 3; i++) expect((await s.app.inject({ url: '/api/openapi.json' })).statusCode).toBe(200);
  });

  it('the default is 50 per second with a burst of 100, and a 30 s timeout', async () => {
    const t = manualClock();
    s = await serverHarness('memory', { rateLimit: { perSecond: 50, burst: 100, clock: t.clock } });
    const codes = await statuses(s.app, ROOT, 101);
    expect(codes.slice(0, 100).every((c) => c === 200)).toBe(true);
    expect(codes[100]).toBe(429);
    const checked = checkOptions({ service: s.h.service, authenticators: [staticBearer()] });
    expect(checked.rateLimit).toMatchObject({ perSecond: 50, burst: 100, maxPrincipals: 10_000 });
    expect(checked.requestTimeoutMs).toBe(30_000);
  });

  it('false disables it', async () => {
    s = await serverHarness('memory', { rateLimit: false });
    const codes = await statuses(s.app, ROOT, 150);
    expect(codes.every((c) => c === 200)).toBe(true);
  });

  it('buckets do not grow without bound: refilled buckets are evicted, then the least recently seen', () => {
    const t = manualClock();
    const buckets = new TokenBuckets({ perSecond: 1, burst: 2, clock: t.clock, maxPrincipals: 3 });
    for (let i = 0; i < 10; i++) buckets.take(`p${i}`);
    expect(buckets.size).toBe(3);
    // p9 was kept (recently seen) and is still limited; p0 was dropped and starts full.
    expect(buckets.take('p9').allowed).toBe(true);
    expect(buckets.take('p9').allowed).toBe(false);
    // Idle principals refill and are swept at the next bound check.
    t.advance(10_000);
    for (let i = 0; i < 3000; i++) buckets.take('busy');
    expect(buckets.size).toBeLessThanOrEqual(2);
    const many = new TokenBuckets({ perSecond: 1000, burst: 1, clock: t.clock, maxPrincipals: 100_000 });
    for (let i = 0; i < 5000; i++) {
      many.take(`q${i}`);
      t.advance(5); // each bucket is full again 1 ms after its take
    }
    expect(many.size).toBeLessThan(1100);
  });
});

/** A service whose `set` waits on its signal and records it. */
function hangingSet(service: ConfigService) {
  const seen: { signal?: AbortSignal } = {};
  const wrapped = new Proxy(service, {
    get(target, prop) {
      if (prop === 'set') {
        return (_actor: unknown, _input: unknown, options?: { signal?: AbortSignal }) => {
          seen.signal = options?.signal;
          return new Promise((_, reject) => {
            const signal = options?.signal;
            if (!signal) return; // never settles: the test would see no signal
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { service: wrapped, seen };
}

describe('request timeout', () => {
  it('a handler running past requestTimeoutMs is 504 TIMEOUT and its service call signal is aborted', async () => {
    s = await serverHarness();
    const { service, seen } = hangingSet(s.h.service);
    const app = createConfigServer({
      service,
      store: s.h.store,
      authenticators: [staticBearer()],
      requestTimeoutMs: 50,
    });
    try {
      const res = await app.inject({
        method: 'PUT',
        url: '/api/v1/configs/global/db',
        payload: { config: { a: 1 } },
        headers: ROOT,
      });
      expect(res.statusCode).toBe(504);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(json(res)).toMatchObject({ status: 504, code: 'TIMEOUT', title: 'Gateway Timeout' });
      expect(seen.signal).toBeInstanceOf(AbortSignal);
      expect(seen.signal?.aborted).toBe(true);
      expect(seen.signal?.reason).toMatchObject({ code: 'TIMEOUT' });
      // The server still answers.
      expect((await app.inject({ url: '/api/v1/configs', headers: ROOT })).statusCode).toBe(200);
      expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('a call that takes no signal (a list) is answered 504 all the same', async () => {
    s = await serverHarness();
    const service = new Proxy(s.h.service, {
      get(target, prop) {
        if (prop === 'list') return () => new Promise(() => undefined);
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const app = createConfigServer({ service, authenticators: [staticBearer()], requestTimeoutMs: 20 });
    try {
      const res = await app.inject({ url: '/api/v1/configs', headers: ROOT });
      expect(res.statusCode).toBe(504);
      expect(json(res)).toMatchObject({ code: 'TIMEOUT', detail: 'the operation timed out' });
    } finally {
      await app.close();
    }
  });

  it('a request within the timeout succeeds and its signal is not aborted', async () => {
    s = await serverHarness();
    const signals: AbortSignal[] = [];
    const service = new Proxy(s.h.service, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop === 'set' && typeof value === 'function') {
          return (actor: never, input: never, options: { signal?: AbortSignal }) => {
            if (options.signal) signals.push(options.signal);
            return value.call(target, actor, input, options);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const app = createConfigServer({ service, store: s.h.store, authenticators: [staticBearer()] });
    try {
      const res = await app.inject({
        method: 'PUT',
        url: '/api/v1/configs/global/db',
        payload: { config: { a: 1 } },
        headers: ROOT,
      });
      expect(res.statusCode).toBe(201);
      expect(signals).toHaveLength(1);
      expect(signals[0]?.aborted).toBe(false);
    } finally {
      await app.close();
    }
  });
});

describe('options', () => {
  it('refuses bad rateLimit and requestTimeoutMs, naming the option', async () => {
    s = await serverHarness();
    const base = { service: s.h.service, authenticators: [staticBearer()] };
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ rateLimit: { perSecond: 0, burst: 1 } }, /rateLimit\.perSecond/],
      [{ rateLimit: { perSecond: -1, burst: 1 } }, /rateLimit\.perSecond/],
      [{ rateLimit: { perSecond: Number.NaN, burst: 1 } }, /rateLimit\.perSecond/],
      [{ rateLimit: { perSecond: 1, burst: 0 } }, /rateLimit\.burst/],
      [{ rateLimit: { perSecond: 1, burst: 1.5 } }, /rateLimit\.burst/],
      [{ rateLimit: { perSecond: 1, burst: 1, maxPrincipals: 0 } }, /rateLimit\.maxPrincipals/],
      [{ rateLimit: { perSecond: 1, burst: 1, clock: 5 } }, /rateLimit\.clock/],
      [{ rateLimit: true }, /rateLimit/],
      [{ rateLimit: null }, /rateLimit/],
      [{ requestTimeoutMs: 0 }, /requestTimeoutMs/],
      [{ requestTimeoutMs: -5 }, /requestTimeoutMs/],
      [{ requestTimeoutMs: 1.5 }, /requestTimeoutMs/],
      [{ requestTimeoutMs: '30000' }, /requestTimeoutMs/],
      [{ requestTimeoutMs: 2 ** 31 }, /requestTimeoutMs/],
    ];
    for (const [extra, message] of bad) {
      let thrown: unknown;
      try {
        createConfigServer({ ...base, ...extra } as never);
      } catch (error) {
        thrown = error;
      }
      expect({ extra, thrown }).toMatchObject({ extra, thrown: { code: 'CONSTRAINT_VIOLATION' } });
      expect(String((thrown as Error).message)).toMatch(message);
    }
    const ok = createConfigServer({ ...base, rateLimit: { perSecond: 0.5, burst: 1 }, requestTimeoutMs: 1 });
    await ok.close();
  });
});
