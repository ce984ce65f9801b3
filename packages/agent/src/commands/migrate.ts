/**
 * `summit-config migrate ...` and `summit-config template ...`: configuration migrations and
 * templates from the command line. The CLI wires them in with
 *
 *   registerMigrateCommands(program, context);
 *   registerTemplateCommands(program, context);
 *
 * where `context.open()` gives a command the change service, the migration history and the acting
 * user (and `close()` releases them). Commands that need no storage (`migrate create`,
 * `template list`, `template render` without `--ref`) never call `open()`.
 *
 * Output: human text on stdout by default, `--json` for scripts; progress on stderr; on failure
 * `error <CODE>: <message>` on stderr (a JSON object with `--json`) and a non-zero exit code:
 * 2 for bad input (a malformed file, an unknown name, a refused plan), 1 otherwise.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Actor,
  type ApplyReport,
  type ConfigService,
  createFromTemplate,
  createMigrationRunner,
  type ErrorCode,
  errors,
  isConfigError,
  isPlainObject,
  type JsonObject,
  type JsonValue,
  loadMigrations,
  loadTemplates,
  MIGRATION_NAME,
  type MigrationHistory,
  type MigrationPlan,
  type MigrationProgress,
  type MigrationRollbackReport,
  type MigrationStatusEntry,
  messageOf,
  parseMigrationText,
  renderTemplate,
} from '@summit-config/core';
import { Command } from 'commander';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/** What one command works with; `close()` releases it. */
export interface MigrateSession {
  service: ConfigService;
  history: MigrationHistory;
  /** Who runs the command (RBAC, approvals, version authorship). */
  actor: Actor;
  close(): Promise<void>;
}

export interface MigrateCommandContext {
  /** Opens the service, history and actor for one command. */
  open(): Promise<MigrateSession>;
  /** Default of `--dir` for `migrate` commands. Default `migrations`. */
  migrationsDir?: string;
  /** Default of `--dir` for `template` commands. Default `templates`. */
  templatesDir?: string;
  /** Default `process.stdout`. */
  stdout?: NodeJS.WritableStream;
  /** Default `process.stderr`. */
  stderr?: NodeJS.WritableStream;
  /** Receives the exit code of a failed command. Default: sets `process.exitCode`. */
  setExitCode?(code: number): void;
  /** Time source (names of created migrations). Default `() => new Date()`. */
  clock?: () => Date;
}

const INPUT_ERRORS: readonly ErrorCode[] = [
  'CONSTRAINT_VIOLATION',
  'NOT_FOUND',
  'INVALID_CONFIG_REF',
  'CIRCULAR_DEPENDENCY',
  'SCHEMA_VALIDATION',
  'MISSING_REQUIRED',
  'ENVIRONMENT_NOT_FOUND',
  'CHECKSUM_MISMATCH',
];

/** The exit code of a failed command: 2 for bad input, 1 for everything else. */
export function exitCodeFor(error: unknown): number {
  return isConfigError(error) && INPUT_ERRORS.includes(error.code) ? 2 : 1;
}

interface Io {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
}

function io(context: MigrateCommandContext, json: boolean): Io {
  const stdout = context.stdout ?? process.stdout;
  const stderr = context.stderr ?? process.stderr;
  return {
    out: (text) => stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    json,
  };
}

/** Runs a command body: errors become a message and an exit code, never an exception. */
async function run(context: MigrateCommandContext, json: boolean, body: (io: Io) => Promise<number | undefined>) {
  const out = io(context, json);
  const setExit =
    context.setExitCode ??
    ((code: number) => {
      process.exitCode = code;
    });
  try {
    const code = await body(out);
    if (code !== undefined && code !== 0) setExit(code);
  } catch (error) {
    const payload = isConfigError(error) ? error.toJSON() : { code: 'UNEXPECTED', message: messageOf(error) };
    out.err(json ? JSON.stringify({ error: payload }) : `error ${String(payload.code)}: ${String(payload.message)}`);
    setExit(exitCodeFor(error));
  }
}

