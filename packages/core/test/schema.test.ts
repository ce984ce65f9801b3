import { rejection, thrown, throwsCode } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { isConfigError, type JsonObject, SchemaRegistry, SchemaValidationError } from '../src/index.js';
import { checkCompatibility } from '../src/schema/compatibility.js';
import { schemaDefaults } from '../src/schema/defaults.js';
import {
  SchemaCompatibilityError,
  type SchemaPersistence,
  SchemaPublishValidationError,
} from '../src/schema/registry.js';

const issuesFixture = readJson(new URL('./fixtures/schema-issues.json', import.meta.url)) as {
  schema: JsonObject;
  cases: Array<{ name: string; value: unknown; issues: Array<{ pointer: string; keyword: string }> }>;
};
const compatFixture = readJson(new URL('./fixtures/schema-compatibility.json', import.meta.url)) as {
  cases: Array<{
    name: string;
    old: JsonObject;
    new: JsonObject;
    compatible: boolean;
    changes: Array<{ pointer: string; kind: string; breaking: boolean }>;
  }>;
};

const sortIssues = (list: ReadonlyArray<{ pointer: string; keyword?: string }>) =>
  list.map((i) => `${i.pointer} ${i.keyword}`).sort();

describe('SchemaRegistry.validate: every issue, each with a JSON pointer', async () => {
  const registry = new SchemaRegistry();
  await registry.register('database', issuesFixture.schema);

  it.each(issuesFixture.cases)('$name', ({ value, issues }) => {
    expect(sortIssues(registry.check('database', value))).toEqual(sortIssues(issues));
    if (issues.length === 0) {
      expect(() => registry.validate('database', value)).not.toThrow();
      return;
    }
    const error = thrown(() => registry.validate('database', value, { ref: 'app:a/database' }));
    expect(error).toBeInstanceOf(SchemaValidationError);
    expect(isConfigError(error, 'SCHEMA_VALIDATION')).toBe(true);
    expect(sortIssues((error as SchemaValidationError).issues)).toEqual(sortIssues(issues));
    expect((error as SchemaValidationError).ref).toBe('app:a/database');
    for (const issue of (error as SchemaValidationError).issues) expect(issue.message.length).toBeGreaterThan(0);
  });

  it('an unknown schema is NOT_FOUND', () => {
    expect(throwsCode(() => registry.validate('nope', {}), 'NOT_FOUND')).toBe(true);
    expect(throwsCode(() => registry.validate('database', {}, { version: 9 }), 'NOT_FOUND')).toBe(true);
  });
});

