import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryStore } from '@summit-config/backends/memory';
import {
  appendNext,
  type ConfigChange,
  type ConfigError,
  createConfigClient,
  parseRef,
  SchemaValidationError,
} from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import { switchable } from '@summit-config/test-support/switchable-store';
import { tempDirs } from '@summit-config/test-support/temp';
import { until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const by = 'test';

const tempDir = tempDirs();
/** Changes reach an in-process client within milliseconds. */
const soon = { timeoutMs: 3000, intervalMs: 5 };
const environments = [
  { name: 'production', production: true },
  { name: 'production-eu', parent: 'production', production: true },
];

describe('config client', () => {
  it('resolves global -> global overrides -> app -> app overrides along the environment chain', async () => {
    const store = createMemoryStore();
    await appendNext(store, {
      ref: 'global/database',
      config: { host: 'db', port: 5432, pool: { min: 1, max: 10 }, tags: ['a'] },
      overrides: { production: { pool: { max: 50 } }, 'production-eu': { host: 'db.eu' } },
      createdBy: by,
    });
    await appendNext(store, {
      ref: 'app:billing/database',
      config: { pool: { min: 5 }, tags: ['billing'] },
      overrides: { production: { port: 6432 }, 'production-eu': { pool: { min: null } } },
      createdBy: by,
    });
    const client = await createConfigClient({ store, app: 'billing', environment: 'production-eu', environments });
    expect(client.get('database')).toEqual({ host: 'db.eu', port: 6432, pool: { max: 50 }, tags: ['billing'] });
    const details = client.resolve('database');
    expect(details).toMatchObject({
      versions: { global: 1, app: 1 },
      source: 'memory',
      stale: false,
      reason: 'STATIC',
    });
    expect(Object.isFrozen(details.value)).toBe(true);
    expect(client.get('missing')).toBeUndefined();
    expect(client.resolve('missing').reason).toBe('DEFAULT');
    await client.close();
    await store.close();
  });

  it('validates its options and rejects an unknown environment', async () => {
    const store = createMemoryStore();
    await expect(
      createConfigClient({ store, app: 'billing', environment: 'staging', environments }),
    ).rejects.toMatchObject({
      code: 'ENVIRONMENT_NOT_FOUND',
    });
    await expect(createConfigClient({ store, app: 'bad app', environment: 'production' })).rejects.toMatchObject({
      code: 'INVALID_CONFIG_REF',
    });
    await expect(createConfigClient({ store, app: 'x', environment: 'p', startTimeoutMs: -1 })).rejects.toThrow(
      /startTimeoutMs/,
    );
  });

  it('delivers changes to matching watchers, isolates a throwing one, and iterates changes()', async () => {
    const store = createMemoryStore();
    const errorsSeen: ConfigError[] = [];
    const client = await createConfigClient({
      store,
      app: 'shop',
      environment: 'production',
      onError: (e) => errorsSeen.push(e),
    });
    const features: ConfigChange[] = [];
    const all: string[] = [];
    client.watch('features/*', (c) => features.push(c));
    client.watch('**', () => {
      throw new Error('bad callback');
    });
    client.watch('**', (c) => all.push(`${c.id}@${c.version}`));
    const controller = new AbortController();
    const iterated: string[] = [];
    const loop = (async () => {
      for await (const c of client.changes('features/checkout', { signal: controller.signal })) iterated.push(c.id);
    })();
    await appendNext(store, { ref: 'app:shop/features/checkout', config: { enabled: true }, createdBy: by });
    await appendNext(store, { ref: 'global/features/deep/x', config: { a: 1 }, createdBy: by });
    await appendNext(store, { ref: 'global/limits', config: { rps: 10 }, createdBy: by });
    await until(() => all.length === 3, 'three changes', soon);
    expect(features.map((c) => c.id)).toEqual(['features/checkout']);
    expect(features[0]?.value).toEqual({ enabled: true });
    expect(client.get('limits')).toEqual({ rps: 10 });
    expect(errorsSeen.length).toBe(3);
    await until(() => iterated.length === 1, 'the iterated change', soon);
    controller.abort();
    await loop;
    await client.close();
    await store.close();
  });

  it('rejects an invalid new version: keeps the last good value and acknowledges rejected', async () => {
    const store = createMemoryStore();
    const ref = parseRef('app:api/limits');
    await appendNext(store, { ref, config: { rps: 10 }, createdBy: by });
    const client = await createConfigClient({
      store,
      app: 'api',
      environment: 'production',
      instance: 'i-1',
      validate: ({ value }) => {
        if (typeof value.rps !== 'number') {
          throw new SchemaValidationError('limits is invalid', [{ pointer: '/rps', message: 'must be a number' }]);
        }
      },
    });
    const changes: ConfigChange[] = [];
    client.watch('limits', (c) => changes.push(c));
    await appendNext(store, { ref, config: { rps: 'lots' }, createdBy: by });
    await until(
      async () => (await store.listAcks?.(ref))?.some((a) => a.version === 2) === true,
      'the ack of version 2',
      soon,
    );
    expect(client.get('limits')).toEqual({ rps: 10 });
    expect(changes).toEqual([]);
    const acks = (await store.listAcks?.(ref)) ?? [];
    expect(acks).toEqual([
      expect.objectContaining({ instance: 'i-1', version: 2, status: 'rejected', reason: 'limits is invalid' }),
    ]);
    await appendNext(store, { ref, config: { rps: 20 }, createdBy: by });
    await until(() => client.get<{ rps: number }>('limits')?.rps === 20, 'the new limits', soon);
    expect((await store.listAcks?.(ref))?.[0]).toMatchObject({ version: 3, status: 'applied' });
    await client.close();
  });

  it('writes a snapshot and starts from it, stale, when no store answers', async () => {
    const dir = await tempDir('summit-snap-');
    const snapshotFile = join(dir, 'billing.snapshot.json');
    const inner = createMemoryStore();
    const store = switchable(inner, 'primary', { durable: true });
    await appendNext(store, {
      ref: 'app:billing/database',
      config: { host: 'db', password: { $secret: { provider: 'aws', name: 'db' } } },
      createdBy: by,
    });
    const first = await createConfigClient({ store, app: 'billing', environment: 'production', snapshotFile });
    await first.close(); // flushes the snapshot
    const text = await readFile(snapshotFile, 'utf8');
    expect(JSON.parse(text).docs).toHaveLength(1);

    store.down = true;
    const second = await createConfigClient({
      store,
      app: 'billing',
      environment: 'production',
      snapshotFile,
      startTimeoutMs: 500,
    });
    expect(second.get('database')).toMatchObject({ host: 'db' });
    expect(second.resolve('database')).toMatchObject({ source: 'snapshot', stale: true, reason: 'STALE' });
    await second.close();

    // Without a snapshot, an outage at start is an error, never an empty config.
    await expect(
      createConfigClient({ store, app: 'billing', environment: 'production', startTimeoutMs: 500 }),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });

    // A corrupt snapshot is refused with a clear error.
    await writeFile(snapshotFile, text.replace('"host":"db"', '"host":"evil"'));
    await expect(
      createConfigClient({ store, app: 'billing', environment: 'production', snapshotFile, startTimeoutMs: 500 }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(/corrupt/) });
    await writeFile(snapshotFile, text.slice(0, 40));
    await expect(
      createConfigClient({ store, app: 'billing', environment: 'production', snapshotFile, startTimeoutMs: 500 }),
    ).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });

  it('is closed for good after close()', async () => {
    const store = createMemoryStore();
    const client = await createConfigClient({ store, app: 'x', environment: 'dev' });
    await Promise.all([client.close(), client.close()]);
    expect(() => client.get('a')).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(() => client.watch('*', () => {})).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(errors.closed('x').code).toBe('CLOSED');
  });
});

