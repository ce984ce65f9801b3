/**
 * Layered sources from outside the store (seed 004): environment variables and local JSON files, each
 * configurable as the highest layer (operator overrides) or the lowest (fallbacks just above schema
 * defaults). They show up in `explain` as `env` (naming the variable) and `file` (naming the file).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join, relative, sep } from 'node:path';
import type * as Yaml from 'yaml';
import { errors, messageOf } from '../errors/config-error.js';
import { assertJson, deepFreeze, isPlainObject, type JsonObject, type JsonValue } from '../model/json.js';
import { parseId } from '../model/ref.js';
import { propertyNames, propertySchema, typesOf } from '../schema/walk.js';
import type { SourcePosition } from './explain.js';
import type { ExtraLayer } from './resolver.js';

// `yaml` (CommonJS) is loaded on the first YAML file read, not when the package is imported.
const requireCjs = createRequire(import.meta.url);
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  yamlModule ??= requireCjs('yaml') as typeof Yaml;
  return yamlModule;
}

/** A source of extra layers for config documents. */
export interface LayerSource {
  readonly kind: 'env' | 'file';
  readonly position: SourcePosition;
  /** The prefix (env) or path (file), for messages. */
  readonly name: string;
  /**
   * The layers this source holds for config `id`, in merge order; `[]` when none. With a JSON Schema,
   * environment values are coerced to the schema's types (numbers, booleans, JSON arrays/objects) and
   * variable names are matched to property names case-insensitively. Throws `CONSTRAINT_VIOLATION`
   * naming the variable when a value cannot be coerced.
   */
  layersFor(id: string, schema?: unknown): ExtraLayer[];
}

function checkPosition(position: unknown, what: string): SourcePosition {
  if (position !== 'highest' && position !== 'lowest') {
    throw errors.constraint(`${what} option "position" must be "highest" or "lowest", got ${JSON.stringify(position)}`);
  }
  return position;
}

// ---------------------------------------------------------------------------------------------------
// Environment variables

export interface EnvSourceOptions {
  /** Variable name prefix. Default `SUMMIT`. */
  prefix?: string;
  /** Separator between prefix, config id and keys. Default `__`. */
  separator?: string;
  /** The variables to read; copied at creation. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default `highest`: environment variables override everything else. */
  position?: SourcePosition;
}

/** The variable-name form of a config id: upper case, every character other than A-Z and 0-9 as `_`. */
export function envIdSegment(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, '');
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function coerce(raw: string, types: Set<string> | undefined, variable: string): JsonValue {
  if (types === undefined) return raw;
  const fail = (): never => {
    throw errors.constraint(
      `environment variable ${variable}=${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw)} is not a valid ${[...types].join(' or ')}`,
    );
  };
  const text = raw.trim();
  if (types.has('null') && text === 'null') return null;
  if (types.has('boolean')) {
    const lower = text.toLowerCase();
    if (TRUE.has(lower)) return true;
    if (FALSE.has(lower)) return false;
  }
  if (types.has('integer') && /^[-+]?\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
  }
  if (types.has('number') && text !== '' && Number.isFinite(Number(text))) return Number(text);
  if ((types.has('array') || types.has('object')) && (text.startsWith('[') || text.startsWith('{'))) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      if (!types.has('string')) fail();
    }
    if (Array.isArray(parsed) && types.has('array')) return parsed as JsonValue[];
    if (isPlainObject(parsed) && types.has('object')) return parsed as JsonObject;
  }
  if (types.has('string')) return raw;
  return fail();
}

/**
 * Environment variables as layers: `SUMMIT__DATABASE__HOST=db1` sets `host` in config `database`;
 * `SUMMIT__DATABASE__POOL__MAX=20` sets `pool.max`; `SUMMIT__DATABASE='{"host":"db1"}'` sets a whole
 * object. A config id maps to its {@link envIdSegment} (`features/checkout` -> `FEATURES_CHECKOUT`).
 * Key segments match schema property names ignoring case, `_` and `-` (`MAX_CONNECTIONS` ->
 * `maxConnections`); without a schema they are lower-cased and values stay strings. One layer per
 * variable, so `explain` names the variable; a variable setting a deeper path merges over one setting
 * its parent.
 */
