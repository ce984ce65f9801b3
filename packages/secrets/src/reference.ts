/**
 * Secret references inside config documents. A reference is an object whose only member is
 * `$secret`:
 *
 *   { "db": { "password": { "$secret": { "provider": "aws", "name": "prod/db", "field": "password" } } } }
 *
 * - `provider`: the name a provider is registered under in the resolver (`local`, `aws`, ...);
 * - `name`: the secret's name at that provider;
 * - `field` (optional): the secret value is a JSON object and the reference stands for this member;
 * - `version` (optional): `current` (default), `previous`, or a provider-native version id.
 *
 * The document stored in the config store keeps the reference; only a resolved copy, in memory,
 * holds the value (see {@link resolveSecretRefs}).
 */
import { type JsonValue, SchemaValidationError, type ValidationIssue } from '@summit-config/core';
import { escapePointer, isPlainObject } from '@summit-config/core/internal';
import type { SecretCallOptions } from './contract.js';
import { isSecretError, SecretError } from './errors.js';

/** The member name that marks a reference. */
export const SECRET_REF_KEY = '$secret';

export interface SecretRef {
  readonly provider: string;
  readonly name: string;
  readonly field?: string;
  /** `current` (the default when absent), `previous`, or a version id. */
  readonly version?: string;
}

/** A reference found in a document, with the JSON pointer (RFC 6901) of the object it replaces. */
export interface FoundSecretRef {
  readonly pointer: string;
  readonly ref: SecretRef;
}

/** What {@link resolveSecretRefs} needs: the {@link SecretResolver} implements it. */
export interface SecretRefResolver {
  /**
   * The value a reference stands for: the whole secret (a string) or, with `field`, that member
   * of the JSON secret (any JSON value). Rejects with a `SecretError` naming provider and secret.
   */
  resolve(
    ref: SecretRef,
    options?: SecretCallOptions,
  ): Promise<{ readonly value: JsonValue; readonly version: string }>;
}

const PROVIDER_RE = /^[a-z][a-z0-9-]{0,62}$/;
const VERSION_RE = /^[\x21-\x7e]{1,128}$/;
const REF_MEMBERS = new Set(['provider', 'name', 'field', 'version']);
const KEYWORD = 'secretRef';

/** Whether `value` is an object carrying a `$secret` member (well-formed or not). */
export function isSecretRefObject(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.hasOwn(value, SECRET_REF_KEY);
}

/** A reference object for `ref`, e.g. to write into a config document. Validates it first. */
export function secretRef(ref: SecretRef): { $secret: SecretRef } {
  const inner: { provider: string; name: string; field?: string; version?: string } = {
    provider: ref.provider,
    name: ref.name,
  };
  if (ref.field !== undefined) inner.field = ref.field;
  if (ref.version !== undefined) inner.version = ref.version;
  const out = { [SECRET_REF_KEY]: inner } as { $secret: SecretRef };
  validateSecretRef(out);
  return out;
}

