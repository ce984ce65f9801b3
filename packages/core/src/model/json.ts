import { createHash } from 'node:crypto';
import { errors } from '../errors/config-error.js';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** How deep a JSON value may nest (objects and arrays); deeper is `CONSTRAINT_VIOLATION`. */
export const MAX_JSON_DEPTH = 100;

/**
 * Keys a JSON object may not have: assigning them can change an object's prototype (`__proto__`) or
 * shadow what code expects of every object, so a config carrying one is refused, never stored.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks that `value` is plain JSON data (no undefined, functions, symbols, bigint, NaN, Infinity,
 * class instances or cycles), nests at most {@link MAX_JSON_DEPTH} levels and has no
 * {@link FORBIDDEN_KEYS}; throws `CONSTRAINT_VIOLATION` naming the JSON pointer otherwise.
 */
export function assertJson(
  value: unknown,
  pointer = '',
  seen = new Set<object>(),
  depth = 0,
): asserts value is JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw errors.constraint(`value at "${pointer}" is not a finite number`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw errors.constraint(`value at "${pointer}" is circular`);
      if (depth >= MAX_JSON_DEPTH) {
        throw errors.constraint(`value at "${pointer}" nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
      seen.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) assertJson(value[i], `${pointer}/${i}`, seen, depth + 1);
      } else if (isPlainObject(value)) {
        for (const [k, v] of Object.entries(value)) {
          const at = `${pointer}/${escapePointer(k)}`;
          if (FORBIDDEN_KEYS.has(k)) {
            throw errors.constraint(`key "${k}" at "${at}" is not allowed (it could change an object's prototype)`);
          }
          assertJson(v, at, seen, depth + 1);
        }
      } else {
        throw errors.constraint(`value at "${pointer}" is not plain JSON (${value.constructor?.name ?? 'object'})`);
      }
      seen.delete(value);
      return;
    }
    default:
      throw errors.constraint(`value at "${pointer}" is ${typeof value}, which JSON cannot hold`);
  }
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, `undefined` members dropped.
 * Two equal documents always give the same bytes, in every process and language that sorts the same way.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Lower-case hex SHA-256 of a string's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A deep copy that is also deeply frozen, so values handed to readers cannot be mutated. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function cloneJson<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}
