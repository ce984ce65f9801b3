/**
 * Applies migration operations to a document's content. Every operation works on a copy; the
 * input is never modified. Failures are `CONSTRAINT_VIOLATION` naming the operation (`/operations/<i>`).
 */
import fastJsonPatch from 'fast-json-patch';
import { errors, isConfigError, messageOf } from '../errors/config-error.js';
import { assertJson, canonicalJson, isPlainObject, type JsonObject, type JsonValue, sha256Hex } from '../model/json.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import { MigrationError } from './errors.js';
import { compileEnvironmentPattern } from './glob.js';
import type { MigratedContent, Migration, MigrationOperation } from './types.js';

// fast-json-patch is CommonJS: under NodeNext its default import is the module object itself.
const jsonPatch = fastJsonPatch as unknown as typeof fastJsonPatch.default;

/**
 * Splits a JSON pointer (RFC 6901) into unescaped tokens; `""` is the whole document. Throws
 * `CONSTRAINT_VIOLATION` for a pointer that does not start with `/`, a bad `~` escape, or a
 * `__proto__` token.
 */
export function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw errors.constraint('a path must be a JSON pointer string such as "/a/b"');
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw errors.constraint(`path ${JSON.stringify(pointer)} must be a JSON pointer starting with "/"`);
  }
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      if (/~[^01]|~$/.test(raw)) throw errors.constraint(`path ${JSON.stringify(pointer)} has a bad "~" escape`);
      const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (token === '__proto__') throw errors.constraint(`path ${JSON.stringify(pointer)} may not name "__proto__"`);
      return token;
    });
}

type Container = JsonObject | JsonValue[];

function isContainer(value: unknown): value is Container {
  return Array.isArray(value) || isPlainObject(value);
}

function arrayIndex(token: string, length: number, allowEnd: boolean): number | undefined {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < length || (allowEnd && i === length) ? i : undefined;
}

function child(node: Container, token: string): JsonValue | undefined {
  if (Array.isArray(node)) {
    const i = arrayIndex(token, node.length, false);
    return i === undefined ? undefined : node[i];
  }
  return Object.hasOwn(node, token) ? node[token] : undefined;
}

/** The value at `tokens`, or `undefined` when any part is absent. */
export function getAt(root: JsonValue, tokens: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = root;
  for (const token of tokens) {
    if (node === undefined || !isContainer(node)) return undefined;
    node = child(node, token);
  }
  return node;
}

