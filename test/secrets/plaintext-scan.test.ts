/**
 * The plaintext scanner. A whole scenario runs on the real Consul and PostgreSQL: a failover store
 * (Consul, PostgreSQL, memory), the change service with its PostgreSQL audit trail, the local secret
 * provider keeping (encrypted) versions in the same schema, configs referencing secrets, a client
 * resolving them with a snapshot file, and a rotation (with a verify hook that fails once quoting the
 * value, a webhook, a grace period, a revocation). Every log line, event and error of every part is
 * captured. Then every place a value could leak to is read back raw: Consul KV (the test prefix,
 * recursively, values base64-decoded), every row of every table of the test schema
 * (`row_to_json`), the snapshot file, the audit trail, the captured logs, events, errors and webhook
 * bodies, the console. No secret value the test used may be found there, in clear, base64, hex or
 * JSON-escaped. A canary stored as a plain config value must be found in each durable place, so
 * the scan is known to see the data it searches.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createFailoverStore } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresGovernance, createPostgresStore } from '@summit-config/backends/postgres';
import {
  type Actor,
  type ConfigClient,
  createConfigClient,
  createConfigService,
  createRbac,
  parseRef,
} from '@summit-config/core';
import {
  createLocalProvider,
  createRotationManager,
  createSqlRotationPolicies,
  createSqlSecretStorage,
  generateMasterKey,
  SecretResolver,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { TestClock } from '@summit-config/test-support/clock';
import { webhookReceiver } from '@summit-config/test-support/rotation';
import { services } from '@summit-config/test-support/services';
import { q } from '@summit-config/test-support/sql';
import { slowly, until } from '@summit-config/test-support/wait';
import pg from 'pg';
import { expect, it } from 'vitest';

const HOUR = 3_600_000;

/** The forms a value could take in stored text: as is, base64, hex (bytea), JSON-escaped. */
function forms(value: string): Array<[string, string]> {
  return [
    ['clear', value],
    ['base64', Buffer.from(value).toString('base64')],
    ['hex', Buffer.from(value).toString('hex')],
    ['json', JSON.stringify(value).slice(1, -1)],
  ];
}

