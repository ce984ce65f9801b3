/**
 * Building an id's entry from its documents: layers resolved for this environment, the rollout
 * compiled, secret references resolved, and every candidate (with each overlay the rollout can
 * produce) validated before it may be swapped in.
 */
import { deepFreeze, isPlainObject, type JsonObject } from '../model/json.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { resolveLayers, withRollout } from '../resolve/resolver.js';
import { sourceLayers } from '../resolve/sources.js';
import { compileRollout, NO_ROLLOUT, type RolloutOutcome } from '../rollout/evaluate.js';
import type { ClientContext } from './context.js';
import type { Entry, Resolver } from './resolution.js';

/** A document the client holds, with the tier that answered and whether it is a stale copy. */
export interface Held {
  doc: ConfigVersion;
  source: string;
  stale: boolean;
}

/**
 * The entry of `id` from its global and app documents (at least one). Throws when anything is
 * invalid or a secret cannot be resolved.
 */
export async function buildEntry(
  ctx: ClientContext,
  resolver: Resolver,
  id: string,
  global: Held | undefined,
  app: Held | undefined,
): Promise<Entry> {
  const { schemas, sources, secrets } = ctx.options;
  const hasSchema = schemas?.latestVersion(id) !== undefined;
  const base = resolveLayers({
    defaults: hasSchema ? schemas?.defaults(id) : undefined,
    global: global?.doc,
    app: app?.doc,
    environmentChain: ctx.chain,
    extra: sources ? sourceLayers(sources, id, hasSchema ? schemas?.get(id)?.schema : undefined) : undefined,
  });
  const rolloutDoc = app?.doc.rollout ? app.doc : global?.doc.rollout ? global.doc : undefined;
  const rollout = rolloutDoc?.rollout ? compileRollout(rolloutDoc.rollout, { ref: refKey(rolloutDoc.ref) }) : undefined;
  const docs = [global, app].filter((d) => d !== undefined).map((d) => d.doc);
  if (secrets) {
    // A new version may point at a rotated secret: read every secret it references afresh.
    for (const d of docs) for (const [provider, name] of secretRefsOf(d)) secrets.invalidate(provider, name);
  }
  const values = new Map<RolloutOutcome, JsonObject>();
  for (const outcome of rollout ? [NO_ROLLOUT, ...rollout.outcomes] : [NO_ROLLOUT]) {
    let candidate = outcome.overlay
      ? withRollout(base, { overlay: outcome.overlay, ruleId: outcome.ruleId, variant: outcome.variant }).value
      : base.value;
    if (secrets && hasSecretRef(candidate)) candidate = deepFreeze(await secrets.resolveRefs(candidate));
    if (hasSchema) schemas?.validate(id, candidate, { ref: refKey((app ?? global)?.doc.ref as ConfigRef) });
    ctx.options.validate?.({ id, value: candidate, docs });
    values.set(outcome, candidate);
  }
  const entry: Entry = {
    base,
    rollout,
    fixed: undefined,
    byOutcome: new WeakMap(),
    values,
    meta: Object.freeze({
      versions: Object.freeze({ global: global?.doc.version, app: app?.doc.version }),
      checksum: `${global?.doc.checksum ?? ''}:${app?.doc.checksum ?? ''}`,
      source: (app ?? global)?.source ?? 'none',
      stale: [global, app].some((d) => d?.stale),
    }),
  };
  // Without context or clock dependence, every get() returns the same frozen details.
  if (!rollout || (!rollout.usesContext && !rollout.usesClock)) entry.fixed = resolver.evaluate(entry, undefined);
  return entry;
}

/** True when `value` holds a `{"$secret": ...}` reference anywhere. */
function hasSecretRef(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasSecretRef);
  if (!isPlainObject(value)) return false;
  if (Object.hasOwn(value, '$secret')) return true;
  return Object.values(value).some(hasSecretRef);
}

/** The (provider, name) of every secret reference in a document's config, overrides and rollout. */
function secretRefsOf(doc: ConfigVersion): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!isPlainObject(value)) return;
    const ref = value.$secret;
    if (isPlainObject(ref) && typeof ref.provider === 'string' && typeof ref.name === 'string') {
      out.push([ref.provider, ref.name]);
      return;
    }
    for (const v of Object.values(value)) walk(v);
  };
  walk(doc.config);
  walk(doc.overrides);
  walk(doc.rollout);
  return out;
}
