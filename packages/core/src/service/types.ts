/**
 * The public shapes of the change service: its options, the inputs and results of its calls, and the
 * `ConfigService` interface itself (implemented by `createConfigService` in `service.ts`).
 */
import type { ChangeKind, ChangeRequest } from '../approvals/types.js';
import type { AuditAnchor } from '../audit/anchor.js';
import type { AuditCheckpointReport } from '../audit/checkpoint.js';
import type { AuditEvent, AuditQuery, AuditSource, AuditVerifyResult } from '../audit/types.js';
import type { ConfigError, ValidationIssue } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import type { JsonObject } from '../model/json.js';
import type { ConfigRef } from '../model/ref.js';
import type { ConfigVersion, Head } from '../model/version.js';
import type { Permission } from '../rbac/permissions.js';
import type { Actor, Rbac } from '../rbac/rbac.js';
import type { PublishOptions, PublishReport, SchemaRegistry, SchemaVersion } from '../schema/registry.js';
import type { ConfigStore, ListQuery } from '../store/config-store.js';
import type { GovernanceStore, RequestQuery, StoredPolicy } from '../store/governance.js';
import type { Signer, TrustRoot } from '../trust/keys.js';
import type { VersionTrustCode } from '../trust/versions.js';
import type { ExportOptions, ImportOptions, ImportReport, ImportSource } from './backup.js';
import type { diffViews } from './diff.js';

export interface ConfigServiceOptions {
  /** Where config versions live (any store: memory, Consul, PostgreSQL, PGlite, failover). Borrowed. */
  store: ConfigStore;
  /** Audit trail, change requests, environments, schemas, policies. Borrowed. */
  governance: GovernanceStore;
  /** The access checker (`createRbac(definition)` or `loadRbacFile(path)`). */
  rbac: Rbac;
  /**
   * Schema registry. Default: a new registry whose persistence is the governance storage. A registry
   * passed here keeps its own persistence (schema events are then recorded after each registration).
   */
  schemas?: SchemaRegistry;
  /** Environments created in the governance storage at first use when missing (never overwritten). */
  environments?: Environment[];
  /** The time source (createdAt, audit times, expiry, scheduling). Default `() => new Date()`. */
  clock?: () => Date;
  /** `source` of audit events when a call does not say. Default `api`. */
  source?: AuditSource;
  /** Largest canonical JSON of a document, in bytes. Default 256 KiB. */
  maxDocumentBytes?: number;
  /**
   * The writer key (`createSigner`): every version, approval and audit event this service writes is
   * signed with it. Without it nothing is signed (readers that enforce a trust root then refuse).
   */
  signer?: Signer;
  /**
   * The public keys trusted when the service verifies (approvals before apply, imports, the audit
   * trail). Default: only the signer's own key, when there is a signer.
   */
  trust?: TrustRoot;
  /** Where audit checkpoints are kept outside the governance database (Consul, a file). */
  auditAnchors?: readonly AuditAnchor[];
}

/** A document to write: the whole content (set replaces the document; it does not merge). */
export interface SetInput {
  ref: ConfigRef | string;
  config: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  /** Free-form metadata; reserved keys (`deleted`, `changeRequest`, `emergency`, `rollbackOf`, ...) are refused. */
  metadata?: JsonObject;
  message?: string;
}

export interface CallOptions {
  /** Audit `source` of this call. Default: the service's `source`. */
  source?: AuditSource;
}

export interface WriteOptions extends CallOptions {
  /** The head the change was based on (0 for a new ref); another head is `VERSION_CONFLICT`. */
  expectedVersion?: number;
  /** Apply at once although guarded environments are touched, and open a mandatory review. */
  emergency?: boolean;
  signal?: AbortSignal;
}

export interface DeleteOptions extends WriteOptions {
  message?: string;
}

export interface ServiceRollbackOptions extends WriteOptions {
  /** The version whose content is appended again. Default: the one before the head. */
  to?: number;
  message?: string;
}

export interface ProposeInput {
  ref: ConfigRef | string;
  /** Default `set`. */
  kind?: ChangeKind;
  /** `set`: the new content. */
  config?: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  metadata?: JsonObject;
  /** `rollback`: the target version (default: the one before the head). */
  to?: number;
  /** The head the change is based on. Default: the current head. */
  baseVersion?: number;
  message?: string;
  /** Apply no earlier than this; `applyDue()` applies the request once approved. */
  applyAt?: Date | string;
}

export interface VersionSummary {
  version: number;
  checksum: string;
  createdAt: string;
  createdBy: string;
  message: string;
  deleted: boolean;
  metadata: JsonObject;
}

export interface DiffResult {
  ref: string;
  from: number;
  to: number;
  /** RFC 6902 operations over `{ config, overrides, rollout, deleted }`. */
  patch: ReturnType<typeof diffViews>;
}

export interface RecordEventInput {
  /** e.g. `secret.create`: `<namespace>.<verb>`; the service's own actions and the store's are refused. */
  action: string;
  message: string;
  /**
   * The permission the actor needs for this event (that of the act it records). Not needed (nor
   * checked) for `session.*` events: the actor's own sign-in and sign-out, recorded by a server.
   */
  permission?: Permission;
  ref?: string;
  environment?: string;
}

export interface ApplyDueReport {
  applied: ChangeRequest[];
  expired: ChangeRequest[];
  failed: Array<{ id: string; error: ConfigError }>;
}

