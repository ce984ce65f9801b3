/**
 * The human text of an audit report (`summit-config report`): a summary, a text chart of changes
 * per UTC day drawn with Unicode block characters, and aligned tables of the top refs and actors,
 * approvals, rotations and drift. Pure: the report in, the text out.
 */
import type { AuditReport } from '@summit-config/core';
import { table } from './io.js';

/** Eighths of a block, from one eighth to a full block. */
const BLOCKS = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'] as const;

/** Widest bar of the chart, in characters. */
export const CHART_WIDTH = 40;

/**
 * A bar of `value` out of `max` at most `width` characters wide, in eighths of a block. A non-zero
 * value always shows at least one eighth; zero is empty.
 */
export function bar(value: number, max: number, width = CHART_WIDTH): string {
  if (value <= 0 || max <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  const full = Math.floor(eighths / 8);
  const rest = eighths % 8;
  return '█'.repeat(full) + (rest > 0 ? BLOCKS[rest - 1] : '');
}

/** Milliseconds for people: `850ms`, `42s`, `5m 03s`, `2h 05m`, `3d 04h`; `-` for none. */
export function duration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor((s % 86_400) / 3600))}h`;
}

/** A rate between 0 and 1 as a percentage with one decimal; `-` for none. */
export function percent(rate: number | null): string {
  return rate === null ? '-' : `${(rate * 100).toFixed(1)}%`;
}

/** The chart of changes per day: one line per UTC day, the count right-aligned, then its bar. */
export function dayChart(report: AuditReport): string {
  const max = Math.max(0, ...report.changesPerDay.map((d) => d.changes));
  const width = Math.max(...report.changesPerDay.map((d) => String(d.changes).length), 'CHANGES'.length);
  const lines = [`${'DAY'.padEnd(10)}  ${'CHANGES'.padStart(width)}`];
  for (const d of report.changesPerDay) {
    lines.push(`${d.day}  ${String(d.changes).padStart(width)}  ${bar(d.changes, max)}`.trimEnd());
  }
  return lines.join('\n');
}

/** The whole human report. */
export function reportText(report: AuditReport): string {
  const { approvals: a, rotations: r, drift: d } = report;
  const sections = [
    `Audit report ${report.since} .. ${report.until}: ${report.events} event(s), ${report.changes} change(s)`,
    `Changes per day (UTC)\n${dayChart(report)}`,
    report.topRefs.length === 0
      ? 'Most-changed refs: none'
      : `Most-changed refs\n${table(
          ['REF', 'CHANGES'],
          report.topRefs.map((x) => [x.ref, String(x.changes)]),
        )}`,
    report.topActors.length === 0
      ? 'Changes by actor: none'
      : `Changes by actor\n${table(
          ['ACTOR', 'CHANGES'],
          report.topActors.map((x) => [x.actor, String(x.changes)]),
        )}`,
    `Approvals\n${table(
      ['REQUESTS', 'DECIDED', 'APPROVED', 'REJECTED', 'UNDECIDED', 'P50', 'P95'],
      [
        [
          String(a.requests),
          String(a.decided),
          String(a.approvedFirst),
          String(a.rejectedFirst),
          String(a.undecided),
          duration(a.p50Ms),
          duration(a.p95Ms),
        ],
      ],
    )}`,
    `Secret rotations\n${table(
      ['SUCCEEDED', 'FAILED', 'SUCCESS RATE'],
      [[String(r.succeeded), String(r.failed), percent(r.successRate)]],
    )}`,
    `Drift\n${table(
      ['INCIDENTS', 'REPAIRED', 'UNREPAIRED', 'MEAN TIME TO REPAIR'],
      [[String(d.incidents), String(d.repaired), String(d.unrepaired), duration(d.meanTimeToRepairMs)]],
    )}${d.unmatchedRepairs > 0 ? `\n${d.unmatchedRepairs} repair(s) of drift found before the window` : ''}${
      d.byKind.length === 0
        ? ''
        : `\n\n${table(
            ['KIND', 'INCIDENTS'],
            d.byKind.map((k) => [k.kind, String(k.incidents)]),
          )}`
    }`,
  ];
  return sections.join('\n\n');
}