describe('config client resolution', () => {
  it('applies schema defaults, validates candidates with the schema, and rejects invalid rollouts overlays', async () => {
    const { SchemaRegistry } = await import('@summit-config/core');
    const schemas = new SchemaRegistry();
    await schemas.register('database', {
      type: 'object',
      properties: {
        host: { type: 'string' },
        port: { type: 'integer', default: 5432 },
        pool: { type: 'object', properties: { max: { type: 'integer', maximum: 100, default: 10 } } },
      },
      required: ['host'],
    });
    const store = createMemoryStore();
    const ref = parseRef('app:shop/database');
    await appendNext(store, { ref, config: { host: 'db' }, createdBy: by });
    const client = await createConfigClient({
      store,
      app: 'shop',
      environment: 'production',
      schemas,
      instance: 'i-9',
    });
    expect(client.get('database')).toEqual({ host: 'db', port: 5432, pool: { max: 10 } });
    expect(client.explain('database')?.['/port']?.layer.kind).toBe('defaults');
    expect(client.explain('database')?.['/host']?.layer).toMatchObject({ kind: 'app', scope: 'app:shop', version: 1 });

    // A candidate whose canary overlay breaks the schema is rejected as a whole.
    await appendNext(store, {
      ref,
      config: { host: 'db' },
      rollout: { rules: [{ id: 'big', strategy: 'percentage', bps: 1000, patch: { pool: { max: 500 } } }] },
      createdBy: by,
    });
    await until(
      async () => (await store.listAcks?.(ref))?.some((a) => a.version === 2) === true,
      'the ack of version 2',
      soon,
    );
    expect((await store.listAcks?.(ref))?.[0]).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/pool|maximum|100/),
    });
    expect(client.resolve('database').versions.app).toBe(1);
    await client.close();
  });

  it('evaluates rollouts per context: percentage with targeting, sticky per user', async () => {
    const store = createMemoryStore();
    await appendNext(store, {
      ref: 'app:shop/checkout',
      config: { flow: 'classic' },
      rollout: {
        rules: [
          { id: 'beta-users', strategy: 'immediate', when: { users: ['u-beta'] }, patch: { flow: 'beta' } },
          {
            id: 'new-flow',
            strategy: 'percentage',
            bps: 5000,
            patch: { flow: 'new' },
            when: { constraints: [{ attribute: 'country', operator: 'in', values: ['FR'] }] },
          },
        ],
      },
      createdBy: by,
    });
    const client = await createConfigClient({ store, app: 'shop', environment: 'production' });
    expect(client.get('checkout')).toEqual({ flow: 'classic' });
    expect(client.resolve('checkout', { userId: 'u-beta' })).toMatchObject({
      value: { flow: 'beta' },
      reason: 'TARGETING_MATCH',
      ruleId: 'beta-users',
    });
    expect(client.resolve('checkout', { userId: 'u-1', country: 'DE' }).value).toEqual({ flow: 'classic' });
    const fr = Array.from({ length: 2000 }, (_, i) => client.resolve('checkout', { userId: `u-${i}`, country: 'FR' }));
    const inNew = fr.filter((d) => d.value?.flow === 'new').length;
    expect(inNew).toBeGreaterThan(800);
    expect(inNew).toBeLessThan(1200);
    for (const d of fr) if (d.value?.flow === 'new') expect(d).toMatchObject({ reason: 'SPLIT', variant: 'candidate' });
    // Sticky: the same unit gets the same answer every time (and the same frozen object).
    expect(client.resolve('checkout', { userId: 'u-7', country: 'FR' })).toBe(
      client.resolve('checkout', { userId: 'u-7', country: 'FR' }),
    );
    expect(client.explain('checkout', { userId: 'u-beta' })?.['/flow']?.layer).toMatchObject({
      kind: 'rollout',
      rule: 'beta-users',
    });
    await client.close();
  });

  it('layers environment variables above the store, coerced by the schema', async () => {
    const { SchemaRegistry, envSource } = await import('@summit-config/core');
    const schemas = new SchemaRegistry();
    await schemas.register('database', {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer' }, ssl: { type: 'boolean' } },
    });
    const store = createMemoryStore();
    await appendNext(store, { ref: 'global/database', config: { host: 'db', port: 5432, ssl: false }, createdBy: by });
    const client = await createConfigClient({
      store,
      app: 'shop',
      environment: 'production',
      schemas,
      sources: [
        envSource({ env: { SUMMIT__DATABASE__PORT: '6543', SUMMIT__DATABASE__SSL: 'true' }, position: 'highest' }),
      ],
    });
    expect(client.get('database')).toEqual({ host: 'db', port: 6543, ssl: true });
    expect(client.explain('database')?.['/port']?.layer).toMatchObject({
      kind: 'env',
      source: 'SUMMIT__DATABASE__PORT',
    });
    await client.close();
  });
});

