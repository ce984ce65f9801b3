import { errors } from '../errors/config-error.js';
import { validateRollout } from '../rollout/validate.js';
import { assertJson, canonicalJson, deepFreeze, isPlainObject, type JsonObject, sha256Hex } from './json.js';
import { type ConfigRef, parseEnvironmentName, parseRef, refKey } from './ref.js';

/** Default cap on a document's canonical JSON, in bytes (256 KiB). Consul values cap at 512 KiB. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 256 * 1024;

/** One immutable version of a configuration document. */
export interface ConfigVersion {
  readonly ref: ConfigRef;
  /** 1, 2, 3 ... per ref, gap-free, never reused. */
  readonly version: number;
  readonly config: JsonObject;
  /** Environment name -> partial object merged over `config` for that environment. */
  readonly overrides: Readonly<Record<string, JsonObject>>;
  /** Rollout rules (validated by the rollout engine); `null` when none. */
  readonly rollout: JsonObject | null;
  /** Free-form, not covered by the checksum (e.g. `deleted: true` for a tombstone, `unsynced`). */
  readonly metadata: JsonObject;
  /** SHA-256 hex of the canonical JSON of `{ ref, version, config, overrides, rollout }`. */
  readonly checksum: string;
  /** ISO-8601 UTC timestamp. */
  readonly createdAt: string;
  readonly createdBy: string;
  readonly message: string;
}

/** What a writer supplies; the version number, checksum and timestamp are derived. */
export interface VersionInput {
  ref: ConfigRef | string;
  config: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  metadata?: JsonObject;
  createdBy: string;
  message?: string;
  /** Defaults to now. */
  createdAt?: Date | string;
}

/** The head of a ref: its latest version and that version's checksum. */
export interface Head {
  readonly ref: ConfigRef;
  readonly version: number;
  readonly checksum: string;
}

/** Computes the checksum of the covered fields of a version. */
export function computeChecksum(
  doc: Pick<ConfigVersion, 'ref' | 'version' | 'config' | 'overrides' | 'rollout'>,
): string {
  return sha256Hex(
    canonicalJson({
      ref: { scope: doc.ref.scope, id: doc.ref.id },
      version: doc.version,
      config: doc.config,
      overrides: doc.overrides,
      rollout: doc.rollout ?? null,
    }),
  );
}

export interface DocumentLimits {
  /** Maximum canonical JSON size of a whole document in bytes. Default {@link DEFAULT_MAX_DOCUMENT_BYTES}. */
  maxDocumentBytes?: number;
}

function checkContent(
  input: {
    config: unknown;
    overrides: unknown;
    rollout: unknown;
    metadata: unknown;
    createdBy: unknown;
    message: unknown;
  },
  ctx: { ref: string },
): void {
  if (!isPlainObject(input.config)) {
    throw errors.constraint('config must be a JSON object', ctx);
  }
  assertJson(input.config, '/config');
  if (!isPlainObject(input.overrides)) throw errors.constraint('overrides must be an object of objects', ctx);
  for (const [env, patch] of Object.entries(input.overrides)) {
    parseEnvironmentName(env);
    if (!isPlainObject(patch)) throw errors.constraint(`overrides.${env} must be a JSON object`, ctx);
  }
  assertJson(input.overrides, '/overrides');
  if (input.rollout !== null && !isPlainObject(input.rollout)) {
    throw errors.constraint('rollout must be a JSON object or null', ctx);
  }
  assertJson(input.rollout, '/rollout');
  if (!isPlainObject(input.metadata)) throw errors.constraint('metadata must be a JSON object', ctx);
  assertJson(input.metadata, '/metadata');
  if (typeof input.createdBy !== 'string' || input.createdBy.length === 0 || input.createdBy.length > 256) {
    throw errors.constraint('createdBy must be a non-empty string of at most 256 characters', ctx);
  }
  if (typeof input.message !== 'string' || input.message.length > 4096) {
    throw errors.constraint('message must be a string of at most 4096 characters', ctx);
  }
  // Every tier must accept what one tier accepted: PostgreSQL text columns hold neither NUL nor a
  // lone surrogate, so no store takes them in these fields (config values, stored as JSON, may).
  if (!storableText(input.createdBy) || !storableText(input.message)) {
    throw errors.constraint('createdBy and message may not contain NUL characters or lone surrogates', ctx);
  }
}

function storableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

