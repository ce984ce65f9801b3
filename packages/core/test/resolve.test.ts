import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thrown, thrownAsync, throwsCode } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compileRollout,
  envSource,
  isConfigError,
  type JsonObject,
  type LayerSource,
  loadFileSource,
  resolveLayers,
  SchemaRegistry,
  withRollout,
} from '../src/index.js';
import { createVersion, validateEnvironments } from '../src/internal.js';
import { environmentChain } from '../src/model/environment.js';
import { mergeAll } from '../src/model/merge.js';
import type { ExtraLayer } from '../src/resolve/resolver.js';
import { sourceLayers } from '../src/resolve/sources.js';

const mergeCases = (
  readJson(new URL('./fixtures/merge-rules.json', import.meta.url)) as {
    cases: Array<{ name: string; layers: JsonObject[]; expected: JsonObject }>;
  }
).cases;

describe('merge rules', () => {
  it.each(mergeCases)('$name', ({ layers, expected }) => {
    const frozen = structuredClone(layers);
    expect(mergeAll(layers)).toEqual(expected);
    const extra: ExtraLayer[] = layers.map((value, i) => ({
      kind: 'file',
      position: 'lowest',
      source: `l${i}`,
      value,
    }));
    expect(resolveLayers({ extra }).value).toEqual(expected);
    expect(layers).toEqual(frozen); // inputs untouched
  });
});

const environments = validateEnvironments([
  { name: 'production', production: true },
  { name: 'production-eu', parent: 'production', production: true },
  { name: 'staging', production: false },
]);

const schema = {
  type: 'object',
  properties: {
    host: { type: 'string', default: 'localhost' },
    port: { type: 'integer', default: 5432 },
    maxConnections: { type: 'integer', default: 10 },
    ssl: { type: 'boolean', default: false },
    replicas: { type: 'array', items: { type: 'string' }, default: [] },
    pool: { type: 'object', properties: { min: { type: 'integer', default: 1 }, idleMs: { type: 'number' } } },
    tags: { type: 'object' },
    mode: { type: ['string', 'null'] },
  },
};

const global = createVersion(
  {
    ref: 'global/database',
    config: { host: 'db.global', pool: { min: 2 }, tags: { team: 'core' } },
    overrides: {
      production: { host: 'db.prod', ssl: true },
      'production-eu': { host: 'db.eu', tags: { region: 'eu' } },
      staging: { host: 'db.staging' },
    },
    createdBy: 'test',
  },
  3,
);

const app = createVersion(
  {
    ref: 'app:billing/database',
    config: { port: 6432, replicas: ['r1', 'r2'] },
    overrides: { production: { maxConnections: 50, tags: null }, 'production-eu': { replicas: ['eu1'] } },
    rollout: {
      rules: [
        { id: 'pool', strategy: 'percentage', bps: 5000, patch: { maxConnections: 80 } },
        { id: 'rest', strategy: 'immediate', patch: { pool: { idleMs: 1000 } } },
      ],
    },
    createdBy: 'test',
  },
  7,
);

