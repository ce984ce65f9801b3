/**
 * The environments part of a gitops plan (what `environments.yaml` creates and updates, checked as a
 * whole with the store's), and the check of the options every gitops entry point takes.
 */
import type { ConfigService, Environment } from '@summit-config/core';
import { canonicalJson, diffViews, errors, isPlainObject, validateEnvironments } from '@summit-config/core/internal';
import type { EnvironmentPlan } from './plan.js';
import { GitopsTreeError } from './tree-error.js';

/**
 * Throws `CONSTRAINT_VIOLATION` naming the bad option unless `options` holds a change service
 * (`service`) and an actor (`actor` with an `id`).
 */
export function checkCallOptions(what: string, options: unknown): void {
  if (!isPlainObject(options)) throw errors.constraint(`${what} options are required`);
  const service = options.service as Partial<ConfigService> | undefined;
  if (typeof service?.list !== 'function' || typeof service.set !== 'function') {
    throw errors.constraint(`${what} option service must be a ConfigService`);
  }
  const actor = options.actor as { id?: unknown } | undefined;
  if (!isPlainObject(actor) || typeof actor.id !== 'string') {
    throw errors.constraint(`${what} option actor must be an Actor { id, ... }`);
  }
}

/**
 * The plan of each environment of the tree (`create`, `update`, `unchanged`), the store's others
 * (`absent`, kept) when the tree has an environments file, and the environments after apply. Throws
 * `GitopsTreeError` naming the environments file when the result is not a valid set (unknown
 * parents, loops).
 */
export function planEnvironments(
  current: readonly Environment[],
  tree: readonly Environment[] | undefined,
  file: string | undefined,
): { plans: EnvironmentPlan[]; map: Map<string, Environment> } {
  const byName = new Map(current.map((e) => [e.name, e]));
  const plans: EnvironmentPlan[] = [];
  const merged = new Map(byName);
  for (const env of tree ?? []) {
    const before = byName.get(env.name);
    const patch = diffViews(
      (before ?? {}) as unknown as Parameters<typeof diffViews>[0],
      env as unknown as Parameters<typeof diffViews>[0],
    );
    const same = before !== undefined && canonicalJson(before) === canonicalJson(env);
    plans.push({
      name: env.name,
      action: before === undefined ? 'create' : same ? 'unchanged' : 'update',
      environment: env,
      patch,
    });
    merged.set(env.name, env);
  }
  // Environments are never deleted; without an environments.yaml they are not the tree's concern.
  const named = new Set((tree ?? []).map((e) => e.name));
  for (const env of tree === undefined ? [] : current) {
    if (!named.has(env.name)) plans.push({ name: env.name, action: 'absent', environment: env, patch: [] });
  }
  try {
    validateEnvironments([...merged.values()]);
  } catch (error) {
    throw new GitopsTreeError({ file: file ?? 'environments.yaml' }, (error as Error).message, { cause: error });
  }
  return { plans, map: merged };
}
