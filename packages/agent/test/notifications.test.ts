/**
 * Notifications in one process: the `notifications` section's validation (each bad field named),
 * the payloads (ids, environments, kinds of actor, Slack's shape, no values), delivery against a
 * real HTTP server on 127.0.0.1 (retries on 5xx and connection errors, none on 4xx, the signature),
 * and the SQL records on the embedded store (cursors never go back, dead letters retried once).
 */
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AuditEvent } from '@summit-config/core';
import { tempDirs } from '@summit-config/test-support/temp';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../src/config.js';
import { actionMatches } from '../src/notifications/config.js';
import { deliver, signatureOf } from '../src/notifications/deliver.js';
import { actorKindOf, bodyOf, environmentOf, eventIdOf, notificationOf } from '../src/notifications/payload.js';
import { createNotificationStore } from '../src/notifications/sql.js';
import { openRuntime } from '../src/runtime.js';
import { runIn } from './cli-harness.js';

const tempDir = tempDirs();
const SECRET = 'a-webhook-secret-of-some-length';
const env = { HOOK_SECRET: SECRET };

function configWith(hook: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return resolveAgentConfig(
    {
      notifications: {
        webhooks: [{ name: 'ops', url: 'http://127.0.0.1:9/hook', secretEnv: 'HOOK_SECRET', ...hook }],
        ...extra,
      },
    },
    env,
  );
}

describe('the notifications section', () => {
  it('fills the defaults and reads the secret from the environment or a file', async () => {
    const hook = configWith({}).notifications.webhooks[0];
    expect(hook).toMatchObject({ name: 'ops', format: 'json', maxAttempts: 5, backoffMs: 1000, enabled: true });
    expect(hook?.secret).toBe(SECRET);
    expect(hook?.events).toContain('config.set');
    expect(configWith({}).notifications.pollMs).toBe(1000);
    const dir = await tempDir('summit-notify-');
    const file = join(dir, 'secret');
    await writeFile(file, `${SECRET}-from-file\n`);
    expect(configWith({ secretEnv: undefined, secretFile: file }).notifications.webhooks[0]?.secret).toBe(
      `${SECRET}-from-file`,
    );
    expect(resolveAgentConfig({}, {}).notifications).toEqual({ pollMs: 1000, webhooks: [] });
  });

  it.each([
    [{ url: 'ftp://x/y' }, 'notifications.webhooks[0].url'],
    [{ url: 'http://user:pw@127.0.0.1/' }, 'notifications.webhooks[0].url'],
    [{ secretEnv: 'NOT_SET_ANYWHERE' }, 'notifications.webhooks[0].secretEnv'],
    [{ secretFile: '/etc/hostname' }, 'notifications.webhooks[0] needs exactly one'],
    [{ secretEnv: undefined }, 'notifications.webhooks[0] needs exactly one'],
    [{ secretEnv: undefined, secretFile: '/nonexistent/secret' }, 'notifications.webhooks[0].secretFile'],
    [{ format: 'xml' }, 'notifications.webhooks[0].format'],
    [{ events: ['config.*', 'Bad Action'] }, 'notifications.webhooks[0].events[1]'],
    [{ events: [] }, 'notifications.webhooks[0].events'],
    [{ name: 'Ops!' }, 'notifications.webhooks[0].name'],
    [{ maxAttempts: 0 }, 'notifications.webhooks[0].maxAttempts'],
    [{ backoffMs: 500, maxBackoffMs: 100 }, 'notifications.webhooks[0].maxBackoffMs'],
    [{ retries: 3 }, 'notifications.webhooks[0].retries'],
  ])('refuses %j naming %s', (hook, field) => {
    expect(() => configWith(hook as Record<string, unknown>)).toThrowError(
      expect.objectContaining({ code: 'CONSTRAINT_VIOLATION', message: expect.stringContaining(field) }),
    );
  });

  it('refuses a short secret, a name listed twice and a bad poll interval', () => {
    expect(() =>
      resolveAgentConfig(
        { notifications: { webhooks: [{ name: 'a', url: 'http://h/', secretEnv: 'S' }] } },
        { S: 'short' },
      ),
    ).toThrow(/notifications\.webhooks\[0\]\.secretEnv holds a secret shorter than 16 bytes/);
    const hook = { name: 'ops', url: 'http://127.0.0.1/', secretEnv: 'HOOK_SECRET' };
    expect(() => resolveAgentConfig({ notifications: { webhooks: [hook, hook] } }, env)).toThrow(
      /notifications\.webhooks\[1\]\.name "ops" is listed twice/,
    );
    expect(() => configWith({}, { pollMs: 1 })).toThrow(/notifications\.pollMs must be an integer/);
  });

  it('matches actions exactly or by a prefix ending in .*', () => {
    expect(actionMatches(['config.*'], 'config.set')).toBe(true);
    expect(actionMatches(['config.*'], 'configx.set')).toBe(false);
    expect(actionMatches(['request.approve'], 'request.reject')).toBe(false);
    expect(actionMatches(['*'], 'drift.found')).toBe(true);
  });
});

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  seq: 42,
  at: '2026-01-02T03:04:05.678Z',
  actor: 'alice',
  action: 'config.set',
  ref: 'app:billing/database',
  version: 7,
  message: 'bigger pool',
  changes: [{ op: 'replace', path: '/config/password', value: 'hunter2-value' }],
  source: 'cli',
  prevHash: 'aa',
  hash: '0123456789abcdef0123456789abcdef',
  signature: null,
  ...over,
});

