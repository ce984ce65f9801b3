import { createServer, type Server, type Socket } from 'node:net';
import { createPostgresStore, LATEST_MIGRATION } from '@summit-config/backends/postgres';
import { appendNext, type ConfigError, isConfigError, parseRef, refKey } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { collect, doc, runStoreContract } from '@summit-config/test-support/contract/store-contract';
import { errorCode as codeOf } from '@summit-config/test-support/errors';
import { services } from '@summit-config/test-support/services';
import { adminQuery, q } from '@summit-config/test-support/sql';
import { forgeSilentAppend, postgresStores, tamperPg } from '@summit-config/test-support/stores';
import { slowly, until } from '@summit-config/test-support/wait';
import { afterAll, describe, expect, it } from 'vitest';

const pgStore = postgresStores('pg');

runStoreContract('postgres', {
  create: () => pgStore(),
  capabilities: {
    watch: true,
    durable: true,
    appliedState: true,
    consistentReads: true,
    historyLimit: undefined,
    bulkReads: true,
  },
  tamper: tamperPg,
});

runStoreContract('postgres (small documents)', {
  create: () => pgStore({ maxDocumentBytes: 4096 }),
  maxDocumentBytes: 4096,
  capabilities: { watch: true, durable: true },
  tamper: tamperPg,
});

