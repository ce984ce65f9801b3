/**
 * Import from a Spring Cloud Config repository (docs/gitops-import.md): the files at the top of
 * `<src>` become refs of the GitOps layout.
 *
 *   application.yml|yaml|properties          global/<id>, config
 *   application-<profile>.yml|...            global/<id>, overrides.<profile>
 *   <app>.yml|yaml|properties                app:<app>/<id>, config
 *   <app>-<profile>.yml|...                  app:<app>/<id>, overrides.<profile>
 *
 * `<id>` is `application` unless `id` is given. In one ref and layer, `.yml`, then `.yaml`, then
 * `.properties` are merged in that order (a later file wins key by key, as Spring prefers
 * `.properties`). Multi-document files: a document guarded by `spring.config.activate.on-profile`
 * (or the older `spring.profiles`) naming one or more plain profiles becomes those profiles'
 * overrides; a profile expression (`!`, `&`, `|`), another activation condition, or a guard inside a
 * profile-specific file is an {@link ImportSourceError} naming the file and line. Every profile is
 * an environment. Everything else is skipped with a reason in the report.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonObject, Scope } from '@summit-config/core';
import { isPlainObject, parseEnvironmentName, parseId, parseScope } from '@summit-config/core/internal';
import { type ImportResult, LayoutBuilder } from './import-layout.js';
import { expandDottedKeys, ImportSourceError, parseYamlDocuments } from './import-source.js';
import { parseProperties } from './properties.js';

export interface SpringImportOptions {
  /** The config id of every ref. Default `application` (Spring's `spring.config.name`). */
  id?: string;
  /** Import only `application*` and this application's files; others are skipped. Default: every app. */
  app?: string;
}

/** The base name Spring Cloud Config shares between every application. */
const SHARED = 'application';
const EXTENSIONS = ['yml', 'yaml', 'properties'] as const;
type Extension = (typeof EXTENSIONS)[number];

interface SourceFile {
  name: string;
  stem: string;
  ext: Extension;
}

/** Where a file's stem goes: the app (`undefined` for `application`) and the profile, if any. */
interface Placement {
  app: string | undefined;
  profile: string | undefined;
}

/**
 * Splits stems into app and profile. Profiles are those of `application-<profile>` files; a stem
 * `<a>-<p>` is app `<a>` with profile `<p>` when `<p>` is such a profile, or else when `<a>` is an
 * app with a base file; otherwise the whole stem is an app name.
 */
function place(stems: readonly string[]): Map<string, Placement> {
  const out = new Map<string, Placement>();
  const profiles = new Set<string>();
  for (const stem of stems) {
    if (stem === SHARED) out.set(stem, { app: undefined, profile: undefined });
    else if (stem.startsWith(`${SHARED}-`)) {
      const profile = stem.slice(SHARED.length + 1);
      profiles.add(profile);
      out.set(stem, { app: undefined, profile });
    }
  }
  const rest = stems.filter((s) => !out.has(s));
  const bases = new Set(rest);
  for (const stem of rest) {
    const dashes = [...stem.matchAll(/-/g)].map((m) => m.index as number);
    const split =
      dashes.find((i) => profiles.has(stem.slice(i + 1))) ?? dashes.findLast((i) => bases.has(stem.slice(0, i)));
    out.set(
      stem,
      split === undefined
        ? { app: stem, profile: undefined }
        : { app: stem.slice(0, split), profile: stem.slice(split + 1) },
    );
  }
  return out;
}

/** The profiles a document is guarded by, or undefined for an unguarded one; strips the guard. */
function guardOf(doc: JsonObject, file: string, line: number, profileFile: boolean): string[] | undefined {
  const spring = doc.spring;
  if (!isPlainObject(spring)) return undefined;
  const config = spring.config;
  const activate = isPlainObject(config) ? config.activate : undefined;
  let guard: unknown;
  let name = '';
  if (isPlainObject(activate)) {
    for (const key of Object.keys(activate)) {
      if (key !== 'on-profile') {
        throw new ImportSourceError(
          file,
          line,
          `spring.config.activate.${key} has no equivalent in the layout (only on-profile maps to an environment)`,
        );
      }
    }
    guard = activate['on-profile'];
    name = 'spring.config.activate.on-profile';
    delete activate['on-profile'];
    if (Object.keys(activate).length === 0 && isPlainObject(config)) delete config.activate;
    if (isPlainObject(config) && Object.keys(config).length === 0) delete spring.config;
  }
  if (spring.profiles !== undefined && !isPlainObject(spring.profiles)) {
    if (guard !== undefined) throw new ImportSourceError(file, line, `both ${name} and spring.profiles guard it`);
    guard = spring.profiles;
    name = 'spring.profiles';
    delete spring.profiles;
  }
  if (Object.keys(spring).length === 0) delete doc.spring;
  if (guard === undefined) return undefined;
  if (profileFile) {
    throw new ImportSourceError(file, line, `${name} is invalid in a profile-specific file (as in Spring Boot)`);
  }
  const items = Array.isArray(guard) ? guard : typeof guard === 'string' ? guard.split(',') : [guard];
  const profiles = items.map((item) => (typeof item === 'string' ? item.trim() : String(item)));
  for (const p of profiles) {
    if (/[!&|()]/.test(p) || p === '') {
      throw new ImportSourceError(
        file,
        line,
        `${name} "${p}" is a profile expression; only plain profile names map to environments`,
      );
    }
    try {
      parseEnvironmentName(p);
    } catch (error) {
      throw new ImportSourceError(file, line, `${name}: ${(error as Error).message}`, error);
    }
  }
  return profiles;
}