describe('payloads', () => {
  it('name the event by seq and hash, and never carry a value', () => {
    expect(eventIdOf(event())).toBe('42-0123456789abcdef');
    expect(eventIdOf(event({ hash: null }))).toBe('42-unhashed');
    const n = notificationOf(event(), 'c'.repeat(64));
    expect(n).toMatchObject({
      id: '42-0123456789abcdef',
      type: 'config.set',
      ref: 'app:billing/database',
      scope: 'app:billing',
      version: 7,
      environment: 'all',
      actorKind: 'user',
      checksum: 'c'.repeat(64),
      paths: ['/config/password'],
    });
    for (const format of ['json', 'slack'] as const) expect(bodyOf(n, format)).not.toContain('hunter2');
    const slack = JSON.parse(bodyOf(n, 'slack')) as { text: string; blocks: Array<{ type: string }> };
    expect(slack.text).toContain('app:billing/database v7');
    expect(slack.blocks.map((b) => b.type)).toEqual(['section', 'section', 'context']);
  });

  it('say which environment a change concerns', () => {
    const op = (path: string) => ({ op: 'add' as const, path, value: 1 });
    expect(environmentOf(event({ changes: [op('/overrides/staging/rps')] }))).toBe('staging');
    expect(environmentOf(event({ changes: [op('/overrides/staging')] }))).toBe('staging');
    expect(environmentOf(event({ changes: [op('/overrides/staging/a'), op('/overrides/prod/a')] }))).toBe('all');
    expect(environmentOf(event({ changes: [op('/overrides/staging/a'), op('/config/a')] }))).toBe('all');
    expect(environmentOf(event({ changes: [] }))).toBe('all');
    expect(environmentOf(event({ environment: 'prod', changes: [op('/config/a')] }))).toBe('prod');
  });

  it('say which kind of actor acted', () => {
    expect(actorKindOf(event())).toBe('user');
    expect(actorKindOf(event({ source: 'agent', actor: 'summit-agent:a' }))).toBe('agent');
    expect(actorKindOf(event({ source: 'api', origin: { method: 'token', tokenId: 'abc' } }))).toBe('token');
    expect(actorKindOf(event({ source: 'api', origin: { method: 'oidc' } }))).toBe('oidc');
    expect(actorKindOf(event({ actor: 'gitops-bot', origin: { method: 'token' } }))).toBe('gitops');
  });
});

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A server answering with `statuses` in turn (the last one repeats), recording each request. */
async function serve(statuses: number[]) {
  const requests: Array<{ headers: Record<string, unknown>; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.writeHead(statuses[Math.min(requests.length - 1, statuses.length - 1)] as number).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests };
}

const hookFor = (url: string, over: Record<string, unknown> = {}) => ({
  ...(configWith({ url, backoffMs: 5, maxBackoffMs: 20, maxAttempts: 4, timeoutMs: 2000, ...over }).notifications
    .webhooks[0] as NonNullable<ReturnType<typeof configWith>['notifications']['webhooks'][0]>),
});

