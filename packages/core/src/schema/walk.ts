import { isPlainObject } from '../model/json.js';

/** A JSON Schema node: an object schema or a boolean schema. */
export type SchemaNode = Record<string, unknown> | boolean;

function unescapeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Reads the node a local `$ref` (`#`, `#/$defs/x`) points to inside `root`; undefined for other refs. */
export function localRef(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let current: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const segment = unescapeSegment(decodeURIComponent(raw));
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * Follows local `$ref`s (with a bound on chains of refs) and returns the schema node reached. A `$ref`
 * with siblings (allowed in 2020-12) is returned merged: the siblings win over the referenced members.
 */
export function deref(node: unknown, root: unknown, depth = 0): unknown {
  if (!isPlainObject(node) || typeof node.$ref !== 'string' || depth > 32) return node;
  const target = localRef(root, node.$ref);
  if (target === undefined) return node;
  const { $ref: _ref, ...siblings } = node;
  const resolved = deref(target, root, depth + 1);
  if (Object.keys(siblings).length === 0 || !isPlainObject(resolved)) return resolved;
  return { ...resolved, ...siblings };
}

/** The schema of property `name` of an object schema (after `$ref`s), looking into `allOf` members too. */
export function propertySchema(node: unknown, name: string, root: unknown): unknown {
  const schema = deref(node, root);
  if (!isPlainObject(schema)) return undefined;
  const props = schema.properties;
  if (isPlainObject(props) && props[name] !== undefined) return deref(props[name], root);
  if (Array.isArray(schema.allOf)) {
    for (const member of schema.allOf) {
      const found = propertySchema(member, name, root);
      if (found !== undefined) return found;
    }
  }
  if (isPlainObject(schema.additionalProperties)) return deref(schema.additionalProperties, root);
  return undefined;
}

/** The property names an object schema declares (own `properties` and those of `allOf` members). */
export function propertyNames(node: unknown, root: unknown): string[] {
  const schema = deref(node, root);
  if (!isPlainObject(schema)) return [];
  const names = new Set<string>(isPlainObject(schema.properties) ? Object.keys(schema.properties) : []);
  if (Array.isArray(schema.allOf)) for (const m of schema.allOf) for (const n of propertyNames(m, root)) names.add(n);
  return [...names];
}

/** The JSON types a schema admits, or undefined when it does not restrict the type. */
export function typesOf(node: unknown, root: unknown): Set<string> | undefined {
  const schema = deref(node, root);
  if (!isPlainObject(schema)) return undefined;
  if (typeof schema.type === 'string') return new Set([schema.type]);
  if (Array.isArray(schema.type)) return new Set(schema.type.filter((t): t is string => typeof t === 'string'));
  return undefined;
}