export function envSource(options: EnvSourceOptions = {}): LayerSource {
  const prefix = options.prefix ?? 'SUMMIT';
  const separator = options.separator ?? '__';
  if (typeof prefix !== 'string' || prefix === '')
    throw errors.constraint('envSource option "prefix" must be a non-empty string');
  if (typeof separator !== 'string' || separator === '') {
    throw errors.constraint('envSource option "separator" must be a non-empty string');
  }
  const position = checkPosition(options.position ?? 'highest', 'envSource');
  const snapshot: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(options.env ?? process.env)) {
    if (typeof value === 'string') snapshot.push([name, value]);
  }
  const head = `${prefix.toUpperCase()}${separator}`;
  return Object.freeze({
    kind: 'env' as const,
    position,
    name: prefix,
    layersFor(id: string, schema?: unknown): ExtraLayer[] {
      parseId(id);
      const idPrefix = `${head}${envIdSegment(id)}`;
      const found: Array<{ variable: string; path: string[]; raw: string }> = [];
      for (const [variable, raw] of snapshot) {
        const upper = variable.toUpperCase();
        if (upper === idPrefix) found.push({ variable, path: [], raw });
        else if (upper.startsWith(`${idPrefix}${separator}`)) {
          const rest = variable.slice(idPrefix.length + separator.length);
          const segments = rest.split(separator);
          if (segments.some((s) => s === '')) continue;
          found.push({ variable, path: segments, raw });
        }
      }
      // Parents before children, then by name, so the order (and the result) is deterministic.
      found.sort((a, b) => a.path.length - b.path.length || (a.variable < b.variable ? -1 : 1));
      return found.map(({ variable, path, raw }) => {
        let node: unknown = schema;
        const keys: string[] = [];
        for (const segment of path) {
          const wanted = normaliseName(segment);
          const match =
            node === undefined ? undefined : propertyNames(node, schema).find((n) => normaliseName(n) === wanted);
          keys.push(match ?? segment.toLowerCase());
          node = node === undefined ? undefined : propertySchema(node, match ?? segment.toLowerCase(), schema);
        }
        let value: JsonValue;
        if (path.length === 0) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(raw);
          } catch (error) {
            throw errors.constraint(`environment variable ${variable} must hold a JSON object: ${messageOf(error)}`);
          }
          if (!isPlainObject(parsed))
            throw errors.constraint(`environment variable ${variable} must hold a JSON object`);
          value = parsed as JsonObject;
        } else {
          value = coerce(raw, schema === undefined ? undefined : typesOf(node, schema), variable);
        }
        let layerValue: JsonValue = value;
        for (let i = keys.length - 1; i >= 0; i--) layerValue = { [keys[i] as string]: layerValue };
        return Object.freeze({
          kind: 'env' as const,
          position,
          source: variable,
          value: layerValue as JsonObject,
        });
      });
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// Files

export interface FileSourceOptions {
  /**
   * A JSON file whose top-level members are config ids (`{ "database": { "host": "db1" } }`), or a
   * directory holding one file per config id (`<dir>/database.json`, `<dir>/features/checkout.json`).
   */
  path: string;
  /** Default `lowest`: local files are fallbacks that the store overrides. */
  position?: SourcePosition;
  /**
   * Parser for other formats, e.g. `parse: (text) => YAML.parse(text)` from the `yaml` package for
   * `.yaml`/`.yml` files. Summit Config itself bundles no YAML parser. Default: JSON only.
   */
  parse?: (text: string, path: string) => unknown;
  /** A missing path gives an empty source instead of `NOT_FOUND`. Default false. */
  optional?: boolean;
}

const JSON_EXTENSIONS = new Set(['.json']);
const YAML_EXTENSIONS = new Set(['.yaml', '.yml']);
/** Extensions read only with a custom `parse` option. */
const OTHER_EXTENSIONS = new Set(['.toml', '.ini', '.conf']);

async function parseFile(path: string, parse: FileSourceOptions['parse']): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw errors.constraint(`cannot read config file ${path}: ${messageOf(error)}`, { cause: error });
  }
  if (parse === undefined && !JSON_EXTENSIONS.has(ext) && !YAML_EXTENSIONS.has(ext)) {
    throw errors.constraint(`config file ${path}: only .json, .yaml and .yml are read without a "parse" option`);
  }
  try {
    const value = parse
      ? parse(text, path)
      : YAML_EXTENSIONS.has(ext)
        ? yaml().parse(text, { maxAliasCount: 100, uniqueKeys: true })
        : JSON.parse(text);
    assertJson(value);
    return value;
  } catch (error) {
    throw errors.constraint(`config file ${path} is not valid: ${messageOf(error)}`, { cause: error });
  }
}