describe('config client secrets', () => {
  it('resolves secret references just in time, keeps them out of the snapshot, and rejects unresolvable ones', async () => {
    const { SecretResolver, createLocalProvider, createMemorySecretStorage } = await import('@summit-config/secrets');
    const key = Buffer.alloc(32, 7).toString('base64');
    const provider = createLocalProvider({ key, storage: createMemorySecretStorage() });
    await provider.create('prod/db', JSON.stringify({ password: 's3cr3t-value-1' }));
    const secrets = new SecretResolver();
    secrets.register(provider, 'local');
    const dir = await tempDir('summit-secrets-');
    const snapshotFile = join(dir, 'snap.json');
    const store = createMemoryStore();
    const ref = parseRef('app:billing/database');
    const password = { $secret: { provider: 'local', name: 'prod/db', field: 'password' } };
    await appendNext(store, { ref, config: { host: 'db', password }, createdBy: by });
    const client = await createConfigClient({
      store,
      app: 'billing',
      environment: 'production',
      secrets,
      snapshotFile,
    });
    expect(client.get('database')).toEqual({ host: 'db', password: 's3cr3t-value-1' });

    // Rotation: a new secret version is promoted, and the config gets a new version that points at it.
    const next = await provider.write('prod/db', JSON.stringify({ password: 's3cr3t-value-2' }));
    await provider.promote('prod/db', next.version);
    await appendNext(store, { ref, config: { host: 'db', password }, metadata: { rotated: true }, createdBy: by });
    await until(
      () => client.get<{ password: string }>('database')?.password === 's3cr3t-value-2',
      'the rotated password',
      soon,
    );

    // An unresolvable reference is rejected; the last good value stays.
    await appendNext(store, {
      ref,
      config: { host: 'db2', password: { $secret: { provider: 'local', name: 'missing' } } },
      createdBy: by,
    });
    await until(
      async () => (await store.listAcks?.(ref))?.some((a) => a.version === 3) === true,
      'the ack of version 3',
      soon,
    );
    expect(client.get('database')).toEqual({ host: 'db', password: 's3cr3t-value-2' });
    const ack = (await store.listAcks?.(ref))?.find((a) => a.version === 3);
    expect(ack?.status).toBe('rejected');
    expect(ack?.reason).not.toContain('s3cr3t');
    await client.close();
    const snapshot = await readFile(snapshotFile, 'utf8');
    expect(snapshot).toContain('$secret');
    expect(snapshot).not.toContain('s3cr3t-value');
  });
});

describe('config client tombstones', () => {
  it('reads a deleted (tombstoned) document as absent and tells watchers', async () => {
    const store = createMemoryStore();
    const ref = parseRef('app:shop/legacy');
    await appendNext(store, { ref, config: { on: true }, createdBy: by });
    const client = await createConfigClient({ store, app: 'shop', environment: 'production' });
    const changes: ConfigChange[] = [];
    client.watch('legacy', (c) => changes.push(c));
    await appendNext(store, { ref, config: {}, metadata: { deleted: true }, createdBy: by, message: 'delete' });
    await until(() => changes.length === 1, 'the first change', soon);
    expect(changes[0]).toMatchObject({ version: 2, previous: { on: true }, value: undefined });
    expect(client.get('legacy')).toBeUndefined();
    expect(client.resolve('legacy').reason).toBe('DEFAULT');
    await appendNext(store, { ref, config: { on: false }, createdBy: by, message: 'restore' });
    await until(() => changes.length === 2, 'the second change', soon);
    expect(client.get('legacy')).toEqual({ on: false });
    await client.close();
  });
});
