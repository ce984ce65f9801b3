/**
 * Migration definitions: validation, normalisation, checksums, and loading from files.
 *
 * A data file (`.json`, `.yaml`, `.yml`) holds one migration:
 *
 *   name: 0002-rename-pool            # default: the file name without its extension
 *   version: 2
 *   description: pool becomes poolSize
 *   dependencies: [0001-add-timeouts]
 *   selector: { scope: "app:*", id: "services/*\/database", environment: production }
 *   operations:
 *     - { op: rename, from: /pool, to: /poolSize }
 *     - { op: set, path: /timeouts/connectMs, value: 5000, ifMissing: true }
 *     - { op: delete, path: /legacy }
 *     - { op: patch, patch: [{ op: replace, path: /mode, value: strict }] }
 *
 * A module (`.js`, `.mjs`, `.ts`, `.mts`) default-exports the same object (or exports it as
 * `migration`); its operations may also be `{ op: 'transform', path, fn }`. Its checksum is the
 * SHA-256 of the file's text.
 */
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import fastJsonPatch from 'fast-json-patch';
import type { JsonPatchOperation } from '../audit/types.js';
import { messageOf } from '../errors/config-error.js';
import { assertJson, canonicalJson, isPlainObject, type JsonValue, sha256Hex } from '../model/json.js';
import { definitionError, failAt as fail, MigrationError, type DefinitionWhere as Where } from './errors.js';
import { compileEnvironmentPattern, compileIdPattern, compileScopePattern } from './glob.js';
import { parsePointer } from './operations.js';
import { parseDataText, readDefinitionDir, readDefinitionFile } from './text.js';
import type { Migration, MigrationKind, MigrationOperation, MigrationSelector, TransformFn } from './types.js';

// fast-json-patch is CommonJS: under NodeNext its default import is the module object itself.
const jsonPatch = fastJsonPatch as unknown as typeof fastJsonPatch.default;

export const MIGRATION_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
export const DATA_EXTENSIONS = ['.json', '.yaml', '.yml'] as const;
export const MODULE_EXTENSIONS = ['.js', '.mjs', '.ts', '.mts'] as const;

const TOP_FIELDS = ['name', 'version', 'description', 'dependencies', 'selector', 'operations'];
const SELECTOR_FIELDS = ['scope', 'id', 'environment'];
const OPERATION_FIELDS: Record<string, string[]> = {
  set: ['path', 'value', 'ifMissing'],
  rename: ['from', 'to', 'overwrite'],
  delete: ['path'],
  transform: ['path', 'fn'],
  patch: ['patch'],
};
const ALIASES: Record<string, MigrationOperation['op']> = { move: 'rename', remove: 'delete' };
const PATCH_OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'];

export interface ParseOptions {
  /** `data` refuses functions (transform); `module` allows them. Default `data`. */
  kind?: MigrationKind;
  /** Shown in errors and kept on the migration. */
  file?: string;
  /** Name to use when the definition has none (files: the base name). */
  defaultName?: string;
  /** The module's source text: its SHA-256 is the checksum (module files). */
  sourceText?: string;
}

function checkFields(value: Record<string, unknown>, allowed: readonly string[], pointer: string, where: Where): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw fail(`unknown field "${key}" (expected ${allowed.join(', ')})`, `${pointer}/${key}`, where);
    }
  }
}

function checkPointer(value: unknown, pointer: string, where: Where, allowRoot: boolean): string {
  try {
    const tokens = parsePointer(value);
    if (tokens.length === 0 && !allowRoot) throw new Error('the path may not be "" (the whole target)');
  } catch (error) {
    throw fail(messageOf(error), pointer, where);
  }
  return value as string;
}

function stringList(value: unknown, pointer: string, where: Where): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((v) => typeof v !== 'string')) {
    throw fail('must be a string or a non-empty list of strings', pointer, where);
  }
  return [...new Set(list as string[])];
}

