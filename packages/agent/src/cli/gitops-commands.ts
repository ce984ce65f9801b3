/**
 * `summit-config gitops plan|apply|export`: configuration as code in a git repository
 * (docs/gitops.md). The tree is read and parsed before the stores are opened, so a malformed file
 * fails (exit 2, naming file and line) without touching them. Only the change service's interface is
 * used, so the commands work the same through a config server (`--server`).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, type ErrorCode, SchemaValidationError } from '@summit-config/core';
import { errors, isPlainObject } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { applyTree } from '../gitops/apply.js';
import { exportTree } from '../gitops/export.js';
import { formatApply, formatExport, formatPlan } from '../gitops/format.js';
import { type GitopsPlan, planTree } from '../gitops/plan.js';
import { openTreeSource } from '../gitops/source.js';
import { type CliState, define, type Run } from './command.js';
import { registerGitopsImportCommands } from './gitops-import-command.js';

interface TreeOptions {
  rev?: string;
  prune?: boolean;
  plan?: string;
  forceSchemas?: boolean;
}

/**
 * The heads of a saved plan (`gitops plan --json > plan.json`) by ref. Refused (`CONSTRAINT_VIOLATION`)
 * when the file is not a plan, or is a plan of another commit than the one read now.
 */
async function savedHeads(file: string, commit: string | undefined): Promise<Map<string, number>> {
  let saved: unknown;
  try {
    saved = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw errors.constraint(`--plan ${file}: not a JSON plan (${(error as Error).message})`);
  }
  if (!isPlainObject(saved) || !Array.isArray(saved.refs)) throw errors.constraint(`--plan ${file}: not a gitops plan`);
  if ((saved.commit ?? undefined) !== commit) {
    throw errors.constraint(
      `--plan ${file} was made at ${String(saved.commit ?? 'the working files')}, the tree is at ${commit ?? 'the working files'}`,
    );
  }
  const heads = new Map<string, number>();
  for (const r of saved.refs as unknown[]) {
    if (isPlainObject(r) && typeof r.ref === 'string' && Number.isSafeInteger(r.baseVersion))
      heads.set(r.ref, r.baseVersion as number);
  }
  return heads;
}

async function plan(run: Run<TreeOptions>, spec: string): Promise<GitopsPlan> {
  const source = await openTreeSource(spec, { rev: run.opts.rev, signal: run.io.signal });
  const s = await run.session();
  return planTree({ service: s.service, actor: s.actor, source, prune: run.opts.prune === true });
}

/** A plan whose documents fail their schema: `SCHEMA_VALIDATION` (exit 2) with every issue. */
function invalid(p: GitopsPlan): SchemaValidationError {
  const bad = p.refs.filter((r) => r.schema && !r.schema.valid);
  const issues = bad.flatMap((r) =>
    (r.schema?.issues ?? []).map((i) => ({ ...i, message: `${r.file ?? r.ref}: ${i.message}` })),
  );
  return new SchemaValidationError(
    `${bad.length} document(s) fail their schema (${bad.map((r) => r.file ?? r.ref).join(', ')}): nothing would be applied`,
    issues,
  );
}

export function registerGitopsCommands(program: Command, state: CliState): Command {
  const gitops = program
    .command('gitops')
    .description('configuration as code: plan, apply and export a git repository (docs/gitops.md)');
  const tree = (command: Command) =>
    command
      .argument('<tree>', 'a directory, a git repository (read at a commit) or a git URL')
      .option('--rev <commit>', 'read the repository at this commit, branch or tag (default HEAD)')
      .option('--prune', 'delete refs that are not in the tree (default: keep them)');

  define(
    state,
    tree(
      gitops.command('plan').description('what apply would do: the JSON Patch per ref, schema verdicts, approvals'),
    ).option('--json', 'print the plan as JSON'),
    async (run: Run<TreeOptions>, spec: string) => {
      const p = await plan(run, spec);
      run.out.result(p, () => formatPlan(p));
      if (!p.valid) throw invalid(p);
    },
  );

  define(
    state,
    tree(
      gitops
        .command('apply')
        .description('write the tree through the change service (guarded environments get change requests)'),
    )
      .option(
        '--plan <file>',
        'write against the heads of this saved plan (`gitops plan --json`): a ref edited since is a conflict',
      )
      .option('--force-schemas', 'publish breaking schema changes (the plan has checked every document against them)')
      .option('--json', 'print the report as JSON'),
    async (run: Run<TreeOptions>, spec: string) => {
      const p = await plan(run, spec);
      if (!p.valid) {
        run.out.result(p, () => formatPlan(p));
        throw invalid(p);
      }
      if (run.opts.plan !== undefined) {
        const heads = await savedHeads(run.opts.plan, p.commit);
        for (const r of p.refs) {
          const seen = heads.get(r.ref);
          if (seen !== undefined) r.baseVersion = seen;
        }
      }
      const s = await run.session();
      const report = await applyTree({
        service: s.service,
        actor: s.actor,
        plan: p,
        forceSchemas: run.opts.forceSchemas === true,
        signal: run.io.signal,
      });
      run.out.result(report, () => formatApply(report));
      const bad =
        report.results.find((r) => r.outcome === 'conflict') ?? report.results.find((r) => r.outcome === 'failed');
      if (bad?.error) {
        const message = `${report.conflicts} conflict(s), ${report.failures} failure(s); first: ${bad.kind} ${bad.name}: ${bad.error.message}`;
        if (bad.error.code === 'UNEXPECTED') throw new Error(message);
        throw new ConfigError(bad.error.code as ErrorCode, message);
      }
    },
  );

  define(
    state,
    gitops
      .command('export')
      .description('write the current heads, schemas and environments in the gitops layout')
      .argument('<dir>', 'the directory (its configs/, schemas/ and environments.yaml are replaced)')
      .option('--json', 'print the report as JSON'),
    async (run: Run<object>, dir: string) => {
      const s = await run.session();
      const report = await exportTree({ service: s.service, actor: s.actor, dir });
      run.out.result(report, () => formatExport(report));
    },
  );
  registerGitopsImportCommands(gitops, state);
  return gitops;
}
