/**
 * What every change has in common, whether written at once (`set`, `delete`, `rollback`) or proposed
 * for approval: `prepare` reads the head and builds the content the change would write, `candidate`
 * makes it a version, and `checkDocument` checks it (environments of its overrides, schema of every
 * resolved view) before anything is written.
 */
import type { ChangeKind, ProposedContent, Requirement } from '../approvals/types.js';
import { ConfigError, errors } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import type { JsonObject } from '../model/json.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import { type ConfigVersion, createVersion, type Head, headOf } from '../model/version.js';
import { signVersion } from '../trust/versions.js';
import type { ServiceContext } from './context.js';
import { isTombstone } from './diff.js';
import { checkText, userMetadata } from './inputs.js';
import { type DocumentsOfId, resolvedViews } from './views.js';

/** A change read against the head: the content it would write, and what it replaces. */
export interface Prepared {
  head: Head | undefined;
  current: number;
  before: ConfigVersion | undefined;
  content: ProposedContent;
  message: string;
}

/** What a change may carry: `set` the content, `rollback` its target, every kind a message. */
export interface ChangeInput {
  config?: unknown;
  overrides?: unknown;
  rollout?: unknown;
  metadata?: unknown;
  to?: unknown;
  message?: unknown;
}

/** The requirements as text, e.g. `production (2 approvals), staging (1 approval)`. */
export function describeRequirements(requirements: readonly Requirement[]): string {
  return requirements
    .map((r) => `${r.environment} (${r.requiredApprovals} approval${r.requiredApprovals === 1 ? '' : 's'})`)
    .join(', ');
}

/** The shared steps of a change, bound to the service's store, schemas and limits. */
export function changeSteps(ctx: ServiceContext) {
  const { store, schemas, limits, readVersion } = ctx;

  /** Reads the head and builds the content a set, delete or rollback would write. */
  async function prepare(
    ref: ConfigRef,
    kind: ChangeKind,
    input: ChangeInput,
    expectedVersion: number | undefined,
  ): Promise<Prepared> {
    const key = refKey(ref);
    const message = checkText(input.message, 'message');
    const metadata = kind === 'set' ? userMetadata(input.metadata) : {};
    // One consistent read of the head's document: the append's compare-and-set (the version after it)
    // refuses the write if the head moves meanwhile.
    const before = await store.getVersion(ref, undefined, { consistent: true });
    const head = before ? headOf(before) : undefined;
    const current = head?.version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== current) {
      throw errors.versionConflict(`${key}: expected head v${expectedVersion}, found v${current}`, {
        ref: key,
        version: expectedVersion,
      });
    }
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

  /** The version the content would be at `version` (validated and checksummed, not written). */
  function candidate(
    ref: ConfigRef,
    version: number,
    content: ProposedContent,
    createdBy: string,
    message: string,
    at: Date,
    extra: JsonObject = {},
  ): ConfigVersion {
    const doc = createVersion(
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
    return ctx.signer ? signVersion(doc, ctx.signer) : doc;
  }

  /**
   * The current documents a new version of `ref` resolves with (tombstones left out, `ref`'s own
   * left out): for a global ref every app's, for an app ref the global one. Undefined when no schema
   * of the id is registered (nothing is resolved then), so a write can read them while it reads its head.
   */
  async function documentsAround(ref: ConfigRef): Promise<DocumentsOfId | undefined> {
    const id = ref.id;
    await schemas.load(id);
    if (schemas.latestVersion(id) === undefined) return undefined;
    const out: DocumentsOfId = { global: undefined, apps: [] };
    if (ref.scope === 'global') {
      for (const head of await store.listHeads({ prefix: id })) {
        if (head.ref.id !== id || head.ref.scope === 'global') continue;
        const app = await store.getVersion(head.ref, head.version);
        if (app && !isTombstone(app)) out.apps.push(app);
      }
    } else {
      const global = await store.getVersion({ scope: 'global', id });
      if (global && !isTombstone(global)) out.global = global;
    }
    return out;
  }

  /** The documents of `doc`'s id that `doc` resolves with, `doc` included. */
  function documentsWith(doc: ConfigVersion, around: DocumentsOfId): DocumentsOfId {
    return doc.ref.scope === 'global' ? { global: doc, apps: around.apps } : { global: around.global, apps: [doc] };
  }

  /** The current documents of an id, global and per app (tombstones left out). */
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

  /**
   * Environments named by overrides exist; every resolved view validates against the schema.
   * `around`: what `documentsAround(doc.ref)` returned, read before (read now when not given).
   */
  async function checkDocument(
    doc: ConfigVersion,
    envs: ReadonlyMap<string, Environment>,
    around?: DocumentsOfId,
  ): Promise<void> {
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
    // A schema registered since `around` was read: read them now.
    const others = around ?? (await documentsAround(doc.ref));
    if (others === undefined) return;
    const views = resolvedViews(documentsWith(doc, others), envs, schemas.defaults(id), doc);
    for (const view of views) schemas.validate(id, view.value, { ref: view.name });
  }

  return { prepare, candidate, checkDocument, documentsAround, documentsOf };
}

export type ChangeSteps = ReturnType<typeof changeSteps>;