async function withSession<T>(context: MigrateCommandContext, work: (s: MigrateSession) => Promise<T>): Promise<T> {
  const session = await context.open();
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function list(values: string[] | undefined): string[] | undefined {
  const out = (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  return out.length === 0 ? undefined : out;
}

function show(value: JsonValue | undefined): string {
  const text = JSON.stringify(value);
  return text === undefined ? '' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

// -- human rendering

/** The plan as readable text: one block per migration, one line per ref, its patch indented. */
export function formatPlan(plan: MigrationPlan): string {
  if (plan.migrations.length === 0) return 'Nothing to apply: every migration is applied.\n';
  const lines: string[] = [];
  for (const m of plan.migrations) {
    const flags = [m.status === 'resume' ? `resume run ${m.run}` : `run ${m.run}`];
    if (m.refused) flags.push('REFUSED');
    if (m.blockedBy.length > 0) flags.push(`waits for approval of ${m.blockedBy.join(', ')}`);
    lines.push(
      `${m.name} (version ${m.version}, ${m.kind}) [${flags.join(', ')}]${m.description ? ` ${m.description}` : ''}`,
    );
    if (m.error) lines.push(`  ! ${m.error.code}: ${m.error.message}`);
    if (m.refs.length === 0 && !m.error) lines.push('  (no matching documents)');
    for (const r of m.refs) {
      const what =
        r.action === 'propose'
          ? `change request (approval in ${r.environments.join(', ')})`
          : r.action === 'done'
            ? 'already migrated by this run'
            : r.action;
      lines.push(`  ${symbolOf(r.action)} ${r.ref} @v${r.baseVersion}: ${what}`);
      for (const op of r.patch) {
        const sign = op.op === 'remove' ? '-' : op.op === 'add' ? '+' : '~';
        lines.push(`      ${sign} ${op.path}${op.op === 'remove' ? '' : `: ${show(op.value)}`}`);
      }
      if (r.error) lines.push(`      ! ${r.error.code}: ${r.error.message}`);
      for (const issue of r.issues.slice(0, 10)) lines.push(`      ! ${issue.pointer || '/'} ${issue.message}`);
    }
  }
  const refs = plan.migrations.flatMap((m) => m.refs);
  const count = (action: string) => refs.filter((r) => r.action === action).length;
  lines.push(
    `${plan.migrations.length} migration(s): ${count('update')} update(s), ${count('propose')} change request(s), ${count('unchanged')} unchanged, ${count('done')} done, ${count('error')} error(s)${plan.refused ? ' -- plan REFUSED, nothing would be applied' : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

function symbolOf(action: string): string {
  switch (action) {
    case 'update':
      return '~';
    case 'propose':
      return '?';
    case 'error':
      return '!';
    default:
      return '=';
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

export function formatStatus(entries: readonly MigrationStatusEntry[]): string {
  if (entries.length === 0) return 'No migrations.\n';
  const rows = [['NAME', 'VERSION', 'STATE', 'RUN', 'APPLIED', 'PROPOSED', 'UNCHANGED', 'NOTE']];
  for (const e of entries) {
    const notes: string[] = [];
    if (e.changed) notes.push('CHANGED since it ran');
    if (!e.defined) notes.push('no longer defined');
    if (e.pendingRequests.length > 0) notes.push(`awaiting approval: ${e.pendingRequests.join(', ')}`);
    if (e.record?.error) notes.push(`${e.record.error.code}: ${e.record.error.message}`);
    rows.push([
      e.name,
      e.version,
      e.state,
      e.record ? String(e.record.run) : '-',
      String(e.counts.applied),
      String(e.counts.proposed),
      String(e.counts.unchanged),
      notes.join('; '),
    ]);
  }
  return table(rows);
}

function formatApply(report: ApplyReport): string {
  if (report.migrations.length === 0) return 'Nothing to apply: every migration is applied.\n';
  const lines = report.migrations.map((m) => {
    if (m.outcome === 'blocked') return `${m.name}: blocked, waits for approval of ${(m.blockedBy ?? []).join(', ')}`;
    if (m.outcome === 'skipped') return `${m.name}: already applied by another runner`;
    const proposed = m.refs.filter((r) => r.state === 'proposed').length;
    return `${m.name}: applied (run ${m.run}): ${m.written - proposed} version(s) written, ${proposed} change request(s) opened${m.resumed > 0 ? `, ${m.resumed} done earlier` : ''}`;
  });
  return `${lines.join('\n')}\n`;
}

function formatRollback(report: MigrationRollbackReport): string {
  if (report.already) return `${report.name} is already rolled back.\n`;
  const lines = [`${report.name}: rolled back run ${report.run}`];
  for (const r of report.refs) {
    const state = r.rollback?.state ?? 'skipped';
    lines.push(
      `  ${r.ref}: ${state}${r.rollback?.version ? ` as v${r.rollback.version}` : ''}${r.rollback?.requestId ? ` (change request ${r.rollback.requestId})` : ''}${r.rollback?.forced ? ' (forced over later changes)' : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// -- migrate

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The text of a new data-file migration (valid as written; its placeholder operation changes nothing). */
export function scaffoldMigration(options: {
  name: string;
  version: string;
  format: 'yaml' | 'json';
  description?: string;
  dependencies?: string[];
  scope?: string;
  id?: string;
  environment?: string;
}): string {
  const selector: JsonObject = { id: options.id ?? '**' };
  if (options.scope) selector.scope = options.scope;
  if (options.environment) selector.environment = options.environment;
  const definition: JsonObject = {
    name: options.name,
    version: options.version,
    description: options.description ?? '',
    dependencies: options.dependencies ?? [],
    selector,
    operations: [{ op: 'delete', path: '/replace-me' }],
  };
  if (options.format === 'json') return `${JSON.stringify(definition, null, 2)}\n`;
  return `# Configuration migration ${options.name}. Replace the placeholder operation (it changes nothing).
# Operations (JSON pointers into config, or into overrides.<environment> with selector.environment):
#   - { op: set, path: /timeouts/connectMs, value: 5000, ifMissing: true }
#   - { op: rename, from: /pool, to: /poolSize }        # alias: move; overwrite: true to replace
#   - { op: delete, path: /legacy }                      # alias: remove
#   - { op: patch, patch: [{ op: replace, path: /mode, value: strict }] }   # RFC 6902
# Selector: scope (global, app:<name>, app:*), id glob (* within a segment, ** across), environment.
${stringifyYaml(definition, { lineWidth: 0 })}`;
}

export function registerMigrateCommands(program: Command, context: MigrateCommandContext): Command {
  const defaultDir = context.migrationsDir ?? 'migrations';
  const migrate = program
    .command('migrate')
    .description('configuration migrations: create, plan, apply, status, rollback');

  migrate
    .command('create')
    .description('scaffold a data-file migration (YAML or JSON) named <timestamp>-<name>')
    .argument('<name>', 'short name, [A-Za-z0-9_.-]')
    .option('-d, --dir <dir>', 'migrations directory', defaultDir)
    .option('--format <format>', 'yaml or json', 'yaml')
    .option('--depends <names...>', 'migrations this one depends on (repeat or comma-separate)')
    .option('--scope <scope>', 'selector scope: global, app:<name>, app:*')
    .option('--id <pattern>', 'selector id glob', '**')
    .option('--environment <name>', 'migrate the overrides of this environment')
    .option('--description <text>', 'what the migration does')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        name: string,
        opts: {
          dir: string;
          format: string;
          depends?: string[];
          scope?: string;
          id: string;
          environment?: string;
          description?: string;
          json?: boolean;
        },
      ) =>
        run(context, opts.json === true, async (out) => {
          if (opts.format !== 'yaml' && opts.format !== 'json')
            throw errors.constraint('--format must be yaml or json');
          const version = stamp((context.clock ?? (() => new Date()))());
          const full = `${version}-${name}`;
          if (!MIGRATION_NAME.test(full))
            throw errors.constraint(`migration name ${JSON.stringify(name)} must be [A-Za-z0-9_.-]`);
          const text = scaffoldMigration({
            name: full,
            version,
            format: opts.format,
            description: opts.description,
            dependencies: list(opts.depends),
            scope: opts.scope,
            id: opts.id,
            environment: opts.environment,
          });
          const file = join(opts.dir, `${full}.${opts.format}`);
          // The scaffold must load as it is written (this also checks the selector options).
          parseMigrationText(text, { format: opts.format, file, defaultName: full });
          await mkdir(opts.dir, { recursive: true });
          try {
            await writeFile(file, text, { flag: 'wx' });
          } catch (error) {
            throw errors.constraint(`cannot create ${file}: ${messageOf(error)}`);
          }
          out.out(out.json ? JSON.stringify({ name: full, file }) : `created ${file}`);
          return 0;
        }),
    );

  migrate
    .command('plan')
    .description(
      'dry run: the JSON Patch each pending migration would apply to each document, and whether it validates',
    )
    .option('-d, --dir <dir>', 'migrations directory', defaultDir)
    .option('--only <names...>', 'only these migrations (and their pending dependencies)')
    .option('--json', 'print the plan as JSON')
    .action(async (opts: { dir: string; only?: string[]; json?: boolean }) =>
      run(context, opts.json === true, async (out) => {
        const migrations = await loadMigrations(opts.dir);
        const plan = await withSession(context, (s) =>
          createMigrationRunner({ service: s.service, history: s.history, migrations }).plan(s.actor, {
            only: list(opts.only),
          }),
        );
        out.out(out.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        if (plan.refused) {
          out.err('error PLAN_REFUSED: the plan is refused; apply would write nothing');
          return 2;
        }
        return 0;
      }),
    );

  migrate
    .command('apply')
    .description('apply pending migrations through the change service (guarded environments get change requests)')
    .option('-d, --dir <dir>', 'migrations directory', defaultDir)
    .option('--only <names...>', 'only these migrations (and their pending dependencies)')
    .option('--lock-timeout <ms>', 'wait this long for another runner', '30000')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dir: string; only?: string[]; lockTimeout: string; json?: boolean }) =>
      run(context, opts.json === true, async (out) => {
        const lockTimeoutMs = Number(opts.lockTimeout);
        if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
          throw errors.constraint('--lock-timeout must be a number of milliseconds');
        }
        const migrations = await loadMigrations(opts.dir);
        const onProgress = (p: MigrationProgress) =>
          out.err(`${p.phase} ${p.migration} [${p.index}/${p.total}] ${p.ref}: ${p.outcome}`);
        const report = await withSession(context, (s) =>
          createMigrationRunner({
            service: s.service,
            history: s.history,
            migrations,
            lockTimeoutMs,
            onProgress,
          }).apply(s.actor, { only: list(opts.only) }),
        );
        out.out(out.json ? JSON.stringify(report, null, 2) : formatApply(report));
        return 0;
      }),
    );

  migrate
    .command('status')
    .description('every migration: applied, pending, failed (resumable), rolled back, changed since it ran')
    .option('-d, --dir <dir>', 'migrations directory', defaultDir)
    .option('--json', 'print the status as JSON')
    .action(async (opts: { dir: string; json?: boolean }) =>
      run(context, opts.json === true, async (out) => {
        const migrations = await loadMigrations(opts.dir);
        const status = await withSession(context, (s) =>
          createMigrationRunner({ service: s.service, history: s.history, migrations }).status(s.actor),
        );
        out.out(out.json ? JSON.stringify(status, null, 2) : formatStatus(status));
        return 0;
      }),
    );

  migrate
    .command('rollback')
    .description("append each touched document's pre-migration content as a new version")
    .argument('<name>', 'the migration to roll back')
    .option('--force', 'roll back documents that changed since the migration, over those changes')
    .option('--json', 'print the report as JSON')
    .action(async (name: string, opts: { force?: boolean; json?: boolean }) =>
      run(context, opts.json === true, async (out) => {
        const report = await withSession(context, (s) =>
          createMigrationRunner({ service: s.service, history: s.history, migrations: [] }).rollback(s.actor, name, {
            force: opts.force === true,
          }),
        );
        out.out(out.json ? JSON.stringify(report, null, 2) : formatRollback(report));
        return 0;
      }),
    );

  return migrate;
}

// -- template

/** Parses `--param a.b=value` pairs: the value as JSON when it parses, as text otherwise. */
export function parseParams(pairs: readonly string[], base: JsonObject = {}): JsonObject {
  const out = structuredClone(base);
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw errors.constraint(`--param ${JSON.stringify(pair)} must look like name=value`);
    const path = pair.slice(0, eq).split('.');
    if (path.some((p) => p.length === 0 || p === '__proto__')) {
      throw errors.constraint(`--param ${JSON.stringify(pair)} has a bad name`);
    }
    const text = pair.slice(eq + 1);
    let value: JsonValue;
    try {
      value = JSON.parse(text) as JsonValue;
    } catch {
      value = text;
    }
    let node: JsonObject = out;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (!isPlainObject(next)) node[part] = {};
      node = node[part] as JsonObject;
    }
    node[path.at(-1) as string] = value;
  }
  return out;
}

