/**
 * The gitops layout (docs/gitops.md) and its parser:
 *
 *   configs/<scope>/<id>.yaml|.yml|.json   one document per ref `<scope>/<id>` (an id with `/` makes
 *                                          sub-directories): { config, overrides?, rollout?, metadata? }
 *   schemas/<id>.json                      the JSON Schema of config id `<id>` (every scope's `<id>`)
 *   environments.yaml                      a list of { name, parent?, production, approvalPolicy? }
 *
 * `parseTree(files)` turns the files' text into a typed tree, or throws `GitopsTreeError`
 * (`CONSTRAINT_VIOLATION`) naming the file and, where there is one, the line and column. Other files
 * (README, dotfiles) are ignored; an unknown file under `configs/` or `schemas/` is an error.
 * `readTree(dir)` reads a directory from the file system and parses it.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import {
  type ConfigRef,
  type Environment,
  isConfigError,
  type JsonObject,
  parseRef,
  refKey,
  validateRollout,
} from '@summit-config/core';
import { checkEnvironmentInput, errors, isPlainObject, parseId, RESERVED_METADATA } from '@summit-config/core/internal';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { GitopsTreeError, jsonErrorPosition, lineColumnAt } from './tree-error.js';

/** The metadata key gitops writes on every version it applies (`{ repo, path, commit }`). */
export const GITOPS_METADATA_KEY = 'gitops';

/** One file of a tree: its path relative to the root (`/`-separated) and its UTF-8 text. */
export interface TreeFile {
  path: string;
  text: string;
}

/** The document of one ref, as the tree holds it. */
export interface TreeDocument {
  config: JsonObject;
  overrides: Record<string, JsonObject>;
  rollout: JsonObject | null;
  /** User metadata (never the service's reserved keys, never `gitops`). */
  metadata: JsonObject;
}

/** One ref of the tree and the file it came from. */
export interface TreeRef {
  ref: ConfigRef;
  /** `<scope>/<id>`. */
  key: string;
  file: string;
  document: TreeDocument;
  /** The 1-based line of each top-level key of the file (`config`, `overrides`, ...), where known. */
  lines: Partial<Record<'config' | 'overrides' | 'rollout' | 'metadata', number>>;
}

/** One schema of the tree: registered as schema `<id>`, the schema of config id `<id>` in every scope. */
export interface TreeSchema {
  id: string;
  file: string;
  schema: JsonObject;
}

/** A parsed tree: refs sorted by key, schemas by id, environments in file order. */
export interface GitopsTree {
  refs: TreeRef[];
  schemas: TreeSchema[];
  /** Undefined when the tree has no `environments.yaml` (then environments are left as they are). */
  environments: Environment[] | undefined;
  /** The file the environments came from (`environments.yaml`), when there is one. */
  environmentsFile: string | undefined;
}

const DOCUMENT_KEYS = ['config', 'overrides', 'rollout', 'metadata'];
const CONFIG_EXTENSIONS = ['.yaml', '.yml', '.json'];
/** The environments file, at the tree's root. */
export const ENVIRONMENTS_FILE = 'environments.yaml';

/** A parsed file: its value, and the position of a key of its top-level mapping (or of item `i` of its list). */
interface Parsed {
  value: unknown;
  positionOf(key: string | number): { line: number; column: number } | undefined;
}

