import { createRequire } from 'node:module';
import type { Ajv2020, Options as AjvOptions, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type addFormatsModule from 'ajv-formats';
import {
  ConfigError,
  type ErrorContext,
  errors,
  messageOf,
  SchemaValidationError,
  type ValidationIssue,
} from '../errors/config-error.js';
import { assertJson, canonicalJson, deepFreeze, escapePointer, isPlainObject, type JsonObject } from '../model/json.js';
import { parseId } from '../model/ref.js';
import { type CompatibilityReport, checkCompatibility, type SchemaChange } from './compatibility.js';
import { schemaDefaults } from './defaults.js';

// ajv and ajv-formats (CommonJS) are loaded when a registry first checks or compiles a schema, not
// when the package is imported: a process without schemas never pays for them (~15 ms of start-up).
// ajv-formats' `module.exports` is the plugin function itself.
const requireCjs = createRequire(import.meta.url);
let ajvModules: { Ajv: typeof Ajv2020; addFormats: typeof addFormatsModule.default } | undefined;
function loadAjv(): NonNullable<typeof ajvModules> {
  ajvModules ??= {
    Ajv: (requireCjs('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020,
    addFormats: requireCjs('ajv-formats') as typeof addFormatsModule.default,
  };
  return ajvModules;
}

/** One stored version of a schema. */
export interface SchemaVersion {
  readonly id: string;
  /** 1, 2, 3 ... per schema id. */
  readonly version: number;
  readonly schema: JsonObject;
}

/**
 * Where schema versions are kept beyond this process (a store-backed implementation lives with the
 * stores). Failures reject (an unreachable store with `BACKEND_UNAVAILABLE`); the registry then
 * changes nothing in memory.
 */
export interface SchemaPersistence {
  /** Every stored version of schema `id`, in any order; `[]` when there is none. */
  load(id: string): Promise<ReadonlyArray<{ version: number; schema: JsonObject }>>;
  /** Stores version `version` of schema `id`. Must reject if that version already exists with other content. */
  save(id: string, version: number, schema: JsonObject): Promise<void>;
}

export interface SchemaRegistryOptions {
  /** Optional persistence; without it versions live in memory only. */
  persistence?: SchemaPersistence;
  /**
   * Ajv strict mode: unknown keywords and ambiguous schemas are rejected at registration. Default true.
   * Union types (`"type": ["string", "null"]`) are always allowed.
   */
  strict?: boolean;
  /** Validate `format` (ajv-formats: date-time, email, uri, ipv4, ...). Default true. */
  formats?: boolean;
}

/** Options of {@link SchemaRegistry.publish}. */
export interface PublishOptions {
  /** Documents that must keep validating, by name (e.g. `app:billing/database@production`). */
  currentDocuments?: Readonly<Record<string, unknown>>;
  /** Publish even when the change is breaking or documents stop validating. Default false. */
  force?: boolean;
}

export interface DocumentCheck {
  name: string;
  /** Whether it validated against the previous version (undefined when there was none). */
  validBefore: boolean | undefined;
  validAfter: boolean;
  /** Issues against the new schema. */
  issues: ValidationIssue[];
}

export interface PublishReport {
  id: string;
  /** The version published (or the existing one when the schema is unchanged). */
  version: number;
  previousVersion: number | undefined;
  /** False when the schema equals the latest version and nothing was written. */
  changed: boolean;
  compatibility: CompatibilityReport;
  documents: DocumentCheck[];
  /** Names of documents that validated before and would not validate after. */
  stopsValidating: string[];
  forced: boolean;
}

/** A breaking schema change refused by `publish` (code `CONSTRAINT_VIOLATION`); `report` says why. */
export class SchemaCompatibilityError extends ConfigError<'CONSTRAINT_VIOLATION'> {
  readonly report: PublishReport;
  readonly breaking: readonly SchemaChange[];
  constructor(message: string, report: PublishReport, options: ErrorContext = {}) {
    super('CONSTRAINT_VIOLATION', message, options);
    this.name = 'SchemaCompatibilityError';
    this.report = report;
    this.breaking = report.compatibility.breaking;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), breaking: this.breaking };
  }
}

/** Documents that would stop validating, refused by `publish` (code `SCHEMA_VALIDATION`). */
export class SchemaPublishValidationError extends SchemaValidationError {
  readonly report: PublishReport;
  constructor(message: string, issues: readonly ValidationIssue[], report: PublishReport, options: ErrorContext = {}) {
    super(message, issues, options);
    this.name = 'SchemaPublishValidationError';
    this.report = report;
  }
}

/** Turns ajv errors into issues with a JSON pointer to the offending member. */
export function issuesFromAjv(ajvErrors: readonly ErrorObject[] | null | undefined): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const e of ajvErrors ?? []) {
    let pointer = e.instancePath;
    const p = e.params as Record<string, unknown>;
    const member =
      e.keyword === 'required' || e.keyword === 'dependentRequired'
        ? p.missingProperty
        : e.keyword === 'additionalProperties'
          ? p.additionalProperty
          : e.keyword === 'unevaluatedProperties'
            ? p.unevaluatedProperty
            : undefined;
    if (typeof member === 'string') pointer = `${pointer}/${escapePointer(member)}`;
    const message = e.message ?? e.keyword;
    const key = `${pointer}\u0000${e.keyword}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, message, keyword: e.keyword });
  }
  return out;
}

function summarise(issues: readonly ValidationIssue[], limit = 5): string {
  const shown = issues
    .slice(0, limit)
    .map((i) => `${i.pointer || '/'} ${i.message}`)
    .join('; ');
  return issues.length > limit ? `${shown}; and ${issues.length - limit} more` : shown;
}

interface Entry {
  versions: SchemaVersion[];
  loaded: boolean;
  /** Serialises registrations of one id. */
  queue: Promise<unknown>;
}

/**
 * JSON Schema (draft 2020-12) registry: versioned schemas per config id, validators compiled once per
 * (id, version) and cached, every issue reported with a JSON pointer, schema defaults, and
 * compatibility-checked publishing.
 */
export class SchemaRegistry {
  readonly #ajvOptions: AjvOptions;
  readonly #formats: boolean;
  #ajvInstance: Ajv2020 | undefined;
  readonly #persistence: SchemaPersistence | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #defaults = new Map<string, JsonObject>();

  constructor(options: SchemaRegistryOptions = {}) {
    if (options.strict !== undefined && typeof options.strict !== 'boolean') {
      throw errors.constraint('SchemaRegistry option "strict" must be a boolean');
    }
    if (options.formats !== undefined && typeof options.formats !== 'boolean') {
      throw errors.constraint('SchemaRegistry option "formats" must be a boolean');
    }
    const p = options.persistence;
    if (p !== undefined && (typeof p?.load !== 'function' || typeof p?.save !== 'function')) {
      throw errors.constraint('SchemaRegistry option "persistence" must have load(id) and save(id, version, schema)');
    }
    this.#persistence = p;
    this.#ajvOptions = {
      allErrors: true,
      strict: options.strict ?? true,
      allowUnionTypes: true,
      logger: false,
      validateFormats: options.formats ?? true,
    };
    this.#formats = options.formats ?? true;
  }

  /** The registry's ajv instance, created (and ajv loaded) on first use. */
  get #ajv(): Ajv2020 {
    if (!this.#ajvInstance) {
      const { Ajv, addFormats } = loadAjv();
      const ajv = new Ajv(this.#ajvOptions);
      if (this.#formats) addFormats(ajv);
      this.#ajvInstance = ajv;
    }
    return this.#ajvInstance;
  }

  #entry(id: string): Entry {
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { versions: [], loaded: this.#persistence === undefined, queue: Promise.resolve() };
      this.#entries.set(id, entry);
    }
    return entry;
  }

  /**
   * Checks that `schema` is a valid draft 2020-12 schema that compiles (strict mode by default). Throws
   * `SCHEMA_VALIDATION` with an issue per problem (pointers into the schema).
   */
  checkSchema(schema: unknown, id = 'schema'): JsonObject {
    return this.#check(schema, id).schema;
  }

  #check(schema: unknown, id: string): { schema: JsonObject; validate: ValidateFunction } {
    if (!isPlainObject(schema)) {
      throw new SchemaValidationError(`${id}: a schema must be a JSON object`, [
        { pointer: '', message: 'must be an object' },
      ]);
    }
    try {
      assertJson(schema);
    } catch (error) {
      throw new SchemaValidationError(`${id}: ${messageOf(error)}`, [{ pointer: '', message: messageOf(error) }]);
    }
    const valid = this.#ajv.validateSchema(schema);
    if (!valid) {
      const issues = issuesFromAjv(this.#ajv.errors);
      throw new SchemaValidationError(`${id}: not a valid JSON Schema: ${summarise(issues)}`, issues);
    }
    return { schema: schema as JsonObject, validate: this.#compile(schema as JsonObject, id) };
  }

  #compile(schema: JsonObject, what: string): ValidateFunction {
    try {
      if (typeof schema.$id === 'string') this.#ajv.removeSchema(schema.$id);
      return this.#ajv.compile(schema);
    } catch (error) {
      const message = messageOf(error);
      throw new SchemaValidationError(`${what}: the schema does not compile: ${message}`, [
        { pointer: '', message, keyword: 'compile' },
      ]);
    }
  }

  /** Loads the stored versions of `id` from the persistence hook (once); returns the latest version number. */
  async load(id: string): Promise<number | undefined> {
    parseId(id);
    const entry = this.#entry(id);
    if (!entry.loaded && this.#persistence) {
      const stored = await this.#persistence.load(id);
      const known = new Set(entry.versions.map((v) => v.version));
      for (const s of stored) {
        if (known.has(s.version)) continue;
        entry.versions.push(Object.freeze({ id, version: s.version, schema: deepFreeze(structuredClone(s.schema)) }));
      }
      entry.versions.sort((a, b) => a.version - b.version);
      entry.loaded = true;
    }
    return entry.versions.at(-1)?.version;
  }

  /**
   * Registers `schema` as the next version of `id` and returns its version number. Registering a
   * schema equal to the latest version returns that version and writes nothing. Throws
   * `INVALID_CONFIG_REF` for a bad id and `SCHEMA_VALIDATION` for an invalid schema.
   */
  async register(id: string, schema: unknown): Promise<number> {
    parseId(id);
    const { schema: checked, validate } = this.#check(schema, id);
    return this.#serial(id, async () => (await this.#append(id, checked, validate)).version);
  }

  #serial<T>(id: string, task: () => Promise<T>): Promise<T> {
    const entry = this.#entry(id);
    const run = entry.queue.then(task, task);
    entry.queue = run.catch(() => undefined);
    return run;
  }

  async #append(
    id: string,
    schema: JsonObject,
    validate: ValidateFunction,
  ): Promise<{ version: number; changed: boolean }> {
    await this.load(id);
    const entry = this.#entry(id);
    const latest = entry.versions.at(-1);
    if (latest && canonicalJson(latest.schema) === canonicalJson(schema))
      return { version: latest.version, changed: false };
    const version = (latest?.version ?? 0) + 1;
    const frozen = deepFreeze(structuredClone(schema));
    if (this.#persistence) await this.#persistence.save(id, version, frozen);
    entry.versions.push(Object.freeze({ id, version, schema: frozen }));
    this.#validators.set(`${id}@${version}`, validate);
    return { version, changed: true };
  }

  /** The latest version number of `id` in memory, or undefined. */
  latestVersion(id: string): number | undefined {
    return this.#entries.get(id)?.versions.at(-1)?.version;
  }

  /** Every version of `id` in memory, oldest first. */
  versions(id: string): readonly SchemaVersion[] {
    return [...(this.#entries.get(id)?.versions ?? [])];
  }

  /** A version of `id` (default: the latest), or undefined. */
  get(id: string, version?: number): SchemaVersion | undefined {
    const versions = this.#entries.get(id)?.versions;
    if (!versions) return undefined;
    return version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
  }

  #require(id: string, version?: number): SchemaVersion {
    const found = this.get(id, version);
    if (!found) {
      throw errors.notFound(
        version === undefined ? `no schema is registered for "${id}"` : `schema "${id}" has no version ${version}`,
      );
    }
    return found;
  }

  #validator(entry: SchemaVersion): ValidateFunction {
    const key = `${entry.id}@${entry.version}`;
    let fn = this.#validators.get(key);
    if (!fn) {
      fn = this.#compile(entry.schema, key);
      this.#validators.set(key, fn);
    }
    return fn;
  }

  /** Every issue of `value` against schema `id` (default: latest version); `[]` when valid. */
  check(id: string, value: unknown, options: { version?: number } = {}): ValidationIssue[] {
    const fn = this.#validator(this.#require(id, options.version));
    return fn(value) ? [] : issuesFromAjv(fn.errors);
  }

  /**
   * Validates `value` against schema `id` (default: latest version). Throws `SCHEMA_VALIDATION` listing
   * every issue, each with a JSON pointer; `NOT_FOUND` when no such schema is registered.
   */
  validate(id: string, value: unknown, options: { version?: number; ref?: string } = {}): void {
    const entry = this.#require(id, options.version);
    const issues = this.check(id, value, { version: entry.version });
    if (issues.length > 0) {
      throw new SchemaValidationError(
        `${options.ref ?? id} does not match schema ${id} v${entry.version}: ${summarise(issues)}`,
        issues,
        { ref: options.ref, version: entry.version },
      );
    }
  }

  /** The schema defaults of `id` (default: latest version): the lowest layer of resolution. Frozen. */
  defaults(id: string, version?: number): JsonObject {
    const entry = this.#require(id, version);
    const key = `${entry.id}@${entry.version}`;
    let d = this.#defaults.get(key);
    if (!d) {
      d = deepFreeze(schemaDefaults(entry.schema));
      this.#defaults.set(key, d);
    }
    return d;
  }

  /** Compares two schemas; see {@link checkCompatibility}. */
  compatibility(oldSchema: unknown, newSchema: unknown): CompatibilityReport {
    return checkCompatibility(oldSchema, newSchema);
  }

  /**
   * Publishes a new version of schema `id` after checking it: its compatibility with the latest
   * version, and which `currentDocuments` would stop validating. Unless `force` is set, a breaking
   * change throws {@link SchemaCompatibilityError} (`CONSTRAINT_VIOLATION`) and documents that would
   * stop validating throw {@link SchemaPublishValidationError} (`SCHEMA_VALIDATION`, one issue per
   * problem, message prefixed by the document name); nothing is written then. Both carry the report.
   */
  async publish(id: string, schema: unknown, options: PublishOptions = {}): Promise<PublishReport> {
    parseId(id);
    const { schema: checked, validate: next } = this.#check(schema, id);
    return this.#serial(id, async () => {
      await this.load(id);
      const previous = this.get(id);
      const compatibility = previous
        ? checkCompatibility(previous.schema, checked)
        : { compatible: true, changes: [], breaking: [] };
      const before = previous ? this.#validator(previous) : undefined;
      const documents: DocumentCheck[] = [];
      for (const [name, value] of Object.entries(options.currentDocuments ?? {})) {
        const validBefore = before ? before(value) === true : undefined;
        const validAfter = next(value) === true;
        documents.push({ name, validBefore, validAfter, issues: validAfter ? [] : issuesFromAjv(next.errors) });
      }
      const stopsValidating = documents.filter((d) => !d.validAfter && d.validBefore !== false).map((d) => d.name);
      const report: PublishReport = {
        id,
        version: previous?.version ?? 0,
        previousVersion: previous?.version,
        changed: false,
        compatibility,
        documents,
        stopsValidating,
        forced: options.force === true,
      };
      if (options.force !== true) {
        if (stopsValidating.length > 0) {
          const issues = documents
            .filter((d) => stopsValidating.includes(d.name))
            .flatMap((d) => d.issues.map((i) => ({ ...i, message: `[${d.name}] ${i.message}` })));
          throw new SchemaPublishValidationError(
            `schema ${id}: ${stopsValidating.length} current document(s) would stop validating (${stopsValidating.join(', ')}): ${summarise(issues)}`,
            issues,
            report,
          );
        }
        if (!compatibility.compatible) {
          throw new SchemaCompatibilityError(
            `schema ${id}: breaking change refused (use force to publish anyway): ${compatibility.breaking
              .slice(0, 5)
              .map((c) => c.message)
              .join('; ')}`,
            report,
          );
        }
      }
      const { version, changed } = await this.#append(id, checked, next);
      report.version = version;
      report.changed = changed;
      return report;
    });
  }
}
