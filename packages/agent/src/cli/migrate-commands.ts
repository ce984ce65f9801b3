/**
 * `summit-config migrate create|plan|apply|status|rollback`: configuration migrations from a
 * directory (`--dir`, default `migrations`), run through the change service in the command's
 * session. `create` needs no session. Progress of `apply` goes to stderr. A refused plan is printed,
 * then fails with PLAN_REFUSED (exit 2, bad input, like the SCHEMA_VALIDATION of a refused `apply`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonObject } from '@summit-config/core';
import { errors, messageOf } from '@summit-config/core/internal';
import {
  createMigrationRunner,
  loadMigrations,
  MIGRATION_NAME,
  type Migration,
  type MigrationProgress,
  parseMigrationText,
} from '@summit-config/core/migrations';
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { type CliState, define, type Run } from './command.js';
import type { Session } from './context.js';
import { CliError } from './exit-codes.js';
import { list } from './input.js';
import { formatApply, formatPlan, formatRollback, formatStatus } from './migrate-format.js';

const DEFAULT_DIR = 'migrations';

interface CreateOptions {
  dir: string;
  format: string;
  depends?: string[];
  scope?: string;
  id: string;
  environment?: string;
  description?: string;
}

/** `YYYYMMDDHHMMSS` (UTC): the version of a created migration. */
function stamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** `--only` names, or undefined for every pending migration. */
function only(values: string[] | undefined): string[] | undefined {
  const names = list(values);
  return names.length === 0 ? undefined : names;
}

/** The runner over the session's change service and migration history. */
function runnerOf(
  s: Session,
  migrations: Migration[],
  extra: { lockTimeoutMs?: number; onProgress?: (p: MigrationProgress) => void } = {},
) {
  return createMigrationRunner({ service: s.service, history: s.migrationHistory(), migrations, ...extra });
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

/** `migrate create <name>`: writes the scaffold to `<dir>/<timestamp>-<name>.<format>` (never over a file). */
async function create(run: Run<CreateOptions>, name: string): Promise<void> {
  const { opts, out } = run;
  if (opts.format !== 'yaml' && opts.format !== 'json') throw errors.constraint('--format must be yaml or json');
  const version = stamp(new Date());
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
  if (out.json) out.ndjson({ name: full, file });
  else out.line(`created ${file}`);
}

export function registerMigrateCommands(program: Command, state: CliState): Command {
  const migrate = program
    .command('migrate')
    .description('configuration migrations: create, plan, apply, status, rollback');
  const withDir = (command: Command) => command.option('-d, --dir <dir>', 'migrations directory', DEFAULT_DIR);

  define(
    state,
    withDir(
      migrate
        .command('create')
        .description('scaffold a data-file migration (YAML or JSON) named <timestamp>-<name>')
        .argument('<name>', 'short name, [A-Za-z0-9_.-]'),
    )
      .option('--format <format>', 'yaml or json', 'yaml')
      .option('--depends <names...>', 'migrations this one depends on (repeat or comma-separate)')
      .option('--scope <scope>', 'selector scope: global, app:<name>, app:*')
      .option('--id <pattern>', 'selector id glob', '**')
      .option('--environment <name>', 'migrate the overrides of this environment')
      .option('--description <text>', 'what the migration does')
      .option('--json', 'print the result as JSON'),
    create,
  );

  define(
    state,
    withDir(
      migrate
        .command('plan')
        .description(
          'dry run: the JSON Patch each pending migration would apply to each document, and whether it validates',
        ),
    )
      .option('--only <names...>', 'only these migrations (and their pending dependencies)')
      .option('--json', 'print the plan as JSON'),
    async (run: Run<{ dir: string; only?: string[] }>) => {
      const migrations = await loadMigrations(run.opts.dir);
      const s = await run.session();
      const plan = await runnerOf(s, migrations).plan(s.actor, { only: only(run.opts.only) });
      run.out.result(plan, () => formatPlan(plan));
      if (plan.refused) throw new CliError('PLAN_REFUSED', 'the plan is refused; apply would write nothing');
    },
  );

  define(
    state,
    withDir(
      migrate
        .command('apply')
        .description('apply pending migrations through the change service (guarded environments get change requests)'),
    )
      .option('--only <names...>', 'only these migrations (and their pending dependencies)')
      .option('--lock-timeout <ms>', 'wait this long for another runner', '30000')
      .option('--json', 'print the report as JSON'),
    async (run: Run<{ dir: string; only?: string[]; lockTimeout: string }>) => {
      const lockTimeoutMs = Number(run.opts.lockTimeout);
      if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
        throw errors.constraint('--lock-timeout must be a number of milliseconds');
      }
      const migrations = await loadMigrations(run.opts.dir);
      const onProgress = (p: MigrationProgress) =>
        run.out.stderr.write(`${p.phase} ${p.migration} [${p.index}/${p.total}] ${p.ref}: ${p.outcome}\n`);
      const s = await run.session();
      const report = await runnerOf(s, migrations, { lockTimeoutMs, onProgress }).apply(s.actor, {
        only: only(run.opts.only),
      });
      run.out.result(report, () => formatApply(report));
    },
  );

  define(
    state,
    withDir(
      migrate
        .command('status')
        .description('every migration: applied, pending, failed (resumable), rolled back, changed since it ran'),
    ).option('--json', 'print the status as JSON'),
    async (run: Run<{ dir: string }>) => {
      const migrations = await loadMigrations(run.opts.dir);
      const s = await run.session();
      const status = await runnerOf(s, migrations).status(s.actor);
      run.out.result(status, () => formatStatus(status));
    },
  );

  define(
    state,
    migrate
      .command('rollback')
      .description("append each touched document's pre-migration content as a new version")
      .argument('<name>', 'the migration to roll back')
      .option('--force', 'roll back documents that changed since the migration, over those changes')
      .option('--json', 'print the report as JSON'),
    async (run: Run<{ force?: boolean }>, name: string) => {
      const s = await run.session();
      const report = await runnerOf(s, []).rollback(s.actor, name, { force: run.opts.force === true });
      run.out.result(report, () => formatRollback(report));
    },
  );

  return migrate;
}
