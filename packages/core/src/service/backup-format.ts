/**
 * The export file's format (NDJSON: a header, records, a trailer) and what export and import
 * take and report. backup.ts writes and reads it; backup-trust.ts signs and checks it.
 */
import type { ChangeRequest } from '../approvals/types.js';
import type { AuditCheckpoint } from '../audit/anchor.js';
import type { AuditInput } from '../audit/types.js';
import { ConfigError, type ErrorCode } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import type { ConfigVersion, DocumentLimits } from '../model/version.js';
import type { ConfigStore } from '../store/config-store.js';
import type { GovernanceStore, StoredPolicy, StoredSchema } from '../store/governance.js';
import type { Signer, TrustRoot } from '../trust/keys.js';

export const EXPORT_FORMAT = 'summit-config-export';
export const EXPORT_FORMAT_VERSION = 1;

export interface ExportHeader {
  type: 'header';
  format: typeof EXPORT_FORMAT;
  formatVersion: number;
  /** ISO-8601 UTC time of the export. */
  createdAt: string;
  /** The point in time exported, or null for "now". */
  asOf: string | null;
  /** The store's name. */
  source: string;
}

export type ExportRecord =
  | { type: 'environment'; environment: Environment }
  | { type: 'schema'; schema: StoredSchema }
  | { type: 'policy'; policy: StoredPolicy }
  | { type: 'version'; version: ConfigVersion }
  | { type: 'request'; request: ChangeRequest }
  | { type: 'checkpoint'; checkpoint: AuditCheckpoint };

export interface ExportTrailer {
  type: 'trailer';
  records: number;
  sha256: string;
  /** `<keyId>:<base64>` by the exporting service's writer key (see backup-trust.ts). */
  signature?: string;
}

export interface ExportOptions {
  /** Export the state as of this time (see the module comment). Default: now. */
  asOf?: Date | string;
  signal?: AbortSignal;
}

/** What `importAll` reads: the file's text or bytes, whole or as a stream of chunks. */
export type ImportSource = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

export interface ImportOptions {
  /**
   * Continue an import that stopped midway: records already present with the same content are
   * skipped; anything present with other content is a conflict. Default false (stores must be empty).
   */
  resume?: boolean;
  signal?: AbortSignal;
}

/** How much was written (or skipped when resuming). */
export interface ImportProgress {
  /** The governance part (environments, schemas, policies, requests) is stored. */
  governance: boolean;
  environments: number;
  schemas: number;
  policies: number;
  requests: number;
  /** Versions appended by this call. */
  versions: number;
  /** Versions found already present (resume). */
  skippedVersions: number;
  /** Per ref, the highest version now present from the file. */
  refs: Record<string, number>;
}

export interface ImportReport extends ImportProgress {
  header: ExportHeader;
  /** The trailer's SHA-256 (identifies the file). */
  sha256: string;
}

/** An import that failed after writing started; `progress` says exactly what was written. */
export class ImportError extends ConfigError {
  readonly progress: ImportProgress;
  constructor(code: ErrorCode, message: string, progress: ImportProgress, cause: unknown) {
    super(code, message, { cause });
    this.name = 'ImportError';
    this.progress = progress;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), progress: this.progress };
  }
}

export interface BackupDeps {
  store: ConfigStore;
  governance: GovernanceStore;
  limits: DocumentLimits;
  now: () => Date;
  /** Validates a schema (throws SCHEMA_VALIDATION). */
  checkSchema: (schema: unknown, id: string) => void;
  /** Validates an environment record (throws CONSTRAINT_VIOLATION). */
  checkEnvironment: (raw: unknown, where: string) => Environment;
  /** Builds the audit event of an import. */
  auditFor: (action: string, message: string) => AuditInput;
  /** Signs the trailer of an export. */
  signer?: Signer | undefined;
  /** An import checks every signature against it before writing anything. */
  trust?: TrustRoot | undefined;
  /** The anchors' valid audit checkpoints, carried by an export. */
  checkpoints?: () => Promise<AuditCheckpoint[]>;
}
