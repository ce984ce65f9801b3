/**
 * What schema validation of a write checks: the values clients will resolve, not the raw document.
 * A client resolves `defaults -> global -> global overrides -> app -> app overrides -> rollout
 * overlay` for its environment, so a document is checked in every combination it takes part in:
 * with the other scope's current document, for the base (no environment) and every defined
 * environment, and with every overlay its rollout can produce.
 */
import { type Environment, environmentChain } from '../model/environment.js';
import type { JsonObject } from '../model/json.js';
import { refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { resolveLayers, withRollout } from '../resolve/resolver.js';
import { compileRollout, NO_ROLLOUT } from '../rollout/evaluate.js';

/** One resolved value, named `<ref>[@<environment>][#<rollout outcome>]`. */
export interface ResolvedView {
  name: string;
  value: JsonObject;
}

/** The documents of one config id: the global one and the applications' (tombstones left out). */
export interface DocumentsOfId {
  global: ConfigVersion | undefined;
  apps: ConfigVersion[];
}

function viewsOf(
  global: ConfigVersion | undefined,
  app: ConfigVersion | undefined,
  environments: ReadonlyMap<string, Environment>,
  defaults: JsonObject | undefined,
): ResolvedView[] {
  const owner = (app ?? global) as ConfigVersion;
  const rolloutDoc = app?.rollout ? app : global?.rollout ? global : undefined;
  const outcomes = rolloutDoc?.rollout
    ? [NO_ROLLOUT, ...compileRollout(rolloutDoc.rollout, { ref: refKey(rolloutDoc.ref) }).outcomes]
    : [NO_ROLLOUT];
  const chains: Array<[string, string[]]> = [['', []]];
  for (const name of [...environments.keys()].sort()) chains.push([name, environmentChain(name, environments)]);
  const out: ResolvedView[] = [];
  for (const [env, chain] of chains) {
    const base = resolveLayers({ defaults, global, app, environmentChain: chain });
    for (const outcome of outcomes) {
      const value = outcome.overlay
        ? withRollout(base, { overlay: outcome.overlay, ruleId: outcome.ruleId, variant: outcome.variant }).value
        : base.value;
      const name = `${refKey(owner.ref)}${env ? `@${env}` : ''}${outcome === NO_ROLLOUT ? '' : `#${outcome.key}`}`;
      out.push({ name, value });
    }
  }
  return out;
}

/**
 * The views a document takes part in. With `only`, just the views that involve that ref (a write
 * of an app document does not re-check the other apps); without it, every view of the id.
 */
export function resolvedViews(
  docs: DocumentsOfId,
  environments: ReadonlyMap<string, Environment>,
  defaults: JsonObject | undefined,
  only?: ConfigVersion,
): ResolvedView[] {
  const out: ResolvedView[] = [];
  const onlyGlobal = only !== undefined && only.ref.scope === 'global';
  if (docs.global && (only === undefined || onlyGlobal))
    out.push(...viewsOf(docs.global, undefined, environments, defaults));
  for (const app of docs.apps) {
    if (only !== undefined && !onlyGlobal && refKey(app.ref) !== refKey(only.ref)) continue;
    out.push(...viewsOf(docs.global, app, environments, defaults));
  }
  return out;
}