function parseYaml(file: string, text: string): Parsed {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    // yaml's message repeats the position (`... at line 4, column 3:` and a code frame): it is in ours.
    const problem = (first.message.split('\n')[0] ?? first.message).replace(/ at line \d+, column \d+:?\s*$/, '');
    throw new GitopsTreeError({ file, line: pos?.line, column: pos?.col }, `invalid YAML: ${problem}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new GitopsTreeError({ file }, `invalid YAML: ${(error as Error).message}`);
  }
  return {
    value,
    positionOf(key) {
      const contents = doc.contents as unknown;
      const items = (contents as { items?: unknown[] } | null)?.items;
      if (!Array.isArray(items)) return undefined;
      let node: unknown;
      if (typeof key === 'number') node = items[key];
      else if (isMap(contents)) {
        node = contents.items.find((pair) => isScalar(pair.key) && pair.key.value === key)?.key;
      }
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (!range) return undefined;
      const p = lineCounter.linePos(range[0]);
      return { line: p.line, column: p.col };
    },
  };
}

function parseJson(file: string, text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const pos = jsonErrorPosition(text, message);
    throw new GitopsTreeError({ file, line: pos?.line, column: pos?.column }, `invalid JSON: ${message}`);
  }
  return {
    value,
    positionOf(key) {
      if (typeof key === 'number') return undefined;
      const at = text.indexOf(JSON.stringify(key));
      return at < 0 ? undefined : lineColumnAt(text, at);
    },
  };
}

function parseText(file: string, text: string): Parsed {
  return file.endsWith('.json') ? parseJson(file, text) : parseYaml(file, text);
}

/** A problem of one key of a parsed file, positioned at the key when it is found. */
function keyError(file: string, parsed: Parsed, key: string | number, problem: string, ref?: string): GitopsTreeError {
  const pos = parsed.positionOf(key);
  return new GitopsTreeError({ file, line: pos?.line, column: pos?.column }, problem, ref ? { ref } : {});
}

/** The ref a `configs/` path names: `configs/<scope>/<id>.<ext>`. */
function refOfPath(file: string): ConfigRef {
  const ext = CONFIG_EXTENSIONS.find((e) => file.endsWith(e));
  const parts = file.split('/');
  if (!ext || parts.length < 3) {
    throw new GitopsTreeError(
      { file },
      'a file under configs/ must be configs/<scope>/<id>.yaml, .yml or .json (scope global or app:<name>)',
    );
  }
  const scope = parts[1] as string;
  const id = parts.slice(2).join('/').slice(0, -ext.length);
  try {
    return parseRef(`${scope}/${id}`);
  } catch (error) {
    throw new GitopsTreeError({ file }, `the path names no valid ref: ${(error as Error).message}`, { cause: error });
  }
}

function objectAt(file: string, parsed: Parsed, key: string, value: unknown, ref: string): JsonObject {
  if (!isPlainObject(value)) throw keyError(file, parsed, key, `${key} must be a mapping (a JSON object)`, ref);
  return value as JsonObject;
}

/** Parses one `configs/` file into its ref and document. */
function parseRefFile(file: string, text: string): TreeRef {
  const ref = refOfPath(file);
  const key = refKey(ref);
  const parsed = parseText(file, text);
  const raw = parsed.value;
  if (!isPlainObject(raw)) {
    throw new GitopsTreeError(
      { file, line: 1, column: 1 },
      'the file must hold a mapping { config, overrides?, rollout?, metadata? }',
      {
        ref: key,
      },
    );
  }
  for (const k of Object.keys(raw)) {
    if (!DOCUMENT_KEYS.includes(k)) {
      throw keyError(file, parsed, k, `unknown key "${k}" (allowed: ${DOCUMENT_KEYS.join(', ')})`, key);
    }
  }
  if (raw.config === undefined) {
    throw new GitopsTreeError({ file, line: 1, column: 1 }, 'the document has no "config" mapping', { ref: key });
  }
  const config = objectAt(file, parsed, 'config', raw.config, key);
  const overrides: Record<string, JsonObject> = {};
  if (raw.overrides !== undefined && raw.overrides !== null) {
    const all = objectAt(file, parsed, 'overrides', raw.overrides, key);
    for (const [env, value] of Object.entries(all)) {
      if (!isPlainObject(value)) {
        throw keyError(file, parsed, 'overrides', `overrides.${env} must be a mapping (a JSON object)`, key);
      }
      overrides[env] = value as JsonObject;
    }
  }
  let rollout: JsonObject | null = null;
  if (raw.rollout !== undefined && raw.rollout !== null) {
    rollout = objectAt(file, parsed, 'rollout', raw.rollout, key);
    try {
      validateRollout(rollout, { ref: key, pointer: '/rollout' });
    } catch (error) {
      throw keyError(file, parsed, 'rollout', isConfigError(error) ? error.message : String(error), key);
    }
  }
  let metadata: JsonObject = {};
  if (raw.metadata !== undefined && raw.metadata !== null) {
    metadata = objectAt(file, parsed, 'metadata', raw.metadata, key);
    for (const reserved of [...RESERVED_METADATA, GITOPS_METADATA_KEY]) {
      if (Object.hasOwn(metadata, reserved)) {
        throw keyError(
          file,
          parsed,
          'metadata',
          `metadata.${reserved} is reserved (written by the service or by gitops)`,
          key,
        );
      }
    }
  }
  const lines: TreeRef['lines'] = {};
  for (const k of ['config', 'overrides', 'rollout', 'metadata'] as const) {
    const line = parsed.positionOf(k)?.line;
    if (line !== undefined) lines[k] = line;
  }
  return { ref, key, file, document: { config, overrides, rollout, metadata }, lines };
}

/** Parses one `schemas/` file: `schemas/<id>.json`. */
function parseSchemaFile(file: string, text: string): TreeSchema {
  if (!file.endsWith('.json')) throw new GitopsTreeError({ file }, 'a file under schemas/ must be schemas/<id>.json');
  const id = file.slice('schemas/'.length, -'.json'.length);
  try {
    parseId(id);
  } catch (error) {
    throw new GitopsTreeError({ file }, `the path names no valid config id: ${(error as Error).message}`);
  }
  const parsed = parseJson(file, text);
  if (!isPlainObject(parsed.value)) {
    throw new GitopsTreeError({ file, line: 1, column: 1 }, 'a schema must be a JSON object (a JSON Schema)');
  }
  return { id, file, schema: parsed.value as JsonObject };
}

/** Parses `environments.yaml`: a list of environments, each checked as the service checks its input. */
function parseEnvironmentsFile(file: string, text: string): Environment[] {
  const parsed = parseYaml(file, text);
  const raw = parsed.value ?? [];
  if (!Array.isArray(raw)) {
    throw new GitopsTreeError({ file, line: 1, column: 1 }, 'the file must hold a list of environments');
  }
  const seen = new Set<string>();
  return raw.map((item, i) => {
    let env: Environment;
    try {
      env = checkEnvironmentInput(item, `environments[${i}]`);
    } catch (error) {
      throw keyError(file, parsed, i, (error as Error).message);
    }
    if (seen.has(env.name)) throw keyError(file, parsed, i, `environment "${env.name}" is listed twice`);
    seen.add(env.name);
    return env;
  });
}

/**
 * Parses the files of a tree. Throws `GitopsTreeError` (`CONSTRAINT_VIOLATION`, naming file and line)
 * on the first malformed file, and when two files name the same ref (`db.yaml` and `db.json`).
 */
export function parseTree(files: readonly TreeFile[]): GitopsTree {
  const refs = new Map<string, TreeRef>();
  const schemas = new Map<string, TreeSchema>();
  let environments: Environment[] | undefined;
  let environmentsFile: string | undefined;
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { path, text } of sorted) {
    const name = path.split('/').at(-1) ?? '';
    if (name.startsWith('.')) continue;
    if (path.startsWith('configs/')) {
      const entry = parseRefFile(path, text);
      const other = refs.get(entry.key);
      if (other)
        throw new GitopsTreeError({ file: path }, `${entry.key} is also defined by ${other.file}`, { ref: entry.key });
      refs.set(entry.key, entry);
    } else if (path.startsWith('schemas/')) {
      const entry = parseSchemaFile(path, text);
      schemas.set(entry.id, entry);
    } else if (path === ENVIRONMENTS_FILE) {
      environments = parseEnvironmentsFile(path, text);
      environmentsFile = path;
    }
  }
  const byKey = <T>(m: Map<string, T>) =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { refs: byKey(refs), schemas: byKey(schemas), environments, environmentsFile };
}

/** Every regular file under `root/sub` (paths relative to `root`, `/`-separated); none when it is absent. */
async function filesUnder(root: string, sub: string): Promise<TreeFile[]> {
  const base = join(root, sub);
  let entries: string[];
  try {
    entries = (await readdir(base, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return Promise.all(
    entries.map(async (full) => ({
      path: relative(root, full).split(sep).join('/'),
      text: await readFile(full, 'utf8'),
    })),
  );
}

/**
 * Reads and parses the tree in directory `dir` (its files as they are on disk, whatever git holds).
 * Throws `NOT_FOUND` when `dir` is not a directory and `GitopsTreeError` (`CONSTRAINT_VIOLATION`)
 * for a malformed file. A directory without `configs/` is a tree without refs.
 */
export async function readTree(dir: string): Promise<GitopsTree> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw errors.notFound(`gitops tree ${dir} is not a directory`);
  const files = [...(await filesUnder(dir, 'configs')), ...(await filesUnder(dir, 'schemas'))];
  try {
    files.push({ path: ENVIRONMENTS_FILE, text: await readFile(join(dir, ENVIRONMENTS_FILE), 'utf8') });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return parseTree(files);
}
