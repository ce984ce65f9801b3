/**
 * Backward-compatibility analysis between two versions of a JSON Schema. A change is *breaking* when a
 * document (or a reader of documents) that worked with the old schema may fail with the new one:
 * removed properties, narrowed or changed types, new required properties, narrowed enums, tightened
 * bounds, closed additional properties, new patterns or formats. Widening changes are reported too,
 * as non-breaking.
 */
import { canonicalJson, escapePointer, isPlainObject } from '../model/json.js';
import { deref, propertyNames, typesOf } from './walk.js';

export type SchemaChangeKind =
  | 'schema_closed'
  | 'property_removed'
  | 'property_added'
  | 'required_added'
  | 'required_removed'
  | 'type_narrowed'
  | 'type_widened'
  | 'type_changed'
  | 'enum_narrowed'
  | 'enum_widened'
  | 'const_changed'
  | 'constraint_tightened'
  | 'constraint_loosened'
  | 'additional_properties_closed'
  | 'additional_properties_opened'
  | 'pattern_changed'
  | 'format_changed'
  | 'default_changed'
  | 'composition_changed';

export interface SchemaChange {
  /** JSON pointer into the documents the schema describes; `/*` stands for every array item or map member. */
  pointer: string;
  kind: SchemaChangeKind;
  breaking: boolean;
  message: string;
}

export interface CompatibilityReport {
  /** True when no change is breaking. */
  compatible: boolean;
  /** Every change found, breaking or not. */
  changes: SchemaChange[];
  /** The breaking subset of `changes`. */
  breaking: SchemaChange[];
}

interface Ctx {
  oldRoot: unknown;
  newRoot: unknown;
  changes: SchemaChange[];
  seen: Set<string>;
}

function add(ctx: Ctx, pointer: string, kind: SchemaChangeKind, breaking: boolean, message: string): void {
  ctx.changes.push({ pointer: pointer || '', kind, breaking, message: `${pointer || '/'}: ${message}` });
}

/** Whether a value of JSON type `t` is accepted by a schema admitting `types`. */
function admits(types: Set<string>, t: string): boolean {
  return types.has(t) || (t === 'integer' && types.has('number'));
}

const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties', 'minContains'] as const;
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties', 'maxContains'] as const;

function compareTypes(ctx: Ctx, p: string, oldS: unknown, newS: unknown): void {
  const before = typesOf(oldS, ctx.oldRoot);
  const after = typesOf(newS, ctx.newRoot);
  if (after === undefined) {
    if (before !== undefined) add(ctx, p, 'type_widened', false, `type restriction ${[...before].join('|')} removed`);
    return;
  }
  if (before === undefined) {
    add(ctx, p, 'type_narrowed', true, `now restricted to type ${[...after].join('|')}`);
    return;
  }
  const lost = [...before].filter((t) => !admits(after, t));
  const gained = [...after].filter((t) => !admits(before, t));
  const from = [...before].join('|');
  const to = [...after].join('|');
  if (lost.length > 0 && gained.length > 0) add(ctx, p, 'type_changed', true, `type changed from ${from} to ${to}`);
  else if (lost.length > 0) add(ctx, p, 'type_narrowed', true, `type narrowed from ${from} to ${to}`);
  else if (gained.length > 0) add(ctx, p, 'type_widened', false, `type widened from ${from} to ${to}`);
}

function compareEnums(ctx: Ctx, p: string, o: Record<string, unknown>, n: Record<string, unknown>): void {
  const oldEnum = Array.isArray(o.enum) ? o.enum.map(canonicalJson) : undefined;
  const newEnum = Array.isArray(n.enum) ? n.enum.map(canonicalJson) : undefined;
  if (newEnum !== undefined) {
    if (oldEnum === undefined) add(ctx, p, 'enum_narrowed', true, `now restricted to enum [${newEnum.join(', ')}]`);
    else {
      const removed = oldEnum.filter((v) => !newEnum.includes(v));
      const added = newEnum.filter((v) => !oldEnum.includes(v));
      if (removed.length > 0) add(ctx, p, 'enum_narrowed', true, `enum no longer allows ${removed.join(', ')}`);
      if (added.length > 0) add(ctx, p, 'enum_widened', false, `enum now also allows ${added.join(', ')}`);
    }
  } else if (oldEnum !== undefined) add(ctx, p, 'enum_widened', false, 'enum restriction removed');
  if (n.const !== undefined && (o.const === undefined || canonicalJson(o.const) !== canonicalJson(n.const))) {
    add(ctx, p, 'const_changed', true, `now must equal ${canonicalJson(n.const)}`);
  } else if (n.const === undefined && o.const !== undefined) {
    add(ctx, p, 'const_changed', false, 'const restriction removed');
  }
}

