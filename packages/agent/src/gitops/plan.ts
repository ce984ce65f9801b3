/**
 * `planTree`: what applying a gitops tree would do, read from the change service without writing.
 * Per ref the RFC 6902 patch from the head's content to the tree's (the service's own diff), the
 * action (create, update, unchanged, delete with prune, absent without), the schema verdict (the
 * resolved views the service's write check validates, against the tree's schema or the registered
 * one) and the environments that need approval (the service's own rule: `affectedEnvironments` and
 * `requirementsFor`); per schema the compatibility verdict; per environment what changes.
 */
import {
  type Actor,
  type ChangeRequest,
  type ConfigService,
  type ConfigVersion,
  type Environment,
  type JsonObject,
  type JsonPatchOperation,
  SchemaRegistry,
  type ValidationIssue,
} from '@summit-config/core';
import {
  affectedEnvironments,
  canonicalJson,
  changeContent,
  contentView,
  type DocumentsOfId,
  diffViews,
  errors,
  isPlainObject,
  isTombstone,
  RESERVED_METADATA,
  requirementsFor,
  resolvedViews,
} from '@summit-config/core/internal';
import { checkCallOptions, planEnvironments } from './plan-environments.js';
import type { TreeSource } from './source.js';
import { GITOPS_METADATA_KEY, type TreeDocument, type TreeRef } from './tree.js';
import { GitopsTreeError } from './tree-error.js';

/** How many heads the plan reads at once. */
const READ_CONCURRENCY = 16;

/** What applying does to a ref. */
export type RefAction = 'create' | 'update' | 'unchanged' | 'delete' | 'absent';

/** The approvals one guarded environment asks of a change. */
export interface ApprovalNeed {
  environment: string;
  requiredApprovals: number;
}

/** The schema verdict of one ref's document: every resolved view checked against the schema of its id. */
export interface SchemaVerdict {
  /** The schema id (the ref's config id). */
  id: string;
  /** Where the schema comes from: the tree (`schemas/<id>.json`) or the registered one. */
  from: 'tree' | 'registered';
  valid: boolean;
  /** The issues, each message prefixed by the view (`app:shop/db@production`). */
  issues: ValidationIssue[];
}

/** One ref of the plan. */
export interface RefPlan {
  ref: string;
  /** The tree's file (undefined for refs the tree does not hold). */
  file: string | undefined;
  action: RefAction;
  /** The head the plan read (0: none); apply writes with it as `expectedVersion`. */
  baseVersion: number;
  /** RFC 6902 operations over `{ config, overrides, rollout, deleted }` from the head to the tree. */
  patch: JsonPatchOperation[];
  /** Only the user metadata differs (no patch, still written). */
  metadataOnly: boolean;
  /** The tree's document (create, update, unchanged). */
  document: TreeDocument | undefined;
  /** Guarded environments the change touches: non-empty means a change request instead of a write. */
  approvals: ApprovalNeed[];
  /** Undefined when the id has no schema (or the ref is deleted or unchanged). */
  schema: SchemaVerdict | undefined;
  /**
   * An open change request with this content made against the current head (one from this commit
   * first): apply does not propose it again (and applies it once approved).
   */
  openRequest: { id: string; status: ChangeRequest['status'] } | undefined;
  /**
   * Other open change requests of this ref proposed by gitops (their message starts with `gitops `):
   * for content the tree no longer holds, or against an older head. Left alone, listed so a reviewer
   * does not approve them.
   */
  superseded: string[];
}

/** One schema of the tree. */
export interface SchemaPlan {
  id: string;
  file: string;
  /** The tree's schema (what apply publishes). */
  schema: JsonObject;
  action: 'register' | 'unchanged';
  /** The registered version it replaces (undefined: none). */
  currentVersion: number | undefined;
  /** Whether the change keeps documents valid by structure (the registry's compatibility check). */
  compatible: boolean;
  /** The breaking changes, as the registry words them. */
  breaking: string[];
}