describe('layering across global, app and the environment chain', async () => {
  const registry = new SchemaRegistry();
  await registry.register('database', schema);
  const defaults = registry.defaults('database');

  it('applies defaults -> global -> global overrides (root first) -> app -> app overrides -> rollout', () => {
    const chain = environmentChain('production-eu', environments);
    expect(chain).toEqual(['production', 'production-eu']);
    const r = resolveLayers({ defaults, global, app, environmentChain: chain });
    expect(r.value).toEqual({
      host: 'db.eu',
      port: 6432,
      maxConnections: 50,
      ssl: true,
      replicas: ['eu1'],
      pool: { min: 2 },
    });
    expect(r.layers.map((l) => `${l.kind}:${l.scope ?? ''}:${l.environment ?? ''}`)).toEqual([
      'defaults::',
      'global:global:',
      'override:global:production',
      'override:global:production-eu',
      'app:app:billing:',
      'override:app:billing:production',
      'override:app:billing:production-eu',
    ]);
    expect(Object.isFrozen(r.value)).toBe(true);
    expect(Object.isFrozen(r.value.pool)).toBe(true);
  });

  it('uses only the environments on the chain', () => {
    const r = resolveLayers({ defaults, global, app, environmentChain: environmentChain('staging', environments) });
    expect(r.value).toMatchObject({ host: 'db.staging', ssl: false, maxConnections: 10, tags: { team: 'core' } });
    const none = resolveLayers({ defaults, global, app });
    expect(none.value).toMatchObject({ host: 'db.global', port: 6432, replicas: ['r1', 'r2'] });
  });

  it('explains every leaf with its layer', () => {
    const r = resolveLayers({ defaults, global, app, environmentChain: ['production', 'production-eu'] });
    expect(r.explain).toEqual({
      '/host': {
        value: 'db.eu',
        layer: { kind: 'override', scope: 'global', environment: 'production-eu', version: 3 },
      },
      '/port': { value: 6432, layer: { kind: 'app', scope: 'app:billing', version: 7 } },
      '/maxConnections': {
        value: 50,
        layer: { kind: 'override', scope: 'app:billing', environment: 'production', version: 7 },
      },
      '/ssl': { value: true, layer: { kind: 'override', scope: 'global', environment: 'production', version: 3 } },
      '/replicas': {
        value: ['eu1'],
        layer: { kind: 'override', scope: 'app:billing', environment: 'production-eu', version: 7 },
      },
      '/pool/min': { value: 2, layer: { kind: 'global', scope: 'global', version: 3 } },
    });
    expect(r.explain).toBe(r.explain);
    expect(r.explainPointer('/pool/min')?.layer.kind).toBe('global');
    expect(r.explainPointer('/tags/region')).toBeUndefined(); // deleted by the app's production override
  });

  it('treats schema defaults as the lowest layer and explains them', () => {
    const r = resolveLayers({ defaults, app });
    expect(r.explainPointer('/host')).toEqual({ value: 'localhost', layer: { kind: 'defaults' } });
    expect(r.explainPointer('/pool/min')).toEqual({ value: 1, layer: { kind: 'defaults' } });
  });

  it('puts the rollout overlay on top and explains it with rule, variant and version', () => {
    const rollout = compileRollout(app.rollout);
    const base = resolveLayers({ defaults, global, app, environmentChain: ['production'] });
    const users = Array.from({ length: 200 }, (_, i) => ({ userId: `u${i}` }));
    const inside = users.find((u) => rollout.evaluate(u).ruleId === 'pool');
    const outside = users.find((u) => rollout.evaluate(u).ruleId === 'rest');
    expect(inside && outside).toBeTruthy();

    const a = withRollout(base, rollout.evaluate(inside));
    expect(a.value.maxConnections).toBe(80);
    expect(a.explainPointer('/maxConnections')).toEqual({
      value: 80,
      layer: { kind: 'rollout', version: 7, rule: 'pool', variant: 'candidate' },
    });
    const b = withRollout(base, rollout.evaluate(outside));
    expect(b.value).toMatchObject({ maxConnections: 50, pool: { min: 2, idleMs: 1000 } });
    expect(b.explainPointer('/pool/idleMs')?.layer).toEqual({ kind: 'rollout', version: 7, rule: 'rest' });
    expect(base.value.maxConnections).toBe(50);

    // Memoised per outcome: the hot path is a lookup.
    expect(withRollout(base, rollout.evaluate(inside))).toBe(a);
    expect(withRollout(base, rollout.evaluate({ userId: inside?.userId }))).toBe(a);
    expect(withRollout(base, undefined)).toBe(base);

    const direct = resolveLayers({
      defaults,
      global,
      app,
      environmentChain: ['production'],
      rollout: rollout.evaluate(inside),
    });
    expect(direct.value).toEqual(a.value);
    expect(withRollout(direct, undefined).value).toEqual(base.value);
  });

  it('refuses layers that are not objects', () => {
    expect(throwsCode(() => resolveLayers({ defaults: [] as unknown as JsonObject }), 'CONSTRAINT_VIOLATION')).toBe(
      true,
    );
    expect(
      throwsCode(
        () => resolveLayers({ extra: [{ kind: 'env', position: 'highest', value: 'x' as unknown as JsonObject }] }),
        'CONSTRAINT_VIOLATION',
      ),
    ).toBe(true);
  });
});

