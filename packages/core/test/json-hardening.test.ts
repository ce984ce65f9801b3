/**
 * Hostile JSON is refused before anything is stored: keys that could change an object's prototype,
 * and nesting deeper than the documented limit (a RangeError, shown as UNEXPECTED, before).
 */
import { isConfigError } from '@summit-config/core';
import { computeChecksum, createVersion, verifyVersion } from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../src/model/json.js';
import { mergeAll } from '../src/model/merge.js';

const ref = 'app:shop/payments';

function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isConfigError(error) ? `${error.code}: ${error.message}` : `UNTYPED: ${String(error)}`;
  }
  return 'no error';
}

describe('prototype keys', () => {
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it(`refuses a "${key}" key anywhere in config, overrides, rollout or metadata`, () => {
      const hostile = JSON.parse(`{"db":{"${key}":{"polluted":"yes"}}}`);
      expect(Object.hasOwn(hostile.db, key)).toBe(true);
      for (const field of ['config', 'metadata'] as const) {
        expect(codeOf(() => createVersion({ ref, config: {}, createdBy: 't', [field]: hostile }, 1))).toMatch(
          new RegExp(`^CONSTRAINT_VIOLATION: key "${key}" at "/${field}/db/${key}"`),
        );
      }
      expect(
        codeOf(() => createVersion({ ref, config: {}, overrides: { production: hostile }, createdBy: 't' }, 1)),
      ).toMatch(/^CONSTRAINT_VIOLATION/);
    });
  }

  it('refuses a forged stored version carrying "__proto__" even with a recomputed checksum', () => {
    const config = JSON.parse('{"x":{"__proto__":{"polluted":"yes"}}}');
    const body = { ref: { scope: 'app:shop', id: 'payments' }, version: 1, config, overrides: {}, rollout: null };
    const raw = {
      ...body,
      checksum: computeChecksum(body as never),
      createdAt: new Date().toISOString(),
      createdBy: 'x',
    };
    expect(codeOf(() => verifyVersion(raw))).toMatch(/^CONSTRAINT_VIOLATION: key "__proto__"/);
  });

  it('merging layers never sets a prototype', () => {
    const merged = mergeAll([{ x: { a: 1 } }, { x: { b: 2 } }]);
    expect(Object.getPrototypeOf(merged.x)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('nesting depth', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels and refuses one more with a typed error`, () => {
    expect(createVersion({ ref, config: nested(MAX_JSON_DEPTH) as never, createdBy: 't' }, 1).version).toBe(1);
    expect(
      codeOf(() => createVersion({ ref, config: nested(MAX_JSON_DEPTH + 1) as never, createdBy: 't' }, 1)),
    ).toMatch(
      new RegExp(
        `^CONSTRAINT_VIOLATION: value at "/config(/a){${MAX_JSON_DEPTH}}" nests deeper than ${MAX_JSON_DEPTH} levels`,
      ),
    );
  });

  it('refuses 5 000 levels with CONSTRAINT_VIOLATION, never a RangeError', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`);
    expect(codeOf(() => createVersion({ ref, config: deep, createdBy: 't' }, 1))).toMatch(
      /^CONSTRAINT_VIOLATION: .*nests deeper/,
    );
  });
});