/** One environment: of the tree (`create`, `update`, `unchanged`) or only in the store (`absent`, kept). */
export interface EnvironmentPlan {
  name: string;
  action: 'create' | 'update' | 'unchanged' | 'absent';
  /** The definition after apply (the tree's, or the current one when absent). */
  environment: Environment;
  /** RFC 6902 operations from the current definition to the tree's. */
  patch: JsonPatchOperation[];
}

/** The whole plan. `valid` is false when a document fails its schema: apply then writes nothing. */
export interface GitopsPlan {
  repo: string;
  commit: string | undefined;
  /** The tree's directory inside the repository (`''` at the top level). */
  prefix: string;
  prune: boolean;
  environments: EnvironmentPlan[];
  schemas: SchemaPlan[];
  refs: RefPlan[];
  valid: boolean;
  summary: Record<RefAction, number> & { proposals: number; invalid: number };
}

/** Options of {@link planTree}. */
export interface PlanTreeOptions {
  /** The change service (direct, or over a config server: only its interface is used). */
  service: ConfigService;
  /** Who plans (reads need `config:read`, `schema:read`, `approval:read`). */
  actor: Actor;
  /** The tree and where it came from (`openTreeSource`). */
  source: TreeSource;
  /** Refs absent from the tree are deleted. Default false (they are listed as `absent`). */
  prune?: boolean;
}

/** The user metadata of a head: without the service's reserved keys and without `gitops`. */
export function userMetadataOf(metadata: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (!RESERVED_METADATA.includes(k) && k !== GITOPS_METADATA_KEY) out[k] = v;
  }
  return out;
}

/** Whether a head (or proposed content) holds exactly the tree's document. */
export function sameContent(
  a: { config: JsonObject; overrides: Record<string, JsonObject>; rollout: JsonObject | null; metadata: JsonObject },
  doc: TreeDocument,
): boolean {
  return (
    canonicalJson({ c: a.config, o: a.overrides, r: a.rollout, m: userMetadataOf(a.metadata) }) ===
    canonicalJson({ c: doc.config, o: doc.overrides, r: doc.rollout, m: doc.metadata })
  );
}

/** The version-shaped view of a tree document (for the service's diff and resolution helpers). */
function asVersion(entry: TreeRef): ConfigVersion {
  const { config, overrides, rollout, metadata } = entry.document;
  return { ref: entry.ref, version: 0, config, overrides, rollout, metadata } as unknown as ConfigVersion;
}

/**
 * Plans the tree against the service's current heads, schemas and environments; writes nothing.
 * Throws `GitopsTreeError` (`CONSTRAINT_VIOLATION`, naming the file) when the tree cannot be applied
 * at all (a schema that does not compile, environments whose parents are unknown or loop, overrides
 * naming an environment that will not exist); schema failures of documents are in the plan
 * (`valid: false`). Service failures (access, an unreachable store) are thrown as they are.
 */
