/**
 * The console's in-browser schema check (packages/console/src/schema-check.ts) against core's
 * SchemaRegistry (ajv 2020-12), the validator the server saves with: for each schema and value,
 * both must agree on whether it is valid. And the resolved views it checks: defaults, the global
 * document below an app's, overrides along the environment chain.
 */
import { SchemaRegistry } from '@summit-config/core';
import { RESERVED_METADATA as CORE_RESERVED } from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { RESERVED_METADATA } from '../../../console/src/reserved-metadata.js';
import { checkViews, schemaDefaults, validate } from '../../../console/src/schema-check.js';

const CASES: Array<{ name: string; schema: Record<string, unknown>; values: unknown[] }> = [
  {
    name: 'types, required, additionalProperties, bounds',
    schema: {
      type: 'object',
      properties: {
        host: { type: 'string', minLength: 1, maxLength: 20, pattern: '^[a-z.]+$' },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, multipleOf: 0.25 },
        mode: { enum: ['a', 'b', null] },
        fixed: { const: { on: true } },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3, uniqueItems: true },
      },
      required: ['host'],
      additionalProperties: false,
    },
    values: [
      { host: 'db.internal' },
      { host: 'db.internal', port: 5432, ratio: 0.5, mode: null, fixed: { on: true }, tags: ['x', 'y'] },
      {},
      { host: '' },
      { host: 'DB' },
      { host: 'a', port: 0 },
      { host: 'a', port: 1.5 },
      { host: 'a', port: '80' },
      { host: 'a', ratio: 1 },
      { host: 'a', ratio: 0.3 },
      { host: 'a', mode: 'c' },
      { host: 'a', fixed: { on: false } },
      { host: 'a', tags: [] },
      { host: 'a', tags: ['x', 'x'] },
      { host: 'a', tags: ['x', 1] },
      { host: 'a', extra: 1 },
      [],
      'text',
    ],
  },
  {
    name: 'combinators, $ref, conditionals, object keywords',
    schema: {
      $defs: { positive: { type: 'integer', minimum: 1 } },
      type: 'object',
      properties: {
        size: { $ref: '#/$defs/positive' },
        kind: { type: 'string' },
        cert: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        either: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        one: { oneOf: [{ type: 'integer' }, { type: 'number', minimum: 10 }] },
        not: { not: { type: 'null' } },
        both: { type: 'integer', allOf: [{ minimum: 5 }, { maximum: 100 }] },
        pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false, minItems: 2 },
        list: { type: 'array', contains: { const: 'must' } },
        labels: {
          type: 'object',
          patternProperties: { '^x-': { type: 'string' } },
          propertyNames: { maxLength: 5 },
          additionalProperties: { type: 'integer' },
          minProperties: 1,
          maxProperties: 2,
        },
      },
      if: { properties: { kind: { const: 'tls' } }, required: ['kind'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else
      then: { properties: { cert: { type: 'string' } }, required: ['cert'] },
      dependentRequired: { user: ['password'] },
    },
    values: [
      {},
      { size: 3, either: 'a', one: 2, not: 1, both: 6, pair: ['a', 1], list: ['x', 'must'], labels: { 'x-a': 'v' } },
      { size: 0 },
      { either: true },
      { one: 12.5 },
      { one: 12 },
      { not: null },
      { both: 4 },
      { pair: ['a', 1, 2] },
      { pair: [1, 'a'] },
      { list: ['x'] },
      { labels: {} },
      { labels: { a: 1, b: 2, c: 3 } },
      { labels: { 'x-a': 1 } },
      { labels: { toolong: 1 } },
      { labels: { n: 'one' } },
      { kind: 'tls' },
      { kind: 'tls', cert: 'pem' },
      { user: 'u' },
      { user: 'u', password: 'p' },
    ],
  },
];

describe('the console schema check agrees with the server validator', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const registry = new SchemaRegistry();
      await registry.register('case', c.schema);
      const outcomes = c.values.map((value) => ({
        value,
        server: registry.check('case', value).length === 0,
        console: validate(c.schema, value).length === 0,
      }));
      expect(outcomes.filter((o) => o.server !== o.console)).toEqual([]);
      // Both valid and invalid values were exercised.
      expect(outcomes.some((o) => o.server)).toBe(true);
      expect(outcomes.filter((o) => !o.server).length).toBeGreaterThan(c.values.length / 2);
    });
  }

  it('names the pointer of each issue', () => {
    const schema = CASES[0]?.schema;
    expect(validate(schema, { host: 'a', port: 0, extra: 1 })).toEqual([
      { pointer: '/port', message: 'must be >= 1' },
      { pointer: '/extra', message: 'must not have additional property "extra"' },
    ]);
    expect(validate(schema, {})).toEqual([{ pointer: '', message: 'must have required property "host"' }]);
  });

  it('checks every resolved view: defaults, the global document below, overrides along the chain', () => {
    const schema = {
      type: 'object',
      properties: {
        host: { type: 'string' },
        pool: { type: 'object', properties: { max: { type: 'integer', maximum: 50, default: 10 } } },
      },
      required: ['host', 'pool'],
    };
    expect(schemaDefaults(schema)).toEqual({ pool: { max: 10 } });
    const envs = [{ name: 'production' }, { name: 'production-eu', parent: 'production' }, { name: 'staging' }];
    // The app document lacks host: the global one below it has it; pool comes from the defaults.
    expect(checkViews(schema, { config: {} }, { config: { host: 'h' } }, envs)).toEqual([]);
    // Without the global document, every view misses host.
    expect(checkViews(schema, { config: {} }, undefined, envs)).toEqual([
      {
        pointer: '',
        message: 'must have required property "host"',
        views: ['base', 'production', 'production-eu', 'staging'],
      },
    ]);
    // An override of production is inherited by production-eu; null deletes a member.
    const doc = { config: { host: 'h' }, overrides: { production: { pool: { max: 99 } }, staging: { host: null } } };
    expect(checkViews(schema, doc, undefined, envs)).toEqual([
      { pointer: '/pool/max', message: 'must be <= 50', views: ['production', 'production-eu'] },
      { pointer: '', message: 'must have required property "host"', views: ['staging'] },
    ]);
  });
});

describe("the editor's reserved metadata", () => {
  it('is the list the service refuses in a write (core)', () => {
    expect([...RESERVED_METADATA].sort()).toEqual([...CORE_RESERVED].sort());
  });
});