describe('SchemaRegistry.register', () => {
  it('numbers versions per id, returns the latest for an unchanged schema, keeps old versions usable', async () => {
    const registry = new SchemaRegistry();
    const v1 = { type: 'object', properties: { a: { type: 'integer' } } };
    const v2 = { type: 'object', properties: { a: { type: 'string' } } };
    expect(await registry.register('cfg', v1)).toBe(1);
    expect(await registry.register('cfg', structuredClone(v1))).toBe(1);
    expect(await registry.register('cfg', v2)).toBe(2);
    expect(await registry.register('other', v2)).toBe(1);
    expect(registry.versions('cfg').map((v) => v.version)).toEqual([1, 2]);
    expect(registry.latestVersion('cfg')).toBe(2);
    expect(registry.check('cfg', { a: 'x' })).toEqual([]);
    expect(registry.check('cfg', { a: 'x' }, { version: 1 })).toHaveLength(1);
    expect(Object.isFrozen(registry.get('cfg')?.schema)).toBe(true);
  });

  it('accepts two versions with the same $id', async () => {
    const registry = new SchemaRegistry();
    const base = { $id: 'https://example.com/db.json', type: 'object' };
    await registry.register('db', { ...base, properties: { a: { type: 'integer' } } });
    await registry.register('db', { ...base, properties: { a: { type: 'string' } } });
    expect(registry.check('db', { a: 1 }, { version: 1 })).toEqual([]);
    expect(registry.check('db', { a: 1 }, { version: 2 })).toHaveLength(1);
  });

  it('refuses invalid schemas, unknown keywords (strict) and bad ids', async () => {
    const registry = new SchemaRegistry();
    const meta = await rejection(registry.register('cfg', { type: 'object', properties: { a: { type: 'integr' } } }));
    expect(isConfigError(meta, 'SCHEMA_VALIDATION')).toBe(true);
    expect((meta as SchemaValidationError).issues.some((i) => i.pointer.startsWith('/properties/a/type'))).toBe(true);
    const strict = await rejection(registry.register('cfg', { type: 'object', requried: ['a'] }));
    expect(isConfigError(strict, 'SCHEMA_VALIDATION')).toBe(true);
    expect((strict as Error).message).toContain('requried');
    expect(
      isConfigError(await rejection(registry.register('cfg', [] as unknown as JsonObject)), 'SCHEMA_VALIDATION'),
    ).toBe(true);
    expect(isConfigError(await rejection(registry.register('../x', { type: 'object' })), 'INVALID_CONFIG_REF')).toBe(
      true,
    );
    expect(registry.latestVersion('cfg')).toBeUndefined();
    const lax = new SchemaRegistry({ strict: false });
    expect(await lax.register('cfg', { type: 'object', 'x-owner': 'team' })).toBe(1);
  });

  it('names a bad option', () => {
    expect(thrown(() => new SchemaRegistry({ strict: 'yes' as unknown as boolean }))).toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
      message: expect.stringContaining('strict'),
    });
    expect(thrown(() => new SchemaRegistry({ persistence: {} as SchemaPersistence }))).toMatchObject({
      message: expect.stringContaining('persistence'),
    });
  });

  it('saves through the persistence hook and loads from it', async () => {
    const stored = new Map<string, Array<{ version: number; schema: JsonObject }>>();
    const persistence: SchemaPersistence = {
      async load(id) {
        return stored.get(id) ?? [];
      },
      async save(id, version, schema) {
        const list = stored.get(id) ?? [];
        if (list.some((v) => v.version === version)) throw new Error(`version ${version} exists`);
        stored.set(id, [...list, { version, schema }]);
      },
    };
    const a = new SchemaRegistry({ persistence });
    expect(await a.register('cfg', { type: 'object' })).toBe(1);
    expect(await a.register('cfg', { type: 'object', properties: { x: { type: 'integer', default: 3 } } })).toBe(2);
    expect(stored.get('cfg')?.map((v) => v.version)).toEqual([1, 2]);

    const b = new SchemaRegistry({ persistence });
    expect(b.latestVersion('cfg')).toBeUndefined();
    expect(await b.load('cfg')).toBe(2);
    expect(b.defaults('cfg')).toEqual({ x: 3 });
    // A registration on a fresh registry continues the numbering from the store.
    const c = new SchemaRegistry({ persistence });
    expect(await c.register('cfg', { type: 'object', properties: { y: { type: 'string' } } })).toBe(3);
  });

  it('changes nothing in memory when the hook fails', async () => {
    const failing = new SchemaRegistry({
      persistence: {
        load: async () => [],
        save: async () => {
          throw new Error('store down');
        },
      },
    });
    expect(await rejection(failing.register('cfg', { type: 'object' }))).toMatchObject({ message: 'store down' });
    expect(failing.latestVersion('cfg')).toBeUndefined();
  });
});

describe('defaults', () => {
  it('collects nested defaults, following $ref and allOf; a parent default wins over its members', async () => {
    const schema = {
      type: 'object',
      properties: {
        host: { type: 'string', default: 'localhost' },
        port: { type: 'integer', default: 5432 },
        pool: {
          type: 'object',
          properties: { min: { type: 'integer', default: 1 }, max: { type: 'integer', default: 10 } },
        },
        tls: { $ref: '#/$defs/tls' },
        retry: {
          type: 'object',
          default: { attempts: 5 },
          properties: { attempts: { default: 3 }, backoffMs: { default: 100 } },
        },
        name: { type: 'string' },
        empty: { type: 'object', properties: { nothing: { type: 'string' } } },
      },
      allOf: [{ properties: { region: { type: 'string', default: 'eu' } } }],
      $defs: { tls: { type: 'object', properties: { enabled: { type: 'boolean', default: false } } } },
    };
    expect(schemaDefaults(schema)).toEqual({
      host: 'localhost',
      port: 5432,
      pool: { min: 1, max: 10 },
      tls: { enabled: false },
      retry: { attempts: 5, backoffMs: 100 },
      region: 'eu',
    });
    const registry = new SchemaRegistry();
    await registry.register('db', schema);
    const d = registry.defaults('db');
    expect(d).toEqual(schemaDefaults(schema));
    expect(Object.isFrozen(d)).toBe(true);
    expect(registry.defaults('db')).toBe(d);
  });

  it('is empty for a schema without defaults', () => {
    expect(schemaDefaults({ type: 'object', properties: { a: { type: 'string' } } })).toEqual({});
    expect(schemaDefaults(true)).toEqual({});
  });
});

