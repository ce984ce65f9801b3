/**
 * What both imports share on the writing side: the result type ({@link ImportResult}: the layout's
 * files and a report), the builder that collects each ref's config and overrides per environment
 * and renders the files of the GitOps layout (docs/gitops.md), and {@link writeImportedLayout},
 * which writes them into a new or empty directory all at once.
 */
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type JsonObject, parseRef, refKey, type Scope } from '@summit-config/core';
import { errors, parseEnvironmentName } from '@summit-config/core/internal';
import { stringify as stringifyYaml } from 'yaml';
import { mergeObjects } from './import-source.js';

/** Where one source file (or one document of it) went. */
export interface ImportMapping {
  /** The source file, relative to the imported directory (`/` separators). */
  source: string;
  /** The 1-based line of the document, for multi-document files. */
  line?: number;
  /** The ref it became part of, `<scope>/<id>`. */
  ref: string;
  /** The environment whose overrides it became; absent for the ref's base config. */
  environment?: string;
  /** The layout file it was written into. */
  target: string;
}

/** A source file the import did not use, and why. */
export interface ImportSkip {
  source: string;
  reason: string;
}

export interface ImportReport {
  /** Every mapped source (document), in the order read. */
  mapped: ImportMapping[];
  /** Every file not imported, sorted by path. */
  skipped: ImportSkip[];
  /** The refs produced, `<scope>/<id>`, sorted. */
  refs: string[];
  /** The environments produced (every profile or deployment name), sorted. */
  environments: string[];
}

/**
 * The outcome of an import: the layout's files (path relative to the layout's root, with `/`
 * separators -> UTF-8 text), sorted by path, and what mapped where.
 */
export interface ImportResult {
  files: Map<string, string>;
  report: ImportReport;
}

/** Environment names taken as production (guarded): `prod`, `production`, and `prod-*`, `production-*`. */
const PRODUCTION = /^prod(uction)?([-_.].+)?$/;

interface Entry {
  config: JsonObject;
  overrides: Map<string, JsonObject>;
}

/**
 * Collects configs and overrides per ref, then renders the layout: `configs/<scope>/<id>.yaml`
 * (`config`, and `overrides` by environment when there are any) and `environments.yaml`.
 */
export class LayoutBuilder {
  readonly #refs = new Map<string, Entry>();
  readonly #environments = new Set<string>();
  readonly #mapped: ImportMapping[] = [];
  readonly #skipped: ImportSkip[] = [];

  /**
   * Merges `value` into the ref's base config (no environment) or into its overrides for
   * `environment`; later calls win key by key. Throws `INVALID_CONFIG_REF` or
   * `CONSTRAINT_VIOLATION` for a bad ref or environment name.
   */
  add(scope: Scope, id: string, environment: string | undefined, value: JsonObject, source: string, line?: number) {
    const ref = parseRef({ scope, id });
    const key = refKey(ref);
    const entry = this.#refs.get(key) ?? { config: {}, overrides: new Map<string, JsonObject>() };
    this.#refs.set(key, entry);
    if (environment === undefined) entry.config = mergeObjects(entry.config, value);
    else {
      this.addEnvironment(environment);
      entry.overrides.set(environment, mergeObjects(entry.overrides.get(environment) ?? {}, value));
    }
    this.#mapped.push({
      source,
      ...(line === undefined ? {} : { line }),
      ref: key,
      ...(environment === undefined ? {} : { environment }),
      target: targetOf(key),
    });
  }

  /** Declares an environment even when no file overrides anything in it. */
  addEnvironment(name: string): void {
    this.#environments.add(parseEnvironmentName(name));
  }

  /** Records a file that is not imported, with the reason shown in the report. */
  skip(source: string, reason: string): void {
    this.#skipped.push({ source, reason });
  }

  /** The layout's files and the report. */
  build(): ImportResult {
    const files = new Map<string, string>();
    const refs = [...this.#refs.keys()].sort();
    for (const key of refs) {
      const entry = this.#refs.get(key) as Entry;
      const doc: JsonObject = { config: entry.config };
      if (entry.overrides.size > 0) {
        const names = [...entry.overrides.keys()].sort();
        doc.overrides = Object.fromEntries(names.map((n) => [n, entry.overrides.get(n) as JsonObject]));
      }
      files.set(targetOf(key), stringifyYaml(doc, { lineWidth: 0 }));
    }
    const environments = [...this.#environments].sort();
    if (environments.length > 0) {
      files.set(
        'environments.yaml',
        stringifyYaml(
          environments.map((name) => ({ name, production: PRODUCTION.test(name) })),
          { lineWidth: 0 },
        ),
      );
    }
    const sorted = new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      files: sorted,
      report: {
        mapped: [...this.#mapped],
        skipped: [...this.#skipped].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)),
        refs,
        environments,
      },
    };
  }
}

/** The layout file of a ref: `configs/<scope>/<id>.yaml`. */
function targetOf(key: string): string {
  return `configs/${key}.yaml`;
}

/**
 * Writes `files` (from an import) under `dir`, which must not exist or be an empty directory:
 * otherwise `CONSTRAINT_VIOLATION` and nothing is written. The files are written into a sibling
 * temporary directory first, which is then renamed to `dir`, so a failure leaves no partial layout.
 * Resolves with the absolute directory.
 */
export async function writeImportedLayout(dir: string, files: ReadonlyMap<string, string>): Promise<string> {
  const target = resolve(dir);
  let existing: string[] | undefined;
  try {
    existing = await readdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw errors.constraint(`--out ${dir} is a file, not a directory`);
    if (code !== 'ENOENT') throw error;
  }
  if (existing !== undefined && existing.length > 0) {
    throw errors.constraint(`--out ${dir} is not empty (${existing.length} entries): give a new or empty directory`);
  }
  for (const path of files.keys()) {
    if (path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw errors.constraint(`layout path ${JSON.stringify(path)} is not a plain relative path`);
    }
  }
  const staging = `${target}.import-${process.pid}-${Date.now().toString(36)}`;
  try {
    await mkdir(staging, { recursive: true });
    for (const [path, text] of files) {
      const file = join(staging, ...path.split('/'));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, text, { flag: 'wx' });
    }
    if (existing !== undefined) await rmdir(target);
    else await mkdir(dirname(target), { recursive: true });
    await rename(staging, target);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return target;
}
