/**
 * Field readers of the agent configuration: each checks one value and throws a
 * `CONSTRAINT_VIOLATION` naming its path (`agent config: drift.intervalMs must be ...`).
 */
import type { ConfigError } from '@summit-config/core';
import { errors, isPlainObject, parseEnvironmentName, parseId } from '@summit-config/core/internal';

export const fail = (path: string, detail: string): ConfigError => errors.constraint(`agent config: ${path} ${detail}`);

export const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return String(value);
  }
};

export function object(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw fail(path || 'the file', `must be a mapping, got ${show(value)}`);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw fail(path ? `${path}.${key}` : key, `is not a known field (known: ${known.join(', ')})`);
    }
  }
  return value;
}

export function str(value: unknown, path: string, fallback?: string): string {
  const v = value ?? fallback;
  if (typeof v !== 'string' || v.length === 0) {
    throw fail(path, v === undefined ? 'is required' : `must be a non-empty string, got ${show(v)}`);
  }
  return v;
}

export function optStr(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return str(value, path);
}

export function int(value: unknown, path: string, fallback: number, min: number, max: number): number {
  let v = value ?? fallback;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw fail(path, `must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return v;
}

export function bool(value: unknown, path: string, fallback: boolean): boolean {
  const v = value ?? fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (typeof v !== 'boolean') throw fail(path, `must be true or false, got ${show(value)}`);
  return v;
}

export function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail(path, `must be a list, got ${show(value)}`);
  return value;
}

/** Runs a core validator and re-throws its message under the field's name. */
export function checked<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw fail(path, `is invalid: ${(error as Error).message}`);
  }
}

export function appName(value: unknown, path: string): string {
  const name = str(value, path);
  checked(path, () => parseId(name));
  if (name.includes('/') || name.length > 128) throw fail(path, `must be one segment of at most 128 characters`);
  return name;
}

export function envName(value: unknown, path: string): string {
  const name = str(value, path);
  return checked(path, () => parseEnvironmentName(name));
}