describe('environment variable source', () => {
  const env = {
    SUMMIT__DATABASE__HOST: 'db.env',
    SUMMIT__DATABASE__PORT: '7000',
    SUMMIT__DATABASE__MAX_CONNECTIONS: '99',
    SUMMIT__DATABASE__SSL: 'yes',
    SUMMIT__DATABASE__REPLICAS: '["x","y"]',
    SUMMIT__DATABASE__POOL__IDLE_MS: '2.5',
    SUMMIT__DATABASE__TAGS: '{"owner":"ops"}',
    SUMMIT__DATABASE__MODE: 'null',
    SUMMIT__FEATURES_CHECKOUT__COLOUR: 'green',
    OTHER__DATABASE__HOST: 'ignored',
    SUMMIT__DATABASEX__HOST: 'ignored too',
  };

  it('maps SUMMIT__<ID>__<KEY>__<SUBKEY> to keys, coercing with the schema', () => {
    const layers = envSource({ env }).layersFor('database', schema);
    const r = resolveLayers({ global, extra: layers });
    expect(r.value).toEqual({
      host: 'db.env',
      port: 7000,
      maxConnections: 99,
      ssl: true,
      replicas: ['x', 'y'],
      pool: { min: 2, idleMs: 2.5 },
      tags: { team: 'core', owner: 'ops' },
    });
    expect(r.explainPointer('/port')).toEqual({
      value: 7000,
      layer: { kind: 'env', position: 'highest', source: 'SUMMIT__DATABASE__PORT' },
    });
    expect(r.explainPointer('/pool/idleMs')?.layer.source).toBe('SUMMIT__DATABASE__POOL__IDLE_MS');
  });

  it('keeps strings and lower-cases keys without a schema', () => {
    const layers = envSource({ env }).layersFor('database');
    expect(resolveLayers({ extra: layers }).value).toMatchObject({
      host: 'db.env',
      port: '7000',
      max_connections: '99',
      pool: { idle_ms: '2.5' },
    });
  });

  it('maps ids with slashes and honours prefix, separator and position', () => {
    expect(resolveLayers({ extra: envSource({ env }).layersFor('features/checkout') }).value).toEqual({
      colour: 'green',
    });
    const custom = envSource({ env: { APP_DATABASE_HOST: 'h2' }, prefix: 'APP', separator: '_', position: 'lowest' });
    const r = resolveLayers({ global, extra: custom.layersFor('database') });
    expect(r.value.host).toBe('db.global'); // lowest: the store wins
  });

  it('sets a whole document from one JSON variable, with deeper variables merged over it', () => {
    const layers = envSource({
      env: { SUMMIT__CACHE: '{"ttl":5,"size":10}', SUMMIT__CACHE__TTL: '9' },
    }).layersFor('cache', { type: 'object', properties: { ttl: { type: 'integer' }, size: { type: 'integer' } } });
    expect(resolveLayers({ extra: layers }).value).toEqual({ ttl: 9, size: 10 });
  });

  it('names the variable when a value does not fit the schema', () => {
    const bad = envSource({ env: { SUMMIT__DATABASE__PORT: 'eighty' } });
    const error = thrown(() => bad.layersFor('database', schema));
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as Error).message).toContain('SUMMIT__DATABASE__PORT');
    const badJson = envSource({ env: { SUMMIT__DATABASE__REPLICAS: '[oops' } });
    expect(throwsCode(() => badJson.layersFor('database', schema), 'CONSTRAINT_VIOLATION')).toBe(true);
    const badBool = envSource({ env: { SUMMIT__DATABASE__SSL: 'maybe' } });
    expect(throwsCode(() => badBool.layersFor('database', schema), 'CONSTRAINT_VIOLATION')).toBe(true);
  });

  it('validates its options and the id', () => {
    expect(thrown(() => envSource({ position: 'middle' as 'highest' }))).toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
    });
    expect(thrown(() => envSource({ prefix: '' }))).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(thrown(() => envSource({ env }).layersFor('../etc'))).toMatchObject({ code: 'INVALID_CONFIG_REF' });
  });
});

