/**
 * `summit-config gitops import spring|node-config <src> [--app <name>] [--id <id>] [--out <dir>]`:
 * maps a Spring Cloud Config repository or a node-config project into the GitOps layout
 * (docs/gitops-import.md). The sources are read and mapped first (a malformed file fails, exit 2,
 * naming file and line, with nothing written); the layout is then written into `--out` (a new or
 * empty directory), and the plan of that tree against the stores is printed, so the result is seen
 * before anything reaches a store. Without `--out` the layout goes to a temporary directory that is
 * removed afterwards (a dry run). `--no-plan` skips the plan (no store is opened).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { formatPlan } from '../gitops/format.js';
import type { ImportReport, ImportResult } from '../gitops/import-layout.js';
import { writeImportedLayout } from '../gitops/import-layout.js';
import { importNodeConfig } from '../gitops/import-node-config.js';
import { importSpring } from '../gitops/import-spring.js';
import { type GitopsPlan, planTree } from '../gitops/plan.js';
import { readTree } from '../gitops/tree.js';
import { type CliState, define, type Run } from './command.js';
import { printable, table } from './io.js';

interface ImportOptions {
  app?: string;
  id?: string;
  out?: string;
  plan?: boolean;
}

/** The report as text: a table of source -> ref (environment) -> file, the skipped files, the environments. */
export function formatImportReport(report: ImportReport, files: ReadonlyMap<string, string>, out?: string): string {
  const rows = report.mapped.map((m) => [
    `${m.source}${m.line === undefined ? '' : `:${m.line}`}`,
    m.ref,
    m.environment ?? '(config)',
    m.target,
  ]);
  const lines = [table(['SOURCE', 'REF', 'ENVIRONMENT', 'FILE'], rows).replace(/\n$/, '')];
  for (const s of report.skipped) lines.push(`skipped ${s.source}: ${s.reason}`);
  lines.push(`environments: ${report.environments.length > 0 ? report.environments.join(', ') : '(none)'}`);
  lines.push(
    out === undefined
      ? `${files.size} file(s) mapped; nothing written (no --out)`
      : `${files.size} file(s) written to ${out}`,
  );
  return lines.map((l) => l.split('\n').map(printable).join('\n')).join('\n');
}

async function runImport(
  run: Run<ImportOptions>,
  read: () => Promise<ImportResult>,
): Promise<{ result: ImportResult; out?: string; plan?: GitopsPlan }> {
  const result = await read();
  const given = run.opts.out;
  const dir = given ?? join(await mkdtemp(join(tmpdir(), 'summit-import-dry-')), 'layout');
  try {
    const written = await writeImportedLayout(dir, result.files);
    let plan: GitopsPlan | undefined;
    if (run.opts.plan !== false) {
      // The layout is a plain directory: read from disk (never as part of a git repository around it).
      const source = { tree: await readTree(written), repo: written, commit: undefined, prefix: '' };
      const s = await run.session();
      plan = await planTree({ service: s.service, actor: s.actor, source });
    }
    return { result, ...(given === undefined ? {} : { out: written }), ...(plan ? { plan } : {}) };
  } finally {
    if (given === undefined) await rm(join(dir, '..'), { recursive: true, force: true });
  }
}

function print(run: Run<ImportOptions>, done: Awaited<ReturnType<typeof runImport>>): void {
  const { result, out, plan } = done;
  const json = {
    ...(out === undefined ? {} : { out }),
    files: [...result.files.keys()],
    ...result.report,
    ...(plan === undefined ? {} : { plan }),
  };
  run.out.result(json, () => {
    let text = formatImportReport(result.report, result.files, out);
    if (plan !== undefined) text += `\n\n${formatPlan(plan)}`;
    else if (out !== undefined) text += `\nrun: summit-config gitops plan ${out}`;
    return text;
  });
}

/** Adds `import spring` and `import node-config` under the `gitops` command. */
export function registerGitopsImportCommands(gitops: Command, state: CliState): void {
  const group = gitops
    .command('import')
    .description('map a Spring Cloud Config repository or a node-config project into the layout');
  const common = (command: Command) =>
    command
      .option('--id <id>', 'the config id of the refs')
      .option('--out <dir>', 'write the layout here (a new or empty directory); default: a dry run')
      .option('--no-plan', 'do not plan the result against the stores (opens no store)')
      .option('--json', 'print the report (and the plan) as JSON');

  define(
    state,
    common(
      group
        .command('spring')
        .description('application[-<profile>] and <app>[-<profile>] .yml/.yaml/.properties (id default application)')
        .argument('<src>', 'the repository directory (its top-level files are read)')
        .option('--app <name>', 'import only the shared files and this application'),
    ),
    async (run: Run<ImportOptions>, src: string) => {
      const { app, id } = run.opts;
      print(run, await runImport(run, () => importSpring(src, { ...(app ? { app } : {}), ...(id ? { id } : {}) })));
    },
  );

  define(
    state,
    common(
      group
        .command('node-config')
        .description('config/default and config/<env> .json/.yaml/.yml into app:<name> (id default config)')
        .argument('<src>', 'the project directory (holding config/ and package.json)')
        .option('--app <name>', "the application (default: package.json's name without its @scope/)"),
    ),
    async (run: Run<ImportOptions>, src: string) => {
      const { app, id } = run.opts;
      print(run, await runImport(run, () => importNodeConfig(src, { ...(app ? { app } : {}), ...(id ? { id } : {}) })));
    },
  );
}
