/**
 * The Consul KV layout of the store, under a configurable prefix (default `summit/`):
 *
 *   <prefix>heads/<scope>/<id>                          {"version":N,"checksum":"..."}
 *   <prefix>docs/<scope>/<id>/v/<N>                     the full ConfigVersion (JSON)
 *   <prefix>applied/<scope>/<id>/<env>/<instance>       an AppliedAck, held by the writer's session
 *   <prefix>locks/<name>                                leader locks
 *   <prefix>provisional/<scope>/<id>/<N>                a version written while the record was
 *                                                       unreachable (value: its checksum); never pruned
 *   <prefix>epoch                                       the failover chain's epoch (the record's copy)
 *   <prefix>feed/<scope>                                the scope's change feed (consul-feed.ts)
 *
 * Ids contain `/` (and may contain a `v` segment), so keys are parsed from known anchors: a scope
 * never contains `/`; a doc key ends in `/v/<digits>`; an ack key ends in `/<env>/<instance>`.
 * A head or document read back that is not what the store writes is `CHECKSUM_MISMATCH`.
 */
import {
  type ConfigRef,
  type ConfigVersion,
  type Head,
  isConfigError,
  parseRef,
  refKey,
  type Scope,
} from '@summit-config/core';
import { errors, isPlainObject, parseEnvironmentName, verifyVersion } from '@summit-config/core/internal';
import { mismatch } from './consul-errors.js';

const PREFIX_RE = /^(?:[A-Za-z0-9_.:-]+\/)+$/;
export const CHECKSUM_RE = /^[0-9a-f]{64}$/;
const INSTANCE_RE = /^[A-Za-z0-9_.:@-]{1,256}$/;
const LOCK_NAME_RE = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;