/** What `resignHeads` did. */
export interface ResignReport {
  /** Refs whose head was read. */
  examined: number;
  /** Heads that verified already. */
  verified: number;
  /** Heads re-signed (with `dryRun`: that would be), and why each did not verify. */
  resigned: Array<{ ref: string; from: number; to: number; reason: VersionTrustCode }>;
  /** Refs a concurrent writer moved meanwhile (their new head is signed by that writer). */
  conflicts: string[];
}

export interface ConfigService extends AsyncDisposable {
  /** The schema registry the service validates with (share it with clients for typed access). */
  readonly schemas: SchemaRegistry;

  get(actor: Actor, ref: ConfigRef | string, options?: { version?: number }): Promise<ConfigVersion | undefined>;
  getVersion(actor: Actor, ref: ConfigRef | string, version: number): Promise<ConfigVersion>;
  list(actor: Actor, query?: ListQuery): Promise<Head[]>;
  history(actor: Actor, ref: ConfigRef | string, options?: { limit?: number }): Promise<VersionSummary[]>;
  diff(actor: Actor, ref: ConfigRef | string, from: number, to?: number): Promise<DiffResult>;

  set(actor: Actor, input: SetInput, options?: WriteOptions): Promise<ConfigVersion>;
  delete(actor: Actor, ref: ConfigRef | string, options?: DeleteOptions): Promise<ConfigVersion>;
  rollback(actor: Actor, ref: ConfigRef | string, options?: ServiceRollbackOptions): Promise<ConfigVersion>;

  propose(actor: Actor, input: ProposeInput, options?: CallOptions): Promise<ChangeRequest>;
  approve(actor: Actor, id: string, options?: CallOptions & { comment?: string }): Promise<ChangeRequest>;
  reject(actor: Actor, id: string, options: CallOptions & { reason: string }): Promise<ChangeRequest>;
  cancel(actor: Actor, id: string, options?: CallOptions & { reason?: string }): Promise<ChangeRequest>;
  apply(actor: Actor, id: string, options?: CallOptions): Promise<ChangeRequest>;
  applyDue(actor: Actor, options?: CallOptions & { now?: Date }): Promise<ApplyDueReport>;
  getRequest(actor: Actor, id: string): Promise<ChangeRequest>;
  listRequests(actor: Actor, query?: RequestQuery): Promise<ChangeRequest[]>;

  createEnvironment(actor: Actor, environment: Environment, options?: CallOptions): Promise<Environment>;
  updateEnvironment(actor: Actor, environment: Environment, options?: CallOptions): Promise<Environment>;
  listEnvironments(actor: Actor): Promise<Environment[]>;

  registerSchema(actor: Actor, id: string, schema: unknown, options?: CallOptions): Promise<number>;
  publishSchema(
    actor: Actor,
    id: string,
    schema: unknown,
    options?: CallOptions & Pick<PublishOptions, 'force'>,
  ): Promise<PublishReport>;
  getSchema(actor: Actor, id: string, version?: number): Promise<SchemaVersion | undefined>;
  /** Every registered schema id, with its latest version number and how many versions it has. */
  listSchemas(actor: Actor): Promise<Array<{ id: string; version: number; versions: number }>>;
  validateDocument(
    actor: Actor,
    id: string,
    value: unknown,
    options?: { version?: number },
  ): Promise<ValidationIssue[]>;

  putPolicy(actor: Actor, name: string, policy: JsonObject, options?: CallOptions): Promise<StoredPolicy>;
  getPolicy(actor: Actor, name: string): Promise<StoredPolicy | undefined>;
  listPolicies(actor: Actor): Promise<StoredPolicy[]>;

  audit(actor: Actor, query?: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Verifies the audit trail: the hash chain; with a trust root, the signature of every event from
   * the checkpoints' `signedFrom` on (the store's own rows: the version they name) and every valid
   * checkpoint in the anchors. `problems` lists what is wrong; `ok` when nothing is.
   */
  verifyAudit(actor: Actor): Promise<AuditVerifyResult>;
  /**
   * Turning signing on for an existing store: appends a signed copy of every head that does not
   * verify (docs/trust.md). Needs the signer and `import`. `dryRun` only lists them.
   */
  resignHeads(actor: Actor, options?: CallOptions & { dryRun?: boolean }): Promise<ResignReport>;
  /**
   * Verifies the trail (refusing one that does not verify: `CHECKSUM_MISMATCH` or
   * `SIGNATURE_INVALID`), then signs its head and writes the checkpoint to every anchor. Needs the
   * signer (else `CONSTRAINT_VIOLATION`) and `config:audit:read`; `adopt` (the first checkpoint of a
   * trail written before signing: its events are accepted unsigned) also needs `policy:write`.
   */
  checkpointAudit(actor: Actor, options?: { adopt?: boolean; signal?: AbortSignal }): Promise<AuditCheckpointReport>;
  /**
   * Records an event about something done outside the service (e.g. a secret created by the CLI),
   * signed like every other: the actor must hold `permission`, the permission of what the event reports.
   */
  recordEvent(actor: Actor, event: RecordEventInput, options?: CallOptions): Promise<AuditEvent>;
  /** The writer key's id, when the service signs. */
  readonly signerKeyId: string | undefined;

  /** The export file as lines (NDJSON, see `backup.ts`); pipe it to a file with `Readable.from`. */
  exportAll(actor: Actor, options?: ExportOptions): Promise<AsyncIterable<string>>;
  importAll(actor: Actor, source: ImportSource, options?: ImportOptions & CallOptions): Promise<ImportReport>;

  /** Idempotent; later calls reject `CLOSED`. The store and governance storage are borrowed, not closed. */
  close(): Promise<void>;
}
