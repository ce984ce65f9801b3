import { isPlainObject, type JsonObject, type JsonValue } from '../model/json.js';
import { deref } from './walk.js';

/** Fills members of `target` that are missing with those of `defaults`, recursing into objects. */
function fillMissing(target: JsonObject, defaults: JsonObject): JsonObject {
  for (const [key, value] of Object.entries(defaults)) {
    const current = target[key];
    if (current === undefined) target[key] = value;
    else if (isPlainObject(current) && isPlainObject(value)) fillMissing(current as JsonObject, value as JsonObject);
  }
  return target;
}

function collect(node: unknown, root: unknown, depth: number): JsonValue | undefined {
  if (depth > 64) return undefined;
  const schema = deref(node, root);
  if (!isPlainObject(schema)) return undefined;
  // An explicit default wins over the defaults of its members, which only fill gaps (ajv's
  // `useDefaults` order: the parent's default is assigned first, then its properties' defaults).
  let out: JsonValue | undefined =
    schema.default === undefined ? undefined : structuredClone(schema.default as JsonValue);
  const fill = (value: JsonValue | undefined): void => {
    if (value === undefined) return;
    if (out === undefined) out = value;
    else if (isPlainObject(out) && isPlainObject(value)) fillMissing(out as JsonObject, value as JsonObject);
  };
  if (isPlainObject(schema.properties)) {
    const fromProps: JsonObject = {};
    for (const [name, child] of Object.entries(schema.properties)) {
      const d = collect(child, root, depth + 1);
      if (d !== undefined) fromProps[name] = d;
    }
    if (Object.keys(fromProps).length > 0) fill(fromProps);
  }
  if (Array.isArray(schema.allOf)) for (const member of schema.allOf) fill(collect(member, root, depth + 1));
  return out;
}

/**
 * The object of defaults a JSON Schema declares: every property's `default`, nested through object
 * properties, local `$ref`s and `allOf`. A parent's explicit `default` wins; nested defaults fill the
 * members it lacks. Returns `{}` when the schema declares no object default.
 */
export function schemaDefaults(schema: unknown): JsonObject {
  const d = collect(schema, schema, 0);
  return isPlainObject(d) ? (d as JsonObject) : {};
}