/** The documents of one file, each a JSON object with its line. */
async function documentsOf(dir: string, file: SourceFile): Promise<{ value: JsonObject; line: number }[]> {
  // Spring Boot reads .properties as ISO-8859-1 (as `java.util.Properties` does); YAML as UTF-8.
  const text = await readFile(join(dir, file.name), file.ext === 'properties' ? 'latin1' : 'utf8');
  const docs =
    file.ext === 'properties'
      ? parseProperties(text, file.name).map((d) => ({ value: d.value as unknown, line: d.line }))
      : parseYamlDocuments(text, file.name, '1.1');
  return docs.map(({ value, line }) => {
    if (!isPlainObject(value)) throw new ImportSourceError(file.name, line, 'the document is not a mapping of keys');
    try {
      return { value: expandDottedKeys(value as JsonObject) as JsonObject, line };
    } catch (error) {
      if (error instanceof ImportSourceError) throw error;
      throw new ImportSourceError(file.name, line, (error as Error).message, error);
    }
  });
}

/**
 * Reads the Spring Cloud Config repository at `dir` (only its top-level files) and returns the
 * layout's files and the report; writes nothing. Throws {@link ImportSourceError}
 * (`CONSTRAINT_VIOLATION`, naming file and line) on a malformed or unmappable file,
 * `CONSTRAINT_VIOLATION` for a bad `id` or `app`, and the file system's error when `dir` cannot be read.
 */
export async function importSpring(dir: string, options: SpringImportOptions = {}): Promise<ImportResult> {
  const id = parseId(options.id ?? SHARED);
  if (options.app !== undefined) parseScope(`app:${options.app}`);
  const builder = new LayoutBuilder();
  const entries = await readdir(dir, { withFileTypes: true });
  const files: SourceFile[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.startsWith('.')) continue;
    if (!entry.isFile()) {
      builder.skip(entry.name, entry.isDirectory() ? 'a directory (only top-level files are read)' : 'not a file');
      continue;
    }
    const dot = entry.name.lastIndexOf('.');
    const ext = entry.name.slice(dot + 1);
    const stem = entry.name.slice(0, dot);
    if (dot <= 0 || !(EXTENSIONS as readonly string[]).includes(ext)) {
      builder.skip(entry.name, 'not a .yml, .yaml or .properties file');
    } else if (stem === 'bootstrap' || stem.startsWith('bootstrap-')) {
      builder.skip(entry.name, 'bootstrap configuration configures the client, not the application');
    } else files.push({ name: entry.name, stem, ext: ext as Extension });
  }
  const placements = place([...new Set(files.map((f) => f.stem))]);
  const order = (f: SourceFile) => EXTENSIONS.indexOf(f.ext);
  files.sort((a, b) => (a.stem === b.stem ? order(a) - order(b) : a.stem < b.stem ? -1 : 1));
  // Base files first (so a ref's config exists before its overrides), then profile files.
  const placed = files.map((file) => ({ file, at: placements.get(file.stem) as Placement }));
  placed.sort((a, b) => Number(a.at.profile !== undefined) - Number(b.at.profile !== undefined));
  for (const { file, at } of placed) {
    if (options.app !== undefined && at.app !== undefined && at.app !== options.app) {
      builder.skip(file.name, `belongs to application "${at.app}", not --app ${options.app}`);
      continue;
    }
    let scope: Scope;
    try {
      scope = at.app === undefined ? 'global' : parseScope(`app:${at.app}`);
      if (at.profile !== undefined) parseEnvironmentName(at.profile);
    } catch (error) {
      throw new ImportSourceError(file.name, undefined, `the file name does not map: ${(error as Error).message}`);
    }
    const docs = await documentsOf(dir, file);
    if (docs.length === 0) builder.skip(file.name, 'empty');
    for (const doc of docs) {
      const guard = guardOf(doc.value, file.name, doc.line, at.profile !== undefined);
      const line = docs.length > 1 ? doc.line : undefined;
      if (guard === undefined) builder.add(scope, id, at.profile, doc.value, file.name, line);
      else for (const profile of guard) builder.add(scope, id, profile, doc.value, file.name, doc.line);
    }
    if (at.profile !== undefined) builder.addEnvironment(at.profile);
  }
  return builder.build();
}