describe('file source', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'summit-files-'));
    await writeFile(join(dir, 'local.json'), JSON.stringify({ database: { host: 'db.file', port: 1 } }));
    await mkdir(join(dir, 'tree', 'features'), { recursive: true });
    await writeFile(join(dir, 'tree', 'database.json'), JSON.stringify({ host: 'db.tree' }));
    await writeFile(join(dir, 'tree', 'features', 'checkout.json'), JSON.stringify({ colour: 'blue' }));
    await writeFile(join(dir, 'broken.json'), '{ nope');
    await writeFile(join(dir, 'local.yaml'), 'database:\n  host: db.yaml\n');
    await writeFile(join(dir, 'array.json'), '[1,2]');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a JSON file of ids is the lowest layer by default', async () => {
    const source = await loadFileSource({ path: join(dir, 'local.json') });
    const r = resolveLayers({ global, extra: source.layersFor('database') });
    expect(r.value).toMatchObject({ host: 'db.global', port: 1 });
    expect(r.explainPointer('/port')?.layer).toEqual({
      kind: 'file',
      position: 'lowest',
      source: join(dir, 'local.json'),
    });
    expect(source.layersFor('other')).toEqual([]);
  });

  it('as the highest layer it overrides the store and the rollout', async () => {
    const source = await loadFileSource({ path: join(dir, 'local.json'), position: 'highest' });
    const rollout = compileRollout({ rules: [{ id: 'all', strategy: 'immediate', patch: { host: 'db.rollout' } }] });
    const base = resolveLayers({ global, extra: source.layersFor('database') });
    expect(withRollout(base, rollout.evaluate({})).value.host).toBe('db.file');
  });

  it('a directory holds one file per id, nested ids in subdirectories', async () => {
    const source = await loadFileSource({ path: join(dir, 'tree') });
    expect(resolveLayers({ extra: source.layersFor('features/checkout') }).value).toEqual({ colour: 'blue' });
    expect(resolveLayers({ extra: source.layersFor('database') }).value).toEqual({ host: 'db.tree' });
  });

  it('combines sources in order', async () => {
    const sources: LayerSource[] = [
      await loadFileSource({ path: join(dir, 'local.json') }),
      envSource({ env: { SUMMIT__DATABASE__PORT: '2' } }),
    ];
    const r = resolveLayers({ global, extra: sourceLayers(sources, 'database', schema) });
    expect(r.value).toMatchObject({ host: 'db.global', port: 2 });
  });

  it('reads YAML files; other formats need an injected parser; bad files and missing paths are typed errors', async () => {
    const yaml = await loadFileSource({ path: join(dir, 'local.yaml') });
    expect(resolveLayers({ extra: yaml.layersFor('database') }).value).toEqual({ host: 'db.yaml' });
    await writeFile(join(dir, 'bad.yaml'), 'database:\n  host: a\n  host: b\n');
    expect(
      isConfigError(await thrownAsync(() => loadFileSource({ path: join(dir, 'bad.yaml') })), 'CONSTRAINT_VIOLATION'),
    ).toBe(true);
    await writeFile(join(dir, 'local.toml'), 'host = "x"');
    const toml = await thrownAsync(() => loadFileSource({ path: join(dir, 'local.toml') }));
    expect(isConfigError(toml, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((toml as Error).message).toContain('parse');
    const parsed = await loadFileSource({
      path: join(dir, 'local.yaml'),
      // A stand-in for YAML.parse: enough for this two-line file.
      parse: (text) => ({ database: { host: /host: (\S+)/.exec(text)?.[1] } }),
    });
    expect(resolveLayers({ extra: parsed.layersFor('database') }).value).toEqual({ host: 'db.yaml' });
    expect(
      isConfigError(
        await thrownAsync(() => loadFileSource({ path: join(dir, 'broken.json') })),
        'CONSTRAINT_VIOLATION',
      ),
    ).toBe(true);
    expect(
      isConfigError(await thrownAsync(() => loadFileSource({ path: join(dir, 'array.json') })), 'CONSTRAINT_VIOLATION'),
    ).toBe(true);
    expect(
      isConfigError(await thrownAsync(() => loadFileSource({ path: join(dir, 'missing.json') })), 'NOT_FOUND'),
    ).toBe(true);
    const optional = await loadFileSource({ path: join(dir, 'missing.json'), optional: true });
    expect(optional.layersFor('database')).toEqual([]);
  });
});