describe('postgres store', () => {
  it('names the bad option at construction', () => {
    const url = services().databaseUrl;
    expect(() => createPostgresStore({} as never)).toThrow(/connectionString/);
    expect(() => createPostgresStore({ connectionString: url, schema: '' })).toThrow(/schema/);
    expect(() => createPostgresStore({ connectionString: url, schema: 'x'.repeat(64) })).toThrow(/schema/);
    expect(() => createPostgresStore({ connectionString: url, connectTimeoutMs: 0 })).toThrow(/connectTimeoutMs/);
    expect(() => createPostgresStore({ connectionString: url, statementTimeoutMs: 1.5 })).toThrow(/statementTimeoutMs/);
    expect(() => createPostgresStore({ connectionString: url, resyncIntervalMs: -1 })).toThrow(/resyncIntervalMs/);
    expect(() => createPostgresStore({ connectionString: url, maxDocumentBytes: 0 })).toThrow(/maxDocumentBytes/);
  });

  it('migrates once, records the migrations, and is idempotent', async () => {
    const store = pgStore();
    const first = await store.migrate();
    expect(first.applied).toEqual(Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1));
    expect(first.current).toBe(LATEST_MIGRATION);
    const again = pgStore({ schema: store.schema });
    expect((await again.migrate()).applied).toEqual([]);
    const rows = await adminQuery<{ version: number }>(
      `SELECT version FROM ${q(store.schema)}.summit_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual(first.applied);
    const tables = await adminQuery<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [store.schema],
    );
    // Later migrations add tables (governance, rotation, migration history); these are the store's own.
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        'approval_workflows',
        'config_applied_state',
        'config_audit',
        'config_heads',
        'config_sync',
        'config_versions',
        'secret_rotation_policies',
        'summit_migrations',
      ]),
    );
  });

  it('keeps a schema name with quotes, spaces and capitals as it is', async () => {
    const schema = `Odd "name"; DROP ${process.pid}`;
    const store = pgStore({ schema });
    await store.append(doc('global/odd', 1));
    expect((await store.getHead(parseRef('global/odd')))?.version).toBe(1);
    const rows = await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${q(schema)}.config_versions`);
    expect(rows[0]?.n).toBe(1);
  });

  it('round-trips numbers exactly: 1.0, big integers, exponents, -0', async () => {
    const store = pgStore();
    const config = {
      one: 1.0,
      half: 0.5,
      third: 1 / 3,
      big: 2 ** 53 + 2,
      huge: 1e21,
      tiny: 5e-324,
      max: Number.MAX_VALUE,
      negative: -12345.678,
      list: [1.0, 2.5, 1e-7],
    };
    const d = createVersion({ ref: 'global/numbers', config, createdBy: 'test' }, 1);
    await store.append(d);
    const read = await store.getVersion(parseRef('global/numbers'), 1);
    expect(read?.checksum).toBe(d.checksum);
    expect(read?.config).toEqual(d.config);
    expect(read?.config.big).toBe(9007199254740994);
    // JSON has no -0: it is written as 0 by every store, and the checksum (over JSON) still verifies.
    const zero = createVersion({ ref: 'global/zero', config: { z: -0 }, createdBy: 'test' }, 1);
    await store.append(zero);
    expect((await store.getVersion(parseRef('global/zero')))?.checksum).toBe(zero.checksum);
  });

  it('stores strings jsonb would refuse (NUL, lone surrogates) verbatim', async () => {
    const store = pgStore();
    const config = { nul: 'a\u0000b', lone: '\ud800', reversed: '\udc00\ud83d', emoji: '😀', 'k\u0000': 1 };
    const d = createVersion({ ref: 'global/strings', config, createdBy: 'test', message: 'emoji 😀' }, 1);
    await store.append(d);
    expect(await store.getVersion(parseRef('global/strings'), 1)).toEqual(d);
    // The author and message are text columns: NUL or a lone surrogate there is refused up front,
    // by createVersion for every store, and by this store for a document built some other way.
    for (const message of ['a\u0000', 'lone \ud800', '\udc00']) {
      expect(() => createVersion({ ref: 'global/bad-message', config: {}, createdBy: 't', message }, 1)).toThrow(
        expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
      );
      const forged = { ...createVersion({ ref: 'global/bad-message', config: {}, createdBy: 't' }, 1), message };
      expect(await codeOf(store.append(forged))).toBe('CONSTRAINT_VIOLATION');
    }
    expect(await store.getHead(parseRef('global/bad-message'))).toBeUndefined();
  });

  it('refuses a stored row edited into something that is not a version with CHECKSUM_MISMATCH', async () => {
    const store = pgStore();
    const ref = parseRef('global/malformed');
    await store.append(doc(ref, 1));
    await store.append(doc(ref, 2));
    await adminQuery(`UPDATE ${q(store.schema)}.config_versions SET config = '[1,2]'::json WHERE version = 1`);
    await adminQuery(`UPDATE ${q(store.schema)}.config_versions SET ref_id = 'bad id!' WHERE version = 2`);
    expect(await codeOf(store.getVersion(ref, 1))).toBe('CHECKSUM_MISMATCH');
    expect(await codeOf(store.getVersion(ref))).toBe('CHECKSUM_MISMATCH');
  });

  it('stores injection strings in values, messages and actors verbatim and leaves the schema intact', async () => {
    const store = pgStore();
    const nasty = [
      "'; DROP TABLE config_versions; --",
      "') ON CONFLICT DO NOTHING; DELETE FROM config_heads; --",
      '$1 $2 $$ dollar $$',
      "\\'; SELECT pg_sleep(10); --",
      `"; DROP SCHEMA "${store.schema}" CASCADE; --`,
    ];
    const ref = parseRef('global/injection/deep');
    for (let v = 1; v <= nasty.length; v++) {
      const text = nasty[v - 1] as string;
      const d = createVersion({ ref, config: { [text]: text, list: [text] }, createdBy: text, message: text }, v);
      await store.append(d);
      expect(await store.getVersion(ref, v)).toEqual(d);
    }
    const audit = await adminQuery<{ actor: string; message: string; action: string }>(
      `SELECT actor, message, action FROM ${q(store.schema)}.config_audit WHERE config_id = $1 ORDER BY version`,
      [refKey(ref)],
    );
    expect(audit.map((a) => a.message)).toEqual(nasty);
    expect(audit.map((a) => a.actor)).toEqual(nasty);
    expect(await store.listVersions(ref)).toEqual([1, 2, 3, 4, 5]);
    // A prefix with LIKE wildcards matches literally.
    expect(await store.listHeads({ scope: 'global', prefix: 'injection/' })).toHaveLength(1);
    expect(await store.listHeads({ scope: 'global', prefix: 'injection%' })).toHaveLength(0);
    expect(await store.listHeads({ scope: 'global', prefix: 'injectio_' })).toHaveLength(0);
  });

  it('rejects injection strings in refs before any SQL runs', async () => {
    const store = pgStore();
    for (const id of ["x'; DROP TABLE config_heads; --", 'a/../b', 'a b', 'x%', 'x"y']) {
      expect(await codeOf(store.getHead({ scope: 'global', id }))).toBe('INVALID_CONFIG_REF');
      expect(await codeOf(store.listHeads({ scope: `app:${id}` as never }))).toBe('INVALID_CONFIG_REF');
    }
    expect(() => store.watch(() => {}, { scope: "global'; --" as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG_REF' }),
    );
  });

  it('writes one audit row per append with the author and message', async () => {
    const store = pgStore();
    const ref = parseRef('app:billing/audited');
    await appendNext(store, { ref, config: { a: 1 }, createdBy: 'alice', message: 'first' });
    await appendNext(store, { ref, config: { a: 2 }, createdBy: 'bob', message: 'second' });
    const rows = await adminQuery<{ actor: string; action: string; version: number; message: string; hash: string }>(
      `SELECT actor, action, version, message, hash FROM ${q(store.schema)}.config_audit ORDER BY seq`,
    );
    expect(rows).toEqual([
      // Every row joins the audit hash chain (migration 3's trigger).
      { actor: 'alice', action: 'append', version: 1, message: 'first', hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      { actor: 'bob', action: 'append', version: 2, message: 'second', hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
  });

  it('notifies {scope,id,version} only, on a channel per schema', async () => {
    const store = pgStore();
    await store.migrate();
    const { default: pg } = await import('pg');
    const listener = new pg.Client({ connectionString: services().databaseUrl });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (m) => {
        if (m.channel === store.channel) payloads.push(m.payload ?? '');
      });
      await listener.query(`LISTEN ${q(store.channel)}`);
      await store.append(doc('app:x/notified', 1, { secret: 'not in the payload' }));
      await until(() => payloads.length === 1, 'one notification', slowly);
      expect(JSON.parse(payloads[0] as string)).toEqual({ scope: 'app:x', id: 'notified', version: 1 });
    } finally {
      await listener.end();
    }
  });

  it('keeps a sync ledger: unsynced tiers from metadata, marked synced later', async () => {
    const store = pgStore();
    const ref = parseRef('global/ledger');
    await store.append(
      createVersion({ ref, config: { a: 1 }, metadata: { unsynced: ['consul', 'postgres'] }, createdBy: 't' }, 1),
    );
    await store.append(createVersion({ ref, config: { a: 2 }, createdBy: 't' }, 2));
    await store.markUnsynced(ref, 2, ['consul']);
    // The store's own name is never recorded as missing.
    expect((await store.listUnsynced()).map((u) => [u.ref.id, u.version, u.tier])).toEqual([
      ['ledger', 1, 'consul'],
      ['ledger', 2, 'consul'],
    ]);
    await store.markSynced(ref, 1, 'consul');
    expect((await store.listUnsynced({ tier: 'consul' })).map((u) => u.version)).toEqual([2]);
    expect(await store.listUnsynced({ tier: 'memory' })).toEqual([]);
  });

  it('replaces a conflicting version for reconciliation, audited, and moves the head checksum', async () => {
    const store = pgStore();
    const ref = parseRef('global/repair');
    await store.append(doc(ref, 1));
    await store.append(doc(ref, 2));
    const w = collect(store);
    await new Promise((r) => setTimeout(r, 200));
    const other = createVersion({ ref, config: { consul: 'wins' }, createdBy: 'reconciler' }, 2);
    await store.replace?.(other, { reason: 'reconcile: consul content keeps v2' });
    expect(await store.getVersion(ref, 2)).toEqual(other);
    expect(await store.getHead(ref)).toMatchObject({ version: 2, checksum: other.checksum });
    await w.until((events) => events.some((e) => e.checksum === other.checksum));
    const older = createVersion({ ref, config: { consul: 'v1' }, createdBy: 'reconciler' }, 1);
    await store.replace?.(older, { reason: 'v1 too' });
    expect((await store.getHead(ref))?.checksum).toBe(other.checksum);
    expect(await codeOf(store.replace?.(doc(ref, 3), { reason: 'x' }) ?? Promise.resolve())).toBe('NOT_FOUND');
    const audit = await adminQuery<{ action: string; message: string }>(
      `SELECT action, message FROM ${q(store.schema)}.config_audit WHERE action = 'replace' ORDER BY seq`,
    );
    expect(audit).toEqual([
      { action: 'replace', message: 'reconcile: consul content keeps v2' },
      { action: 'replace', message: 'v1 too' },
    ]);
    w.stop();
  });

  it('upserts acknowledgements per (environment, instance)', async () => {
    const store = pgStore();
    const ref = parseRef('app:billing/acked');
    const d = await store.append(doc(ref, 1));
    const base = { ref, environment: 'production', instance: 'i-1', checksum: d.checksum, at: d.createdAt };
    await store.ack?.({ ...base, version: 1, status: 'rejected', reason: 'schema' });
    await store.ack?.({ ...base, version: 1, status: 'applied' });
    const acks = (await store.listAcks?.(ref)) ?? [];
    expect(acks).toEqual([{ ...base, version: 1, status: 'applied' }]);
    expect(await codeOf(store.ack?.({ ...base, version: 1, status: 'applied', environment: 'bad env' }) as never)).toBe(
      'CONSTRAINT_VIOLATION',
    );
  });

  it('emits head changes made by another process-like writer (a second store on the schema)', async () => {
    const a = pgStore();
    const b = pgStore({ schema: a.schema });
    await b.append(doc('global/pre', 1));
    const w = collect(a, { initial: true });
    await w.until((events) => events.some((e) => e.initial && e.key === 'global/pre'));
    for (let v = 2; v <= 6; v++) await b.append(doc('global/pre', v));
    await w.until((events) => events.some((e) => e.key === 'global/pre' && e.version === 6));
    const versions = w.events.map((e) => e.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
    expect(w.errors).toEqual([]);
    w.stop();
  });

  it('opens one LISTEN connection for all watchers and closes it after the last', async () => {
    const applicationName = `summit-test-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    const store = pgStore({ applicationName });
    const listening = async () =>
      (
        await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [
          `${applicationName}:listen`,
        ])
      )[0]?.n;
    const stops = [collect(store), collect(store), collect(store)];
    await until(async () => (await listening()) === 1, 'the LISTEN connection', slowly);
    await store.append(doc('global/shared', 1));
    for (const w of stops) await w.until((events) => events.length === 1);
    expect(await listening()).toBe(1);
    for (const w of stops) w.stop();
    await until(async () => (await listening()) === 0, 'the LISTEN connection to close', slowly);
  });

  it('delivers a write made through the store right after watch(), with no settling delay', async () => {
    const store = pgStore();
    await store.migrate();
    const w = collect(store);
    await store.append(doc('global/immediate', 1));
    await w.until((events) => events.some((e) => e.key === 'global/immediate' && e.version === 1));
    await store.append(doc('global/immediate', 2));
    await w.until((events) => events.some((e) => e.version === 2));
    expect(w.events.map((e) => e.version)).toEqual([1, 2]);
    w.stop();
  });

  it('runs the safety resync on its interval and catches a change that was never notified', async () => {
    const store = pgStore({ resyncIntervalMs: 200 });
    const ref = parseRef('global/silent');
    await store.append(doc(ref, 1));
    const w = collect(store);
    await new Promise((r) => setTimeout(r, 300));
    await forgeSilentAppend(store.schema, doc(ref, 2));
    await w.until((events) => events.some((e) => e.key === 'global/silent' && e.version === 2), 10_000);
    expect(w.events.map((e) => e.version)).toEqual([2]);
    w.stop();
  });

  it('closes idempotently with watchers running, and rejects later calls with CLOSED', async () => {
    const store = pgStore();
    const w = collect(store);
    await new Promise((r) => setTimeout(r, 200));
    await store.append(doc('global/c', 1));
    await w.until((events) => events.length === 1);
    await Promise.all([store.close(), store.close()]);
    expect(await codeOf(store.ping())).toBe('CLOSED');
    expect(await codeOf(store.listUnsynced())).toBe('CLOSED');
    w.stop();
  });
});

describe('postgres store: database unreachable', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function expectUnavailable(promise: Promise<unknown>): Promise<ConfigError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConfigError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);
    return error as ConfigError;
  }

  it('fails every call with BACKEND_UNAVAILABLE when nothing listens on the port, never undefined', async () => {
    const store = pgStore({ connectionString: 'postgres://postgres@127.0.0.1:1/summit', connectTimeoutMs: 1000 });
    const ref = parseRef('global/unreachable');
    const error = await expectUnavailable(store.getHead(ref));
    expect(error.backend).toBe('postgres');
    expect(error.cause).toBeDefined();
    await expectUnavailable(store.getVersion(ref));
    await expectUnavailable(store.listHeads());
    await expectUnavailable(store.listVersions(ref));
    await expectUnavailable(store.append(doc(ref, 1)));
    await expectUnavailable(store.ping());
    await expectUnavailable(store.listAcks?.(ref) as Promise<unknown>);
    const reported: ConfigError[] = [];
    const stop = store.watch(() => {}, { onError: (e) => reported.push(e) });
    await until(() => reported.length >= 2, 'the watch to report and retry', slowly);
    expect(reported.every((e) => e.code === 'BACKEND_UNAVAILABLE')).toBe(true);
    stop();
    await store.close();
  });

  it('gives up after connectTimeoutMs on a server that accepts and never answers', async () => {
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const store = pgStore({
      connectionString: `postgres://postgres@127.0.0.1:${port}/summit`,
      connectTimeoutMs: 500,
    });
    const error = await expectUnavailable(store.getHead(parseRef('global/silent-server')));
    expect(String((error.cause as Error)?.message)).toMatch(/timeout/i);
    await expectUnavailable(store.ping());
    await store.close();
  });
});
