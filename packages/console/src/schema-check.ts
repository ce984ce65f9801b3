/**
 * A small JSON Schema (2020-12 subset) validator for checking a document as it is typed, in the
 * browser. ajv cannot run under the console's CSP (it compiles with `new Function`), and is big. The
 * server stays the judge (`422 SCHEMA_VALIDATION` on save); this covers the keywords config schemas
 * use: type, enum, const, properties, required, additionalProperties, patternProperties,
 * propertyNames, min/maxProperties, items, prefixItems, min/maxItems, uniqueItems, contains,
 * minimum, maximum, exclusive bounds, multipleOf, min/maxLength, pattern, allOf, anyOf, oneOf, not,
 * if/then/else, dependentRequired, local `$ref` (`#/...`). `format` is not checked here.
 *
 * As the server does, a write is checked on the values clients resolve, not on the raw document:
 * schema defaults, then the global document, its overrides along the environment's chain, then the
 * app document and its overrides, for the base view and every environment (rollout overlays are
 * left to the server).
 */

export interface Issue {
  /** JSON pointer in the resolved value. */
  pointer: string;
  message: string;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const esc = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

function resolveRef(ref: string, root: unknown): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) || Array.isArray(node) ? (node as Obj)[key] : undefined;
  }
  return node;
}

function check(schema: unknown, v: unknown, ptr: string, root: unknown, out: Issue[], depth: number): void {
  if (depth > 64 || schema === true || schema === undefined) return;
  if (schema === false) {
    out.push({ pointer: ptr, message: 'is not allowed' });
    return;
  }
  if (!isObject(schema)) return;
  const s = schema;
  const add = (message: string, pointer = ptr) => out.push({ pointer, message });
  if (typeof s.$ref === 'string') check(resolveRef(s.$ref, root), v, ptr, root, out, depth + 1);
  const t = typeOf(v);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
    if (!ok) {
      add(`must be ${types.join(' or ')}`);
      return;
    }
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, v)))
    add(`must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if ('const' in s && !equal(s.const, v)) add(`must be ${JSON.stringify(s.const)}`);
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) add(`must be >= ${s.minimum}`);
    if (typeof s.maximum === 'number' && v > s.maximum) add(`must be <= ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum) add(`must be > ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && v >= s.exclusiveMaximum) add(`must be < ${s.exclusiveMaximum}`);
    if (typeof s.multipleOf === 'number' && !Number.isInteger(v / s.multipleOf))
      add(`must be a multiple of ${s.multipleOf}`);
  }
  if (typeof v === 'string') {
    const length = [...v].length;
    if (typeof s.minLength === 'number' && length < s.minLength) add(`must have at least ${s.minLength} characters`);
    if (typeof s.maxLength === 'number' && length > s.maxLength) add(`must have at most ${s.maxLength} characters`);
    if (typeof s.pattern === 'string') {
      try {
        if (!new RegExp(s.pattern, 'u').test(v)) add(`must match pattern "${s.pattern}"`);
      } catch {
        // a pattern this browser cannot compile: left to the server
      }
    }
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems) add(`must have at least ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) add(`must have at most ${s.maxItems} items`);
    if (s.uniqueItems === true && v.some((x, i) => v.findIndex((y) => equal(x, y)) !== i))
      add('must have unique items');
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    v.forEach((item, i) => {
      if (i < prefix.length) check(prefix[i], item, `${ptr}/${i}`, root, out, depth + 1);
      else if (s.items !== undefined) check(s.items, item, `${ptr}/${i}`, root, out, depth + 1);
    });
    if (s.contains !== undefined && !v.some((item) => validate(s.contains, item, root).length === 0))
      add('must contain a matching item');
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties)
      add(`must have at least ${s.minProperties} properties`);
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties)
      add(`must have at most ${s.maxProperties} properties`);
    if (Array.isArray(s.required))
      for (const name of s.required as string[]) if (!(name in v)) add(`must have required property "${name}"`);
    if (isObject(s.dependentRequired))
      for (const [name, needs] of Object.entries(s.dependentRequired))
        if (name in v && Array.isArray(needs))
          for (const need of needs as string[])
            if (!(need in v)) add(`must have property "${need}" when "${name}" is present`);
    const props = isObject(s.properties) ? s.properties : {};
    const patterns = isObject(s.patternProperties) ? Object.entries(s.patternProperties) : [];
    for (const key of keys) {
      const child = `${ptr}/${esc(key)}`;
      if (s.propertyNames !== undefined && validate(s.propertyNames, key, root).length > 0)
        add(`property name "${key}" is not allowed`, child);
      let matched = key in props;
      if (matched) check(props[key], v[key], child, root, out, depth + 1);
      for (const [pattern, sub] of patterns) {
        try {
          if (new RegExp(pattern, 'u').test(key)) {
            matched = true;
            check(sub, v[key], child, root, out, depth + 1);
          }
        } catch {
          matched = true;
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false) add(`must not have additional property "${key}"`, child);
        else check(s.additionalProperties, v[key], child, root, out, depth + 1);
      }
    }
  }
  if (Array.isArray(s.allOf)) for (const sub of s.allOf) check(sub, v, ptr, root, out, depth + 1);
  if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => validate(sub, v, root).length === 0))
    add('must match a schema in anyOf');
  if (Array.isArray(s.oneOf)) {
    const n = s.oneOf.filter((sub) => validate(sub, v, root).length === 0).length;
    if (n !== 1) add(`must match exactly one schema in oneOf (matches ${n})`);
  }
  if (s.not !== undefined && validate(s.not, v, root).length === 0) add('must not match the schema in "not"');
  if (s.if !== undefined) {
    const branch = validate(s.if, v, root).length === 0 ? s.then : s.else;
    if (branch !== undefined) check(branch, v, ptr, root, out, depth + 1);
  }
}