/** `aws:prod/db#password@current`: a reference for messages and logs (it holds no value). */
export function formatSecretRef(ref: SecretRef): string {
  return `${ref.provider}:${ref.name}${ref.field !== undefined ? `#${ref.field}` : ''}@${ref.version ?? 'current'}`;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Every problem of one `{ "$secret": ... }` object, located under `pointer`. */
function refIssues(value: Record<string, unknown>, pointer: string): { issues: ValidationIssue[]; ref?: SecretRef } {
  const issues: ValidationIssue[] = [];
  const at = (sub: string, message: string) => issues.push({ pointer: `${pointer}${sub}`, message, keyword: KEYWORD });
  const extra = Object.keys(value).filter((k) => k !== SECRET_REF_KEY);
  if (extra.length > 0) {
    at(
      '',
      `a secret reference has no other members than "$secret" (found ${extra.map((k) => JSON.stringify(k)).join(', ')})`,
    );
  }
  const inner = value[SECRET_REF_KEY];
  const base = `/${escapePointer(SECRET_REF_KEY)}`;
  if (!isPlainObject(inner)) {
    at(base, '"$secret" must be an object { provider, name, field?, version? }');
    return { issues };
  }
  for (const k of Object.keys(inner)) {
    if (!REF_MEMBERS.has(k))
      at(
        `${base}/${escapePointer(k)}`,
        `unknown member ${JSON.stringify(k)} (allowed: provider, name, field, version)`,
      );
  }
  const { provider, name, field, version } = inner;
  if (typeof provider !== 'string' || !PROVIDER_RE.test(provider)) {
    at(`${base}/provider`, 'provider must be a provider name matching [a-z][a-z0-9-]{0,62}');
  }
  if (typeof name !== 'string' || name.length === 0 || name.length > 512 || hasControl(name)) {
    at(`${base}/name`, 'name must be a secret name of 1-512 characters without control characters');
  }
  if (
    field !== undefined &&
    (typeof field !== 'string' || field.length === 0 || field.length > 256 || hasControl(field))
  ) {
    at(`${base}/field`, 'field must be a member name of 1-256 characters without control characters');
  }
  if (version !== undefined) {
    if (version === 'pending') {
      at(`${base}/version`, 'version "pending" cannot be referenced: only "current", "previous" or a version id');
    } else if (typeof version !== 'string' || !VERSION_RE.test(version)) {
      at(`${base}/version`, 'version must be "current", "previous" or a version id (1-128 printable characters)');
    }
  }
  if (issues.length > 0) return { issues };
  const ref: { provider: string; name: string; field?: string; version?: string } = {
    provider: provider as string,
    name: name as string,
  };
  if (field !== undefined) ref.field = field as string;
  if (version !== undefined) ref.version = version as string;
  return { issues, ref: Object.freeze(ref) };
}

/**
 * Checks one reference object (`{ "$secret": {...} }`) and returns its {@link SecretRef}. Throws
 * `SCHEMA_VALIDATION` with one issue per problem, each with a JSON pointer under `pointer`.
 */
export function validateSecretRef(value: unknown, pointer = ''): SecretRef {
  if (!isSecretRefObject(value)) {
    throw new SchemaValidationError('not a secret reference', [
      {
        pointer,
        message: 'a secret reference is an object { "$secret": { provider, name, field?, version? } }',
        keyword: KEYWORD,
      },
    ]);
  }
  const { issues, ref } = refIssues(value, pointer);
  if (!ref) throw new SchemaValidationError(`invalid secret reference at "${pointer}"`, issues);
  return ref;
}

/** Walks `json`, calling `visit` for each reference object; does not descend into references. */
function walk(json: unknown, pointer: string, visit: (obj: Record<string, unknown>, pointer: string) => void): void {
  if (Array.isArray(json)) {
    for (let i = 0; i < json.length; i++) walk(json[i], `${pointer}/${i}`, visit);
  } else if (isPlainObject(json)) {
    if (Object.hasOwn(json, SECRET_REF_KEY)) {
      visit(json, pointer);
      return;
    }
    for (const [k, v] of Object.entries(json)) walk(v, `${pointer}/${escapePointer(k)}`, visit);
  }
}

/** Every problem of every reference in `json` (empty when all are well-formed). Never throws. */
export function secretRefIssues(json: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  walk(json, '', (obj, pointer) => issues.push(...refIssues(obj, pointer).issues));
  return issues;
}

/**
 * Every reference in `json`, in document order, with its pointer. Throws `SCHEMA_VALIDATION`
 * listing every malformed one (so a document with a bad reference is refused as a whole).
 */
export function findSecretRefs(json: unknown): FoundSecretRef[] {
  const found: FoundSecretRef[] = [];
  const issues: ValidationIssue[] = [];
  walk(json, '', (obj, pointer) => {
    const r = refIssues(obj, pointer);
    if (r.ref) found.push({ pointer, ref: r.ref });
    else issues.push(...r.issues);
  });
  if (issues.length > 0) {
    throw new SchemaValidationError(
      `${issues.length} invalid secret reference issue(s), first at "${issues[0]?.pointer}"`,
      issues,
    );
  }
  return found;
}

function unescapeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Replaces the value at `pointer` inside `root` (which must contain it); returns the new root. */
function setAt(root: unknown, pointer: string, value: JsonValue): unknown {
  if (pointer === '') return value;
  const segments = pointer.slice(1).split('/').map(unescapeSegment);
  let node = root as Record<string, unknown> | unknown[];
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    node = (Array.isArray(node) ? node[Number(seg)] : node[seg]) as Record<string, unknown> | unknown[];
  }
  const last = segments[segments.length - 1] as string;
  if (Array.isArray(node)) node[Number(last)] = value;
  else node[last] = value;
  return root;
}

/**
 * A copy of `json` with every reference replaced by the value it stands for; `json` itself is
 * never modified. References resolve concurrently; when any fails, the call rejects with the first
 * failure in document order: a `SecretError` with the reference's `pointer`, naming provider and
 * secret (never the value), its `cause` the resolver's error. A malformed reference rejects with
 * `SCHEMA_VALIDATION` before anything is resolved.
 */
export async function resolveSecretRefs<T>(
  json: T,
  resolver: SecretRefResolver,
  options: SecretCallOptions = {},
): Promise<T> {
  const refs = findSecretRefs(json);
  if (refs.length === 0) return structuredClone(json);
  const settled = await Promise.allSettled(refs.map((r) => resolver.resolve(r.ref, options)));
  let out: unknown = structuredClone(json);
  for (let i = 0; i < refs.length; i++) {
    const s = settled[i] as PromiseSettledResult<{ value: JsonValue }>;
    const { pointer, ref } = refs[i] as FoundSecretRef;
    if (s.status === 'rejected') {
      const error = s.reason;
      if (!isSecretError(error)) throw error;
      throw new SecretError(error.code, error.reason, `at "${pointer}" (${formatSecretRef(ref)}): ${error.message}`, {
        provider: error.provider,
        secret: error.secret,
        secretVersion: error.secretVersion,
        pointer,
        cause: error,
      });
    }
    out = setAt(out, pointer, s.value.value);
  }
  return out as T;
}