function parseSelector(raw: unknown, where: Where): MigrationSelector {
  if (!isPlainObject(raw)) throw fail('selector must be an object { scope?, id, environment? }', '/selector', where);
  checkFields(raw, SELECTOR_FIELDS, '/selector', where);
  if (raw.id === undefined) throw fail('selector.id is required (use "**" for every id)', '/selector/id', where);
  const ids = stringList(raw.id, '/selector/id', where);
  ids.forEach((p, i) => {
    try {
      compileIdPattern(p);
    } catch (error) {
      throw fail(messageOf(error), typeof raw.id === 'string' ? '/selector/id' : `/selector/id/${i}`, where);
    }
  });
  const scopes = raw.scope === undefined ? ['*'] : stringList(raw.scope, '/selector/scope', where);
  scopes.forEach((p, i) => {
    try {
      compileScopePattern(p);
    } catch (error) {
      throw fail(messageOf(error), typeof raw.scope === 'string' ? '/selector/scope' : `/selector/scope/${i}`, where);
    }
  });
  let environment: string | undefined;
  if (raw.environment !== undefined) {
    try {
      environment = compileEnvironmentPattern(raw.environment).pattern;
    } catch (error) {
      throw fail(messageOf(error), '/selector/environment', where);
    }
  }
  return Object.freeze({
    scopes: Object.freeze([...scopes].sort()),
    ids: Object.freeze([...ids].sort()),
    environment,
  });
}

function parsePatch(raw: unknown, pointer: string, where: Where): JsonPatchOperation[] {
  if (!Array.isArray(raw)) throw fail('patch must be a list of RFC 6902 operations', pointer, where);
  raw.forEach((op, i) => {
    const at = `${pointer}/${i}`;
    if (!isPlainObject(op)) throw fail('a JSON Patch operation must be an object', at, where);
    if (typeof op.op !== 'string' || !PATCH_OPS.includes(op.op)) {
      throw fail(
        `unknown JSON Patch op ${JSON.stringify(op.op)} (expected ${PATCH_OPS.join(', ')})`,
        `${at}/op`,
        where,
      );
    }
    checkPointer(op.path, `${at}/path`, where, true);
    if ((op.op === 'move' || op.op === 'copy') && op.from === undefined) throw fail('needs "from"', at, where);
    if (op.from !== undefined) checkPointer(op.from, `${at}/from`, where, true);
    if (['add', 'replace', 'test'].includes(op.op) && op.value === undefined) throw fail('needs "value"', at, where);
  });
  try {
    assertJson(raw, pointer);
  } catch (error) {
    throw fail(messageOf(error), pointer, where);
  }
  const problem = jsonPatch.validate(raw as never);
  if (problem) throw fail(`invalid JSON Patch: ${problem.message.split('\n')[0]}`, pointer, where);
  return structuredClone(raw) as unknown as JsonPatchOperation[];
}

function parseOperation(raw: unknown, index: number, kind: MigrationKind, where: Where): MigrationOperation {
  const pointer = `/operations/${index}`;
  if (!isPlainObject(raw)) throw fail('an operation must be an object { op, ... }', pointer, where);
  const given = raw.op;
  const op = typeof given === 'string' ? (ALIASES[given] ?? given) : given;
  if (typeof op !== 'string' || !Object.hasOwn(OPERATION_FIELDS, op)) {
    throw fail(
      `unknown operation ${JSON.stringify(given)} (expected set, rename, move, delete, remove, transform or patch)`,
      `${pointer}/op`,
      where,
    );
  }
  checkFields(raw, ['op', ...(OPERATION_FIELDS[op] as string[])], pointer, where);
  const flag = (name: string): boolean | undefined => {
    const v = raw[name];
    if (v !== undefined && typeof v !== 'boolean') throw fail(`${name} must be a boolean`, `${pointer}/${name}`, where);
    return v as boolean | undefined;
  };
  switch (op) {
    case 'set': {
      const path = checkPointer(raw.path, `${pointer}/path`, where, false);
      if (raw.value === undefined) throw fail('set needs a value', `${pointer}/value`, where);
      try {
        assertJson(raw.value, `${pointer}/value`);
      } catch (error) {
        throw fail(messageOf(error), `${pointer}/value`, where);
      }
      const out: MigrationOperation = { op: 'set', path, value: structuredClone(raw.value) as JsonValue };
      if (flag('ifMissing') === true) out.ifMissing = true;
      return out;
    }
    case 'rename': {
      const from = checkPointer(raw.from, `${pointer}/from`, where, false);
      const to = checkPointer(raw.to, `${pointer}/to`, where, false);
      const f = parsePointer(from);
      const t = parsePointer(to);
      if (t.length >= f.length && f.every((token, i) => t[i] === token)) {
        throw fail(`cannot move ${from} to ${to}, inside itself`, pointer, where);
      }
      const out: MigrationOperation = { op: 'rename', from, to };
      if (flag('overwrite') === true) out.overwrite = true;
      return out;
    }
    case 'delete':
      return { op: 'delete', path: checkPointer(raw.path, `${pointer}/path`, where, false) };
    case 'transform': {
      if (kind !== 'module') {
        throw fail('transform needs a function: only module migrations (.js, .mjs, .ts) may transform', pointer, where);
      }
      const path = checkPointer(raw.path ?? '', `${pointer}/path`, where, true);
      if (typeof raw.fn !== 'function')
        throw fail('transform needs fn: (value, context) => newValue', `${pointer}/fn`, where);
      return { op: 'transform', path, fn: raw.fn as TransformFn };
    }
    default:
      return { op: 'patch', patch: parsePatch(raw.patch, `${pointer}/patch`, where) };
  }
}

