/**
 * What both imports (`import-spring.ts`, `import-node-config.ts`) share on the reading side: the typed
 * error of a malformed source ({@link ImportSourceError}, naming the file and line), the parsers of
 * YAML (every document, with the line it starts on) and JSON sources, and the path helpers that turn
 * dotted keys (`a.b[0].c`) into nested objects.
 */
import { ConfigError, type JsonObject, type JsonValue } from '@summit-config/core';
import { isPlainObject } from '@summit-config/core/internal';
import { LineCounter, parseAllDocuments } from 'yaml';

/** Keys that could change an object's prototype: refused in imported sources (core refuses them too). */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A source file that cannot be imported: malformed YAML, JSON or properties, or a construct the
 * import cannot map (a Spring profile expression). `code` is `CONSTRAINT_VIOLATION`; `file` is the
 * path relative to the imported directory and `line` the 1-based line (undefined when the problem is
 * the file as a whole). Thrown before anything is written.
 */
export class ImportSourceError extends ConfigError<'CONSTRAINT_VIOLATION'> {
  /** The file, relative to the imported directory, with `/` separators. */
  readonly file: string;
  /** The 1-based line of the problem, when it has one. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string, cause?: unknown) {
    super('CONSTRAINT_VIOLATION', `${file}${line === undefined ? '' : `:${line}`}: ${message}`, { cause });
    this.name = 'ImportSourceError';
    this.file = file;
    this.line = line;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), file: this.file, ...(this.line === undefined ? {} : { line: this.line }) };
  }
}

/** One document of a YAML file: its value and the 1-based line it starts on. */
export interface YamlDocument {
  value: unknown;
  line: number;
}

/**
 * Every document of a YAML stream (`---` separated), parsed by the `yaml` package with `version`'s
 * schema (Spring reads YAML 1.1, where `yes`/`on` are booleans; node-config reads YAML 1.2). Empty
 * documents are dropped. Throws {@link ImportSourceError} at the first syntax error.
 */
export function parseYamlDocuments(text: string, file: string, version: '1.1' | '1.2'): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, version, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const out: YamlDocument[] = [];
  for (const doc of list) {
    const [error] = doc.errors;
    if (error) {
      const line = lineCounter.linePos(error.pos[0]).line;
      throw new ImportSourceError(file, line, `invalid YAML: ${error.message.split('\n', 1)[0]}`, error);
    }
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    out.push({ value: jsonOf(value, file, lineCounter.linePos(start).line), line: lineCounter.linePos(start).line });
  }
  return out;
}

/** `value` as plain JSON: dates become ISO strings; other non-JSON values (binary, sets) are refused. */
function jsonOf(value: unknown, file: string, line: number): JsonValue {
  if (value instanceof Date) return value.toISOString();
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ImportSourceError(file, line, `a number that is not finite (${value})`);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => jsonOf(v, file, line));
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(k)) throw new ImportSourceError(file, line, `the key "${k}" is not allowed`);
      out[k] = jsonOf(v, file, line);
    }
    return out;
  }
  throw new ImportSourceError(file, line, `a value that is not JSON data (${Object.prototype.toString.call(value)})`);
}