it('no secret value reaches Consul, PostgreSQL, the snapshot file, the audit trail or a log line', async () => {
  const { consulAddr, databaseUrl } = services();
  const suffix = randomBytes(4).toString('hex');
  const prefix = `scan/${suffix}/`;
  const schema = `summit_scan_${process.pid}_${suffix}`;
  const dir = await mkdtemp(join(tmpdir(), 'summit-scan-'));
  const snapshotFile = join(dir, 'shop.snapshot.json');

  // Everything anything prints, logs, emits or reports.
  const captured: string[] = [];
  const logger = (tag: string) => {
    const line = (level: string) => (obj: object, msg?: string) =>
      captured.push(`${tag} ${level} ${msg ?? ''} ${JSON.stringify(obj)} ${inspect(obj, { depth: 10 })}`);
    return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
  };
  const consoleMethods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const savedConsole = consoleMethods.map((m) => console[m]);
  for (const m of consoleMethods) {
    console[m] = (...args: unknown[]) => {
      captured.push(`console.${m} ${args.map((a) => inspect(a, { depth: 10 })).join(' ')}`);
    };
  }

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => {});
  const pgTier = createPostgresStore({ connectionString: databaseUrl, schema, logger: logger('postgres') });
  const store = createFailoverStore({
    tiers: [createConsulStore({ address: consulAddr, prefix }), pgTier, createMemoryStore({ name: 'cache' })],
    onEvent: (e) => captured.push(`failover ${inspect(e, { depth: 10 })}`),
  });
  const governance = createPostgresGovernance({ connectionString: databaseUrl, schema, logger: logger('governance') });
  const rbac = createRbac({ roles: { 'rotation-agent': ['secrets:rotate', 'config:write', 'config:read'] } });
  const admin: Actor = { id: 'alice', roles: ['config-admin', 'secrets-admin'] };
  const service = createConfigService({
    store,
    governance,
    rbac,
    environments: [{ name: 'production', production: false }],
  });
  const masterKey = generateMasterKey();
  const provider = createLocalProvider({
    key: masterKey,
    storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema }),
  });
  const resolver = new SecretResolver({ providers: [provider] });
  const hook = await webhookReceiver();
  let client: ConfigClient | undefined;
  const clock = new TestClock(Date.now());
  const rotation = createRotationManager({
    policies: createSqlRotationPolicies({ sql: sqlFromPgPool(pool), schema, migrator: pgTier }),
    providers: [provider],
    service,
    store,
    rbac,
    actor: { id: 'rotation-agent', roles: ['rotation-agent'] },
    resolver,
    clock: clock.now,
    logger: logger('rotation'),
    retry: { maxAttempts: 3, baseMs: 10 },
    // Fails once, quoting the value (as a careless driver error might).
    verify: (() => {
      let failed = false;
      return (ctx) => {
        if (failed) return;
        failed = true;
        throw new Error(`login failed for password ${ctx.value}`);
      };
    })(),
  });
  rotation.on('*', (e) => captured.push(`event ${JSON.stringify(e)} ${inspect(e, { depth: 10 })}`));

  const used: Record<string, string> = {};
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  try {
    used.dbOld = `Db0ld-${randomBytes(16).toString('hex')}`;
    used.apiKey = `ak_${randomBytes(18).toString('base64url')}`;
    used.apiJson = JSON.stringify({ key: used.apiKey, issuer: 'billing' });
    used.masterKey = masterKey;
    await provider.create('db-password', used.dbOld);
    await provider.create('api', used.apiJson);
    await service.set(admin, {
      ref: 'app:shop/database',
      config: { host: 'db.internal', user: 'shop', password: { $secret: { provider: 'local', name: 'db-password' } } },
    });
    await service.set(admin, {
      ref: 'global/api',
      config: { url: 'https://api.internal', key: { $secret: { provider: 'local', name: 'api', field: 'key' } } },
    });
    await service.set(admin, { ref: 'app:shop/canary', config: { marker: canary } });

    client = await createConfigClient({
      store,
      app: 'shop',
      environment: 'production',
      secrets: resolver,
      snapshotFile,
      instance: 'shop-1',
      logger: logger('client'),
      onError: (e) => captured.push(`client error ${inspect(e, { depth: 10, showHidden: true })}`),
    });
    // The process did hold the values (the scan below is about where they must not be).
    expect(client.get('database')).toMatchObject({ password: used.dbOld });
    expect(client.get('api')).toMatchObject({ key: used.apiKey });

    await rotation.putPolicy(admin, {
      secret: { provider: 'local', name: 'db-password' },
      intervalDays: 30,
      graceMs: HOUR,
      notify: [hook.url],
    });
    let policy = await rotation.rotate(admin, { provider: 'local', name: 'db-password' });
    expect(policy.run?.lastError?.message).toBe('login failed for password [REDACTED]');
    clock.advance(10);
    await rotation.runDue();
    used.dbNew = (await provider.read('db-password')).value;
    expect(used.dbNew).not.toBe(used.dbOld);
    await until(
      () => (client?.get('database') as { password?: string } | undefined)?.password === used.dbNew,
      'the client reloaded',
      slowly,
    );
    const bumped = (await store.getHead(parseRef('app:shop/database')))?.version as number;
    await until(
      async () => ((await store.listAcks?.(parseRef('app:shop/database'))) ?? []).some((a) => a.version === bumped),
      'the acknowledgement',
      slowly,
    );
    clock.advance(HOUR);
    await rotation.runDue();
    policy = (await rotation.getPolicy(admin, { provider: 'local', name: 'db-password' })) as typeof policy;
    expect(policy.state).toBe('idle');
    await until(
      async () => {
        const text = await readFile(snapshotFile, 'utf8').catch(() => '');
        return text.includes('"secretRotation"');
      },
      'the snapshot holds the bumped version',
      slowly,
    );
    await client.close();
    client = undefined;
    expect(hook.bodies.length).toBe(3);

    // -- read back every place

    const corpora: Record<string, string> = {};
    const kv = await fetch(`${consulAddr}/v1/kv/${prefix}?recurse=true`);
    expect(kv.status).toBe(200);
    const entries = (await kv.json()) as Array<{ Key: string; Value: string | null }>;
    expect(entries.length).toBeGreaterThan(3);
    corpora.consul = entries
      .map((e) => `${e.Key}=${e.Value === null ? '' : Buffer.from(e.Value, 'base64').toString('utf8')}`)
      .join('\n');

    const tables = (
      await pool.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
        [schema],
      )
    ).rows.map((r) => r.table_name);
    expect(tables).toEqual(
      expect.arrayContaining([
        'config_versions',
        'config_audit',
        'config_applied_state',
        'secret_rotation_policies',
        'summit_secrets',
        'summit_secret_versions',
      ]),
    );
    const rows: string[] = [];
    for (const table of tables) {
      const r = await pool.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${q(schema)}.${q(table)} t`);
      for (const row of r.rows) rows.push(`${table}: ${row.j}`);
    }
    corpora.postgres = rows.join('\n');
    expect(corpora.postgres).toContain('summit_secret_versions: ');

    corpora.snapshot = await readFile(snapshotFile, 'utf8');
    const audit = await service.audit(admin, { limit: 10_000 });
    expect(audit.some((e) => e.message === 'rotate local/db-password')).toBe(true);
    corpora.audit = JSON.stringify(audit);
    corpora.logs = captured.join('\n');
    corpora.webhooks = hook.raw.join('\n');
    corpora.policies = JSON.stringify(await rotation.listPolicies(admin));
    expect(captured.some((l) => l.startsWith('rotation '))).toBe(true);
    expect(captured.some((l) => l.startsWith('event '))).toBe(true);

    // The scan sees the data: a plain value is found in every durable place.
    for (const where of ['consul', 'postgres', 'snapshot', 'audit'] as const) {
      expect(corpora[where], `canary in ${where}`).toContain(canary);
    }
    const found: string[] = [];
    for (const [where, text] of Object.entries(corpora)) {
      for (const [label, value] of Object.entries(used)) {
        for (const [form, needle] of forms(value)) {
          if (text.includes(needle)) found.push(`${label} (${form}) in ${where}`);
        }
      }
    }
    expect(found).toEqual([]);
  } finally {
    for (const [i, m] of consoleMethods.entries()) console[m] = savedConsole[i] as (typeof console)[typeof m];
    await client?.close();
    await rotation.close();
    await hook.close();
    await resolver.close();
    await provider.close();
    await service.close();
    await governance.close();
    await store.close();
    await fetch(`${consulAddr}/v1/kv/${prefix}?recurse=true`, { method: 'DELETE' }).catch(() => undefined);
    await pool.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    await pool.end();
    await rm(dir, { recursive: true, force: true });
  }
});