function checkSize(doc: ConfigVersion, limits: DocumentLimits): void {
  const limit = limits.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const bytes = Buffer.byteLength(canonicalJson(doc), 'utf8');
  if (bytes > limit) throw errors.tooLarge(bytes, limit, { ref: refKey(doc.ref), version: doc.version });
}

/**
 * Builds version `version` of a document from writer input: validates the ref and content,
 * computes the checksum, checks the size, and returns a deeply frozen copy.
 * Throws `INVALID_CONFIG_REF`, `CONSTRAINT_VIOLATION` or `DOCUMENT_TOO_LARGE`.
 */
export function createVersion(input: VersionInput, version: number, limits: DocumentLimits = {}): ConfigVersion {
  const ref = parseRef(input.ref);
  const ctx = { ref: refKey(ref) };
  if (!Number.isSafeInteger(version) || version < 1) throw errors.constraint(`version must be an integer >= 1`, ctx);
  const content = {
    config: input.config as unknown,
    overrides: (input.overrides ?? {}) as unknown,
    rollout: (input.rollout ?? null) as unknown,
    metadata: (input.metadata ?? {}) as unknown,
    createdBy: input.createdBy as unknown,
    message: (input.message ?? '') as unknown,
  };
  checkContent(content, ctx);
  // Rollout rules are checked when written: bad weights, overlapping windows, unknown operators.
  if (content.rollout !== null) validateRollout(content.rollout, { pointer: '/rollout', ref: ctx.ref });
  const createdAt = input.createdAt === undefined ? new Date() : new Date(input.createdAt);
  if (Number.isNaN(createdAt.getTime())) throw errors.constraint('createdAt is not a valid date', ctx);
  const body = structuredClone({
    config: content.config as JsonObject,
    overrides: content.overrides as Record<string, JsonObject>,
    rollout: content.rollout as JsonObject | null,
    metadata: content.metadata as JsonObject,
  });
  const doc: ConfigVersion = {
    ref,
    version,
    ...body,
    checksum: computeChecksum({ ref, version, ...body }),
    createdAt: createdAt.toISOString(),
    createdBy: content.createdBy as string,
    message: content.message as string,
  };
  checkSize(doc, limits);
  return deepFreeze(doc);
}

/**
 * Validates a complete version read from or written to a store: shape, ref, size and checksum.
 * Returns a normalised, deeply frozen copy. Throws `CHECKSUM_MISMATCH` when the content does not
 * match its checksum, and the validation codes of {@link createVersion} otherwise.
 */
export function verifyVersion(raw: unknown, limits: DocumentLimits = {}, backend?: string): ConfigVersion {
  if (!isPlainObject(raw)) throw errors.constraint('a config version must be a JSON object', { backend });
  const ref = parseRef(raw.ref);
  const ctx = { ref: refKey(ref), backend };
  const version = raw.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw errors.constraint('version must be an integer >= 1', ctx);
  }
  const content = {
    config: raw.config,
    overrides: raw.overrides ?? {},
    rollout: raw.rollout ?? null,
    metadata: raw.metadata ?? {},
    createdBy: raw.createdBy,
    message: raw.message ?? '',
  };
  checkContent(content, ctx);
  if (typeof raw.checksum !== 'string' || typeof raw.createdAt !== 'string') {
    throw errors.constraint('checksum and createdAt must be strings', { ...ctx, version });
  }
  const body = {
    config: content.config as JsonObject,
    overrides: content.overrides as Record<string, JsonObject>,
    rollout: content.rollout as JsonObject | null,
  };
  const actual = computeChecksum({ ref, version, ...body });
  if (actual !== raw.checksum) {
    throw errors.checksumMismatch(
      `${refKey(ref)} v${version}: stored checksum ${String(raw.checksum).slice(0, 12)}… does not match content ${actual.slice(0, 12)}…`,
      { ...ctx, version },
    );
  }
  const doc: ConfigVersion = {
    ref,
    version,
    ...structuredClone(body),
    metadata: structuredClone(content.metadata as JsonObject),
    checksum: actual,
    createdAt: raw.createdAt,
    createdBy: content.createdBy as string,
    message: content.message as string,
  };
  checkSize(doc, limits);
  return deepFreeze(doc);
}

/** The serialised form stores keep: plain JSON of every field. */
export function serializeVersion(doc: ConfigVersion): string {
  return JSON.stringify(doc);
}

export function headOf(doc: ConfigVersion): Head {
  return Object.freeze({ ref: doc.ref, version: doc.version, checksum: doc.checksum });
}
