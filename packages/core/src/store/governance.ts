/**
 * The governance storage contract: everything the change service keeps besides config versions (the
 * audit trail, change requests, environments, schemas, named policies). Implementations live in
 * `@summit-config/backends`: memory (`createMemoryGovernance`, `/memory`) and SQL (PostgreSQL and
 * PGlite, `/postgres` and `/pglite`). Every one runs the suite
 * `@summit-config/test-support/contract/governance-contract`.
 *
 * Rules every implementation keeps:
 * - Each mutation that carries an `audit` input writes the audit event in the same atomic step
 *   (one transaction), so a state change is never recorded without its event or the reverse.
 * - `update*` callbacks run while the implementation holds the record (a row lock, or the single
 *   JavaScript thread for memory): they see the latest committed state, and two concurrent updates
 *   of one record run one after the other. A callback that throws aborts the update (nothing
 *   written) and the error is rethrown. Callbacks must be synchronous and free of side effects.
 * - Audit events are hash-chained (`auditHash`): `seq` is 1, 2, 3 ... without gaps in chain order.
 * - An unreachable storage rejects with `BACKEND_UNAVAILABLE`; after `close()` calls reject `CLOSED`.
 */
import type { ChangeRequest, RequestStatus } from '../approvals/types.js';
import type { AuditInput, AuditQuery, AuditRecord } from '../audit/types.js';
import type { Environment } from '../model/environment.js';
import type { JsonObject } from '../model/json.js';
import type { SchemaPersistence } from '../schema/registry.js';

export interface RequestQuery {
  status?: RequestStatus | readonly RequestStatus[];
  /** `<scope>/<id>` */
  ref?: string;
  requestedBy?: string;
  /** Emergency requests whose after-the-fact review is still pending. */
  reviewPending?: boolean;
  /** At most this many, oldest first (by `requestedAt`, then `id`). Default 1000. */
  limit?: number;
}

export interface StoredSchema {
  id: string;
  version: number;
  schema: JsonObject;
}

export interface StoredPolicy {
  name: string;
  policy: JsonObject;
  /** ISO-8601 UTC. */
  updatedAt: string;
}

/** A state change plus the audit event that records it. */
export interface GovernanceUpdate<T> {
  value: T;
  audit?: AuditInput;
}

/** Everything except the audit trail, as export carries it and import writes it. */
export interface GovernanceSnapshot {
  environments: Environment[];
  schemas: StoredSchema[];
  policies: StoredPolicy[];
  requests: ChangeRequest[];
}

export interface GovernanceStore extends AsyncDisposable {
  /** `memory`, `postgres`, `pglite`, ... (used in errors). */
  readonly name: string;

  // -- audit
  /** Appends one event at the end of the chain; returns the stored record with seq and hashes. */
  appendAudit(input: AuditInput): Promise<AuditRecord>;
  /** Events matching `query`, oldest first. */
  queryAudit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Stored records with `seq > afterSeq`, ascending, at most `limit`: the raw chain for verification. */
  readAuditChain(afterSeq: number, limit: number): Promise<AuditRecord[]>;

  // -- change requests
  /** Stores a new request (and its audit event). Rejects `CONSTRAINT_VIOLATION` when the id exists. */
  createRequest(request: ChangeRequest, audit?: AuditInput): Promise<void>;
  getRequest(id: string): Promise<ChangeRequest | undefined>;
  listRequests(query?: RequestQuery): Promise<ChangeRequest[]>;
  /**
   * Read-modify-write of one request under its lock. `update` returns the new request (and its
   * event), or `undefined` to change nothing. Resolves with the stored request afterwards, or
   * `undefined` when there is no such request.
   */
  updateRequest(
    id: string,
    update: (current: ChangeRequest) => GovernanceUpdate<ChangeRequest> | undefined,
  ): Promise<ChangeRequest | undefined>;

  // -- environments
  listEnvironments(): Promise<Environment[]>;
  /**
   * Read-modify-write of the environment set under one lock: `update` sees every environment and
   * returns those to create or replace (and the event), or `undefined`. Resolves with the new set.
   */
  updateEnvironments(
    update: (current: readonly Environment[]) => GovernanceUpdate<Environment[]> | undefined,
  ): Promise<Environment[]>;

  // -- schemas (the SchemaRegistry persistence hook)
  loadSchemas(id: string): Promise<Array<{ version: number; schema: JsonObject }>>;
  /** Stores a schema version; rejects `CONSTRAINT_VIOLATION` if it exists with other content. */
  saveSchema(id: string, version: number, schema: JsonObject, audit?: AuditInput): Promise<void>;
  listSchemas(): Promise<StoredSchema[]>;

  // -- named policy documents
  getPolicy(name: string): Promise<StoredPolicy | undefined>;
  listPolicies(): Promise<StoredPolicy[]>;
  putPolicy(policy: StoredPolicy, audit?: AuditInput): Promise<void>;

  // -- backup
  /** True when no environment, schema, policy or request is stored (the audit trail is not counted). */
  isEmpty(): Promise<boolean>;
  /** Writes a whole snapshot into an empty storage, atomically, with its audit event. */
  importSnapshot(snapshot: GovernanceSnapshot, audit?: AuditInput): Promise<void>;

  /** Releases what the storage owns. Idempotent. */
  close(): Promise<void>;
}

/** The `SchemaRegistry` persistence hook over a governance storage. */
export function governanceSchemaPersistence(
  governance: GovernanceStore,
  auditFor?: (id: string, version: number, schema: JsonObject) => AuditInput | undefined,
): SchemaPersistence {
  return {
    load: (id) => governance.loadSchemas(id),
    save: (id, version, schema) => governance.saveSchema(id, version, schema, auditFor?.(id, version, schema)),
  };
}
