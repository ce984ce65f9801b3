/**
 * Diffs between versions as RFC 6902 JSON Patch (fast-json-patch). A version is compared through its
 * content view `{ config, overrides, rollout, deleted }`; a ref that does not exist yet (version 0)
 * has the view of a tombstone, so creating, deleting and restoring read the same way.
 */
import { createRequire } from 'node:module';
import type fastJsonPatch from 'fast-json-patch';
import type { JsonPatchOperation } from '../audit/types.js';
import type { JsonObject, JsonValue } from '../model/json.js';
import type { ConfigVersion } from '../model/version.js';

// fast-json-patch (CommonJS, its `module.exports` is the API) is loaded at the first diff or patch,
// not when the package is imported, like yaml, ajv and semver.
const requireCjs = createRequire(import.meta.url);
let patchModule: typeof fastJsonPatch.default | undefined;
function jsonPatch(): typeof fastJsonPatch.default {
  patchModule ??= requireCjs('fast-json-patch') as typeof fastJsonPatch.default;
  return patchModule;
}

/** What a diff compares. */
export interface ContentView {
  config: JsonObject;
  overrides: Record<string, JsonObject>;
  rollout: JsonObject | null;
  deleted: boolean;
}

/** Whether a version is a tombstone (written by delete). */
export function isTombstone(doc: Pick<ConfigVersion, 'metadata'> | undefined): boolean {
  return doc?.metadata.deleted === true;
}

/** The view of a version; `undefined` (no such version, e.g. v0) is an empty tombstone. */
export function contentView(doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'> | undefined) {
  if (!doc) return { config: {}, overrides: {}, rollout: null, deleted: true } satisfies ContentView;
  return {
    config: doc.config,
    overrides: { ...doc.overrides },
    rollout: doc.rollout,
    deleted: isTombstone(doc),
  } satisfies ContentView;
}

/** The RFC 6902 patch that turns `from` into `to`. */
export function diffViews(from: ContentView, to: ContentView): JsonPatchOperation[] {
  return jsonPatch().compare(structuredClone(from), structuredClone(to)) as JsonPatchOperation[];
}

/** Applies a patch to a copy of `document`; throws when the patch does not apply. */
export function applyJsonPatch<T extends JsonValue>(document: T, patch: readonly JsonPatchOperation[]): T {
  return jsonPatch().applyPatch(structuredClone(document), structuredClone(patch) as never, true, true)
    .newDocument as T;
}
