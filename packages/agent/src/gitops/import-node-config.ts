/**
 * Import from a node-config project (docs/gitops-import.md): the files of its `config/` directory
 * become one ref `app:<name>/<id>` of the GitOps layout.
 *
 *   config/default.json|yaml|yml          the ref's config
 *   config/<env>.json|yaml|yml            overrides for environment <env> (NODE_CONFIG_ENV)
 *
 * Skipped, with a reason in the report: `custom-environment-variables.*` (it names environment
 * variables, not values), `local*` (machine-local, not for a repository), `runtime.json` (written by
 * node-config), and formats other than JSON and YAML (`.js`, `.ts`, `.json5`, `.toml`, ...). When a
 * name has both, `.json` then `.yaml` then `.yml` are merged (node-config's order, later wins). The
 * app name is `app`, else the `name` of `<src>/package.json` without its npm scope.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonObject, Scope } from '@summit-config/core';
import { errors, isPlainObject, parseEnvironmentName, parseId, parseScope } from '@summit-config/core/internal';
import { type ImportResult, LayoutBuilder } from './import-layout.js';
import { ImportSourceError, parseJsonSource, parseYamlDocuments } from './import-source.js';

export interface NodeConfigImportOptions {
  /** The application (scope `app:<app>`). Default: `package.json`'s `name` without its `@scope/`. */
  app?: string;
  /** The config id of the ref. Default `config`. */
  id?: string;
}

const DEFAULT_ID = 'config';
/** Read formats, in node-config's merge order (a later one wins key by key). */
const READ = ['json', 'yaml', 'yml'] as const;
type Readable = (typeof READ)[number];

/** The application name: the option, else package.json's name (an npm scope dropped). */
async function appName(src: string, given: string | undefined): Promise<Scope> {
  if (given !== undefined) return parseScope(`app:${given}`);
  let text: string;
  try {
    text = await readFile(join(src, 'package.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw errors.constraint(`${src} has no package.json: give the application with --app <name>`);
  }
  const pkg = parseJsonSource(text, 'package.json');
  const name = isPlainObject(pkg) ? pkg.name : undefined;
  if (typeof name !== 'string' || name === '') {
    throw new ImportSourceError('package.json', undefined, 'has no "name": give the application with --app <name>');
  }
  const bare = name.replace(/^@[^/]+\//, '');
  try {
    return parseScope(`app:${bare}`);
  } catch (error) {
    throw errors.constraint(
      `package.json's name "${name}" is not an app name (${(error as Error).message}): use --app`,
    );
  }
}

/** Why a file of `config/` is not imported, or undefined when it is read. */
function skipReason(stem: string, ext: string): string | undefined {
  if (stem === 'custom-environment-variables') {
    return 'maps environment variables to keys at run time; set those values in the environments instead';
  }
  if (stem === 'local' || stem.startsWith('local-')) return 'machine-local overrides are not kept in a repository';
  if (stem === 'runtime' && ext === 'json') return 'written by node-config at run time';
  if (!(READ as readonly string[]).includes(ext)) return `.${ext} files are not imported (JSON and YAML only)`;
  return undefined;
}

/** A file's value as one JSON object (a YAML file must hold one mapping document). */
async function fileValue(path: string, name: string, ext: Readable): Promise<JsonObject> {
  const text = await readFile(path, 'utf8');
  if (ext === 'json') {
    const value = parseJsonSource(text, name);
    if (!isPlainObject(value)) throw new ImportSourceError(name, 1, 'the file is not a JSON object');
    return value as JsonObject;
  }
  const docs = parseYamlDocuments(text, name, '1.2');
  if (docs.length > 1) throw new ImportSourceError(name, docs[1]?.line, 'node-config reads one YAML document per file');
  const [doc] = docs;
  if (doc === undefined) return {};
  if (!isPlainObject(doc.value)) throw new ImportSourceError(name, doc.line, 'the document is not a mapping of keys');
  return doc.value as JsonObject;
}

/**
 * Reads the node-config project at `src` (its `config/` directory, or `src` itself when it has no
 * `config/` but holds a `default.*`) and returns the layout's files and the report; writes nothing.
 * Throws {@link ImportSourceError} (`CONSTRAINT_VIOLATION`, naming file and line) on a malformed
 * file, `CONSTRAINT_VIOLATION` when there is no application name or no `default.*` and no
 * environment file, and the file system's error when the directory cannot be read.
 */
export async function importNodeConfig(src: string, options: NodeConfigImportOptions = {}): Promise<ImportResult> {
  const id = parseId(options.id ?? DEFAULT_ID);
  const scope = await appName(src, options.app);
  let dir = join(src, 'config');
  let prefix = 'config/';
  let entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (entries === undefined) {
    dir = src;
    prefix = '';
    entries = await readdir(dir, { withFileTypes: true });
    if (!entries.some((e) => e.isFile() && /^default\.[a-z0-9]+$/.test(e.name))) {
      throw errors.constraint(`${src} has no config/ directory and no default.* file: not a node-config project`);
    }
  }
  const builder = new LayoutBuilder();
  const files: { name: string; stem: string; ext: Readable }[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = `${prefix}${entry.name}`;
    if (entry.name.startsWith('.') || (prefix === '' && entry.name === 'package.json')) continue;
    if (!entry.isFile()) {
      if (prefix !== '') builder.skip(name, 'not a file (node-config reads only the top of config/)');
      continue;
    }
    const dot = entry.name.lastIndexOf('.');
    const stem = dot > 0 ? entry.name.slice(0, dot) : entry.name;
    const ext = dot > 0 ? entry.name.slice(dot + 1) : '';
    const reason = skipReason(stem, ext);
    if (reason !== undefined) {
      if (prefix !== '') builder.skip(name, reason);
      continue;
    }
    files.push({ name, stem, ext: ext as Readable });
  }
  if (files.length === 0) throw errors.constraint(`${dir} holds no JSON or YAML configuration file`);
  const rank = (f: (typeof files)[number]) => [f.stem === 'default' ? 0 : 1, READ.indexOf(f.ext)] as const;
  files.sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    if (ra[0] !== rb[0]) return ra[0] - rb[0];
    if (a.stem !== b.stem) return a.stem < b.stem ? -1 : 1;
    return ra[1] - rb[1];
  });
  for (const file of files) {
    const environment = file.stem === 'default' ? undefined : file.stem;
    if (environment !== undefined) {
      try {
        parseEnvironmentName(environment);
      } catch (error) {
        throw new ImportSourceError(file.name, undefined, `not an environment name: ${(error as Error).message}`);
      }
    }
    const value = await fileValue(join(dir, file.name.slice(prefix.length)), file.name, file.ext);
    builder.add(scope, id, environment, value, file.name);
  }
  return builder.build();
}
