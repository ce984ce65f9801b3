import { ConfigError, ERROR_CODES, isConfigError, parseRef, refKey } from '@summit-config/core';
import {
  canonicalJson,
  computeChecksum,
  createVersion,
  validateEnvironments,
  verifyVersion,
} from '@summit-config/core/internal';
import { abRule } from '@summit-config/test-support/builders';
import { type RefFixture, readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { environmentChain } from '../src/model/environment.js';

const refs = readJson('refs.json') as RefFixture;

describe('ConfigRef', () => {
  it.each(refs.valid)('parses %s', (text, expected) => {
    const ref = parseRef(text);
    expect(ref).toEqual(expected);
    expect(refKey(ref)).toBe(text);
    expect(parseRef(expected)).toEqual(expected);
    expect(Object.isFrozen(ref)).toBe(true);
  });

  it.each(refs.invalid)('rejects %j with INVALID_CONFIG_REF', (text) => {
    expect(() => parseRef(text)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG_REF' }));
  });

  it('rejects ids over 256 characters and non-string parts', () => {
    expect(() => parseRef({ scope: 'global', id: 'a'.repeat(257) })).toThrow(/1-256/);
    expect(parseRef({ scope: 'global', id: 'a'.repeat(256) }).id).toHaveLength(256);
    for (const bad of [null, 42, {}, { scope: 'global' }, { scope: 1, id: 'x' }, ['global', 'x']]) {
      expect(() => parseRef(bad)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG_REF' }));
    }
  });
});

describe('canonical JSON and checksums', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
    expect(canonicalJson('é\u2028')).toBe(JSON.stringify('é\u2028'));
  });

  it('gives the same checksum whatever the key order, and a different one for any change', () => {
    const ref = parseRef('global/x');
    const a = computeChecksum({ ref, version: 1, config: { a: 1, b: 2 }, overrides: {}, rollout: null });
    const b = computeChecksum({ ref, version: 1, config: { b: 2, a: 1 }, overrides: {}, rollout: null });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(computeChecksum({ ref, version: 2, config: { a: 1, b: 2 }, overrides: {}, rollout: null })).not.toBe(a);
    expect(computeChecksum({ ref, version: 1, config: { a: 1, b: 3 }, overrides: {}, rollout: null })).not.toBe(a);
    expect(
      computeChecksum({ ref: parseRef('app:x/x'), version: 1, config: { a: 1, b: 2 }, overrides: {}, rollout: null }),
    ).not.toBe(a);
  });

  it('pins the checksum of a reference document (cross-language vector)', () => {
    const doc = createVersion(
      {
        ref: 'app:billing/database',
        config: { host: 'db', port: 5432 },
        overrides: { production: { host: 'db.prod' } },
        createdBy: 'x',
      },
      1,
    );
    // sha256 of {"config":{"host":"db","port":5432},"overrides":{"production":{"host":"db.prod"}},
    //   "ref":{"id":"database","scope":"app:billing"},"rollout":null,"version":1}
    expect(doc.checksum).toBe(
      // computed independently with: printf '%s' '<the canonical text above>' | sha256sum
      CANONICAL_VECTOR_SHA256,
    );
  });
});

const CANONICAL_VECTOR_SHA256 = 'e679f7b43082277a9f5880fb3ca57a09c1a2afbb68d0f7f64919d9374437160a';

describe('createVersion / verifyVersion', () => {
  it('builds a frozen, checksummed version and verifies it after a JSON round trip', () => {
    const v = createVersion({ ref: 'global/x', config: { a: [1, { b: true }] }, createdBy: 'me', message: 'm' }, 3);
    expect(Object.isFrozen(v.config)).toBe(true);
    expect(v.version).toBe(3);
    expect(v.rollout).toBeNull();
    expect(v.overrides).toEqual({});
    const copy = verifyVersion(JSON.parse(JSON.stringify(v)));
    expect(copy).toEqual(v);
  });

  it('reports tampering as CHECKSUM_MISMATCH', () => {
    const v = createVersion({ ref: 'global/x', config: { a: 1 }, createdBy: 'me' }, 1);
    const raw = JSON.parse(JSON.stringify(v));
    raw.config.a = 2;
    expect(() => verifyVersion(raw, {}, 'consul')).toThrow(
      expect.objectContaining({ code: 'CHECKSUM_MISMATCH', backend: 'consul', ref: 'global/x', version: 1 }),
    );
    // metadata is outside the checksum by design (tombstone and sync marks)
    raw.config.a = 1;
    raw.metadata = { unsynced: true };
    expect(verifyVersion(raw).metadata).toEqual({ unsynced: true });
  });

  it('rejects bad input with typed errors', () => {
    const base = { ref: 'global/x', config: {}, createdBy: 'me' };
    const cases: Array<[unknown, string]> = [
      [{ ...base, ref: 'nope' }, 'INVALID_CONFIG_REF'],
      [{ ...base, config: [] }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, config: { x: Number.POSITIVE_INFINITY } }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, config: { x: 10n } }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, config: { x: new Map() } }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, createdBy: '' }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, message: 'x'.repeat(5000) }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, overrides: { 'prod uction': {} } }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, rollout: [] }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, createdAt: 'yesterday' }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, createdBy: 'a\u0000b' }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, message: 'lone \ud800 surrogate' }, 'CONSTRAINT_VIOLATION'],
      [{ ...base, config: { big: 'x'.repeat(300 * 1024) } }, 'DOCUMENT_TOO_LARGE'],
    ];
    for (const [i, [input, code]] of cases.entries()) {
      expect(() => createVersion(input as never, 1), `case ${i}`).toThrow(expect.objectContaining({ code }));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => createVersion({ ...base, config: cyclic as never }, 1)).toThrow(/circular/);
    expect(() => createVersion(base, 0)).toThrow(expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }));
  });
});