/** The canonical form the checksum of a data (or in-code) migration is computed over. */
function canonicalDefinition(m: Omit<Migration, 'checksum' | 'file' | 'kind'>): string {
  return canonicalJson({
    name: m.name,
    version: m.version,
    description: m.description,
    dependencies: m.dependencies,
    selector: { scopes: m.selector.scopes, ids: m.selector.ids, environment: m.selector.environment ?? null },
    operations: m.operations.map((o) => (o.op === 'transform' ? { op: o.op, path: o.path, fn: String(o.fn) } : o)),
  });
}

/**
 * Validates and normalises a migration definition (a parsed data file or a module's export).
 * Throws `CONSTRAINT_VIOLATION` ({@link MigrationError} with the pointer and file) for anything
 * malformed: unknown fields or operations, bad paths, bad selectors, functions in data migrations.
 */
export function parseMigration(raw: unknown, options: ParseOptions = {}): Migration {
  const kind = options.kind ?? 'data';
  const where: Where = { file: options.file, migration: undefined };
  if (!isPlainObject(raw))
    throw fail('a migration must be an object { name, version, selector, operations }', '', where);
  checkFields(raw, TOP_FIELDS, '', where);
  const name = raw.name ?? options.defaultName;
  if (typeof name !== 'string' || !MIGRATION_NAME.test(name)) {
    throw fail('name must be 1-128 characters of [A-Za-z0-9_.-]', '/name', where);
  }
  where.migration = name;
  let version = raw.version;
  if (typeof version === 'number' && Number.isFinite(version)) version = String(version);
  if (typeof version !== 'string' || version.trim().length === 0 || version.length > 64) {
    throw fail('version is required: a string (or number) of 1-64 characters', '/version', where);
  }
  const description = raw.description ?? '';
  if (typeof description !== 'string' || description.length > 1000 || description.includes('\u0000')) {
    throw fail('description must be a string of at most 1000 characters', '/description', where);
  }
  const deps = raw.dependencies ?? [];
  if (!Array.isArray(deps)) throw fail('dependencies must be a list of migration names', '/dependencies', where);
  deps.forEach((d, i) => {
    if (typeof d !== 'string' || !MIGRATION_NAME.test(d)) {
      throw fail('a dependency must be a migration name', `/dependencies/${i}`, where);
    }
    if (d === name) throw fail('a migration cannot depend on itself', `/dependencies/${i}`, where);
  });
  const selector = parseSelector(raw.selector, where);
  if (!Array.isArray(raw.operations) || raw.operations.length === 0) {
    throw fail('operations must be a non-empty list', '/operations', where);
  }
  const operations = raw.operations.map((op, i) => parseOperation(op, i, kind, where));
  const body = {
    name,
    version,
    description,
    dependencies: Object.freeze([...new Set(deps as string[])].sort()),
    selector,
    operations: Object.freeze(operations),
  };
  const checksum =
    options.sourceText !== undefined ? sha256Hex(options.sourceText) : sha256Hex(canonicalDefinition(body));
  const migration: Migration = { ...body, kind, checksum };
  if (options.file !== undefined) return Object.freeze({ ...migration, file: options.file });
  return Object.freeze(migration);
}