describe('compatibility report', () => {
  it.each(compatFixture.cases)('$name', (c) => {
    const report = checkCompatibility(c.old, c.new);
    expect(report.compatible).toBe(c.compatible);
    const got = report.changes.map((x) => ({ pointer: x.pointer, kind: x.kind, breaking: x.breaking }));
    for (const expected of c.changes) expect(got).toContainEqual(expected);
    if (c.changes.length === 0) expect(report.changes).toEqual([]);
    expect(report.breaking.every((x) => x.breaking)).toBe(true);
    expect(report.breaking.length === 0).toBe(report.compatible);
  });
});

describe('publish', () => {
  const v1 = {
    type: 'object',
    properties: { host: { type: 'string' }, port: { type: 'integer' }, mode: { enum: ['a', 'b'] } },
    required: ['host'],
  };
  const docs = {
    'app:billing/db@production': { host: 'db', port: 5432, mode: 'a' },
    'app:billing/db@staging': { host: 'db2', mode: 'b' },
  };

  /** Publishes v1, then v1 with property `name` added, over `currentDocuments`; the second report. */
  async function publishAddition(name: string, schema: JsonObject, currentDocuments: Record<string, unknown>) {
    const registry = new SchemaRegistry();
    await registry.publish('db', v1);
    const report = await registry.publish(
      'db',
      { ...v1, properties: { ...v1.properties, [name]: schema } },
      { currentDocuments },
    );
    return { registry, report };
  }

  it('publishes a compatible change and reports on the current documents', async () => {
    const { registry, report } = await publishAddition('timeoutMs', { type: 'integer' }, docs);
    expect(report).toMatchObject({
      id: 'db',
      version: 2,
      previousVersion: 1,
      changed: true,
      stopsValidating: [],
      forced: false,
    });
    expect(report.compatibility.compatible).toBe(true);
    expect(report.documents.map((d) => [d.name, d.validBefore, d.validAfter])).toEqual([
      ['app:billing/db@production', true, true],
      ['app:billing/db@staging', true, true],
    ]);
    expect((await registry.publish('db', registry.get('db')?.schema)).changed).toBe(false);
  });

  it('refuses a breaking change (CONSTRAINT_VIOLATION) unless forced, writing nothing', async () => {
    const registry = new SchemaRegistry();
    await registry.publish('db', v1);
    const breaking = { ...v1, properties: { host: { type: 'string' }, port: { type: 'integer' } } }; // drops "mode"
    const error = await rejection(registry.publish('db', breaking, { currentDocuments: { x: { host: 'h' } } }));
    expect(error).toBeInstanceOf(SchemaCompatibilityError);
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as SchemaCompatibilityError).breaking.map((c) => c.pointer)).toEqual(['/mode']);
    expect((error as SchemaCompatibilityError).report.compatibility.compatible).toBe(false);
    expect(registry.latestVersion('db')).toBe(1);
    const forced = await registry.publish('db', breaking, { force: true });
    expect(forced).toMatchObject({ version: 2, forced: true, changed: true });
    expect(forced.compatibility.breaking).toHaveLength(1);
  });

  it('refuses (SCHEMA_VALIDATION) when current documents would stop validating, naming them', async () => {
    const registry = new SchemaRegistry();
    await registry.publish('db', v1);
    const stricter = { ...v1, required: ['host', 'port'] };
    const error = await rejection(registry.publish('db', stricter, { currentDocuments: docs }));
    expect(error).toBeInstanceOf(SchemaPublishValidationError);
    expect(isConfigError(error, 'SCHEMA_VALIDATION')).toBe(true);
    const e = error as SchemaPublishValidationError;
    expect(e.report.stopsValidating).toEqual(['app:billing/db@staging']);
    expect(e.issues).toEqual([
      { pointer: '/port', keyword: 'required', message: expect.stringContaining('[app:billing/db@staging]') },
    ]);
    expect(registry.latestVersion('db')).toBe(1);
    const forced = await registry.publish('db', stricter, { currentDocuments: docs, force: true });
    expect(forced).toMatchObject({ version: 2, stopsValidating: ['app:billing/db@staging'] });
  });

  it('a document that was already invalid does not block publishing', async () => {
    const { report } = await publishAddition('extra', { type: 'string' }, { broken: { port: 'x' } });
    expect(report.documents[0]).toMatchObject({ name: 'broken', validBefore: false, validAfter: false });
    expect(report.stopsValidating).toEqual([]);
  });
});
