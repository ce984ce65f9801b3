/**
 * Reading what commands are given: JSON or YAML documents from a file, `--json-value` or stdin;
 * refs; integers; dates; `key=value` pairs (`--context`, `--param`, `--label`). Every problem is a
 * `CONSTRAINT_VIOLATION` (exit code 2) naming the flag or file, and nothing is written before the
 * input is read and checked.
 */
import { readFile } from 'node:fs/promises';
import { type ConfigRef, type JsonObject, type JsonValue, parseRef } from '@summit-config/core';
import { errors, isPlainObject, messageOf } from '@summit-config/core/internal';
import { parse as parseYaml } from 'yaml';
import { type CliIo, readAll } from './io.js';

/** Parses JSON, else YAML (YAML is a superset; the JSON error is the clearer one for JSON-looking input). */
export function parseDocument(text: string, source: string): JsonValue {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw errors.constraint(`${source} is empty`);
  try {
    return JSON.parse(trimmed) as JsonValue;
  } catch (jsonError) {
    if (/^[[{"]/.test(trimmed)) {
      throw errors.constraint(`${source} is not valid JSON: ${messageOf(jsonError)}`);
    }
  }
  try {
    return parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 }) as JsonValue;
  } catch (yamlError) {
    throw errors.constraint(`${source} is neither valid JSON nor valid YAML: ${messageOf(yamlError)}`);
  }
}

export async function readTextFile(path: string, what = 'file'): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw errors.notFound(`${what} ${path} does not exist`);
    throw errors.constraint(`cannot read ${what} ${path}: ${messageOf(error)}`);
  }
}

/** The options of a command that reads one value: `--file`, `--json-value`. */
export interface ValueOptions {
  file?: string;
  jsonValue?: string;
}

/**
 * The one value given by the positional `file`, `--file`, `--json-value`, or stdin (when none of
 * them is given and stdin is not a terminal). Exactly one source.
 */
export async function readValue(
  run: { opts: ValueOptions; io: CliIo },
  positional: string | undefined,
): Promise<JsonValue> {
  const { opts, io } = run;
  const given = [positional, opts.file, opts.jsonValue].filter((s) => s !== undefined);
  if (given.length > 1) throw errors.constraint('give the value once: a file, --file, --json-value or stdin');
  if (opts.jsonValue !== undefined) {
    try {
      return JSON.parse(opts.jsonValue) as JsonValue;
    } catch (error) {
      throw errors.constraint(`--json-value is not valid JSON: ${messageOf(error)}`);
    }
  }
  const file = positional ?? opts.file;
  if (file !== undefined && file !== '-') return parseDocument(await readTextFile(file), `file ${file}`);
  const stdin = io.stdin;
  if (!stdin || (file === undefined && (stdin as { isTTY?: boolean }).isTTY === true)) {
    throw errors.constraint('no value given: pass a file, --file <file>, --json-value <json>, or pipe it on stdin');
  }
  return parseDocument(await readAll(stdin), 'stdin');
}

/** The value as a JSON object (configs, overrides, schemas). */
export function asObject(value: JsonValue, what: string): JsonObject {
  if (!isPlainObject(value)) {
    throw errors.constraint(`${what} must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as JsonObject;
}

/** A `<scope>/<id>` ref (`INVALID_CONFIG_REF` otherwise). */
export function ref(text: string): ConfigRef {
  return parseRef(text);
}

/** A ref when the text starts with a scope (`global/`, `app:`), else undefined (a bare id). */
export function maybeRef(text: string): ConfigRef | undefined {
  return text.startsWith('global/') || text.startsWith('app:') ? parseRef(text) : undefined;
}

/** An integer option, checked: `--limit must be an integer >= 1`. */
export function integer(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim()))
    throw errors.constraint(`${flag} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw errors.constraint(`${flag} must be an integer >= ${min}`);
  return n;
}

/** A date option (ISO-8601 or anything `Date.parse` reads). */
export function date(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw errors.constraint(`${flag} is not a date: ${JSON.stringify(value)}`);
  return new Date(t).toISOString();
}

/** `text` split at its first `=`: `<flag> "<text>" must look like <word>=value` when it has no name. */
export function keyValue(text: string, flag: string, word = 'key'): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw errors.constraint(`${flag} ${JSON.stringify(text)} must look like ${word}=value`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** The value of a `key=value` pair: JSON when it parses, the text otherwise. */
function jsonOrText(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** `--context key=value` pairs (values parsed as JSON when they parse) into an evaluation context. */
export function contextOf(pairs: readonly string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const pair of pairs) {
    const [key, text] = keyValue(pair, '--context');
    if (key === '__proto__' || key === 'constructor') throw errors.constraint(`--context key ${key} is not allowed`);
    out[key] = jsonOrText(text);
  }
  return out;
}

/** `--param a.b=value` pairs (values parsed as JSON when they parse), nested into a copy of `base`. */
export function parseParams(pairs: readonly string[], base: JsonObject = {}): JsonObject {
  const out = structuredClone(base);
  for (const pair of pairs) {
    const [name, text] = keyValue(pair, '--param', 'name');
    const path = name.split('.');
    if (path.some((p) => p.length === 0 || p === '__proto__')) {
      throw errors.constraint(`--param ${JSON.stringify(pair)} has a bad name`);
    }
    let node: JsonObject = out;
    for (const part of path.slice(0, -1)) {
      if (!isPlainObject(node[part])) node[part] = {};
      node = node[part] as JsonObject;
    }
    node[path.at(-1) as string] = jsonOrText(text);
  }
  return out;
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Comma-separated and repeated values, trimmed, empties dropped. */
export function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}