/** A JSON file's value; a syntax error names the line (from the parser's position). */
export function parseJsonSource(text: string, file: string): unknown {
  try {
    return jsonOf(JSON.parse(text), file, 1);
  } catch (error) {
    if (error instanceof ImportSourceError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const lineCol = /\(line (\d+) column \d+\)/.exec(message);
    const position = /at position (\d+)/.exec(message);
    let line: number | undefined;
    if (lineCol?.[1]) line = Number(lineCol[1]);
    else if (position?.[1]) line = text.slice(0, Number(position[1])).split('\n').length;
    else if (/end of JSON input/i.test(message)) line = text.split('\n').length;
    throw new ImportSourceError(file, line, `invalid JSON: ${message}`, error);
  }
}

/** One step of a property path: an object key or a list index. */
export type PathSegment = string | number;

/**
 * Splits a Spring property name into its path: `.` separates keys, `[n]` is a list index and
 * `[any.thing]` a map key kept whole (Spring's bracket notation). Throws a plain `Error` on a
 * malformed name; callers wrap it with the file and line.
 */
export function splitPropertyPath(name: string): PathSegment[] {
  const out: PathSegment[] = [];
  let i = 0;
  let current = '';
  let afterBracket = false;
  const push = () => {
    if (current === '') throw new Error(`the property name "${name}" has an empty segment`);
    out.push(current);
    current = '';
  };
  while (i < name.length) {
    const c = name[i] as string;
    if (c === '.') {
      if (afterBracket && current === '') afterBracket = false;
      else push();
      i++;
    } else if (c === '[') {
      if (current !== '') push();
      else if (!afterBracket && out.length === 0) throw new Error(`the property name "${name}" starts with "["`);
      const close = name.indexOf(']', i);
      if (close < 0) throw new Error(`the property name "${name}" has an unclosed "["`);
      const inner = name.slice(i + 1, close);
      if (inner === '') throw new Error(`the property name "${name}" has an empty "[]"`);
      out.push(/^(0|[1-9]\d*)$/.test(inner) && Number.isSafeInteger(Number(inner)) ? Number(inner) : inner);
      afterBracket = true;
      i = close + 1;
    } else {
      if (afterBracket) throw new Error(`the property name "${name}" needs "." after "]"`);
      current += c;
      i++;
    }
  }
  if (current !== '' || !afterBracket) push();
  for (const segment of out) {
    if (typeof segment === 'string' && FORBIDDEN_KEYS.has(segment)) {
      throw new Error(`the key "${segment}" is not allowed`);
    }
  }
  return out;
}

/** Marks objects built from `[n]` indices, turned into arrays by {@link finishLists}. */
const INDEXED = Symbol('indexed');
type Tree = JsonObject & { [INDEXED]?: true };

/**
 * Sets `value` at `path` in `root`, creating objects on the way (an index creates a list, kept as an
 * object until {@link finishLists}). A later value for the same path replaces the earlier one. Throws
 * a plain `Error` when a path goes through a value that is not an object (`a=1` then `a.b=2`), or
 * mixes indices and keys at one level.
 */
export function setPath(root: JsonObject, path: readonly PathSegment[], value: JsonValue): void {
  let node: Tree = root;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i] as PathSegment;
    const key = String(segment);
    const indexed = typeof segment === 'number';
    if (i === 0 ? false : indexed !== (node[INDEXED] === true) && Object.keys(node).length > 0) {
      throw new Error(`"${describe(path.slice(0, i))}" is used both as a list and as an object`);
    }
    if (indexed) node[INDEXED] = true;
    if (i === path.length - 1) {
      const existing = node[key];
      if (isPlainObject(existing) && !isPlainObject(value)) {
        throw new Error(`"${describe(path)}" is both a value and an object`);
      }
      node[key] = isPlainObject(existing) && isPlainObject(value) ? mergeObjects(existing, value) : value;
      return;
    }
    const next = node[key];
    if (next === undefined) {
      const created: Tree = {};
      node[key] = created;
      node = created;
    } else if (isPlainObject(next)) {
      node = next as Tree;
    } else {
      throw new Error(`"${describe(path.slice(0, i + 1))}" is both a value and an object`);
    }
  }
}

/** The path written the way Spring names it: `a.b[0].c`. */
export function describe(path: readonly PathSegment[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/**
 * Turns the objects built from indices into arrays, in index order. Indices must run 0..n-1 without
 * gaps; otherwise throws a plain `Error` naming the path and the missing index.
 */
export function finishLists(value: JsonValue, path: PathSegment[] = []): JsonValue {
  if (!isPlainObject(value)) return value;
  const tree = value as Tree;
  const entries = Object.entries(tree).map(([k, v]) => [k, finishLists(v, [...path, k])] as const);
  if (tree[INDEXED] !== true) return Object.fromEntries(entries) as JsonObject;
  const list: JsonValue[] = [];
  const byIndex = new Map(entries.map(([k, v]) => [Number(k), v]));
  for (let i = 0; i < byIndex.size; i++) {
    if (!byIndex.has(i)) throw new Error(`the list "${describe(path)}" has no index [${i}]`);
    list.push(byIndex.get(i) as JsonValue);
  }
  return list;
}

/** Merges `over` into `base`: objects key by key (recursively), anything else replaces. Copies. */
export function mergeObjects(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? mergeObjects(current, value) : value;
  }
  return out;
}

/**
 * Expands dotted keys of a YAML mapping into nested objects, as Spring reads them (`a.b: 1` is
 * `a: { b: 1 }`; `"[a.b]": 1` keeps the key `a.b`). Throws a plain `Error` on a conflict.
 */
export function expandDottedKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(expandDottedKeys);
  if (!isPlainObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, raw] of Object.entries(value as JsonObject)) {
    const child = expandDottedKeys(raw);
    const path =
      key.startsWith('[') && key.endsWith(']') && !key.slice(1, -1).includes(']')
        ? [key.slice(1, -1)]
        : key.includes('.') || key.includes('[')
          ? splitPropertyPath(key)
          : [key];
    setPath(out, path, child);
  }
  return finishLists(out);
}
