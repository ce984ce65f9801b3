/**
 * Configuration templates: parameterised documents that generate new configs.
 *
 *   name: service-database
 *   version: 1
 *   description: a PostgreSQL connection for one service
 *   parameters:                       # JSON Schema (draft 2020-12) of the parameters object
 *     type: object
 *     required: [host]
 *     properties:
 *       host: { type: string }
 *       port: { type: integer, default: 5432 }
 *   config:
 *     host: { $param: host }          # the parameter's value, with its type
 *     port: { $param: port }
 *     url: "postgres://${host}:${port}/app"   # text interpolation (always a string); "$${" writes "${"
 *   overrides:
 *     production: { pool: 20 }
 *   rollout: null
 *
 * `{ "$param": "a.b" }` reads a nested parameter; a parameter that is absent (optional, no default)
 * leaves its key out. Rendering validates the parameters (defaults applied first) and the result:
 * its shape, and, when a schema is registered for the target id, every resolved view against it.
 */
import { basename, extname, join, resolve } from 'node:path';
import type { ChangeRequest } from '../approvals/types.js';
import { ConfigError, errors, isConfigError, messageOf, SchemaValidationError } from '../errors/config-error.js';
import {
  definitionError,
  failAt as fail,
  MigrationError,
  type DefinitionWhere as Where,
} from '../migrations/errors.js';
import { parseDataText, readDefinitionDir, readDefinitionFile } from '../migrations/text.js';
import { type Environment, validateEnvironments } from '../model/environment.js';
import { assertJson, canonicalJson, isPlainObject, type JsonObject, type JsonValue, sha256Hex } from '../model/json.js';
import { type ConfigRef, parseRef, refKey } from '../model/ref.js';
import { type ConfigVersion, createVersion } from '../model/version.js';
import type { Actor } from '../rbac/rbac.js';
import { schemaDefaults } from '../schema/defaults.js';
import { SchemaRegistry } from '../schema/registry.js';
import type { ConfigService } from '../service/service.js';
import { resolvedViews } from '../service/views.js';

export const TEMPLATE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const TOP_FIELDS = ['name', 'version', 'description', 'parameters', 'config', 'overrides', 'rollout'];
const TEMPLATE_EXTENSIONS = ['.json', '.yaml', '.yml'];
const PARAM_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const INTERPOLATION = /\$\$\{|\$\{([^}]*)\}/g;

/** A template as written (a parsed file, or an object in code). */
export interface TemplateDefinition {
  name?: string;
  version?: string | number;
  description?: string;
  /** JSON Schema of the parameters object. Default: an object with no declared members. */
  parameters?: JsonObject;
  config: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
}

/** A validated template. */
export interface ConfigTemplate {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly parameters: JsonObject;
  readonly config: JsonObject;
  readonly overrides: Readonly<Record<string, JsonObject>>;
  readonly rollout: JsonObject | null;
  /** SHA-256 hex of the canonical JSON of the definition. */
  readonly checksum: string;
  /** Parameter names the template uses. */
  readonly uses: readonly string[];
  readonly file?: string;
}

export interface RenderOptions {
  /** Validate the result against the schema of `ref`'s id, when one is registered here. */
  schemas?: SchemaRegistry;
  /** The ref the result is for (its id selects the schema). */
  ref?: ConfigRef | string;
  /**
   * The defined environments (override names must be among them, and each is validated with its
   * parent chain). Default: the template's override names, as environments without parents.
   */
  environments?: readonly Environment[];
}

/** What rendering produces. */
export interface RenderedTemplate {
  config: JsonObject;
  overrides: Record<string, JsonObject>;
  rollout: JsonObject | null;
  /** The parameters used, defaults applied. */
  params: JsonObject;
}

const checker = new SchemaRegistry();

/** Walks a template body, calling `onParam` for each `$param` and interpolation name. */
function collectUses(value: unknown, pointer: string, where: Where, uses: Set<string>): void {
  if (typeof value === 'string') {
    for (const m of value.matchAll(INTERPOLATION)) {
      if (m[0] === '$${') continue;
      const name = (m[1] ?? '').trim();
      if (!PARAM_PATH.test(name))
        throw fail(`bad interpolation "${m[0]}" (expected \${name} or \${a.b})`, pointer, where);
      uses.add(name);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) collectUses(v, `${pointer}/${i}`, where, uses);
    return;
  }
  if (isPlainObject(value)) {
    if (Object.hasOwn(value, '$param')) {
      if (Object.keys(value).length !== 1 || typeof value.$param !== 'string' || !PARAM_PATH.test(value.$param)) {
        throw fail('a placeholder is exactly { "$param": "<name>" }', pointer, where);
      }
      uses.add(value.$param);
      return;
    }
    for (const [k, v] of Object.entries(value))
      collectUses(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, where, uses);
  }
}

