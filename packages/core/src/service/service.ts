/**
 * The change service: the only writer. Every call takes an actor and is checked against RBAC first
 * (deny by default); every mutation and every approval step writes a hash-chained audit event.
 *
 *   const service = createConfigService({ store, governance, rbac: await loadRbacFile('rbac.yaml') });
 *   await service.set(actor, { ref: 'app:billing/database', config: { pool: 10 } }, { expectedVersion: 3 });
 *
 * Writes that touch a guarded environment (one whose approval policy needs approvals) are refused
 * with `APPROVAL_REQUIRED`; they go through `propose` -> `approve` -> `apply` instead, or, where the
 * policy allows, as an emergency change that applies at once and opens a mandatory review.
 *
 * Order of checks in every entry point: the service is open, the actor is well formed, the ref is
 * valid, the actor holds the permission, the input is valid (JSON, size, rollout, environments,
 * schema), the approval policy; only then is anything written.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import {
  affectedEnvironments,
  type ChangeContent,
  checkApprovalPolicy,
  effectivePolicy,
  eligibleFor,
  isRolloutProgression,
  missingApprovals,
  requirementsFor,
} from '../approvals/policy.js';
import {
  ApprovalRequiredError,
  type ChangeKind,
  type ChangeRequest,
  type Decision,
  type ProposedContent,
  type Requirement,
} from '../approvals/types.js';
import { AuditChainVerifier } from '../audit/chain.js';
import {
  AUDIT_SOURCES,
  type AuditEvent,
  type AuditInput,
  type AuditQuery,
  type AuditSource,
  type AuditVerifyResult,
  eventOf,
} from '../audit/types.js';
import {
  BackendUnavailableError,
  ConfigError,
  errors,
  isConfigError,
  type ValidationIssue,
} from '../errors/config-error.js';
import { type Environment, validateEnvironments } from '../model/environment.js';
import { assertJson, canonicalJson, isPlainObject, type JsonObject } from '../model/json.js';
import { type ConfigRef, parseEnvironmentName, parseId, parseRef, refKey, type Scope } from '../model/ref.js';
import { type ConfigVersion, createVersion, DEFAULT_MAX_DOCUMENT_BYTES, type Head } from '../model/version.js';
import type { Permission } from '../rbac/permissions.js';
import { AccessDeniedError, type Actor, checkActor, type Rbac } from '../rbac/rbac.js';
import { schemaDefaults } from '../schema/defaults.js';
import { type PublishOptions, type PublishReport, SchemaRegistry, type SchemaVersion } from '../schema/registry.js';
import type { ConfigStore, ListQuery } from '../store/contract.js';
import { Lifecycle } from '../util/lifecycle.js';
import {
  type ExportOptions,
  exportLines,
  type ImportOptions,
  type ImportReport,
  type ImportSource,
  importRecords,
} from './backup.js';
import { contentView, diffViews, isTombstone } from './diff.js';
import {
  type GovernanceStore,
  governanceSchemaPersistence,
  type RequestQuery,
  type StoredPolicy,
} from './governance.js';
import { storableText } from './records.js';
import { type DocumentsOfId, resolvedViews } from './views.js';

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

export interface ApplyDueReport {
  applied: ChangeRequest[];
  expired: ChangeRequest[];
  failed: Array<{ id: string; error: ConfigError }>;
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
  verifyAudit(actor: Actor): Promise<AuditVerifyResult>;

  /** The export file as lines (NDJSON, see `backup.ts`); pipe it to a file with `Readable.from`. */
  exportAll(actor: Actor, options?: ExportOptions): Promise<AsyncIterable<string>>;
  importAll(actor: Actor, source: ImportSource, options?: ImportOptions & CallOptions): Promise<ImportReport>;

  /** Idempotent; later calls reject `CLOSED`. The store and governance storage are borrowed, not closed. */
  close(): Promise<void>;
}

const RESERVED_METADATA = ['deleted', 'changeRequest', 'emergency', 'rollbackOf', 'restoredFrom', 'unsynced'];
const WRITE_PERMISSION: Record<ChangeKind, Permission> = {
  set: 'config:write',
  delete: 'config:delete',
  rollback: 'config:rollback',
};
const POLICY_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

interface Prepared {
  head: Head | undefined;
  current: number;
  before: ConfigVersion | undefined;
  content: ProposedContent;
  message: string;
}

interface SchemaAuditContext {
  actor: Actor;
  source: AuditSource;
  recorded: boolean;
}

function changeContent(doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'>): ChangeContent;
function changeContent(
  doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'> | undefined,
): ChangeContent | undefined;
function changeContent(
  doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'> | undefined,
): ChangeContent | undefined {
  if (!doc) return undefined;
  return {
    config: doc.config,
    overrides: doc.overrides,
    rollout: doc.rollout,
    deleted: isTombstone(doc),
  } satisfies ChangeContent;
}

function checkEnvironmentInput(raw: unknown, where = 'environment'): Environment {
  if (!isPlainObject(raw))
    throw errors.constraint(`${where} must be an object { name, parent?, production, approvalPolicy? }`);
  for (const key of Object.keys(raw)) {
    if (!['name', 'parent', 'production', 'approvalPolicy'].includes(key)) {
      throw errors.constraint(`${where} has an unknown field "${key}"`);
    }
  }
  const name = parseEnvironmentName(raw.name);
  const env: Environment = { name, production: false };
  if (raw.parent !== undefined && raw.parent !== null) env.parent = parseEnvironmentName(raw.parent);
  if (raw.production !== undefined) {
    if (typeof raw.production !== 'boolean')
      throw errors.constraint(`${where} "${name}": production must be a boolean`);
    env.production = raw.production;
  }
  if (raw.approvalPolicy !== undefined && raw.approvalPolicy !== null) {
    env.approvalPolicy = structuredClone(checkApprovalPolicy(raw.approvalPolicy, `${where} "${name}"`));
  }
  return env;
}

function checkSource(source: unknown, fallback: AuditSource): AuditSource {
  if (source === undefined) return fallback;
  if (!AUDIT_SOURCES.includes(source as AuditSource)) {
    throw errors.constraint(`source must be one of ${AUDIT_SOURCES.join(', ')}`);
  }
  return source as AuditSource;
}

function optionsObject<T>(options: T | undefined, what: string): T {
  if (options === undefined) return {} as T;
  if (!isPlainObject(options)) throw errors.constraint(`${what} options must be an object`);
  return options;
}

function checkText(value: unknown, what: string, max = 4096): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max || !storableText(value)) {
    throw errors.constraint(`${what} must be well-formed text of at most ${max} characters without NUL`);
  }
  return value;
}