export async function planTree(options: PlanTreeOptions): Promise<GitopsPlan> {
  checkCallOptions('planTree', options);
  const { service, actor, source } = options;
  if (!isPlainObject(source) || !isPlainObject(source.tree) || !Array.isArray(source.tree.refs)) {
    throw errors.constraint('planTree option source must be a TreeSource (openTreeSource)');
  }
  if (options.prune !== undefined && typeof options.prune !== 'boolean') {
    throw errors.constraint('planTree option prune must be a boolean');
  }
  const prune = options.prune === true;
  const { tree } = source;

  const [currentEnvs, registeredIds, heads] = await Promise.all([
    service.listEnvironments(actor),
    service.listSchemas(actor),
    service.list(actor),
  ]);
  const environments = planEnvironments(currentEnvs, tree.environments, tree.environmentsFile);
  const envs = environments.map;

  // The schemas after apply, in a registry of this plan only (the service's validator, no persistence).
  const registry = new SchemaRegistry();
  const treeSchemas = new Map(tree.schemas.map((s) => [s.id, s]));
  const schemaPlans: SchemaPlan[] = [];
  const registered = new Map<string, { version: number; schema: JsonObject }>();
  for (const { id } of registeredIds) {
    const found = await service.getSchema(actor, id);
    if (found) registered.set(id, { version: found.version, schema: found.schema });
  }
  for (const [id, r] of registered) if (!treeSchemas.has(id)) await registry.register(id, r.schema);
  for (const s of tree.schemas) {
    const current = registered.get(s.id);
    try {
      registry.checkSchema(s.schema, s.id);
    } catch (error) {
      throw new GitopsTreeError({ file: s.file }, `the schema does not compile: ${(error as Error).message}`, {
        cause: error,
      });
    }
    await registry.register(s.id, s.schema);
    const same = current !== undefined && canonicalJson(current.schema) === canonicalJson(s.schema);
    const compat =
      current && !same ? registry.compatibility(current.schema, s.schema) : { compatible: true, breaking: [] };
    schemaPlans.push({
      id: s.id,
      file: s.file,
      schema: s.schema,
      action: same ? 'unchanged' : 'register',
      currentVersion: current?.version,
      compatible: compat.compatible,
      breaking: compat.breaking.map((b) => b.message),
    });
  }

  // The current documents, and the documents after apply.
  const treeByKey = new Map(tree.refs.map((r) => [r.key, r]));
  const current = new Map<string, ConfigVersion>();
  // At most READ_CONCURRENCY reads at a time (a store, or a server, with thousands of refs).
  let next = 0;
  const reader = async () => {
    while (next < heads.length) {
      const h = heads[next++] as (typeof heads)[number];
      const doc = await service.get(actor, h.ref);
      if (doc) current.set(`${h.ref.scope}/${h.ref.id}`, doc);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, heads.length) }, reader));
  const after = new Map<string, ConfigVersion>();
  for (const [key, doc] of current) {
    if (isTombstone(doc)) continue;
    if (!treeByKey.has(key) && prune) continue;
    after.set(key, doc);
  }
  for (const entry of tree.refs) after.set(entry.key, asVersion(entry));

  // Overrides must name environments that exist after apply (the service refuses them otherwise).
  for (const entry of tree.refs) {
    for (const name of Object.keys(entry.document.overrides)) {
      if (!envs.has(name)) {
        throw new GitopsTreeError(
          { file: entry.file, line: entry.lines.overrides },
          `overrides name environment "${name}", which is neither in environments.yaml nor defined`,
          { ref: entry.key },
        );
      }
    }
  }

  // Documents are checked when they change, and all of them (changed or not) when their schema does.
  const newSchemas = new Set(schemaPlans.filter((s) => s.action === 'register').map((s) => s.id));
  const verdict = (key: string, id: string, changes: boolean) =>
    changes || newSchemas.has(id) ? schemaVerdict(key, id, after, envs, registry, treeSchemas.has(id)) : undefined;

  const open = await openRequests(service, actor);
  const refs: RefPlan[] = [];
  for (const key of [...new Set([...treeByKey.keys(), ...current.keys()])].sort()) {
    const entry = treeByKey.get(key);
    const head = current.get(key);
    const baseVersion = head?.version ?? 0;
    if (!entry) {
      if (!head || isTombstone(head)) continue;
      const tombstone = { config: {}, overrides: {}, rollout: null, metadata: { deleted: true } };
      const needs = prune ? approvalsOf(head, tombstone, envs) : [];
      const openRequest = prune ? findOpen(open, key, baseVersion, undefined, source.commit) : undefined;
      refs.push({
        ref: key,
        file: undefined,
        action: prune ? 'delete' : 'absent',
        baseVersion,
        patch: prune ? diffViews(contentView(head), contentView(undefined)) : [],
        metadataOnly: false,
        document: undefined,
        approvals: needs,
        schema: prune ? undefined : verdict(key, head.ref.id, false),
        openRequest,
        superseded: supersededOf(open, key, openRequest),
      });
      continue;
    }
    const live = head && !isTombstone(head) ? head : undefined;
    const target = asVersion(entry);
    const patch = diffViews(contentView(live), contentView(target));
    const unchanged = live !== undefined && sameContent(live, entry.document);
    const action: RefAction = unchanged ? 'unchanged' : live ? 'update' : 'create';
    const needs = unchanged ? [] : approvalsOf(live, target, envs);
    const openRequest =
      unchanged || needs.length === 0 ? undefined : findOpen(open, key, baseVersion, entry.document, source.commit);
    refs.push({
      ref: key,
      file: entry.file,
      action,
      baseVersion,
      patch,
      metadataOnly: !unchanged && patch.length === 0,
      document: entry.document,
      approvals: needs,
      schema: verdict(key, entry.ref.id, !unchanged),
      openRequest,
      superseded: supersededOf(open, key, openRequest),
    });
  }

  const summary = { create: 0, update: 0, unchanged: 0, delete: 0, absent: 0, proposals: 0, invalid: 0 };
  for (const r of refs) {
    summary[r.action]++;
    if (r.approvals.length > 0 && r.openRequest === undefined) summary.proposals++;
    if (r.schema && !r.schema.valid) summary.invalid++;
  }
  return {
    repo: source.repo,
    commit: source.commit,
    prefix: source.prefix,
    prune,
    environments: environments.plans,
    schemas: schemaPlans,
    refs,
    valid: summary.invalid === 0,
    summary,
  };
}