function compareBounds(ctx: Ctx, p: string, o: Record<string, unknown>, n: Record<string, unknown>): void {
  for (const key of LOWER_BOUNDS) {
    const a = o[key];
    const b = n[key];
    if (typeof b === 'number' && (typeof a !== 'number' || b > a)) {
      add(ctx, p, 'constraint_tightened', true, `${key} raised from ${a ?? 'none'} to ${b}`);
    } else if (typeof a === 'number' && (typeof b !== 'number' || b < a)) {
      add(ctx, p, 'constraint_loosened', false, `${key} lowered from ${a} to ${b ?? 'none'}`);
    }
  }
  for (const key of UPPER_BOUNDS) {
    const a = o[key];
    const b = n[key];
    if (typeof b === 'number' && (typeof a !== 'number' || b < a)) {
      add(ctx, p, 'constraint_tightened', true, `${key} lowered from ${a ?? 'none'} to ${b}`);
    } else if (typeof a === 'number' && (typeof b !== 'number' || b > a)) {
      add(ctx, p, 'constraint_loosened', false, `${key} raised from ${a} to ${b ?? 'none'}`);
    }
  }
  if (n.multipleOf !== undefined && n.multipleOf !== o.multipleOf) {
    add(ctx, p, 'constraint_tightened', true, `multipleOf changed from ${o.multipleOf ?? 'none'} to ${n.multipleOf}`);
  }
  if (n.uniqueItems === true && o.uniqueItems !== true)
    add(ctx, p, 'constraint_tightened', true, 'items must now be unique');
  if (typeof n.pattern === 'string' && n.pattern !== o.pattern) {
    add(ctx, p, 'pattern_changed', true, `pattern changed from ${o.pattern ?? 'none'} to ${n.pattern}`);
  } else if (n.pattern === undefined && o.pattern !== undefined) {
    add(ctx, p, 'pattern_changed', false, 'pattern removed');
  }
  if (typeof n.format === 'string' && n.format !== o.format) {
    add(ctx, p, 'format_changed', true, `format changed from ${o.format ?? 'none'} to ${n.format}`);
  } else if (n.format === undefined && o.format !== undefined) {
    add(ctx, p, 'format_changed', false, 'format removed');
  }
  if (canonicalJson(o.default) !== canonicalJson(n.default)) {
    add(
      ctx,
      p,
      'default_changed',
      false,
      `default changed from ${canonicalJson(o.default)} to ${canonicalJson(n.default)}`,
    );
  }
}

function requiredOf(schema: Record<string, unknown>, root: unknown): Set<string> {
  const out = new Set<string>(
    Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [],
  );
  if (Array.isArray(schema.allOf)) {
    for (const m of schema.allOf) {
      const member = deref(m, root);
      if (isPlainObject(member)) for (const r of requiredOf(member, root)) out.add(r);
    }
  }
  return out;
}

function propertyOf(schema: Record<string, unknown>, name: string, root: unknown): unknown {
  if (isPlainObject(schema.properties) && schema.properties[name] !== undefined) return schema.properties[name];
  if (Array.isArray(schema.allOf)) {
    for (const m of schema.allOf) {
      const member = deref(m, root);
      if (isPlainObject(member)) {
        const found = propertyOf(member, name, root);
        if (found !== undefined) return found;
      }
    }
  }
  return undefined;
}

function isClosed(value: unknown): boolean {
  return value === false;
}

function compareObjects(ctx: Ctx, p: string, o: Record<string, unknown>, n: Record<string, unknown>): void {
  const oldRequired = requiredOf(o, ctx.oldRoot);
  const newRequired = requiredOf(n, ctx.newRoot);
  for (const r of newRequired) {
    if (!oldRequired.has(r))
      add(ctx, `${p}/${escapePointer(r)}`, 'required_added', true, `property "${r}" is now required`);
  }
  for (const r of oldRequired) {
    if (!newRequired.has(r))
      add(ctx, `${p}/${escapePointer(r)}`, 'required_removed', false, `property "${r}" is no longer required`);
  }
  const oldProps = propertyNames(o, ctx.oldRoot);
  const newProps = new Set(propertyNames(n, ctx.newRoot));
  for (const name of oldProps) {
    const cp = `${p}/${escapePointer(name)}`;
    if (!newProps.has(name)) {
      add(ctx, cp, 'property_removed', true, `property "${name}" was removed`);
      continue;
    }
    compareNodes(ctx, cp, propertyOf(o, name, ctx.oldRoot), propertyOf(n, name, ctx.newRoot));
  }
  for (const name of newProps) {
    if (!oldProps.includes(name))
      add(ctx, `${p}/${escapePointer(name)}`, 'property_added', false, `property "${name}" was added`);
  }
  for (const key of ['additionalProperties', 'unevaluatedProperties'] as const) {
    if (isClosed(n[key]) && !isClosed(o[key])) {
      add(ctx, p, 'additional_properties_closed', true, `${key} is now false: undeclared members are rejected`);
    } else if (!isClosed(n[key]) && isClosed(o[key])) {
      add(ctx, p, 'additional_properties_opened', false, `${key} is no longer false`);
    }
  }
  if (isPlainObject(o.additionalProperties) && isPlainObject(n.additionalProperties)) {
    compareNodes(ctx, `${p}/*`, o.additionalProperties, n.additionalProperties);
  }
}