describe('environments', () => {
  const envs = validateEnvironments([
    { name: 'production', production: true },
    { name: 'production-eu', parent: 'production', production: true },
    { name: 'production-eu-west', parent: 'production-eu', production: true },
    { name: 'development', production: false },
  ]);

  it('walks parent chains root first', () => {
    expect(environmentChain('production-eu-west', envs)).toEqual(['production', 'production-eu', 'production-eu-west']);
    expect(environmentChain('development', envs)).toEqual(['development']);
  });

  it('rejects unknown environments and parents', () => {
    expect(() => environmentChain('staging', envs)).toThrow(expect.objectContaining({ code: 'ENVIRONMENT_NOT_FOUND' }));
    expect(() => validateEnvironments([{ name: 'a', parent: 'ghost', production: false }])).toThrow(
      expect.objectContaining({ code: 'ENVIRONMENT_NOT_FOUND' }),
    );
  });

  it('detects cycles', () => {
    expect(() =>
      validateEnvironments([
        { name: 'a', parent: 'c', production: false },
        { name: 'b', parent: 'a', production: false },
        { name: 'c', parent: 'b', production: false },
      ]),
    ).toThrow(expect.objectContaining({ code: 'CIRCULAR_DEPENDENCY' }));
    expect(() => validateEnvironments([{ name: 'self', parent: 'self', production: false }])).toThrow(/loop/);
  });

  it('rejects duplicates and bad names', () => {
    expect(() =>
      validateEnvironments([
        { name: 'a', production: false },
        { name: 'a', production: true },
      ]),
    ).toThrow(/twice/);
    expect(() => validateEnvironments([{ name: 'bad/name', production: false }])).toThrow(
      expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
    );
  });
});

describe('errors', () => {
  it('has every code of the design, each usable as a literal', () => {
    expect(ERROR_CODES).toHaveLength(19);
    for (const code of ERROR_CODES) {
      const e = new ConfigError(code, 'm', {
        ref: 'global/x',
        version: 2,
        backend: 'consul',
        cause: new Error('root'),
      });
      expect(isConfigError(e, code)).toBe(true);
      expect(e.toJSON()).toEqual({ code, message: 'm', ref: 'global/x', version: 2, backend: 'consul' });
      expect((e.cause as Error).message).toBe('root');
    }
    expect(isConfigError(new Error('x'))).toBe(false);
  });
});

describe('rollouts are validated when a version is created', () => {
  it('rejects bad rollout rules with typed errors and pointers', () => {
    const base = { ref: 'global/x', config: {}, createdBy: 'me' };
    const bad = [
      { rules: [{ id: 'a', strategy: 'teleport', patch: {} }] },
      {
        rules: [
          abRule('a', [
            ['x', 6000],
            ['y', 3000],
          ]),
        ],
      },
      {
        rules: [
          {
            id: 'a',
            strategy: 'immediate',
            patch: {},
            when: { constraints: [{ attribute: 'c', operator: 'resembles', value: 1 }] },
          },
        ],
      },
    ];
    for (const rollout of bad) {
      let caught: unknown;
      try {
        createVersion({ ...base, rollout }, 1);
      } catch (e) {
        caught = e;
      }
      expect(isConfigError(caught)).toBe(true);
      expect(['SCHEMA_VALIDATION', 'CONSTRAINT_VIOLATION']).toContain((caught as ConfigError).code);
      expect((caught as Error).message).toMatch(/\/rollout\/rules\/0/);
    }
    expect(
      createVersion({ ...base, rollout: { rules: [{ id: 'a', strategy: 'immediate', patch: { x: 1 } }] } }, 1).version,
    ).toBe(1);
  });
});