/** The guarded environments a change from `before` to `after` touches (the service's rule). */
function approvalsOf(
  before: ConfigVersion | undefined,
  after: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'>,
  envs: ReadonlyMap<string, Environment>,
): ApprovalNeed[] {
  return requirementsFor(affectedEnvironments(changeContent(before), changeContent(after), envs), envs).map((r) => ({
    environment: r.environment,
    requiredApprovals: r.requiredApprovals,
  }));
}

/** Every resolved view the document of `key` takes part in after apply, checked against its id's schema. */
function schemaVerdict(
  key: string,
  id: string,
  after: ReadonlyMap<string, ConfigVersion>,
  envs: ReadonlyMap<string, Environment>,
  registry: SchemaRegistry,
  fromTree: boolean,
): SchemaVerdict | undefined {
  if (registry.latestVersion(id) === undefined) return undefined;
  const docs: DocumentsOfId = { global: undefined, apps: [] };
  for (const doc of after.values()) {
    if (doc.ref.id !== id) continue;
    if (doc.ref.scope === 'global') docs.global = doc;
    else docs.apps.push(doc);
  }
  const self = after.get(key) as ConfigVersion;
  const issues: ValidationIssue[] = [];
  for (const view of resolvedViews(docs, envs, registry.defaults(id), self)) {
    for (const issue of registry.check(id, view.value))
      issues.push({ ...issue, message: `[${view.name}] ${issue.message}` });
  }
  return { id, from: fromTree ? 'tree' : 'registered', valid: issues.length === 0, issues };
}

/** Pending and approved change requests (the ones the actor may read: `config:read`), by ref. */
async function openRequests(service: ConfigService, actor: Actor): Promise<Map<string, ChangeRequest[]>> {
  const out = new Map<string, ChangeRequest[]>();
  for (const r of await service.listRequests(actor, { status: ['pending', 'approved'] })) {
    const key = `${r.ref.scope}/${r.ref.id}`;
    out.set(key, [...(out.get(key) ?? []), r]);
  }
  return out;
}

/**
 * An open request of `key` made against the current head (`baseVersion`: one made against an older
 * head can only conflict) with the tree's content (for a delete: of kind delete), preferring one
 * proposed from this commit: the same content from a later commit is not proposed a second time.
 */
function findOpen(
  open: ReadonlyMap<string, ChangeRequest[]>,
  key: string,
  baseVersion: number,
  doc: TreeDocument | undefined,
  commit: string | undefined,
): RefPlan['openRequest'] {
  const same = (open.get(key) ?? []).filter(
    (r) =>
      r.baseVersion === baseVersion &&
      (doc === undefined ? r.kind === 'delete' : r.kind === 'set' && sameContent(r.proposed, doc)),
  );
  const found = same.find((r) => commit !== undefined && r.message.includes(commit)) ?? same[0];
  return found ? { id: found.id, status: found.status } : undefined;
}

/** Open gitops requests of `key` other than `kept`. */
function supersededOf(open: ReadonlyMap<string, ChangeRequest[]>, key: string, kept: RefPlan['openRequest']): string[] {
  return (open.get(key) ?? []).filter((r) => r.message.startsWith('gitops ') && r.id !== kept?.id).map((r) => r.id);
}