function declared(parameters: JsonObject, path: string): boolean {
  let schema: unknown = parameters;
  for (const part of path.split('.')) {
    if (!isPlainObject(schema)) return false;
    const props = schema.properties;
    if (isPlainObject(props) && Object.hasOwn(props, part)) {
      schema = props[part];
      continue;
    }
    // Open objects (additionalProperties not false, no declared properties) accept any member.
    return schema.additionalProperties !== false && !isPlainObject(props) && schema.type === 'object';
  }
  return true;
}

/**
 * Validates a template definition. Throws `CONSTRAINT_VIOLATION` ({@link MigrationError} with the
 * pointer) for unknown fields, a parameters schema that is not valid JSON Schema, malformed
 * placeholders, or a placeholder naming an undeclared parameter.
 */
export function parseTemplate(raw: unknown, options: { file?: string; defaultName?: string } = {}): ConfigTemplate {
  const where: Where = { file: options.file, migration: undefined };
  if (!isPlainObject(raw)) throw fail('a template must be an object { name, parameters, config, ... }', '', where);
  for (const key of Object.keys(raw)) {
    if (!TOP_FIELDS.includes(key))
      throw fail(`unknown field "${key}" (expected ${TOP_FIELDS.join(', ')})`, `/${key}`, where);
  }
  const name = raw.name ?? options.defaultName;
  if (typeof name !== 'string' || !TEMPLATE_NAME.test(name)) {
    throw fail('name must be 1-128 characters of [A-Za-z0-9_.-]', '/name', where);
  }
  where.migration = `template ${name}`;
  let version = raw.version ?? '1';
  if (typeof version === 'number' && Number.isFinite(version)) version = String(version);
  if (typeof version !== 'string' || version.length === 0 || version.length > 64) {
    throw fail('version must be a string (or number) of 1-64 characters', '/version', where);
  }
  const description = raw.description ?? '';
  if (typeof description !== 'string' || description.length > 1000) {
    throw fail('description must be a string of at most 1000 characters', '/description', where);
  }
  const parameters = raw.parameters ?? { type: 'object' };
  try {
    checker.checkSchema(parameters, `template ${name} parameters`);
  } catch (error) {
    throw fail(messageOf(error), '/parameters', where);
  }
  if (!isPlainObject(parameters) || (parameters.type !== undefined && parameters.type !== 'object')) {
    throw fail('parameters must be the JSON Schema of an object (type: object)', '/parameters', where);
  }
  if (!isPlainObject(raw.config)) throw fail('config must be an object', '/config', where);
  const overrides = raw.overrides ?? {};
  if (!isPlainObject(overrides) || Object.values(overrides).some((o) => !isPlainObject(o))) {
    throw fail('overrides must map environment names to objects', '/overrides', where);
  }
  const rollout = raw.rollout ?? null;
  if (rollout !== null && !isPlainObject(rollout)) throw fail('rollout must be an object or null', '/rollout', where);
  for (const [field, value] of [
    ['config', raw.config],
    ['overrides', overrides],
    ['rollout', rollout],
  ] as const) {
    try {
      assertJson(value, `/${field}`);
    } catch (error) {
      throw fail(messageOf(error), `/${field}`, where);
    }
  }
  const uses = new Set<string>();
  collectUses(raw.config, '/config', where, uses);
  collectUses(overrides, '/overrides', where, uses);
  collectUses(rollout, '/rollout', where, uses);
  for (const use of uses) {
    if (!declared(parameters as JsonObject, use)) {
      throw fail(
        `placeholder names parameter "${use}", which the parameters schema does not declare`,
        '/parameters',
        where,
      );
    }
  }
  const body = {
    name,
    version,
    description,
    parameters: structuredClone(parameters) as JsonObject,
    config: structuredClone(raw.config) as JsonObject,
    overrides: structuredClone(overrides) as Record<string, JsonObject>,
    rollout: structuredClone(rollout) as JsonObject | null,
  };
  const template: ConfigTemplate = { ...body, checksum: sha256Hex(canonicalJson(body)), uses: [...uses].sort() };
  return Object.freeze(options.file === undefined ? template : { ...template, file: options.file });
}

