import type { JsonPatchOperation } from '../audit/types.js';
import type { JsonObject, JsonValue } from '../model/json.js';
import type { ConfigRef } from '../model/ref.js';

/** What a transform function learns about the value it rewrites. */
export interface TransformContext {
  /** The ref being migrated. */
  readonly ref: ConfigRef;
  /** `<scope>/<id>` */
  readonly key: string;
  /** The environment whose overrides are migrated, or `undefined` for the base `config`. */
  readonly environment: string | undefined;
  /** The migration's name. */
  readonly migration: string;
}

/**
 * Rewrites one value (module migrations only). Receives a copy of the current value (`undefined`
 * when the path is absent) and returns the new value; `undefined` deletes the key. May be async.
 * It runs at plan time and again at apply time, so it must be deterministic.
 */
export type TransformFn = (
  value: JsonValue | undefined,
  context: TransformContext,
) => JsonValue | undefined | Promise<JsonValue | undefined>;

/**
 * One operation on the target object (the `config`, or the overrides of the selected environment).
 * Paths are JSON pointers (RFC 6901) into the target: `/pool/max`.
 */
export type MigrationOperation =
  /** Sets `path` to `value`, creating missing parent objects; with `ifMissing`, only when absent. */
  | { op: 'set'; path: string; value: JsonValue; ifMissing?: boolean }
  /** Moves the value at `from` to `to` (`move` is an alias). Absent `from`: nothing. An existing `to` is an error unless `overwrite`. */
  | { op: 'rename'; from: string; to: string; overwrite?: boolean }
  /** Deletes `path` (`remove` is an alias). Absent: nothing. */
  | { op: 'delete'; path: string }
  /** Replaces the value at `path` (`""`: the whole target) by `fn(value)`. Module migrations only. */
  | { op: 'transform'; path: string; fn: TransformFn }
  /** Applies an RFC 6902 JSON Patch to the target; a failing operation (or `test`) is an error. */
  | { op: 'patch'; patch: JsonPatchOperation[] };

export type OperationName = MigrationOperation['op'];

/** Which documents a migration transforms. */
export interface MigrationSelectorInput {
  /** Scope glob(s): `global`, `app:billing`, `app:*`. Default: every scope. */
  scope?: string | string[];
  /** Id glob(s): `database`, `services/*\/db`, `features/**`. Required. */
  id: string | string[];
  /**
   * Operate on `overrides[<environment>]` instead of `config`. A literal name must be a defined
   * environment (its override is created when an operation sets something); a glob (`prod*`, `*`)
   * matches the overrides each document already has.
   */
  environment?: string;
}

/** A migration as written: a data file (JSON / YAML) or the default export of a module. */
export interface MigrationDefinition {
  /** `[A-Za-z0-9_.-]{1,128}`, unique. Default (files): the file name without its extension. */
  name?: string;
  /** Free-form version label (`1`, `2024.06.01`, `1.2.0`); orders migrations that do not depend on each other. */
  version: string | number;
  description?: string;
  /** Names of migrations that must be applied first. */
  dependencies?: string[];
  selector: MigrationSelectorInput;
  operations: Array<MigrationOperation | (Omit<MigrationOperation, 'op'> & { op: 'move' | 'remove' })>;
}

export type MigrationKind = 'data' | 'module';

/** A normalised selector. */
export interface MigrationSelector {
  readonly scopes: readonly string[];
  readonly ids: readonly string[];
  readonly environment: string | undefined;
}

/** A validated, normalised migration with its checksum. Build with `parseMigration` / `defineMigration` / `loadMigrationFile`. */
export interface Migration {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly dependencies: readonly string[];
  readonly selector: MigrationSelector;
  readonly operations: readonly MigrationOperation[];
  /** `data` (JSON/YAML: no functions) or `module` (may transform with functions). */
  readonly kind: MigrationKind;
  /**
   * SHA-256 hex of the migration itself: of the canonical JSON of its normalised definition for data
   * migrations (and in-code module migrations, functions by their source text), of the file's text
   * for module files. A migration whose checksum changed after it ran is refused.
   */
  readonly checksum: string;
  /** The file it was loaded from, if any. */
  readonly file?: string;
}

/** The content a migration reads and writes (the checksummed fields of a version). */
export interface MigratedContent {
  config: JsonObject;
  overrides: Record<string, JsonObject>;
  rollout: JsonObject | null;
}
