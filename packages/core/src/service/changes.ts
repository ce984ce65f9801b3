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
import { type ConfigVersion, createVersion, type Head } from '../model/version.js';
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

  return { prepare, candidate, checkDocument, documentsOf };
}

export type ChangeSteps = ReturnType<typeof changeSteps>;