/** Parses the text of a template file (JSON or YAML); errors name the file and line. */
export function parseTemplateText(
  text: string,
  options: { format: 'json' | 'yaml'; file?: string; defaultName?: string },
): ConfigTemplate {
  const where: Where = { file: options.file, migration: options.defaultName && `template ${options.defaultName}` };
  const raw = parseDataText(text, options.format, where);
  return parseTemplate(raw, { file: options.file, defaultName: options.defaultName });
}

/** Loads one template file (`.json`, `.yaml`, `.yml`). */
export async function loadTemplateFile(path: string): Promise<ConfigTemplate> {
  const file = resolve(path);
  const ext = extname(file).toLowerCase();
  if (!TEMPLATE_EXTENSIONS.includes(ext)) {
    throw definitionError(`unsupported template file type "${ext}" (expected .json, .yaml, .yml)`, {
      pointer: '',
      file,
    });
  }
  const text = await readDefinitionFile(file, 'template file');
  return parseTemplateText(text, { format: ext === '.json' ? 'json' : 'yaml', file, defaultName: basename(file, ext) });
}

/** Loads every template file of `dir` (not recursive), sorted by name; duplicate names are refused. */
export async function loadTemplates(dir: string): Promise<ConfigTemplate[]> {
  const entries = await readDefinitionDir(dir, 'the templates directory');
  const out: ConfigTemplate[] = [];
  for (const f of entries
    .filter((e) => !e.startsWith('.') && TEMPLATE_EXTENSIONS.includes(extname(e).toLowerCase()))
    .sort()) {
    const t = await loadTemplateFile(join(dir, f));
    if (out.some((o) => o.name === t.name)) {
      throw definitionError(`template name "${t.name}" is defined twice`, { pointer: '/name', file: t.file });
    }
    out.push(t);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// -- rendering

function fillDefaults(params: JsonObject, defaults: JsonObject): JsonObject {
  const out: JsonObject = { ...params };
  for (const [k, v] of Object.entries(defaults)) {
    const cur = out[k];
    if (cur === undefined) out[k] = structuredClone(v);
    else if (isPlainObject(cur) && isPlainObject(v)) out[k] = fillDefaults(cur as JsonObject, v as JsonObject);
  }
  return out;
}

function lookup(params: JsonObject, path: string): JsonValue | undefined {
  let node: JsonValue | undefined = params;
  for (const part of path.split('.')) {
    if (!isPlainObject(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as JsonObject)[part];
  }
  return node;
}

const ABSENT = Symbol('absent');

function substitute(
  value: JsonValue,
  params: JsonObject,
  template: string,
  pointer: string,
): JsonValue | typeof ABSENT {
  if (typeof value === 'string') {
    return value.replace(INTERPOLATION, (whole, name: string | undefined) => {
      if (whole === '$${') return '${';
      const v = lookup(params, (name ?? '').trim());
      if (v === undefined) {
        throw new MigrationError(
          'MISSING_REQUIRED',
          `template ${template}: ${pointer} interpolates parameter "${(name ?? '').trim()}", which has no value`,
          { migration: `template ${template}`, pointer },
        );
      }
      return typeof v === 'string' ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    value.forEach((v, i) => {
      const s = substitute(v, params, template, `${pointer}/${i}`);
      if (s !== ABSENT) out.push(s);
    });
    return out;
  }
  if (isPlainObject(value)) {
    if (Object.hasOwn(value, '$param')) {
      const v = lookup(params, value.$param as string);
      return v === undefined ? ABSENT : structuredClone(v);
    }
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      const s = substitute(v as JsonValue, params, template, `${pointer}/${k}`);
      if (s !== ABSENT) out[k] = s;
    }
    return out;
  }
  return value;
}

/**
 * Renders `template` with `params`. Validates the parameters against the template's parameters
 * schema (defaults applied first) and the result: its shape (as a config version), and, with
 * `options.schemas` and `options.ref`, every resolved view against the ref id's schema when one is
 * registered. Throws `SCHEMA_VALIDATION` (issues with JSON pointers), `MISSING_REQUIRED` for an
 * interpolated parameter without a value, `ENVIRONMENT_NOT_FOUND` for an override of an unknown
 * environment, `INVALID_CONFIG_REF` for a bad ref.
 */
export async function renderTemplate(
  template: ConfigTemplate,
  params: unknown,
  options: RenderOptions = {},
): Promise<RenderedTemplate> {
  if (!isPlainObject(template) || typeof template.checksum !== 'string') {
    throw errors.constraint('renderTemplate needs a parsed template (parseTemplate or loadTemplateFile)');
  }
  const ref = options.ref === undefined ? undefined : parseRef(options.ref);
  if (params === undefined) params = {};
  if (!isPlainObject(params)) throw errors.constraint(`template ${template.name}: parameters must be an object`);
  assertJson(params, '/params');
  const filled = fillDefaults(params as JsonObject, schemaDefaults(template.parameters));
  const key = `template-${sha256Hex(canonicalJson(template.parameters)).slice(0, 32)}`;
  if (checker.latestVersion(key) === undefined) await checker.register(key, template.parameters);
  const issues = checker.check(key, filled);
  if (issues.length > 0) {
    throw new SchemaValidationError(
      `template ${template.name}: parameters do not match: ${issues
        .slice(0, 5)
        .map((i) => `${i.pointer || '/'} ${i.message}`)
        .join('; ')}`,
      issues,
    );
  }
  const config = substitute(template.config, filled, template.name, '/config') as JsonObject;
  const overrides = substitute(template.overrides as JsonObject, filled, template.name, '/overrides') as Record<
    string,
    JsonObject
  >;
  const rollout =
    template.rollout === null ? null : (substitute(template.rollout, filled, template.name, '/rollout') as JsonObject);
  const target = ref ?? { scope: 'global' as const, id: 'template' };
  // The shape of a version: JSON objects, environment names, rollout rules, size.
  const doc = createVersion({ ref: target, config, overrides, rollout, createdBy: 'template' }, 1);
  const envs = validateEnvironments(
    options.environments
      ? [...options.environments]
      : Object.keys(overrides).map((name) => ({ name, production: false }) as Environment),
  );
  for (const name of Object.keys(overrides)) {
    if (!envs.has(name)) {
      throw new ConfigError(
        'ENVIRONMENT_NOT_FOUND',
        `template ${template.name}: overrides name environment "${name}", which is not defined`,
      );
    }
  }
  if (ref && options.schemas) await validateResult(options.schemas, doc, envs);
  return { config, overrides, rollout, params: filled };
}

async function validateResult(schemas: SchemaRegistry, doc: ConfigVersion, envs: Map<string, Environment>) {
  const id = doc.ref.id;
  await schemas.load(id);
  if (schemas.latestVersion(id) === undefined) return;
  const docs = doc.ref.scope === 'global' ? { global: doc, apps: [] } : { global: undefined, apps: [doc] };
  for (const view of resolvedViews(docs, envs, schemas.defaults(id), doc))
    schemas.validate(id, view.value, { ref: view.name });
}

/** What `createFromTemplate` did. */
export type TemplateCreateResult =
  | { kind: 'written'; version: ConfigVersion; rendered: RenderedTemplate }
  | { kind: 'proposed'; request: ChangeRequest; rendered: RenderedTemplate };

export interface CreateFromTemplateOptions {
  /** The head the new document replaces. Default 0: create only (an existing ref is `VERSION_CONFLICT`). */
  expectedVersion?: number;
  message?: string;
}

/**
 * Renders `template` for `ref` (validated against the ref id's schema in the service's registry and
 * the service's environments) and writes it through the service as a new version, with the
 * template in the metadata. When the ref's environments are guarded (`APPROVAL_REQUIRED`), opens a
 * change request instead.
 */
export async function createFromTemplate(
  service: ConfigService,
  actor: Actor,
  template: ConfigTemplate,
  params: unknown,
  refInput: ConfigRef | string,
  options: CreateFromTemplateOptions = {},
): Promise<TemplateCreateResult> {
  const ref = parseRef(refInput);
  const environments = await service.listEnvironments(actor);
  const rendered = await renderTemplate(template, params, { schemas: service.schemas, ref, environments });
  const expectedVersion = options.expectedVersion ?? 0;
  const message = options.message ?? `from template ${template.name}@${template.version}`;
  const input = {
    ref: refKey(ref),
    config: rendered.config,
    overrides: rendered.overrides,
    rollout: rendered.rollout,
    metadata: { template: { name: template.name, version: template.version, checksum: template.checksum } },
    message,
  };
  try {
    return { kind: 'written', version: await service.set(actor, input, { expectedVersion }), rendered };
  } catch (error) {
    if (!isConfigError(error, 'APPROVAL_REQUIRED')) throw error;
    return {
      kind: 'proposed',
      request: await service.propose(actor, { ...input, kind: 'set', baseVersion: expectedVersion }),
      rendered,
    };
  }
}