/** Validates a key prefix: segments of `[A-Za-z0-9_.:-]`, each followed by `/` (e.g. `summit/`). */
export function checkPrefix(prefix: unknown, what: string): string {
  if (typeof prefix !== 'string' || prefix.length > 200 || !PREFIX_RE.test(prefix) || /(^|\/)\.\.?\//.test(prefix)) {
    throw errors.constraint(
      `${what} option prefix must be path segments of [A-Za-z0-9_.:-] each ending in "/", like "summit/"; got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}

export function checkInstance(instance: unknown): string {
  if (typeof instance !== 'string' || !INSTANCE_RE.test(instance) || instance === '.' || instance === '..') {
    throw errors.constraint(
      `instance must be 1-256 characters of letters, digits, "_", ".", ":", "@" and "-", got ${JSON.stringify(instance)}`,
    );
  }
  return instance;
}

export function checkLockName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length > 256 || !LOCK_NAME_RE.test(name) || /(^|\/)\.\.?(\/|$)/.test(name)) {
    throw errors.constraint(`${what} option name must be path segments of [A-Za-z0-9_.-], got ${JSON.stringify(name)}`);
  }
  return name;
}

export class Layout {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** `heads/` for every scope, `heads/<scope>/` for one. */
  headsPrefix(scope?: Scope): string {
    return scope === undefined ? `${this.prefix}heads/` : `${this.prefix}heads/${scope}/`;
  }
  head(ref: ConfigRef): string {
    return `${this.prefix}heads/${refKey(ref)}`;
  }
  docsPrefix(ref: ConfigRef): string {
    return `${this.prefix}docs/${refKey(ref)}/v/`;
  }
  doc(ref: ConfigRef, version: number): string {
    return `${this.docsPrefix(ref)}${version}`;
  }
  acksPrefix(ref: ConfigRef): string {
    return `${this.prefix}applied/${refKey(ref)}/`;
  }
  ack(ref: ConfigRef, environment: string, instance: string): string {
    return `${this.acksPrefix(ref)}${environment}/${instance}`;
  }
  lock(name: string): string {
    return `${this.prefix}locks/${name}`;
  }
  provisionalPrefix(): string {
    return `${this.prefix}provisional/`;
  }
  provisional(ref: ConfigRef, version: number): string {
    return `${this.prefix}provisional/${refKey(ref)}/${version}`;
  }
  epoch(): string {
    return `${this.prefix}epoch`;
  }
  /** The change feed of a scope, rewritten with every head of the scope it moves. */
  feed(scope: Scope): string {
    return `${this.prefix}feed/${scope}`;
  }

  /** `{ ref, version }` of a provisional key, or `undefined` for a key that is not one. */
  provisionalOf(key: string): { ref: ConfigRef; version: number } | undefined {
    const base = this.provisionalPrefix();
    if (!key.startsWith(base)) return undefined;
    const m = /^(.+)\/([1-9][0-9]{0,15})$/.exec(key.slice(base.length));
    if (!m) return undefined;
    try {
      const version = Number(m[2]);
      return Number.isSafeInteger(version) ? { ref: parseRef(m[1] as string), version } : undefined;
    } catch {
      return undefined;
    }
  }

  /** The ref of a head key, or `undefined` for a key that is not a valid head key. */
  refOfHeadKey(key: string): ConfigRef | undefined {
    const base = `${this.prefix}heads/`;
    if (!key.startsWith(base) || key.endsWith('/')) return undefined;
    try {
      return parseRef(key.slice(base.length));
    } catch {
      return undefined;
    }
  }

  /** The version number of a key below `docsPrefix(ref)`, or `undefined` (e.g. a longer id's doc). */
  versionOfDocKey(ref: ConfigRef, key: string): number | undefined {
    const base = this.docsPrefix(ref);
    if (!key.startsWith(base)) return undefined;
    const rest = key.slice(base.length);
    if (!/^[1-9][0-9]{0,15}$/.test(rest)) return undefined;
    const n = Number(rest);
    return Number.isSafeInteger(n) ? n : undefined;
  }

  /** `{ environment, instance }` of a key below `acksPrefix(ref)`, or `undefined` for a longer id's ack. */
  ackPartsOf(ref: ConfigRef, key: string): { environment: string; instance: string } | undefined {
    const base = this.acksPrefix(ref);
    if (!key.startsWith(base)) return undefined;
    const parts = key.slice(base.length).split('/');
    if (parts.length !== 2) return undefined;
    const [environment, instance] = parts as [string, string];
    try {
      parseEnvironmentName(environment);
      checkInstance(instance);
    } catch {
      return undefined;
    }
    return { environment, instance };
  }
}

/** The head value written to Consul. */
export function encodeHead(version: number, checksum: string): string {
  return JSON.stringify({ version, checksum });
}

/**
 * Parses a head value. A value that is not `{"version":N,"checksum":"<64 hex>"}` was written
 * behind the store's back: `CHECKSUM_MISMATCH`.
 */
export function decodeHead(ref: ConfigRef, value: string | null, backend: string): Head {
  let parsed: unknown;
  try {
    parsed = value === null ? null : JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (
    !isPlainObject(parsed) ||
    typeof parsed.version !== 'number' ||
    !Number.isSafeInteger(parsed.version) ||
    parsed.version < 1 ||
    typeof parsed.checksum !== 'string' ||
    !CHECKSUM_RE.test(parsed.checksum)
  ) {
    throw errors.checksumMismatch(`${refKey(ref)}: the head stored in ${backend} is malformed`, {
      ref: refKey(ref),
      backend,
    });
  }
  return Object.freeze({ ref, version: parsed.version, checksum: parsed.checksum });
}

/** Parses and verifies a stored document: it must be the version of `ref` asked for, and verify. */
export function decodeDoc(
  ref: ConfigRef,
  version: number,
  value: string | null,
  limits: { maxDocumentBytes: number },
  backend: string,
): ConfigVersion {
  let raw: unknown;
  try {
    raw = JSON.parse(value ?? '');
  } catch (error) {
    throw mismatch(
      backend,
      `${refKey(ref)} v${version}: the document stored in ${backend} is not JSON`,
      ref,
      version,
      error,
    );
  }
  let doc: ConfigVersion;
  try {
    doc = verifyVersion(raw, limits, backend);
  } catch (error) {
    if (isConfigError(error, 'CHECKSUM_MISMATCH') || isConfigError(error, 'DOCUMENT_TOO_LARGE')) throw error;
    throw mismatch(
      backend,
      `${refKey(ref)} v${version}: the document stored in ${backend} is malformed: ${(error as Error).message}`,
      ref,
      version,
      error,
    );
  }
  if (doc.ref.scope !== ref.scope || doc.ref.id !== ref.id || doc.version !== version) {
    throw mismatch(
      backend,
      `${refKey(ref)} v${version}: ${backend} holds ${refKey(doc.ref)} v${doc.version} under this key`,
      ref,
      version,
    );
  }
  return doc;
}

/** A head's checksum must be its document's. */
export function crossCheck(head: Head, doc: ConfigVersion, backend: string): void {
  if (head.checksum !== doc.checksum) {
    throw mismatch(
      backend,
      `${refKey(head.ref)} v${head.version}: the head's checksum ${head.checksum.slice(0, 12)}… does not match its document's ${doc.checksum.slice(0, 12)}…`,
      head.ref,
      head.version,
    );
  }
}
