import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { isConfigError, type JsonObject } from '../src/index.js';
import {
  contentChecksum,
  defineMigration,
  type MigratedContent,
  type MigrationError,
  parseMigration,
} from '../src/migrations/index.js';
import { migrateContent, parsePointer } from '../src/migrations/operations.js';

interface OperationCase {
  name: string;
  before: Partial<MigratedContent>;
  environment?: string;
  operations: unknown[];
  after?: Partial<MigratedContent>;
  error?: string;
}

const fixture = readJson('migrations/operations-cases.json') as { cases: OperationCase[] };

const ref = { scope: 'global' as const, id: 'x' };

function content(c: Partial<MigratedContent>): MigratedContent {
  return { config: c.config ?? {}, overrides: c.overrides ?? {}, rollout: c.rollout ?? null };
}

describe('operations (fixtures)', () => {
  it.each(fixture.cases)('$name', async (c) => {
    const m = parseMigration({
      name: 'case',
      version: 1,
      selector: { id: 'x', ...(c.environment ? { environment: c.environment } : {}) },
      operations: c.operations,
    });
    const before = content(c.before);
    const frozen = JSON.stringify(before);
    if (c.error) {
      const error = await migrateContent(m, ref, before).catch((e: unknown) => e);
      expect(isConfigError(error, c.error as never)).toBe(true);
      expect((error as MigrationError).pointer).toMatch(/^\/operations\/\d+$/);
      expect((error as MigrationError).ref).toBe('global/x');
    } else {
      expect(await migrateContent(m, ref, before)).toEqual(content(c.after ?? {}));
    }
    // The input is never modified.
    expect(JSON.stringify(before)).toBe(frozen);
  });
});

describe('transform (module migrations)', () => {
  it('receives a copy of the value and the context; undefined deletes', async () => {
    const seen: unknown[] = [];
    const m = defineMigration({
      name: 'tx',
      version: 1,
      selector: { id: 'x', environment: 'staging' },
      operations: [
        {
          op: 'transform',
          path: '/pool',
          fn: (value: unknown, ctx: { key: string; environment?: string; migration: string }) => {
            seen.push({
              value: structuredClone(value),
              key: ctx.key,
              environment: ctx.environment,
              migration: ctx.migration,
            });
            (value as JsonObject).mutated = true;
            return { size: ((value as JsonObject).max as number) * 2 };
          },
        },
        { op: 'transform', path: '/legacy', fn: () => undefined },
        { op: 'transform', path: '/absent', fn: async (v: unknown) => (v === undefined ? 'filled' : v) },
      ],
    });
    const before = content({ config: {}, overrides: { staging: { pool: { max: 4 }, legacy: 1 } } });
    const after = await migrateContent(m, ref, before);
    expect(after.overrides.staging).toEqual({ pool: { size: 8 }, absent: 'filled' });
    expect(before.overrides.staging).toEqual({ pool: { max: 4 }, legacy: 1 });
    expect(seen).toEqual([{ value: { max: 4 }, key: 'global/x', environment: 'staging', migration: 'tx' }]);
  });

  it('a whole-target transform must return an object; a throwing transform is a typed error', async () => {
    const whole = defineMigration({
      name: 'whole',
      version: 1,
      selector: { id: 'x' },
      operations: [{ op: 'transform', path: '', fn: (v: unknown) => ({ wrapped: v as JsonObject }) }],
    });
    expect((await migrateContent(whole, ref, content({ config: { a: 1 } }))).config).toEqual({ wrapped: { a: 1 } });
    const bad = defineMigration({
      name: 'bad',
      version: 1,
      selector: { id: 'x' },
      operations: [{ op: 'transform', path: '', fn: () => 'text' }],
    });
    expect(
      isConfigError(await migrateContent(bad, ref, content({})).catch((e: unknown) => e), 'CONSTRAINT_VIOLATION'),
    ).toBe(true);
    const throws = defineMigration({
      name: 'throws',
      version: 1,
      selector: { id: 'x' },
      operations: [
        { op: 'delete', path: '/a' },
        {
          op: 'transform',
          path: '/a',
          fn: () => {
            throw new Error('boom');
          },
        },
      ],
    });
    const error = (await migrateContent(throws, ref, content({})).catch((e: unknown) => e)) as MigrationError;
    expect(error.code).toBe('CONSTRAINT_VIOLATION');
    expect(error.pointer).toBe('/operations/1');
    expect(error.message).toContain('boom');
    const nonJson = defineMigration({
      name: 'nonjson',
      version: 1,
      selector: { id: 'x' },
      operations: [{ op: 'transform', path: '/a', fn: () => new Date() as never }],
    });
    expect(
      isConfigError(await migrateContent(nonJson, ref, content({})).catch((e: unknown) => e), 'CONSTRAINT_VIOLATION'),
    ).toBe(true);
  });
});

describe('JSON pointers and content checksums', () => {
  it('parses pointers with escapes', () => {
    expect(parsePointer('')).toEqual([]);
    expect(parsePointer('/a~1b/~0c/')).toEqual(['a/b', '~c', '']);
    for (const bad of ['a', '/a~', '/a~2', '/__proto__', 1]) {
      expect(() => parsePointer(bad)).toThrow(/pointer|escape|__proto__/);
    }
  });

  it('content checksums ignore key order and differ on any change', () => {
    const a = contentChecksum({ config: { a: 1, b: 2 }, overrides: {}, rollout: null });
    const b = contentChecksum({ config: { b: 2, a: 1 }, overrides: {}, rollout: null });
    const c = contentChecksum({ config: { a: 1, b: 3 }, overrides: {}, rollout: null });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });
});
