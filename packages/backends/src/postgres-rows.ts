/**
 * Rows of the PostgreSQL store and the contract's values they hold: a head or version row read back
 * (verified against its checksum), and a document checked and turned into statement parameters on
 * its way in (a version number an `integer` holds, text PostgreSQL keeps exactly).
 */
import { type ConfigVersion, type Head, isConfigError, refKey, type Scope } from '@summit-config/core';
import { errors, verifyVersion } from '@summit-config/core/internal';

/** Largest version number an `integer` column holds. */
export const MAX_VERSION = 2_147_483_647;

/** Document limits a stored or read version is verified against. */
export interface DocumentLimits {
  maxDocumentBytes: number;
}

export interface HeadRow {
  config_id: string;
  scope: string;
  ref_id: string;
  version: number;
  checksum: string;
}

export interface VersionRow {
  scope: string;
  ref_id: string;
  version: number;
  config: unknown;
  overrides: unknown;
  rollout: unknown;
  checksum: string;
  metadata: unknown;
  created_at: Date | string;
  created_by: string;
  message: string | null;
}

/** The columns of a {@link VersionRow}, on the versions table aliased `v`. */
export const VERSION_COLUMNS = `v.scope, v.ref_id, v.version, v.config, v.overrides, v.rollout, v.checksum, v.metadata,
      v.created_at, v.created_by, v.message`;

export function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

export function headOfRow(row: HeadRow): Head {
  return Object.freeze({
    ref: Object.freeze({ scope: row.scope as Scope, id: row.ref_id }),
    version: row.version,
    checksum: row.checksum,
  });
}

function verifyRow(row: VersionRow, limits: DocumentLimits, backend: string): ConfigVersion {
  return verifyVersion(
    {
      ref: { scope: row.scope, id: row.ref_id },
      version: row.version,
      config: row.config,
      overrides: row.overrides,
      rollout: row.rollout,
      metadata: row.metadata,
      checksum: row.checksum,
      createdAt: iso(row.created_at),
      createdBy: row.created_by,
      message: row.message ?? '',
    },
    limits,
    backend,
  );
}

/** Verifies a stored row; a row that does not even parse as a version was edited behind the store's back. */
export function verifyStored(key: string, row: VersionRow, limits: DocumentLimits, backend: string): ConfigVersion {
  try {
    return verifyRow(row, limits, backend);
  } catch (error) {
    if (isConfigError(error, 'CONSTRAINT_VIOLATION') || isConfigError(error, 'INVALID_CONFIG_REF')) {
      throw errors.checksumMismatch(`${key} v${row.version}: the stored document is malformed: ${error.message}`, {
        ref: key,
        version: row.version,
        backend,
        cause: error,
      });
    }
    throw error;
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a PostgreSQL text column keeps `value` exactly (no NUL, no lone surrogate). */
function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

/** Verifies a document to be written, and that its columns hold it exactly. */
export function checkDocument(doc: ConfigVersion, limits: DocumentLimits, backend: string): ConfigVersion {
  const verified = verifyVersion(doc, limits, backend);
  const ctx = { ref: refKey(verified.ref), version: verified.version, backend };
  if (verified.version > MAX_VERSION) throw errors.constraint(`version must be at most ${MAX_VERSION}`, ctx);
  if (Number.isNaN(Date.parse(verified.createdAt))) throw errors.constraint('createdAt is not a valid date', ctx);
  // Document content is stored as json text, where every escape survives; these two are text
  // columns, which hold neither U+0000 nor a lone surrogate (UTF-8 would turn it into U+FFFD).
  if (!isStorableText(verified.createdBy) || !isStorableText(verified.message)) {
    throw errors.constraint(
      'createdBy and message must be well-formed Unicode without U+0000 (PostgreSQL text cannot hold them)',
      ctx,
    );
  }
  return verified;
}

/** The content columns of a version: config, overrides, rollout, checksum, metadata, created_at, created_by, message. */
export function contentParams(verified: ConfigVersion): unknown[] {
  return [
    JSON.stringify(verified.config),
    JSON.stringify(verified.overrides),
    verified.rollout === null ? null : JSON.stringify(verified.rollout),
    verified.checksum,
    JSON.stringify(verified.metadata),
    verified.createdAt,
    verified.createdBy,
    verified.message,
  ];
}

/** `$1`-`$12` of the statements that insert a version: config_id, scope, ref_id, version, then its content. */
export function versionParams(verified: ConfigVersion): unknown[] {
  return [refKey(verified.ref), verified.ref.scope, verified.ref.id, verified.version, ...contentParams(verified)];
}
