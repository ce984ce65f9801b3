import { isPlainObject, type JsonObject, type JsonValue } from './json.js';

/**
 * Merges `patch` over `base` by the resolution rules: objects merge key by key, arrays and scalars
 * replace, and `null` deletes the key. Neither input is modified; the result shares no mutable
 * structure with `patch` (values are copied) but may share untouched subtrees of `base`.
 */
export function mergeLayers(base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    if (isPlainObject(value) && isPlainObject(current)) {
      out[key] = mergeLayers(current as JsonObject, value as JsonObject);
    } else {
      out[key] = stripNulls(value);
    }
  }
  return out;
}

/** A copy of `value` where object members that are `null` are removed (a delete has nothing to delete). */
function stripNulls(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map((v) => (isPlainObject(v) ? stripNulls(v) : v)) as JsonValue[];
  if (!isPlainObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value as JsonObject)) {
    if (v !== null) out[k] = stripNulls(v);
  }
  return out;
}

/** Merges a list of layers, lowest first. */
export function mergeAll(layers: readonly JsonObject[]): JsonObject {
  let out: JsonObject = {};
  for (const layer of layers) out = mergeLayers(out, layer);
  return out;
}