function checkVersionNumber(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw errors.constraint(`${what} must be an integer >= ${min}`);
  }
  return value;
}

/**
 * Creates the change service. Options are validated now (the bad one is named); nothing is read or
 * written until the first call.
 */
export function createConfigService(options: ConfigServiceOptions): ConfigService {
  if (!isPlainObject(options)) throw errors.constraint('config service options are required');
  const { store, governance, rbac } = options;
  if (!store || typeof store.append !== 'function' || typeof store.getHead !== 'function') {
    throw errors.constraint('config service option store must be a ConfigStore');
  }
  if (!governance || typeof governance.appendAudit !== 'function' || typeof governance.updateRequest !== 'function') {
    throw errors.constraint('config service option governance must be a GovernanceStore');
  }
  if (!rbac || typeof rbac.check !== 'function' || typeof rbac.rolesOf !== 'function') {
    throw errors.constraint('config service option rbac must be an Rbac (createRbac or loadRbacFile)');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw errors.constraint('config service option clock must be a function returning a Date');
  }
  if (options.schemas !== undefined && !(options.schemas instanceof SchemaRegistry)) {
    throw errors.constraint('config service option schemas must be a SchemaRegistry');
  }
  const defaultSource = checkSource(options.source, 'api');
  const maxDocumentBytes = options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  if (!Number.isSafeInteger(maxDocumentBytes) || maxDocumentBytes < 1) {
    throw errors.constraint('config service option maxDocumentBytes must be a positive integer');
  }
  const limits = { maxDocumentBytes };
  const seed = (options.environments ?? []).map((e, i) => checkEnvironmentInput(e, `option environments[${i}]`));
  validateEnvironments(seed);
  const clock = options.clock ?? (() => new Date());
  const lifecycle = new Lifecycle('config service');

  function now(): Date {
    const d = clock();
    if (!(d instanceof Date) || Number.isNaN(d.getTime()))
      throw errors.constraint('the service clock returned no valid Date');
    return d;
  }

  // Schema registrations record their audit event in the same step as the schema (AsyncLocalStorage
  // carries the caller into the registry's persistence hook).
  const schemaAudit = new AsyncLocalStorage<SchemaAuditContext>();
  const schemas =
    options.schemas ??
    new SchemaRegistry({
      persistence: governanceSchemaPersistence(governance, (id, version, schema) => {
        const ctx = schemaAudit.getStore();
        if (!ctx) return undefined;
        ctx.recorded = true;
        return {
          at: now().toISOString(),
          actor: ctx.actor.id,
          action: 'schema.register',
          message: `schema ${id} v${version}`,
          changes: [{ op: 'add', path: '', value: schema }],
          source: ctx.source,
        };
      }),
    });

  // -- helpers

  function begin(actorInput: Actor): Actor {
    lifecycle.assertOpen();
    return checkActor(actorInput);
  }

  function authorize(actor: Actor, permission: Permission, ref?: ConfigRef | { scope: Scope }): void {
    const key = ref && 'id' in ref ? refKey(ref) : undefined;
    rbac.check(actor, permission, ref ? { scope: ref.scope, ref: key } : {});
  }

  function event(
    actor: Actor | string,
    action: string,
    fields: Omit<AuditInput, 'at' | 'actor' | 'action' | 'source'>,
    source: AuditSource,
  ): AuditInput {
    return {
      at: now().toISOString(),
      actor: typeof actor === 'string' ? actor : actor.id,
      action,
      source,
      ...fields,
    };
  }

  let seeding: Promise<void> | undefined;
  function ready(): Promise<void> {
    if (seed.length === 0) return Promise.resolve();
    seeding ??= governance
      .updateEnvironments((current) => {
        const missing = seed.filter((e) => !current.some((c) => c.name === e.name));
        if (missing.length === 0) return undefined;
        validateEnvironments([...current, ...missing]);
        return {
          value: missing,
          audit: event(
            'system',
            'environment.seed',
            {
              message: `environments from the service options: ${missing.map((e) => e.name).join(', ')}`,
              changes: missing.map((e) => ({
                op: 'add' as const,
                path: `/${e.name}`,
                value: e as unknown as JsonObject,
              })),
            },
            defaultSource,
          ),
        };
      })
      .then(
        () => undefined,
        (error: unknown) => {
          seeding = undefined;
          throw error;
        },
      );
    return seeding;
  }

  async function environmentMap(): Promise<Map<string, Environment>> {
    await ready();
    return validateEnvironments(await governance.listEnvironments());
  }

  async function readVersion(ref: ConfigRef, version: number): Promise<ConfigVersion> {
    const doc = await store.getVersion(ref, version, { consistent: true });
    if (!doc) {
      // Name what the store is to the user (the configuration store), not its implementation ("failover").
      const where = store.capabilities.tiered ? 'the configuration store' : `the ${store.name} store`;
      throw errors.notFound(`${refKey(ref)} v${version} does not exist in ${where}`, {
        ref: refKey(ref),
        version,
        backend: store.name,
      });
    }
    return doc;
  }

  function userMetadata(raw: unknown): JsonObject {
    if (raw === undefined) return {};
    if (!isPlainObject(raw)) throw errors.constraint('metadata must be a JSON object');
    for (const key of RESERVED_METADATA) {
      if (Object.hasOwn(raw, key)) throw errors.constraint(`metadata.${key} is reserved for the service`);
    }
    assertJson(raw, '/metadata');
    return raw as JsonObject;
  }

  /** Reads the head and builds the content a set, delete or rollback would write. */
  async function prepare(
    ref: ConfigRef,
    kind: ChangeKind,
    input: {
      config?: unknown;
      overrides?: unknown;
      rollout?: unknown;
      metadata?: unknown;
      to?: unknown;
      message?: unknown;
    },
    expectedVersion: number | undefined,
  ): Promise<Prepared> {
    const key = refKey(ref);
    const message = checkText(input.message, 'message');
    const metadata = kind === 'set' ? userMetadata(input.metadata) : {};
    const head = await store.getHead(ref, { consistent: true });
    const current = head?.version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== current) {
      throw errors.versionConflict(`${key}: expected head v${expectedVersion}, found v${current}`, {
        ref: key,
        version: expectedVersion,
      });
    }
    const before = head ? await readVersion(ref, head.version) : undefined;
    switch (kind) {
      case 'set':
        return {
          head,
          current,
          before,
          content: {
            config: input.config as JsonObject,
            overrides: (input.overrides ?? {}) as Record<string, JsonObject>,
            rollout: (input.rollout ?? null) as JsonObject | null,
            metadata,
          },
          message: message ?? '',
        };
      case 'delete':
        if (!before || isTombstone(before)) throw errors.notFound(`${key} does not exist`, { ref: key });
        return {
          head,
          current,
          before,
          content: { config: {}, overrides: {}, rollout: null, metadata: { deleted: true } },
          message: message ?? 'delete',
        };
      case 'rollback': {
        if (!before) throw errors.notFound(`${key} does not exist`, { ref: key });
        const to = input.to === undefined ? current - 1 : input.to;
        if (typeof to !== 'number' || !Number.isSafeInteger(to) || to < 1 || to >= current) {
          throw errors.constraint(
            current < 2
              ? `${key} has no earlier version to roll back to`
              : `${key}: rollback target must be a version in 1..${current - 1}, got ${String(to)}`,
            { ref: key },
          );
        }
        let source = await readVersion(ref, to);
        // Rolling back to a tombstone restores the content it deleted.
        let restored = to;
        while (isTombstone(source)) {
          restored--;
          if (restored < 1) throw errors.constraint(`${key}: no content before the deletion at v${to}`, { ref: key });
          source = await readVersion(ref, restored);
        }
        return {
          head,
          current,
          before,
          content: {
            config: source.config,
            overrides: { ...source.overrides },
            rollout: source.rollout,
            metadata: restored === to ? { rollbackOf: to } : { rollbackOf: to, restoredFrom: restored },
          },
          message: message ?? (restored === to ? `rollback to v${to}` : `rollback to v${to} (restores v${restored})`),
        };
      }
    }
  }

  function candidate(
    ref: ConfigRef,
    version: number,
    content: ProposedContent,
    createdBy: string,
    message: string,
    at: Date,
    extra: JsonObject = {},
  ): ConfigVersion {
    return createVersion(
      {
        ref,
        config: content.config,
        overrides: content.overrides,
        rollout: content.rollout,
        metadata: { ...content.metadata, ...extra },
        createdBy,
        message,
        createdAt: at,
      },
      version,
      limits,
    );
  }

  /** The documents of `doc`'s id that `doc` resolves with (tombstones left out), `doc` included. */
  async function documentsWith(doc: ConfigVersion): Promise<DocumentsOfId> {
    const id = doc.ref.id;
    const out: DocumentsOfId = { global: undefined, apps: [] };
    if (doc.ref.scope === 'global') {
      for (const head of await store.listHeads({ prefix: id })) {
        if (head.ref.id !== id || head.ref.scope === 'global') continue;
        const app = await store.getVersion(head.ref, head.version);
        if (app && !isTombstone(app)) out.apps.push(app);
      }
      out.global = doc;
    } else {
      const global = await store.getVersion({ scope: 'global', id });
      if (global && !isTombstone(global)) out.global = global;
      out.apps.push(doc);
    }
    return out;
  }

  async function documentsOf(id: string): Promise<DocumentsOfId> {
    const out: DocumentsOfId = { global: undefined, apps: [] };
    for (const head of await store.listHeads({ prefix: id })) {
      if (head.ref.id !== id) continue;
      const doc = await store.getVersion(head.ref, head.version);
      if (!doc || isTombstone(doc)) continue;
      if (head.ref.scope === 'global') out.global = doc;
      else out.apps.push(doc);
    }
    return out;
  }

  /** Environments named by overrides exist; every resolved view validates against the schema. */
  async function checkDocument(doc: ConfigVersion, envs: ReadonlyMap<string, Environment>): Promise<void> {
    const key = refKey(doc.ref);
    for (const name of Object.keys(doc.overrides)) {
      if (!envs.has(name)) {
        throw new ConfigError(
          'ENVIRONMENT_NOT_FOUND',
          `${key}: overrides name environment "${name}", which is not defined`,
          {
            ref: key,
          },
        );
      }
    }
    if (isTombstone(doc)) return;
    const id = doc.ref.id;
    await schemas.load(id);
    if (schemas.latestVersion(id) === undefined) return;
    const views = resolvedViews(await documentsWith(doc), envs, schemas.defaults(id), doc);
    for (const view of views) schemas.validate(id, view.value, { ref: view.name });
  }

  function describeRequirements(requirements: readonly Requirement[]): string {
    return requirements
      .map((r) => `${r.environment} (${r.requiredApprovals} approval${r.requiredApprovals === 1 ? '' : 's'})`)
      .join(', ');
  }

  function checkApprovers(requirements: readonly Requirement[], requester: string): void {
    for (const r of requirements) {
      if (r.approvers.length === 0 || r.approvers.some((a) => a.startsWith('role:'))) continue;
      const possible = new Set(r.approvers.filter((a) => a !== requester)).size;
      if (possible < r.requiredApprovals) {
        throw new ConfigError(
          'INSUFFICIENT_APPROVERS',
          `${r.environment} needs ${r.requiredApprovals} approvals but only ${possible} eligible approver(s) besides the requester exist (${r.approvers.join(', ')})`,
        );
      }
    }
  }

  function writtenButNotAudited(written: ConfigVersion, error: unknown): ConfigError {
    const key = refKey(written.ref);
    return new BackendUnavailableError(
      `${key} v${written.version} was written, but its audit event could not be recorded: ${(error as Error)?.message ?? String(error)}`,
      [{ backend: governance.name, error }],
      { ref: key, version: written.version },
    );
  }

  // -- writes

  async function write(
    actorInput: Actor,
    kind: ChangeKind,
    refInput: unknown,
    input: Parameters<typeof prepare>[2],
    rawOptions: WriteOptions | undefined,
  ): Promise<ConfigVersion> {
    const actor = begin(actorInput);
    const ref = parseRef(refInput);
    const key = refKey(ref);
    authorize(actor, WRITE_PERMISSION[kind], ref);
    const options = optionsObject(rawOptions, kind);
    const source = checkSource(options.source, defaultSource);
    const expected =
      options.expectedVersion === undefined
        ? undefined
        : checkVersionNumber(options.expectedVersion, 'expectedVersion', 0);
    if (options.emergency !== undefined && typeof options.emergency !== 'boolean') {
      throw errors.constraint('emergency must be a boolean');
    }
    const envs = await environmentMap();
    const p = await prepare(ref, kind, input, expected);
    const at = now();
    let doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at);
    await checkDocument(doc, envs);
    let requirements = requirementsFor(affectedEnvironments(changeContent(p.before), changeContent(doc), envs), envs);
    // An approved canary moving along its own schedule (or aborted) needs `rollout:step`, not a new approval.
    if (
      requirements.length > 0 &&
      options.emergency !== true &&
      isRolloutProgression(changeContent(p.before), changeContent(doc)) &&
      rbac.can(actor, 'rollout:step', ref.scope)
    ) {
      requirements = [];
    }
    let request: ChangeRequest | undefined;
    if (requirements.length > 0) {
      const names = requirements.map((r) => r.environment);
      if (options.emergency !== true) {
        throw new ApprovalRequiredError(
          `${key}: the change touches guarded environment(s) ${describeRequirements(requirements)}; propose it for approval`,
          names,
          { ref: key },
        );
      }
      authorize(actor, 'approval:emergency', ref);
      const refused = names.filter((n) => !effectivePolicy(envs.get(n) as Environment).allowEmergency);
      if (refused.length > 0) {
        throw new ApprovalRequiredError(
          `${key}: emergency changes are not allowed in ${refused.join(', ')}; propose it for approval`,
          refused,
          { ref: key },
        );
      }
      const id = randomUUID();
      doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at, { changeRequest: id, emergency: true });
      const iso = at.toISOString();
      request = {
        id,
        ref,
        kind,
        baseVersion: p.current,
        proposed: p.content,
        message: p.message,
        requestedBy: actor.id,
        requestedAt: iso,
        environments: names,
        requirements,
        requiredApprovals: Math.max(...requirements.map((r) => r.requiredApprovals)),
        approvals: [],
        status: 'applied',
        emergency: true,
        review: 'pending',
        expiresAt: iso,
        appliedVersion: doc.version,
        appliedAt: iso,
        appliedBy: actor.id,
        updatedAt: iso,
        revision: 1,
      };
    }
    const written = await store.append(doc, { signal: options.signal });
    const audit = event(
      actor,
      `config.${kind}`,
      {
        ref: key,
        version: written.version,
        message: request ? `[emergency, review pending] ${written.message}` : written.message,
        changes: diffViews(contentView(p.before), contentView(written)),
        ...(request ? { requestId: request.id } : {}),
      },
      source,
    );
    try {
      if (request) await governance.createRequest(request, audit);
      else await governance.appendAudit(audit);
    } catch (error) {
      throw writtenButNotAudited(written, error);
    }
    return written;
  }

  // -- approvals

  async function requireRequest(id: unknown): Promise<ChangeRequest> {
    if (typeof id !== 'string' || !REQUEST_ID.test(id))
      throw errors.constraint('a change request id is 1-128 characters of [A-Za-z0-9_.:-]');
    const found = await governance.getRequest(id);
    if (!found) throw errors.notFound(`change request ${id} does not exist`);
    return found;
  }

  function expiredAt(request: ChangeRequest, at: Date): boolean {
    return request.status === 'pending' && at.getTime() >= Date.parse(request.expiresAt);
  }

  function expireUpdate(actor: Actor | string, cur: ChangeRequest, at: Date, source: AuditSource) {
    return {
      value: { ...cur, status: 'expired' as const, updatedAt: at.toISOString(), revision: cur.revision + 1 },
      audit: event(
        actor,
        'request.expire',
        { ref: refKey(cur.ref), requestId: cur.id, message: `expired unapproved at ${cur.expiresAt}` },
        source,
      ),
    };
  }

  async function expire(actor: Actor, id: string, source: AuditSource, at: Date): Promise<ChangeRequest | undefined> {
    let changed = false;
    const result = await governance.updateRequest(id, (cur) => {
      if (!expiredAt(cur, at)) return undefined;
      changed = true;
      return expireUpdate(actor, cur, at, source);
    });
    return changed ? result : undefined;
  }

  function expiredError(request: ChangeRequest): ConfigError {
    return errors.constraint(`change request ${request.id} expired at ${request.expiresAt}`, {
      ref: refKey(request.ref),
    });
  }

  async function decide(
    actorInput: Actor,
    id: string,
    decision: 'approve' | 'reject',
    comment: string | undefined,
    source: AuditSource,
  ): Promise<ChangeRequest> {
    const actor = begin(actorInput);
    const existing = await requireRequest(id);
    const key = refKey(existing.ref);
    authorize(actor, 'approval:approve', existing.ref);
    const roles = rbac.rolesOf(actor, existing.ref.scope);
    let expired = false;
    const result = await governance.updateRequest(id, (cur) => {
      const at = now();
      const iso = at.toISOString();
      if (expiredAt(cur, at)) {
        expired = true;
        return expireUpdate(actor, cur, at, source);
      }
      const review = cur.emergency && cur.status === 'applied' && cur.review === 'pending';
      if (!review && cur.status !== 'pending') {
        throw errors.constraint(
          `change request ${id} is ${cur.status}${cur.emergency ? ` (review ${cur.review})` : ''}: only pending requests and pending reviews can be ${decision === 'approve' ? 'approved' : 'rejected'}`,
          { ref: key },
        );
      }
      if (cur.requestedBy === actor.id) {
        throw new AccessDeniedError(
          `${actor.id} requested ${id} and may not ${decision} it (no self-approval)`,
          'approval:approve',
          actor.id,
          { ref: key },
        );
      }
      const previous = cur.approvals.find((a) => a.by === actor.id);
      if (previous) {
        // The same approver twice counts once.
        if (previous.decision === decision) return undefined;
        throw errors.constraint(
          `${actor.id} already ${previous.decision === 'approve' ? 'approved' : 'rejected'} ${id}`,
          {
            ref: key,
          },
        );
      }
      const eligible = cur.requirements.filter((r) => eligibleFor(r, actor.id, roles)).map((r) => r.environment);
      if (eligible.length === 0) {
        throw new AccessDeniedError(
          `${actor.id} is not an eligible approver of ${id} (${cur.requirements.map((r) => `${r.environment}: ${r.approvers.join(', ')}`).join('; ')})`,
          'approval:approve',
          actor.id,
          { ref: key },
        );
      }
      const d: Decision = { by: actor.id, at: iso, decision, environments: eligible };
      if (comment !== undefined) d.comment = comment;
      const approvals = [...cur.approvals, d];
      const next: ChangeRequest = { ...cur, approvals, updatedAt: iso, revision: cur.revision + 1 };
      const done = decision === 'approve' && missingApprovals(cur.requirements, approvals).length === 0;
      if (review) next.review = decision === 'reject' ? 'rejected' : done ? 'approved' : 'pending';
      else if (decision === 'reject') {
        next.status = 'rejected';
        next.closedBy = actor.id;
        next.closedAt = iso;
        if (comment !== undefined) next.reason = comment;
      } else if (done) next.status = 'approved';
      const state = review ? `review ${next.review}` : next.status;
      return {
        value: next,
        audit: event(
          actor,
          `${review ? 'review' : 'request'}.${decision}`,
          {
            ref: key,
            requestId: id,
            message: `${decision === 'approve' ? 'approved' : 'rejected'} for ${eligible.join(', ')}; now ${state}${comment ? `: ${comment}` : ''}`,
          },
          source,
        ),
      };
    });
    if (!result) throw errors.notFound(`change request ${id} does not exist`);
    if (expired) throw expiredError(result);
    return result;
  }

  async function applyRequest(
    actor: Actor,
    request: ChangeRequest,
    source: AuditSource,
    at: Date,
  ): Promise<ChangeRequest> {
    const ref = parseRef(request.ref);
    const key = refKey(ref);
    if (request.status === 'applied') return request;
    if (request.status === 'pending') {
      if (expiredAt(request, at)) {
        const done = await expire(actor, request.id, source, at);
        throw expiredError(done ?? request);
      }
      const missing = missingApprovals(request.requirements, request.approvals);
      throw new ConfigError(
        'INSUFFICIENT_APPROVERS',
        `change request ${request.id} still needs ${missing.map((m) => `${m.missing} approval(s) for ${m.environment}`).join(', ')}`,
        { ref: key },
      );
    }
    if (request.status !== 'approved') {
      throw errors.constraint(`change request ${request.id} is ${request.status} and cannot be applied`, { ref: key });
    }
    if (request.applyAt !== undefined && at.getTime() < Date.parse(request.applyAt)) {
      throw errors.constraint(`change request ${request.id} is scheduled for ${request.applyAt}`, { ref: key });
    }
    const target = request.baseVersion + 1;
    const envs = await environmentMap();
    const doc = candidate(ref, target, request.proposed, request.requestedBy, request.message, at, {
      changeRequest: request.id,
    });
    let written: ConfigVersion;
    const head = await store.getHead(ref, { consistent: true });
    const conflict = async (): Promise<ConfigVersion> => {
      // Another apply of this same request may have won the race: then it is applied, once.
      const existing = await store.getVersion(ref, target, { consistent: true });
      if (existing && existing.metadata.changeRequest === request.id) return existing;
      const now = await store.getHead(ref, { consistent: true });
      throw new ConfigError(
        'CONFLICTING_CHANGE',
        `${key}: change request ${request.id} was made against v${request.baseVersion}, but the head is now v${now?.version ?? 0}; propose the change again`,
        { ref: key, version: request.baseVersion },
      );
    };
    if ((head?.version ?? 0) !== request.baseVersion) written = await conflict();
    else {
      await checkDocument(doc, envs);
      try {
        written = await store.append(doc);
      } catch (error) {
        if (!isConfigError(error, 'VERSION_CONFLICT')) throw error;
        written = await conflict();
      }
    }
    const before = request.baseVersion > 0 ? await store.getVersion(ref, request.baseVersion) : undefined;
    const changes = diffViews(contentView(before), contentView(written));
    const iso = at.toISOString();
    let final: ChangeRequest | undefined;
    try {
      final = await governance.updateRequest(request.id, (cur) => {
        if (cur.status === 'applied') return undefined;
        return {
          value: {
            ...cur,
            status: 'applied',
            appliedVersion: written.version,
            appliedAt: iso,
            appliedBy: actor.id,
            updatedAt: iso,
            revision: cur.revision + 1,
          },
          audit: event(
            actor,
            'request.apply',
            {
              ref: key,
              version: written.version,
              requestId: request.id,
              message: `applied ${request.kind} as v${written.version}${cur.status === 'approved' ? '' : ` (request was ${cur.status} meanwhile)`}: ${request.message}`,
              changes,
            },
            source,
          ),
        };
      });
    } catch (error) {
      throw writtenButNotAudited(written, error);
    }
    if (!final) throw errors.notFound(`change request ${request.id} does not exist`);
    return final;
  }

  // -- the service

  const service: ConfigService = {
    schemas,

    async get(actorInput, refInput, opts) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      const o = optionsObject(opts, 'get');
      const version = o.version === undefined ? undefined : checkVersionNumber(o.version, 'version', 1);
      return store.getVersion(ref, version);
    },

    async getVersion(actorInput, refInput, version) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      return readVersion(ref, checkVersionNumber(version, 'version', 1));
    },

    async list(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('list query must be an object');
      if (query.scope !== undefined) {
        const scope = parseRef({ scope: query.scope, id: 'x' }).scope;
        authorize(actor, 'config:list', { scope });
        return store.listHeads(query);
      }
      if (rbac.can(actor, 'config:list')) return store.listHeads(query);
      // Only scoped bindings: list what the actor may see.
      const visible = (await store.listHeads(query)).filter((h) => rbac.can(actor, 'config:list', h.ref.scope));
      if (visible.length === 0) authorize(actor, 'config:list');
      return visible;
    },

    async history(actorInput, refInput, opts) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      const o = optionsObject(opts, 'history');
      const limit = o.limit === undefined ? 100 : checkVersionNumber(o.limit, 'limit', 1);
      const versions = (await store.listVersions(ref)).reverse().slice(0, limit);
      const out: VersionSummary[] = [];
      for (const v of versions) {
        const doc = await store.getVersion(ref, v);
        if (!doc) continue;
        out.push({
          version: doc.version,
          checksum: doc.checksum,
          createdAt: doc.createdAt,
          createdBy: doc.createdBy,
          message: doc.message,
          deleted: isTombstone(doc),
          metadata: doc.metadata,
        });
      }
      return out;
    },

    async diff(actorInput, refInput, from, to) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      checkVersionNumber(from, 'from', 0);
      const head = await store.getHead(ref);
      const target = to === undefined ? (head?.version ?? 0) : checkVersionNumber(to, 'to', 0);
      const a = from === 0 ? undefined : await readVersion(ref, from);
      const b = target === 0 ? undefined : await readVersion(ref, target);
      return { ref: refKey(ref), from, to: target, patch: diffViews(contentView(a), contentView(b)) };
    },

    set(actor, input, opts) {
      if (!isPlainObject(input))
        return Promise.reject(errors.constraint('set input must be an object { ref, config, ... }'));
      return write(actor, 'set', input.ref, input, opts);
    },

    delete(actor, ref, opts) {
      return write(actor, 'delete', ref, { message: (opts as DeleteOptions | undefined)?.message }, opts);
    },

    rollback(actor, ref, opts) {
      const o = (opts ?? {}) as ServiceRollbackOptions;
      return write(actor, 'rollback', ref, { to: o.to, message: o.message }, opts);
    },

    async propose(actorInput, input, opts) {
      const actor = begin(actorInput);
      if (!isPlainObject(input)) throw errors.constraint('propose input must be an object { ref, kind, ... }');
      const ref = parseRef(input.ref);
      const key = refKey(ref);
      authorize(actor, 'approval:request', ref);
      const source = checkSource(optionsObject(opts, 'propose').source, defaultSource);
      const kind = input.kind ?? 'set';
      if (!['set', 'delete', 'rollback'].includes(kind))
        throw errors.constraint('kind must be set, delete or rollback');
      const base =
        input.baseVersion === undefined ? undefined : checkVersionNumber(input.baseVersion, 'baseVersion', 0);
      let applyAt: string | undefined;
      if (input.applyAt !== undefined) {
        const t = input.applyAt instanceof Date ? input.applyAt.getTime() : Date.parse(String(input.applyAt));
        if (typeof input.applyAt !== 'string' && !(input.applyAt instanceof Date))
          throw errors.constraint('applyAt must be a date');
        if (Number.isNaN(t)) throw errors.constraint('applyAt is not a valid date');
        applyAt = new Date(t).toISOString();
      }
      const envs = await environmentMap();
      const p = await prepare(ref, kind, input, base);
      const at = now();
      const doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at);
      await checkDocument(doc, envs);
      const affected = affectedEnvironments(changeContent(p.before), changeContent(doc), envs);
      const requirements = requirementsFor(affected, envs);
      checkApprovers(requirements, actor.id);
      const hours = Math.min(
        ...requirements.map((r) => effectivePolicy(envs.get(r.environment) as Environment).expiresAfterHours),
        ...(requirements.length === 0 ? [72] : []),
      );
      const iso = at.toISOString();
      const request: ChangeRequest = {
        id: randomUUID(),
        ref,
        kind,
        baseVersion: p.current,
        proposed: structuredClone(p.content),
        message: p.message,
        requestedBy: actor.id,
        requestedAt: iso,
        environments: requirements.map((r) => r.environment),
        requirements,
        requiredApprovals: Math.max(0, ...requirements.map((r) => r.requiredApprovals)),
        approvals: [],
        status: requirements.length === 0 ? 'approved' : 'pending',
        emergency: false,
        expiresAt: new Date(at.getTime() + hours * 3_600_000).toISOString(),
        updatedAt: iso,
        revision: 1,
      };
      if (applyAt !== undefined) request.applyAt = applyAt;
      await governance.createRequest(
        request,
        event(
          actor,
          'request.create',
          {
            ref: key,
            requestId: request.id,
            message: `${kind} proposed against v${p.current}${requirements.length === 0 ? ' (auto-approved)' : `, needs ${describeRequirements(requirements)}`}${applyAt ? `, apply at ${applyAt}` : ''}: ${p.message}`,
            changes: diffViews(contentView(p.before), contentView(doc)),
          },
          source,
        ),
      );
      return request;
    },

    approve(actor, id, opts) {
      try {
        const o = optionsObject(opts, 'approve');
        return decide(actor, id, 'approve', checkText(o.comment, 'comment'), checkSource(o.source, defaultSource));
      } catch (error) {
        return Promise.reject(error);
      }
    },

    reject(actor, id, opts) {
      try {
        const o = optionsObject(opts, 'reject');
        const reason = checkText(o.reason, 'reason');
        if (!reason) throw errors.constraint('reject needs a reason');
        return decide(actor, id, 'reject', reason, checkSource(o.source, defaultSource));
      } catch (error) {
        return Promise.reject(error);
      }
    },

    async cancel(actorInput, id, opts) {
      const actor = begin(actorInput);
      const o = optionsObject(opts, 'cancel');
      const reason = checkText(o.reason, 'reason');
      const source = checkSource(o.source, defaultSource);
      const existing = await requireRequest(id);
      const own = existing.requestedBy === actor.id;
      authorize(actor, own ? 'approval:request' : 'approval:approve', existing.ref);
      const result = await governance.updateRequest(id, (cur) => {
        if (cur.status !== 'pending' && cur.status !== 'approved') {
          throw errors.constraint(`change request ${id} is ${cur.status} and cannot be cancelled`);
        }
        const iso = now().toISOString();
        const next: ChangeRequest = {
          ...cur,
          status: 'cancelled',
          closedBy: actor.id,
          closedAt: iso,
          updatedAt: iso,
          revision: cur.revision + 1,
        };
        if (reason !== undefined) next.reason = reason;
        return {
          value: next,
          audit: event(
            actor,
            'request.cancel',
            { ref: refKey(cur.ref), requestId: id, message: `cancelled${reason ? `: ${reason}` : ''}` },
            source,
          ),
        };
      });
      if (!result) throw errors.notFound(`change request ${id} does not exist`);
      return result;
    },

    async apply(actorInput, id, opts) {
      const actor = begin(actorInput);
      const source = checkSource(optionsObject(opts, 'apply').source, defaultSource);
      const existing = await requireRequest(id);
      authorize(actor, 'approval:apply', existing.ref);
      return applyRequest(actor, existing, source, now());
    },

    async applyDue(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'approval:apply');
      const o = optionsObject(opts, 'applyDue');
      const source = checkSource(o.source, 'agent');
      if (o.now !== undefined && (!(o.now instanceof Date) || Number.isNaN(o.now.getTime()))) {
        throw errors.constraint('applyDue option now must be a valid Date');
      }
      const at = o.now ?? now();
      const report: ApplyDueReport = { applied: [], expired: [], failed: [] };
      for (const r of await governance.listRequests({ status: 'pending' })) {
        if (!expiredAt(r, at)) continue;
        const done = await expire(actor, r.id, source, at);
        if (done) report.expired.push(done);
      }
      for (const r of await governance.listRequests({ status: 'approved' })) {
        if (r.applyAt === undefined || at.getTime() < Date.parse(r.applyAt)) continue;
        try {
          report.applied.push(await applyRequest(actor, r, source, at));
        } catch (error) {
          report.failed.push({
            id: r.id,
            error: error instanceof ConfigError ? error : errors.unavailable(store.name, error),
          });
        }
      }
      return report;
    },

    async getRequest(actorInput, id) {
      const actor = begin(actorInput);
      const found = await requireRequest(id);
      authorize(actor, 'config:read', found.ref);
      return found;
    },

    async listRequests(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('request query must be an object');
      if (query.ref !== undefined) {
        const ref = parseRef(query.ref);
        authorize(actor, 'config:read', ref);
        return governance.listRequests({ ...query, ref: refKey(ref) });
      }
      const all = await governance.listRequests(query);
      if (rbac.can(actor, 'config:read')) return all;
      const visible = all.filter((r) => rbac.can(actor, 'config:read', r.ref.scope));
      if (visible.length === 0) authorize(actor, 'config:read');
      return visible;
    },

    async createEnvironment(actorInput, input, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'env:write');
      const source = checkSource(optionsObject(opts, 'createEnvironment').source, defaultSource);
      const env = checkEnvironmentInput(input);
      await ready();
      await governance.updateEnvironments((current) => {
        if (current.some((e) => e.name === env.name))
          throw errors.constraint(`environment "${env.name}" already exists`);
        validateEnvironments([...current, env]);
        return {
          value: [env],
          audit: event(
            actor,
            'environment.create',
            {
              environment: env.name,
              message: `environment ${env.name}${env.parent ? ` (parent ${env.parent})` : ''} created`,
              changes: diffViewsOf({}, env),
            },
            source,
          ),
        };
      });
      return env;
    },

    async updateEnvironment(actorInput, input, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'env:write');
      const source = checkSource(optionsObject(opts, 'updateEnvironment').source, defaultSource);
      const env = checkEnvironmentInput(input);
      await ready();
      await governance.updateEnvironments((current) => {
        const previous = current.find((e) => e.name === env.name);
        if (!previous) throw errors.environmentNotFound(env.name);
        validateEnvironments(current.map((e) => (e.name === env.name ? env : e)));
        return {
          value: [env],
          audit: event(
            actor,
            'environment.update',
            { environment: env.name, message: `environment ${env.name} updated`, changes: diffViewsOf(previous, env) },
            source,
          ),
        };
      });
      return env;
    },

    async listEnvironments(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'env:read');
      await ready();
      return governance.listEnvironments();
    },

    async registerSchema(actorInput, id, schema, opts) {
      const actor = begin(actorInput);
      parseId(id);
      authorize(actor, 'schema:write');
      const source = checkSource(optionsObject(opts, 'registerSchema').source, defaultSource);
      await schemas.load(id);
      const before = schemas.latestVersion(id);
      const ctx: SchemaAuditContext = { actor, source, recorded: false };
      const version = await schemaAudit.run(ctx, () => schemas.register(id, schema));
      if (version !== before && !ctx.recorded) await recordSchema(actor, id, version, source);
      return version;
    },

    async publishSchema(actorInput, id, schema, opts) {
      const actor = begin(actorInput);
      parseId(id);
      authorize(actor, 'schema:write');
      const o = optionsObject(opts, 'publishSchema');
      const source = checkSource(o.source, defaultSource);
      if (o.force !== undefined && typeof o.force !== 'boolean') throw errors.constraint('force must be a boolean');
      const checked = schemas.checkSchema(schema, id);
      const envs = await environmentMap();
      await schemas.load(id);
      const views = resolvedViews(await documentsOf(id), envs, schemaDefaults(checked));
      const currentDocuments = Object.fromEntries(views.map((v) => [v.name, v.value]));
      const ctx: SchemaAuditContext = { actor, source, recorded: false };
      const report = await schemaAudit.run(ctx, () =>
        schemas.publish(id, checked, { currentDocuments, force: o.force === true }),
      );
      if (report.changed && !ctx.recorded) await recordSchema(actor, id, report.version, source);
      return report;
    },

    async getSchema(actorInput, id, version) {
      const actor = begin(actorInput);
      parseId(id);
      authorize(actor, 'schema:read');
      if (version !== undefined) checkVersionNumber(version, 'version', 1);
      await schemas.load(id);
      return schemas.get(id, version);
    },

    async listSchemas(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'schema:read');
      const byId = new Map<string, { id: string; version: number; versions: number }>();
      for (const stored of await governance.listSchemas()) {
        const entry = byId.get(stored.id) ?? { id: stored.id, version: 0, versions: 0 };
        entry.version = Math.max(entry.version, stored.version);
        entry.versions++;
        byId.set(stored.id, entry);
      }
      return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async validateDocument(actorInput, id, value, opts) {
      const actor = begin(actorInput);
      parseId(id);
      authorize(actor, 'schema:read');
      const o = optionsObject(opts, 'validateDocument');
      await schemas.load(id);
      return schemas.check(
        id,
        value,
        o.version === undefined ? {} : { version: checkVersionNumber(o.version, 'version', 1) },
      );
    },

    async putPolicy(actorInput, name, policy, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:write');
      const source = checkSource(optionsObject(opts, 'putPolicy').source, defaultSource);
      if (typeof name !== 'string' || !POLICY_NAME.test(name)) {
        throw errors.constraint('policy name must be 1-128 characters of [A-Za-z0-9_.-]');
      }
      if (!isPlainObject(policy)) throw errors.constraint('a policy must be a JSON object');
      assertJson(policy, '/policy');
      const bytes = Buffer.byteLength(canonicalJson(policy), 'utf8');
      if (bytes > maxDocumentBytes) throw errors.tooLarge(bytes, maxDocumentBytes);
      const previous = await governance.getPolicy(name);
      const stored: StoredPolicy = { name, policy: structuredClone(policy), updatedAt: now().toISOString() };
      await governance.putPolicy(
        stored,
        event(
          actor,
          'policy.put',
          {
            message: `policy ${name} ${previous ? 'updated' : 'created'}`,
            changes: diffViewsOf(previous?.policy ?? {}, policy),
          },
          source,
        ),
      );
      return stored;
    },

    async getPolicy(actorInput, name) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:read');
      if (typeof name !== 'string' || !POLICY_NAME.test(name))
        throw errors.constraint('policy name must be 1-128 characters of [A-Za-z0-9_.-]');
      return governance.getPolicy(name);
    },

    async listPolicies(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:read');
      return governance.listPolicies();
    },

    async audit(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('audit query must be an object');
      let q: AuditQuery = query;
      if (query.ref !== undefined) {
        const ref = parseRef(query.ref);
        authorize(actor, 'config:audit:read', ref);
        q = { ...query, ref: refKey(ref) };
      } else authorize(actor, 'config:audit:read');
      return (await governance.queryAudit(q)).map(eventOf);
    },

    async verifyAudit(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'config:audit:read');
      const verifier = new AuditChainVerifier();
      let after = 0;
      for (;;) {
        const page = await governance.readAuditChain(after, 1000);
        for (const record of page) if (!verifier.push(record)) return verifier.result();
        if (page.length < 1000) return verifier.result();
        after = page.at(-1)?.seq ?? after;
      }
    },

    async exportAll(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'export');
      const o = optionsObject(opts, 'exportAll');
      await ready();
      return exportLines(backupDeps(actor, defaultSource), o);
    },

    async importAll(actorInput, source, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'import');
      const o = optionsObject(opts, 'importAll');
      return importRecords(backupDeps(actor, checkSource(o.source, defaultSource)), source, o);
    },

    close() {
      return lifecycle.close(() => {});
    },

    [Symbol.asyncDispose]() {
      return service.close();
    },
  };

  function diffViewsOf(a: object, b: object) {
    return diffViews(a as never, b as never);
  }

  async function recordSchema(actor: Actor, id: string, version: number, source: AuditSource): Promise<void> {
    await governance.appendAudit(
      event(actor, 'schema.register', { message: `schema ${id} v${version}`, changes: [] }, source),
    );
  }

  function backupDeps(actor: Actor, source: AuditSource) {
    const checker = new SchemaRegistry();
    return {
      store,
      governance,
      limits,
      now,
      checkSchema: (schema: unknown, id: string) => {
        checker.checkSchema(schema, id);
      },
      checkEnvironment: checkEnvironmentInput,
      auditFor: (action: string, message: string) => event(actor, action, { message }, source),
    };
  }

  return service;
}
