/**
 * The dry run's view of the store: the documents earlier migrations of the plan would write are
 * laid over the heads, so a later migration is planned (and validated) against them.
 */
import { ConfigError, type ValidationIssue } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import { refKey } from '../model/ref.js';
import { type ConfigVersion, createVersion } from '../model/version.js';
import type { Actor } from '../rbac/rbac.js';
import { isTombstone } from '../service/diff.js';
import { type DocumentsOfId, resolvedViews } from '../service/views.js';
import { metadataOf, migrationMessage } from './run-records.js';
import type { RunnerContext } from './runner-context.js';
import type { MigratedContent, Migration } from './types.js';

export interface Simulation {
  envs: Map<string, Environment>;
  /** Simulated documents by key (the result of earlier migrations in this plan). */
  overlay: Map<string, ConfigVersion>;
}

/** The document of `key` as the plan has it so far. */
export async function currentDoc(
  ctx: RunnerContext,
  actor: Actor,
  sim: Simulation,
  key: string,
): Promise<ConfigVersion | undefined> {
  return sim.overlay.get(key) ?? (await ctx.service.get(actor, key));
}

async function documentsWith(
  ctx: RunnerContext,
  actor: Actor,
  sim: Simulation,
  doc: ConfigVersion,
): Promise<DocumentsOfId> {
  const id = doc.ref.id;
  const out: DocumentsOfId = { global: undefined, apps: [] };
  if (doc.ref.scope === 'global') {
    for (const head of await ctx.service.list(actor, { prefix: id })) {
      if (head.ref.id !== id || head.ref.scope === 'global') continue;
      const app = await currentDoc(ctx, actor, sim, refKey(head.ref));
      if (app && !isTombstone(app)) out.apps.push(app);
    }
    out.global = doc;
  } else {
    const global = await currentDoc(ctx, actor, sim, refKey({ scope: 'global', id }));
    if (global && !isTombstone(global)) out.global = global;
    out.apps.push(doc);
  }
  return out;
}

/**
 * The schema issues of every resolved view `candidate` takes part in (none without a schema for
 * its id). Throws `ENVIRONMENT_NOT_FOUND` for an override of an undefined environment.
 */
export async function validateCandidate(
  ctx: RunnerContext,
  actor: Actor,
  sim: Simulation,
  candidate: ConfigVersion,
): Promise<ValidationIssue[]> {
  const key = refKey(candidate.ref);
  for (const name of Object.keys(candidate.overrides)) {
    if (!sim.envs.has(name)) {
      throw new ConfigError(
        'ENVIRONMENT_NOT_FOUND',
        `${key}: overrides would name environment "${name}", which is not defined`,
        { ref: key },
      );
    }
  }
  const schemas = ctx.service.schemas;
  const id = candidate.ref.id;
  await schemas.load(id);
  if (schemas.latestVersion(id) === undefined) return [];
  const docs = await documentsWith(ctx, actor, sim, candidate);
  const views = resolvedViews(docs, sim.envs, schemas.defaults(id), candidate);
  const issues: ValidationIssue[] = [];
  for (const view of views) {
    for (const issue of schemas.check(id, view.value))
      issues.push({ ...issue, message: `[${view.name}] ${issue.message}` });
  }
  return issues;
}

/** The version migrating `doc` to `content` would write (its shape checked). */
export function candidateOf(
  actor: Actor,
  m: Migration,
  run: number,
  doc: ConfigVersion,
  content: MigratedContent,
): ConfigVersion {
  return createVersion(
    {
      ref: doc.ref,
      config: content.config,
      overrides: content.overrides,
      rollout: content.rollout,
      metadata: metadataOf(m, run),
      createdBy: actor.id,
      message: migrationMessage(m, run),
    },
    doc.version + 1,
  );
}
