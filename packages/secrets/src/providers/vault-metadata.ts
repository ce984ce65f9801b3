/**
 * How the `vault` provider keeps stages and labels in a KV version 2 secret's `custom_metadata`
 * (Vault allows 64 keys per secret, keys of at most 128 characters, values of at most 512):
 * `summit-current`, `summit-previous`, `summit-pending` hold version numbers, and
 * `summit-label.<version>.<key>` the caller labels of a version that still holds a stage. A
 * version's state is Vault's own: `destroyed`, or deleted (`deletion_time` passed) = `disabled`.
 * Internal to the provider (`vault.ts`).
 */
import type { SecretStage } from '../contract.js';

export const STAGE_KEYS: Readonly<Record<SecretStage, string>> = Object.freeze({
  current: 'summit-current',
  previous: 'summit-previous',
  pending: 'summit-pending',
});
export const LABEL_PREFIX = 'summit-label.';

/** A version as `metadata/` lists it. */
export interface VersionMeta {
  created_time?: string;
  deletion_time?: string;
  destroyed?: boolean;
}

/** A secret's `metadata/`, `custom_metadata` `{}` when null. */
export interface SecretMeta {
  current_version: number;
  /** The secret's own max_versions; 0 when it has none (the engine's setting applies, default 10). */
  max_versions: number;
  custom_metadata: Record<string, string>;
  versions: Map<number, VersionMeta>;
}

/** The version number holding each stage, if any. */
export type Stages = Record<SecretStage, number | undefined>;

/** `destroyed`, `disabled` (deleted) or `enabled`. */
export function stateOf(v: VersionMeta): 'enabled' | 'disabled' | 'destroyed' {
  if (v.destroyed) return 'destroyed';
  const deleted = v.deletion_time ? Date.parse(v.deletion_time) : Number.NaN;
  return Number.isFinite(deleted) && deleted <= Date.now() ? 'disabled' : 'enabled';
}

/** Which enabled version holds each stage; an unmanaged secret's latest enabled version is current. */
export function stagesOf(meta: SecretMeta): Stages {
  const cm = meta.custom_metadata;
  const holder = (stage: SecretStage): number | undefined => {
    const n = Number(cm[STAGE_KEYS[stage]]);
    const v = meta.versions.get(n);
    return v && stateOf(v) === 'enabled' ? n : undefined;
  };
  let current = holder('current');
  if (cm[STAGE_KEYS.current] === undefined) {
    const enabled = [...meta.versions].filter(([, v]) => stateOf(v) === 'enabled').map(([n]) => n);
    current = enabled.length > 0 ? Math.max(...enabled) : undefined;
  }
  return { current, previous: holder('previous'), pending: holder('pending') };
}

/** The caller labels of `version`. */
export function labelsOf(cm: Record<string, string>, version: number): Record<string, string> {
  const prefix = `${LABEL_PREFIX}${version}.`;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(cm)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** custom_metadata changes removing a version's labels (merge patch: `null` removes). */
export function dropLabels(cm: Record<string, string>, version: number): Record<string, null> {
  const prefix = `${LABEL_PREFIX}${version}.`;
  return Object.fromEntries(Object.keys(cm).flatMap((k) => (k.startsWith(prefix) ? [[k, null]] : [])));
}

/** custom_metadata entries holding `labels` for `version`. */
export function withLabels(version: number, labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [`${LABEL_PREFIX}${version}.${k}`, v]));
}