function show(tokens: readonly string[]): string {
  return tokens.length === 0 ? '""' : `/${tokens.map((t) => t.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

/** Sets the value at `tokens` (non-empty), creating missing parent objects. Mutates `root`. */
function setAt(root: JsonObject, tokens: readonly string[], value: JsonValue): void {
  let node: Container = root;
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i] as string;
    let next = child(node, token);
    if (next === undefined) {
      if (Array.isArray(node)) {
        throw errors.constraint(
          `${show(tokens.slice(0, i + 1))} is not an index of the array at ${show(tokens.slice(0, i))}`,
        );
      }
      next = {};
      node[token] = next;
    } else if (!isContainer(next)) {
      throw errors.constraint(`cannot set ${show(tokens)}: ${show(tokens.slice(0, i + 1))} is a ${typeOf(next)}`);
    }
    node = next as Container;
  }
  const last = tokens.at(-1) as string;
  if (Array.isArray(node)) {
    const i = arrayIndex(last, node.length, true);
    if (i === undefined) throw errors.constraint(`cannot set ${show(tokens)}: not an index of the array`);
    node[i] = value;
  } else node[last] = value;
}

/** Deletes the value at `tokens` (non-empty); absent is a no-op. Mutates `root`. */
function deleteAt(root: JsonObject, tokens: readonly string[]): boolean {
  const parent = getAt(root, tokens.slice(0, -1));
  if (parent === undefined || !isContainer(parent)) return false;
  const last = tokens.at(-1) as string;
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false);
    if (i === undefined) return false;
    parent.splice(i, 1);
    return true;
  }
  if (!Object.hasOwn(parent, last)) return false;
  delete parent[last];
  return true;
}

function typeOf(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export interface OperationContext {
  ref: ConfigRef;
  environment: string | undefined;
  migration: string;
}

/**
 * Applies `operations` in order to a copy of `target` and returns the result. Throws
 * `CONSTRAINT_VIOLATION` (a {@link MigrationError} with the operation's pointer) when one cannot apply.
 */
export async function applyOperations(
  target: JsonObject,
  operations: readonly MigrationOperation[],
  context: OperationContext,
): Promise<JsonObject> {
  let doc = structuredClone(target);
  const key = refKey(context.ref);
  for (const [index, operation] of operations.entries()) {
    const pointer = `/operations/${index}`;
    try {
      doc = await applyOne(doc, operation, context, key);
    } catch (error) {
      const where = context.environment === undefined ? 'config' : `overrides.${context.environment}`;
      throw new MigrationError(
        isConfigError(error) && error.code !== 'CONSTRAINT_VIOLATION' ? error.code : 'CONSTRAINT_VIOLATION',
        `migration ${context.migration}: operation ${index} (${operation.op}) failed on ${key} ${where}: ${messageOf(error)}`,
        { migration: context.migration, pointer, ref: key, cause: error },
      );
    }
  }
  return doc;
}

async function applyOne(
  doc: JsonObject,
  operation: MigrationOperation,
  context: OperationContext,
  key: string,
): Promise<JsonObject> {
  switch (operation.op) {
    case 'set': {
      const tokens = parsePointer(operation.path);
      if (operation.ifMissing === true && getAt(doc, tokens) !== undefined) return doc;
      setAt(doc, tokens, structuredClone(operation.value));
      return doc;
    }
    case 'delete':
      deleteAt(doc, parsePointer(operation.path));
      return doc;
    case 'rename': {
      const from = parsePointer(operation.from);
      const to = parsePointer(operation.to);
      const value = getAt(doc, from);
      if (value === undefined) return doc;
      if (getAt(doc, to) !== undefined && operation.overwrite !== true) {
        throw errors.constraint(`${operation.to} already exists (set overwrite: true to replace it)`);
      }
      deleteAt(doc, from);
      setAt(doc, to, value);
      return doc;
    }
    case 'transform': {
      const tokens = parsePointer(operation.path);
      const current = getAt(doc, tokens);
      const next = await operation.fn(current === undefined ? undefined : structuredClone(current), {
        ref: context.ref,
        key,
        environment: context.environment,
        migration: context.migration,
      });
      if (tokens.length === 0) {
        if (!isPlainObject(next)) throw errors.constraint('a transform of the whole target must return an object');
        assertJson(next, '');
        return structuredClone(next as JsonObject);
      }
      if (next === undefined) {
        deleteAt(doc, tokens);
        return doc;
      }
      assertJson(next, operation.path);
      setAt(doc, tokens, structuredClone(next));
      return doc;
    }
    case 'patch': {
      let result: unknown;
      try {
        result = jsonPatch.applyPatch(doc, structuredClone(operation.patch) as never, true, true).newDocument;
      } catch (error) {
        const e = error as { name?: string; index?: number; message?: string };
        const at = typeof e.index === 'number' ? ` (patch operation ${e.index})` : '';
        throw errors.constraint(`JSON Patch does not apply${at}: ${messageOf(error).split('\n')[0]}`);
      }
      if (!isPlainObject(result)) throw errors.constraint('JSON Patch must leave an object');
      return result as JsonObject;
    }
  }
}

/** SHA-256 hex of the canonical JSON of `{ config, overrides, rollout }`: equal content, equal hash, whatever the version. */
export function contentChecksum(content: MigratedContent): string {
  return sha256Hex(
    canonicalJson({ config: content.config, overrides: content.overrides, rollout: content.rollout ?? null }),
  );
}

/** Whether two contents are equal (canonical JSON). */
export function sameContent(a: MigratedContent, b: MigratedContent): boolean {
  return contentChecksum(a) === contentChecksum(b);
}

/**
 * Runs a migration's operations over one document's content: on `config`, or on the overrides of
 * the selected environment(s). A literal environment's override is created when the operations
 * produce something and dropped again when they leave it empty where it did not exist.
 */
export async function migrateContent(
  migration: Pick<Migration, 'name' | 'selector' | 'operations'>,
  ref: ConfigRef,
  content: MigratedContent,
): Promise<MigratedContent> {
  const out: MigratedContent = {
    config: structuredClone(content.config),
    overrides: structuredClone(content.overrides),
    rollout: content.rollout === null ? null : structuredClone(content.rollout),
  };
  const env = migration.selector.environment;
  if (env === undefined) {
    out.config = await applyOperations(out.config, migration.operations, {
      ref,
      environment: undefined,
      migration: migration.name,
    });
    return out;
  }
  const pattern = compileEnvironmentPattern(env);
  const names = pattern.literal
    ? [env]
    : Object.keys(out.overrides)
        .filter((n) => pattern.matches(n))
        .sort();
  for (const name of names) {
    const existed = Object.hasOwn(out.overrides, name);
    const next = await applyOperations(existed ? (out.overrides[name] as JsonObject) : {}, migration.operations, {
      ref,
      environment: name,
      migration: migration.name,
    });
    if (!existed && Object.keys(next).length === 0) continue;
    out.overrides[name] = next;
  }
  return out;
}
