/**
 * The human text of `gitops plan`, `apply` and `export` (with `--json` the CLI prints the reports as
 * they are). Stored text is passed through `printable` so a value cannot drive the terminal.
 */
import type { JsonValue } from '@summit-config/core';
import { printable } from '../cli/io.js';
import type { ApplyReport } from './apply.js';
import type { ExportTreeReport } from './export.js';
import type { GitopsPlan, RefPlan } from './plan.js';

function show(value: JsonValue | undefined): string {
  const text = JSON.stringify(value);
  return text === undefined ? '' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

const SYMBOL: Record<RefPlan['action'], string> = {
  create: '+',
  update: '~',
  delete: '-',
  unchanged: '=',
  absent: '.',
};

function refLine(r: RefPlan, prune: boolean): string[] {
  const notes: string[] = [];
  if (r.action === 'absent') notes.push(prune ? '' : 'not in the tree, kept (--prune deletes it)');
  if (r.metadataOnly) notes.push('metadata only');
  if (r.approvals.length > 0) {
    const envs = r.approvals.map((a) => `${a.environment} (${a.requiredApprovals})`).join(', ');
    notes.push(
      r.openRequest
        ? `change request ${r.openRequest.id} ${r.openRequest.status} (approval in ${envs})`
        : `change request: approval in ${envs}`,
    );
  }
  if (r.schema) notes.push(r.schema.valid ? `schema ${r.schema.id} ok` : `schema ${r.schema.id} INVALID`);
  if (r.superseded.length > 0) notes.push(`superseded gitops request(s) still open: ${r.superseded.join(', ')}`);
  const where = r.file ? ` ${r.file}` : '';
  const lines = [
    printable(
      `${SYMBOL[r.action]} ${r.ref}${where} @v${r.baseVersion}: ${r.action}${notes.filter(Boolean).length ? ` [${notes.filter(Boolean).join('; ')}]` : ''}`,
    ),
  ];
  for (const op of r.patch) {
    const sign = op.op === 'remove' ? '-' : op.op === 'add' ? '+' : '~';
    lines.push(printable(`      ${sign} ${op.path}${op.op === 'remove' ? '' : `: ${show(op.value as JsonValue)}`}`));
  }
  if (r.schema && !r.schema.valid) {
    for (const i of r.schema.issues.slice(0, 10)) lines.push(printable(`      ! ${i.pointer || '/'} ${i.message}`));
    if (r.schema.issues.length > 10) lines.push(`      ! ... and ${r.schema.issues.length - 10} more`);
  }
  return lines;
}

/**
 * The plan as readable text: where it comes from, environments and schemas that change, one line
 * per ref with its patch indented (unchanged refs are counted, not listed), and a summary line.
 */
export function formatPlan(plan: GitopsPlan): string {
  const lines: string[] = [
    printable(
      `gitops plan of ${plan.repo}${plan.prefix ? ` (${plan.prefix})` : ''} at ${plan.commit ?? 'the working files (no commit)'}`,
    ),
  ];
  for (const e of plan.environments) {
    if (e.action === 'unchanged') continue;
    const what = e.action === 'absent' ? 'not in environments.yaml, kept' : e.action;
    lines.push(printable(`  environment ${e.name}: ${what}`));
    for (const op of e.action === 'update' ? e.patch : [])
      lines.push(printable(`      ~ ${op.path}: ${show(op.value as JsonValue)}`));
  }
  for (const s of plan.schemas) {
    if (s.action === 'unchanged') continue;
    const verdict =
      s.currentVersion === undefined
        ? 'new'
        : s.compatible
          ? `compatible with v${s.currentVersion}`
          : `BREAKING against v${s.currentVersion}: ${s.breaking.join('; ')}`;
    lines.push(printable(`  schema ${s.id} (${s.file}): register, ${verdict}`));
  }
  for (const r of plan.refs) {
    if (r.action === 'unchanged' && r.superseded.length === 0) continue;
    lines.push(...refLine(r, plan.prune).map((l) => `  ${l}`));
  }
  const s = plan.summary;
  lines.push(
    `${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged, ${s.absent} not in the tree; ${s.proposals} change request(s)${s.invalid > 0 ? `; ${s.invalid} INVALID: nothing would be applied` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

/** The apply report: one line per item that was not unchanged, then counts. */
export function formatApply(report: ApplyReport): string {
  const lines: string[] = [
    printable(`gitops apply of ${report.repo} at ${report.commit ?? 'the working files (no commit)'}`),
  ];
  for (const r of report.results) {
    if (r.outcome === 'unchanged') continue;
    const extra = [
      r.version !== undefined ? `v${r.version}` : '',
      r.requestId ? `request ${r.requestId}` : '',
      r.error ? `${r.error.code}: ${r.error.message}` : '',
    ].filter(Boolean);
    lines.push(printable(`  ${r.kind} ${r.name}: ${r.outcome}${extra.length ? ` (${extra.join(', ')})` : ''}`));
  }
  lines.push(`${report.written} written, ${report.conflicts} conflict(s), ${report.failures} failure(s)`);
  return `${lines.join('\n')}\n`;
}

/** The export report: the directory and what it holds. */
export function formatExport(report: ExportTreeReport): string {
  const text = `exported ${report.refs} ref(s), ${report.schemas} schema(s), ${report.environments} environment(s) to ${report.dir}`;
  return `${printable(text)}\n`;
}