describe('delivery', () => {
  it('signs each attempt and retries 5xx until a 2xx', async () => {
    const s = await serve([500, 503, 200]);
    const retried: unknown[] = [];
    const result = await deliver(
      hookFor(s.url),
      '{"a":1}',
      { eventId: '1-ab', eventType: 'config.set' },
      {
        onRetry: (r) => retried.push(r.status),
      },
    );
    expect(result).toMatchObject({ ok: true, attempts: 3, aborted: false });
    expect(retried).toEqual([500, 503]);
    for (const r of s.requests) {
      expect(r.body).toBe('{"a":1}');
      expect(r.headers['summit-event-id']).toBe('1-ab');
      const [t, v1] = String(r.headers['summit-signature'])
        .split(',')
        .map((p) => p.split('=')[1]);
      expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.{"a":1}`).digest('hex'));
      expect(r.headers['summit-signature']).toBe(signatureOf(SECRET, Number(t), '{"a":1}'));
    }
  });

  it('gives up after maxAttempts, at once on a 4xx, and retries connection errors', async () => {
    const failing = await serve([502]);
    expect(await deliver(hookFor(failing.url), '{}', { eventId: '1-a', eventType: 'x' })).toMatchObject({
      ok: false,
      attempts: 4,
      lastError: 'HTTP 502',
    });
    expect(failing.requests).toHaveLength(4);
    const refusing = await serve([400]);
    expect(await deliver(hookFor(refusing.url), '{}', { eventId: '1-a', eventType: 'x' })).toMatchObject({
      ok: false,
      attempts: 1,
    });
    const closed = await serve([200]);
    await new Promise((r) => (servers.pop() as Server).close(r));
    const gone = await deliver(hookFor(closed.url, { maxAttempts: 2 }), '{}', { eventId: '1-a', eventType: 'x' });
    expect(gone).toMatchObject({ ok: false, attempts: 2, lastError: 'ECONNREFUSED' });
  });

  it('stops when its signal aborts, neither delivered nor dead', async () => {
    const failing = await serve([500]);
    const controller = new AbortController();
    const result = await deliver(
      hookFor(failing.url, { backoffMs: 60_000, maxBackoffMs: 60_000 }),
      '{}',
      {
        eventId: '1-a',
        eventType: 'x',
      },
      { signal: controller.signal, onRetry: () => controller.abort() },
    );
    expect(result).toMatchObject({ ok: false, aborted: true });
  });
});

describe('the SQL records (embedded store)', () => {
  it('keeps cursors monotonic and a dead letter delivered once', async () => {
    const dataDir = await tempDir('summit-notify-sql-');
    const stores = await openRuntime(resolveAgentConfig({ stores: { embedded: { dataDir } } }, {}), { role: 'agent' });
    const handle = await (stores.secretSql as NonNullable<typeof stores.secretSql>)();
    try {
      const store = createNotificationStore({ sql: handle.sql, schema: handle.schema });
      expect(await store.getCursor('metrics')).toBeUndefined();
      await store.saveCursor('metrics', 5, 'h5');
      await store.saveCursor('metrics', 3, 'h3');
      expect(await store.getCursor('metrics')).toEqual({ seq: 5, hash: 'h5' });
      const base = { channel: 'ops', seq: 9, action: 'config.set', ref: 'global/a', body: '{}' };
      const dead = await store.record({ ...base, eventId: '9-a', status: 'dead', attempts: 3, lastError: 'HTTP 500' });
      await store.record({ ...base, eventId: '10-b', status: 'delivered', attempts: 1, lastError: undefined });
      expect(dead.id).toMatch(/^[0-9a-f]{12}$/);
      expect(await store.countDead()).toBe(1);
      expect((await store.list({ dead: true })).map((r) => r.eventId)).toEqual(['9-a']);
      expect(await store.list({ channel: 'other' })).toEqual([]);
      expect(await store.markDelivered(dead.id, 4)).toBe(true);
      expect(await store.markDelivered(dead.id, 5)).toBe(false);
      expect(await store.get(dead.id)).toMatchObject({ status: 'delivered', attempts: 4, lastError: undefined });
      expect(await store.countDead()).toBe(0);
    } finally {
      await handle.close();
      await stores.close();
    }
  }, 60_000);
});

describe('summit-config notifications (embedded store)', () => {
  it('lists nothing at first, and refuses bad input with a typed error, writing nothing', async () => {
    const dir = await tempDir('summit-notify-cli-');
    const cliEnv = { PATH: process.env.PATH, SUMMIT_DATA_DIR: join(dir, 'data') };
    const run = (args: string[]) => runIn(cliEnv, [...args, '--json']);
    const empty = await run(['notifications', 'list']);
    expect(empty.code).toBe(0);
    expect(empty.json()).toEqual([]);
    expect((await run(['notifications', 'list', '--dead'])).json()).toEqual([]);
    for (const [args, code] of [
      [['notifications', 'retry'], 'CONSTRAINT_VIOLATION'],
      [['notifications', 'retry', 'abcdef012345', '--all'], 'CONSTRAINT_VIOLATION'],
      [['notifications', 'list', '--limit', '0'], 'CONSTRAINT_VIOLATION'],
      [['notifications', 'retry', 'abcdef012345'], 'NOT_FOUND'],
    ] as const) {
      const r = await run([...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.error().code).toBe(code);
    }
    expect((await run(['notifications', 'retry', '--all'])).json()).toEqual({ results: [] });
    expect((await run(['notifications', 'list'])).json()).toEqual([]);
  }, 60_000);
});