/** The issues of `value` against `schema` (whose local `$ref`s resolve against `root`). */
export function validate(schema: unknown, value: unknown, root: unknown = schema): Issue[] {
  const out: Issue[] = [];
  check(schema, value, '', root, out, 0);
  return out;
}

function fillMissing(target: Obj, from: Obj): void {
  for (const [k, v] of Object.entries(from)) {
    if (target[k] === undefined) target[k] = v;
    else if (isObject(target[k]) && isObject(v)) fillMissing(target[k] as Obj, v);
  }
}

function collect(node: unknown, root: unknown, depth: number): unknown {
  const s = isObject(node) && typeof node.$ref === 'string' ? resolveRef(node.$ref, root) : node;
  if (depth > 64 || !isObject(s)) return undefined;
  // An explicit default wins; its members' defaults only fill gaps (as core and ajv's useDefaults).
  let out: unknown = s.default === undefined ? undefined : structuredClone(s.default);
  const fill = (value: unknown) => {
    if (value === undefined) return;
    if (out === undefined) out = value;
    else if (isObject(out) && isObject(value)) fillMissing(out, value);
  };
  if (isObject(s.properties)) {
    const fromProps: Obj = {};
    for (const [name, child] of Object.entries(s.properties)) {
      const d = collect(child, root, depth + 1);
      if (d !== undefined) fromProps[name] = d;
    }
    if (Object.keys(fromProps).length > 0) fill(fromProps);
  }
  if (Array.isArray(s.allOf)) for (const member of s.allOf) fill(collect(member, root, depth + 1));
  return out;
}

/** The object of defaults the schema declares (nested `properties` defaults, `$ref`, `allOf`). */
export function schemaDefaults(schema: unknown): Obj {
  const d = collect(schema, schema, 0);
  return isObject(d) ? d : {};
}

/** Objects merge key by key, arrays and scalars replace, `null` deletes (core's `mergeLayers`). */
export function merge(base: Obj, patch: Obj): Obj {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = merge(out[key] as Obj, value);
    else out[key] = isObject(value) ? merge({}, value) : value;
  }
  return out;
}

export interface DocLayers {
  config?: unknown;
  overrides?: unknown;
}

export interface EnvironmentLink {
  name: string;
  parent?: string;
}

function chainOf(name: string, envs: readonly EnvironmentLink[]): string[] {
  const chain: string[] = [];
  let current: string | undefined = name;
  while (current !== undefined && !chain.includes(current)) {
    chain.unshift(current);
    current = envs.find((e) => e.name === current)?.parent;
  }
  return chain;
}

/**
 * The issues of every resolved view of `doc` (with the global document below it when `doc` is an
 * app's), grouped by pointer and message, each naming the views it occurs in (`base`, or the
 * environment).
 */
export function checkViews(
  schema: unknown,
  doc: DocLayers,
  below: DocLayers | undefined,
  envs: readonly EnvironmentLink[],
): Array<Issue & { views: string[] }> {
  const defaults = schemaDefaults(schema);
  const layers = (d: DocLayers | undefined, chain: string[]): Obj[] => {
    if (d === undefined) return [];
    const overrides = isObject(d.overrides) ? d.overrides : {};
    return [isObject(d.config) ? d.config : {}, ...chain.map((e) => overrides[e]).filter(isObject)];
  };
  const found = new Map<string, Issue & { views: string[] }>();
  for (const view of ['', ...envs.map((e) => e.name)]) {
    const chain = view === '' ? [] : chainOf(view, envs);
    const value = [...layers(below, chain), ...layers(doc, chain)].reduce(merge, defaults);
    for (const issue of validate(schema, value)) {
      const key = `${issue.pointer}\u0000${issue.message}`;
      const entry = found.get(key) ?? { ...issue, views: [] };
      entry.views.push(view === '' ? 'base' : view);
      found.set(key, entry);
    }
  }
  return [...found.values()];
}