async function paramsFrom(file: string | undefined, pairs: readonly string[]): Promise<JsonObject> {
  let base: JsonObject = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw errors.notFound(`cannot read parameters file ${file}: ${messageOf(error)}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw errors.constraint(`parameters file ${file} is not JSON or YAML: ${messageOf(error)}`);
    }
    if (!isPlainObject(parsed)) throw errors.constraint(`parameters file ${file} must hold an object`);
    base = parsed as JsonObject;
  }
  return parseParams(pairs, base);
}

async function findTemplate(dir: string, name: string) {
  const templates = await loadTemplates(dir);
  const found = templates.find((t) => t.name === name);
  if (!found) {
    throw errors.notFound(
      `no template is named "${name}" in ${dir} (known: ${templates.map((t) => t.name).join(', ') || 'none'})`,
    );
  }
  return found;
}

export function registerTemplateCommands(program: Command, context: MigrateCommandContext): Command {
  const defaultDir = context.templatesDir ?? 'templates';
  const template = program.command('template').description('configuration templates: list, render, apply');

  template
    .command('list')
    .description('the templates of a directory, with their parameters')
    .option('-d, --dir <dir>', 'templates directory', defaultDir)
    .option('--json', 'print as JSON')
    .action(async (opts: { dir: string; json?: boolean }) =>
      run(context, opts.json === true, async (out) => {
        const templates = await loadTemplates(opts.dir);
        if (out.json) {
          out.out(
            JSON.stringify(
              templates.map((t) => ({
                name: t.name,
                version: t.version,
                description: t.description,
                parameters: t.parameters,
                checksum: t.checksum,
                file: t.file,
              })),
              null,
              2,
            ),
          );
          return 0;
        }
        if (templates.length === 0) {
          out.out(`No templates in ${opts.dir}.`);
          return 0;
        }
        const rows = [['NAME', 'VERSION', 'PARAMETERS', 'DESCRIPTION']];
        for (const t of templates) {
          const props = isPlainObject(t.parameters.properties) ? Object.keys(t.parameters.properties) : [];
          const required = Array.isArray(t.parameters.required) ? (t.parameters.required as string[]) : [];
          rows.push([
            t.name,
            t.version,
            props.map((p) => (required.includes(p) ? `${p}*` : p)).join(',') || '-',
            t.description,
          ]);
        }
        out.out(table(rows));
        return 0;
      }),
    );

  template
    .command('render')
    .description('render a template with parameters (validated; with --ref also against the ref id schema)')
    .argument('<name>', 'template name')
    .option('-d, --dir <dir>', 'templates directory', defaultDir)
    .option('-p, --param <name=value>', 'a parameter (value parsed as JSON when it parses); repeatable', collect, [])
    .option('--params-file <file>', 'parameters from a JSON or YAML file (--param wins)')
    .option('--ref <ref>', 'validate for this ref (<scope>/<id>) with the service schemas and environments')
    .option('--format <format>', 'json or yaml', 'json')
    .option('--json', 'print as JSON (same as --format json)')
    .action(
      async (
        name: string,
        opts: { dir: string; param: string[]; paramsFile?: string; ref?: string; format: string; json?: boolean },
      ) =>
        run(context, opts.json === true, async (out) => {
          if (opts.format !== 'json' && opts.format !== 'yaml')
            throw errors.constraint('--format must be json or yaml');
          const t = await findTemplate(opts.dir, name);
          const params = await paramsFrom(opts.paramsFile, opts.param);
          const rendered =
            opts.ref === undefined
              ? await renderTemplate(t, params)
              : await withSession(context, async (s) =>
                  renderTemplate(t, params, {
                    schemas: s.service.schemas,
                    ref: opts.ref,
                    environments: await s.service.listEnvironments(s.actor),
                  }),
                );
          const doc = { config: rendered.config, overrides: rendered.overrides, rollout: rendered.rollout };
          out.out(
            opts.format === 'yaml' && !out.json ? stringifyYaml(doc, { lineWidth: 0 }) : JSON.stringify(doc, null, 2),
          );
          return 0;
        }),
    );

  template
    .command('apply')
    .description('create a config from a template through the change service (a change request when guarded)')
    .argument('<name>', 'template name')
    .argument('<ref>', 'the new config, <scope>/<id>')
    .option('-d, --dir <dir>', 'templates directory', defaultDir)
    .option('-p, --param <name=value>', 'a parameter (value parsed as JSON when it parses); repeatable', collect, [])
    .option('--params-file <file>', 'parameters from a JSON or YAML file (--param wins)')
    .option('--expected-version <n>', 'replace this head (default 0: create only)', '0')
    .option('-m, --message <text>', 'version message')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        name: string,
        ref: string,
        opts: {
          dir: string;
          param: string[];
          paramsFile?: string;
          expectedVersion: string;
          message?: string;
          json?: boolean;
        },
      ) =>
        run(context, opts.json === true, async (out) => {
          const expectedVersion = Number(opts.expectedVersion);
          if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
            throw errors.constraint('--expected-version must be an integer >= 0');
          }
          const t = await findTemplate(opts.dir, name);
          const params = await paramsFrom(opts.paramsFile, opts.param);
          const result = await withSession(context, (s) =>
            createFromTemplate(s.service, s.actor, t, params, ref, { expectedVersion, message: opts.message }),
          );
          if (out.json) {
            out.out(
              JSON.stringify(
                result.kind === 'written'
                  ? { kind: 'written', ref, version: result.version.version, checksum: result.version.checksum }
                  : { kind: 'proposed', ref, request: result.request.id, environments: result.request.environments },
                null,
                2,
              ),
            );
          } else if (result.kind === 'written') {
            out.out(`${ref}: v${result.version.version} written from template ${t.name}@${t.version}`);
          } else {
            out.out(
              `${ref}: change request ${result.request.id} opened (approval needed in ${result.request.environments.join(', ')})`,
            );
          }
          return 0;
        }),
    );

  return template;
}

/**
 * A program with only the `migrate` and `template` commands (for embedding and tests); the
 * `summit-config` CLI registers the same commands on its own program.
 */
export function createMigrationsProgram(context: MigrateCommandContext, name = 'summit-config'): Command {
  const program = new Command(name).description('Summit Config migrations and templates');
  registerMigrateCommands(program, context);
  registerTemplateCommands(program, context);
  return program;
}