function compareNodes(ctx: Ctx, p: string, oldNode: unknown, newNode: unknown): void {
  const key = `${p}\u0000${canonicalJson(oldNode)}\u0000${canonicalJson(newNode)}`;
  if (ctx.seen.has(key) || ctx.seen.size > 10_000) return;
  ctx.seen.add(key);
  const o = deref(oldNode, ctx.oldRoot);
  const n = deref(newNode, ctx.newRoot);
  if (n === false && o !== false) {
    add(ctx, p, 'schema_closed', true, 'the schema now rejects every value');
    return;
  }
  if (!isPlainObject(n)) return; // `true` or missing: accepts anything the old schema accepted
  const oldObj: Record<string, unknown> = isPlainObject(o) ? o : {};
  compareTypes(ctx, p, oldObj, n);
  compareEnums(ctx, p, oldObj, n);
  compareBounds(ctx, p, oldObj, n);
  compareObjects(ctx, p, oldObj, n);
  if (n.items !== undefined || oldObj.items !== undefined)
    compareNodes(ctx, `${p}/*`, oldObj.items ?? true, n.items ?? true);
  const oldPrefix = Array.isArray(oldObj.prefixItems) ? oldObj.prefixItems : [];
  const newPrefix = Array.isArray(n.prefixItems) ? n.prefixItems : [];
  for (let i = 0; i < newPrefix.length; i++) compareNodes(ctx, `${p}/${i}`, oldPrefix[i] ?? true, newPrefix[i]);
  for (const k of [
    'anyOf',
    'oneOf',
    'not',
    'if',
    'then',
    'else',
    'dependentSchemas',
    'dependentRequired',
    'contains',
  ] as const) {
    if (canonicalJson(oldObj[k]) !== canonicalJson(n[k]) && n[k] !== undefined) {
      add(
        ctx,
        p,
        'composition_changed',
        true,
        `"${k}" changed; compatibility is not analysed, so it is treated as breaking`,
      );
    }
  }
  if (Array.isArray(n.allOf) || Array.isArray(oldObj.allOf)) {
    // allOf members' properties and required lists were compared above; other keywords inside them are compared
    // member by member when the member count is unchanged.
    const a = Array.isArray(oldObj.allOf) ? oldObj.allOf : [];
    const b = Array.isArray(n.allOf) ? n.allOf : [];
    if (a.length === b.length) {
      for (let i = 0; i < b.length; i++) {
        const ma = deref(a[i], ctx.oldRoot);
        const mb = deref(b[i], ctx.newRoot);
        if (isPlainObject(ma) && isPlainObject(mb)) {
          compareTypes(ctx, p, ma, mb);
          compareEnums(ctx, p, ma, mb);
        }
      }
    } else if (canonicalJson(a) !== canonicalJson(b)) {
      add(
        ctx,
        p,
        'composition_changed',
        true,
        '"allOf" changed shape; compatibility is not analysed, so it is treated as breaking',
      );
    }
  }
}

/**
 * Compares two versions of a JSON Schema and reports every change, with whether it breaks backward
 * compatibility. Local `$ref`s (`#/$defs/...`) are followed.
 */
export function checkCompatibility(oldSchema: unknown, newSchema: unknown): CompatibilityReport {
  const ctx: Ctx = { oldRoot: oldSchema, newRoot: newSchema, changes: [], seen: new Set() };
  compareNodes(ctx, '', oldSchema, newSchema);
  // One change per (pointer, kind, message).
  const unique = new Map<string, SchemaChange>();
  for (const c of ctx.changes) unique.set(`${c.pointer}\u0000${c.kind}\u0000${c.message}`, c);
  const changes = [...unique.values()];
  const breaking = changes.filter((c) => c.breaking);
  return { compatible: breaking.length === 0, changes, breaking };
}
