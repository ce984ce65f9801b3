import { thrown, throwsCode } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../src/index.js';
import { MigrationError, parseMigration } from '../src/migrations/index.js';
import { orderMigrations, withDependencies } from '../src/migrations/order.js';

interface OrderCase {
  name: string;
  migrations: Array<{ name: string; version: string; dependencies: string[] }>;
  order?: string[];
  error?: string;
  cycle?: string[];
  mentions?: string[];
}

const fixture = readJson('migrations/order-cases.json') as { cases: OrderCase[] };

describe('orderMigrations (fixtures)', () => {
  it.each(fixture.cases.filter((c) => c.order))('$name', (c) => {
    expect(orderMigrations(c.migrations).map((m) => m.name)).toEqual(c.order);
    // The order does not depend on the order migrations were given in.
    expect(orderMigrations([...c.migrations].reverse()).map((m) => m.name)).toEqual(c.order);
  });

  it.each(fixture.cases.filter((c) => c.error))('$name -> $error', (c) => {
    const error = thrown(() => orderMigrations(c.migrations));
    expect(isConfigError(error, c.error as never)).toBe(true);
    expect(error).toBeInstanceOf(MigrationError);
    const message = (error as Error).message;
    if (c.cycle) {
      const printed = message.slice(message.lastIndexOf(': ') + 2).split(' -> ');
      // A closed path: first and last are the same, and it visits exactly the cycle's members.
      expect(printed[0]).toBe(printed.at(-1));
      expect(new Set(printed)).toEqual(new Set(c.cycle));
      expect(printed.length).toBe(c.cycle.length + 1);
    }
    for (const word of c.mentions ?? []) expect(message).toContain(word);
  });
});

describe('withDependencies', () => {
  const ordered = orderMigrations([
    { name: 'base', version: '1', dependencies: [] },
    { name: 'left', version: '2', dependencies: ['base'] },
    { name: 'right', version: '3', dependencies: ['base'] },
    { name: 'join', version: '4', dependencies: ['left', 'right'] },
    { name: 'other', version: '5', dependencies: [] },
  ]);

  it('takes a target and its dependencies, transitively, in order', () => {
    expect(withDependencies(ordered, ['left']).map((m) => m.name)).toEqual(['base', 'left']);
    expect(withDependencies(ordered, ['join']).map((m) => m.name)).toEqual(['base', 'left', 'right', 'join']);
    expect(withDependencies(ordered, ['other', 'left']).map((m) => m.name)).toEqual(['base', 'left', 'other']);
  });

  it('refuses an unknown target with NOT_FOUND', () => {
    expect(throwsCode(() => withDependencies(ordered, ['nope']), 'NOT_FOUND')).toBe(true);
  });
});

describe('ordering parsed migrations', () => {
  it('orders real definitions and reports a cycle between them', () => {
    const make = (name: string, deps: string[]) =>
      parseMigration({
        name,
        version: 1,
        dependencies: deps,
        selector: { id: 'x' },
        operations: [{ op: 'delete', path: '/a' }],
      });
    expect(orderMigrations([make('b', ['a']), make('a', [])]).map((m) => m.name)).toEqual(['a', 'b']);
    const error = thrown(() => orderMigrations([make('a', ['c']), make('b', ['a']), make('c', ['b'])]));
    expect(isConfigError(error, 'CIRCULAR_DEPENDENCY')).toBe(true);
    expect((error as MigrationError).migration).toBeDefined();
  });
});