/**
 * A module migration defined in code (operations may transform with functions). Its checksum is
 * the canonical JSON of the definition with each function's source text.
 */
export function defineMigration(definition: Record<string, unknown>, options: { file?: string } = {}): Migration {
  return parseMigration(definition, { kind: 'module', file: options.file });
}

/**
 * Parses the text of a data file (`format` from its extension: JSON or YAML). Throws
 * `CONSTRAINT_VIOLATION` naming the file and line for text that does not parse, or the pointer for
 * a malformed migration.
 */
export function parseMigrationText(text: string, options: ParseOptions & { format: 'json' | 'yaml' }): Migration {
  const where: Where = { file: options.file, migration: options.defaultName };
  const raw = parseDataText(text, options.format, where);
  return parseMigration(raw, { ...options, kind: 'data' });
}

/** Loads one migration file: JSON / YAML data, or a JavaScript / TypeScript module. */
export async function loadMigrationFile(path: string): Promise<Migration> {
  const file = resolve(path);
  const ext = extname(file).toLowerCase();
  const defaultName = basename(file, extname(file));
  const text = await readDefinitionFile(file, 'migration file');
  if ((DATA_EXTENSIONS as readonly string[]).includes(ext)) {
    return parseMigrationText(text, { format: ext === '.json' ? 'json' : 'yaml', file, defaultName });
  }
  if (!(MODULE_EXTENSIONS as readonly string[]).includes(ext)) {
    throw definitionError(
      `unsupported migration file type "${ext}" (expected ${[...DATA_EXTENSIONS, ...MODULE_EXTENSIONS].join(', ')})`,
      { pointer: '', file },
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw definitionError(`the module does not load: ${messageOf(error)}`, { pointer: '', file, cause: error });
  }
  const exported = mod.default ?? mod.migration;
  if (exported === undefined) {
    throw definitionError('a migration module must default-export its definition (or export `migration`)', {
      pointer: '',
      file,
    });
  }
  // A module may export the result of defineMigration: take its fields again with this file's text.
  const raw = isPlainObject(exported) && 'kind' in exported && 'checksum' in exported ? unparse(exported) : exported;
  return parseMigration(raw, { kind: 'module', file, defaultName, sourceText: text });
}

function unparse(m: Record<string, unknown>): Record<string, unknown> {
  const selector = m.selector as MigrationSelector;
  const out: Record<string, unknown> = {
    name: m.name,
    version: m.version,
    description: m.description,
    dependencies: m.dependencies,
    selector: { scope: [...selector.scopes], id: [...selector.ids] },
    operations: m.operations,
  };
  if (selector.environment !== undefined) (out.selector as Record<string, unknown>).environment = selector.environment;
  return out;
}

/**
 * Loads every migration file of `dir` (not recursive; other files are ignored), sorted by file
 * name. Throws the first file's error, and `CONSTRAINT_VIOLATION` when two files define one name.
 */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const entries = await readDefinitionDir(dir, 'the migrations directory');
  const files = entries
    .filter((f) => !f.startsWith('.') && !f.endsWith('.d.ts'))
    .filter((f) => [...DATA_EXTENSIONS, ...MODULE_EXTENSIONS].includes(extname(f).toLowerCase() as never))
    .sort();
  const out: Migration[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const migration = await loadMigrationFile(join(dir, f));
    const other = seen.get(migration.name);
    if (other !== undefined) {
      throw definitionError(`migration name "${migration.name}" is also defined by ${other}`, {
        pointer: '/name',
        file: migration.file,
        migration: migration.name,
      });
    }
    seen.set(migration.name, migration.file ?? f);
    out.push(migration);
  }
  return out;
}

/** A migration's definition as a plain object (data migrations: the file a `migrate create` writes). */
export function migrationToJson(m: Migration): Record<string, unknown> {
  const out = unparse(m as unknown as Record<string, unknown>);
  out.operations = m.operations.map((o) => (o.op === 'transform' ? { op: o.op, path: o.path, fn: String(o.fn) } : o));
  return out;
}