async function listFiles(dir: string, parse: FileSourceOptions['parse']): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full, parse)));
    else if (entry.isFile()) {
      const ext = extname(entry.name).toLowerCase();
      if (JSON_EXTENSIONS.has(ext) || YAML_EXTENSIONS.has(ext) || (parse !== undefined && OTHER_EXTENSIONS.has(ext))) {
        out.push(full);
      }
    }
  }
  return out.sort();
}

/**
 * Loads a local file (or directory) source. Throws `NOT_FOUND` for a missing path (unless `optional`)
 * and `CONSTRAINT_VIOLATION` naming the file for unreadable or invalid content.
 */
export async function loadFileSource(options: FileSourceOptions): Promise<LayerSource> {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw errors.constraint('fileSource option "path" must be a non-empty string');
  }
  if (options.parse !== undefined && typeof options.parse !== 'function') {
    throw errors.constraint('fileSource option "parse" must be a function');
  }
  const position = checkPosition(options.position ?? 'lowest', 'fileSource');
  const documents = new Map<string, { file: string; value: JsonObject }>();
  let info: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    info = await stat(options.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw errors.constraint(`cannot read ${options.path}: ${messageOf(error)}`, { cause: error });
    }
    if (!options.optional) throw errors.notFound(`config file ${options.path} does not exist`);
  }
  if (info?.isDirectory()) {
    for (const file of await listFiles(options.path, options.parse)) {
      const rel = relative(options.path, file);
      const id = rel
        .slice(0, rel.length - extname(rel).length)
        .split(sep)
        .join('/');
      parseId(id);
      const value = await parseFile(file, options.parse);
      if (!isPlainObject(value)) throw errors.constraint(`config file ${file} must hold a JSON object`);
      if (documents.has(id)) throw errors.constraint(`config id "${id}" has two files in ${options.path}`);
      documents.set(id, { file, value: deepFreeze(value as JsonObject) });
    }
  } else if (info) {
    const content = await parseFile(options.path, options.parse);
    if (!isPlainObject(content)) {
      throw errors.constraint(`config file ${options.path} must hold an object of config ids`);
    }
    for (const [id, value] of Object.entries(content)) {
      parseId(id);
      if (!isPlainObject(value))
        throw errors.constraint(`config file ${options.path}: member "${id}" must be a JSON object`);
      documents.set(id, { file: options.path, value: deepFreeze(value as JsonObject) });
    }
  }
  return Object.freeze({
    kind: 'file' as const,
    position,
    name: options.path,
    layersFor(id: string): ExtraLayer[] {
      const doc = documents.get(id);
      return doc ? [Object.freeze({ kind: 'file' as const, position, source: doc.file, value: doc.value })] : [];
    },
  });
}

/** The extra layers of every source for config `id`, in source order (pass to `resolveLayers({ extra })`). */
export function sourceLayers(sources: readonly LayerSource[], id: string, schema?: unknown): ExtraLayer[] {
  return sources.flatMap((s) => s.layersFor(id, schema));
}
