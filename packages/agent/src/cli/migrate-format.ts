/**
 * The human text of `migrate plan`, `apply`, `status` and `rollback` (with `--json` they print the
 * runner's reports as they are).
 */
import type { JsonValue } from '@summit-config/core';
import type {
  ApplyReport,
  MigrationPlan,
  MigrationRollbackReport,
  MigrationStatusEntry,
} from '@summit-config/core/migrations';
import { table } from './io.js';

function show(value: JsonValue | undefined): string {
  const text = JSON.stringify(value);
  return text === undefined ? '' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

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

/** The status table (`No migrations.` when there are none). */
export function formatStatus(entries: readonly MigrationStatusEntry[]): string {
  if (entries.length === 0) return 'No migrations.\n';
  const rows = entries.map((e) => {
    const notes: string[] = [];
    if (e.changed) notes.push('CHANGED since it ran');
    if (!e.defined) notes.push('no longer defined');
    if (e.pendingRequests.length > 0) notes.push(`awaiting approval: ${e.pendingRequests.join(', ')}`);
    if (e.record?.error) notes.push(`${e.record.error.code}: ${e.record.error.message}`);
    return [
      e.name,
      e.version,
      e.state,
      e.record ? String(e.record.run) : '-',
      String(e.counts.applied),
      String(e.counts.proposed),
      String(e.counts.unchanged),
      notes.join('; '),
    ];
  });
  return `${table(['NAME', 'VERSION', 'STATE', 'RUN', 'APPLIED', 'PROPOSED', 'UNCHANGED', 'NOTE'], rows)}\n`;
}

export function formatApply(report: ApplyReport): string {
  if (report.migrations.length === 0) return 'Nothing to apply: every migration is applied.\n';
  const lines = report.migrations.map((m) => {
    if (m.outcome === 'blocked') return `${m.name}: blocked, waits for approval of ${(m.blockedBy ?? []).join(', ')}`;
    if (m.outcome === 'skipped') return `${m.name}: already applied by another runner`;
    const proposed = m.refs.filter((r) => r.state === 'proposed').length;
    return `${m.name}: applied (run ${m.run}): ${m.written - proposed} version(s) written, ${proposed} change request(s) opened${m.resumed > 0 ? `, ${m.resumed} done earlier` : ''}`;
  });
  return `${lines.join('\n')}\n`;
}

export function formatRollback(report: MigrationRollbackReport): string {
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
