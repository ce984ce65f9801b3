/**
 * Drift for the sync loop: what of a plan is a change made outside git rather than a change of the
 * tree. At the applied commit every difference is drift. When a new commit is applied without
 * `revert`, a difference the new commit did not bring (the ref's document, the schema or the
 * environment is the same in the tree at the applied commit and at the new one) is drift too, and is
 * left out of the apply: only what git changed is written, so a change made outside git is not set
 * back by a commit that did not touch it.
 */
import { canonicalJson } from '@summit-config/core/internal';
import type { GitopsPlan } from './plan.js';
import type { GitopsTree } from './tree.js';

/** Refs (`<scope>/<id>`), `schema:<id>` and `env:<name>` of `plan` that differ from the tree (open requests of the sync excluded). */
export function driftOf(plan: GitopsPlan): string[] {
  const out: string[] = [];
  for (const e of plan.environments) if (e.action === 'create' || e.action === 'update') out.push(`env:${e.name}`);
  for (const s of plan.schemas) if (s.action === 'register') out.push(`schema:${s.id}`);
  for (const r of plan.refs) {
    if ((r.action === 'create' || r.action === 'update' || r.action === 'delete') && !r.openRequest) out.push(r.ref);
  }
  return out;
}

/**
 * Splits `plan` (of the new commit) into what the new commit changed since `before` (the tree at the
 * applied commit), to apply, and the drift it did not change, left out. Never throws.
 */
export function withoutDrift(plan: GitopsPlan, before: GitopsTree): { plan: GitopsPlan; drift: string[] } {
  const same = (a: unknown, b: unknown) => a !== undefined && canonicalJson(a) === canonicalJson(b);
  const docs = new Map(before.refs.map((r) => [r.key, r.document]));
  const schemas = new Map(before.schemas.map((s) => [s.id, s.schema]));
  const envs = new Map((before.environments ?? []).map((e) => [e.name, e]));
  const drift: string[] = [];
  const refs = plan.refs.filter((r) => {
    if (r.openRequest || (r.action !== 'create' && r.action !== 'update' && r.action !== 'delete')) return true;
    // In the new tree with the document it had: changed outside git. Deleted by prune but absent
    // from the old tree too: created outside git.
    const kept = r.action === 'delete' ? !docs.has(r.ref) : same(docs.get(r.ref), r.document);
    if (kept) drift.push(r.ref);
    return !kept;
  });
  const environments = plan.environments.map((e) => {
    if ((e.action !== 'create' && e.action !== 'update') || !same(envs.get(e.name), e.environment)) return e;
    drift.push(`env:${e.name}`);
    return { ...e, action: 'unchanged' as const, patch: [] };
  });
  const schemaPlans = plan.schemas.map((s) => {
    if (s.action !== 'register' || !same(schemas.get(s.id), s.schema)) return s;
    drift.push(`schema:${s.id}`);
    return { ...s, action: 'unchanged' as const };
  });
  return { plan: { ...plan, refs, environments, schemas: schemaPlans }, drift };
}
