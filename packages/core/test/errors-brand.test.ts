/**
 * `isConfigError` checks the `Symbol.for('summit-config.ConfigError')` brand, not `instanceof`, so an
 * application that ends up with two installed copies of @summit-config/core (one under each of two
 * dependencies) still recognises the errors the other copy throws.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, isConfigError, SchemaValidationError } from '../src/index.js';

type ErrorsModule = typeof import('../src/errors/config-error.js');

/** The errors module loaded a second time, as its own module instance: a second installed copy. */
async function secondCopy(): Promise<ErrorsModule> {
  const url = `${new URL('../src/errors/config-error.ts', import.meta.url).href}?second-copy`;
  return (await import(/* @vite-ignore */ url)) as ErrorsModule;
}

describe('the ConfigError brand', () => {
  it('recognises an error from another copy of the package, which instanceof does not', async () => {
    const other = await secondCopy();
    expect(other.ConfigError).not.toBe(ConfigError);
    const foreign = new other.ConfigError('VERSION_CONFLICT', 'moved', { ref: 'global/a', version: 2 });
    expect(foreign instanceof ConfigError).toBe(false);
    expect(isConfigError(foreign)).toBe(true);
    expect(isConfigError(foreign, 'VERSION_CONFLICT')).toBe(true);
    expect(isConfigError(foreign, 'NOT_FOUND')).toBe(false);
    // Both ways: the other copy's guard recognises this copy's errors, subclasses included.
    expect(other.isConfigError(new ConfigError('NOT_FOUND', 'gone'), 'NOT_FOUND')).toBe(true);
    expect(other.isConfigError(new SchemaValidationError('bad', []), 'SCHEMA_VALIDATION')).toBe(true);
  });

  it('accepts any object carrying the registered brand', () => {
    const branded = { [Symbol.for('summit-config.ConfigError')]: true, code: 'TIMEOUT', message: 'slow' };
    expect(isConfigError(branded)).toBe(true);
    expect(isConfigError(branded, 'TIMEOUT')).toBe(true);
    expect(isConfigError(branded, 'CLOSED')).toBe(false);
  });

  it('rejects lookalikes without the brand', () => {
    const lookalike = Object.assign(new Error('moved'), { name: 'ConfigError', code: 'VERSION_CONFLICT' });
    expect(isConfigError(lookalike)).toBe(false);
    expect(isConfigError(lookalike, 'VERSION_CONFLICT')).toBe(false);
    expect(isConfigError({ code: 'VERSION_CONFLICT', message: 'moved' })).toBe(false);
    expect(isConfigError({ [Symbol('summit-config.ConfigError')]: true, code: 'TIMEOUT' })).toBe(false);
    expect(isConfigError({ [Symbol.for('summit-config.ConfigError')]: 'yes', code: 'TIMEOUT' })).toBe(false);
    for (const value of [undefined, null, 'ConfigError', 42, () => undefined]) expect(isConfigError(value)).toBe(false);
  });

  it('keeps the brand off the enumerable own properties (logs, spreads and JSON are unchanged)', () => {
    const error = new ConfigError('CLOSED', 'closed');
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
    expect(JSON.stringify(error)).toBe('{"code":"CLOSED","message":"closed"}');
    expect(error).toBeInstanceOf(ConfigError);
  });
});
