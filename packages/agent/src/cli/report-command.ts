/**
 * `summit-config report [--since 30d] [--until <time>] [--top N] [--json]`: the audit report of a
 * window (docs/reports.md), computed by core's `auditReport` from the audit trail; through a config
 * server (remote mode) the server computes it (`GET /api/v1/report`) with the same code, so both
 * print the same. Bad input (`--since -5d`, `--top 0`) is `CONSTRAINT_VIOLATION`, exit 2, before
 * the stores or the server are reached.
 */
import { type AuditReport, auditReport } from '@summit-config/core';
import { reportWindow } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { reportText } from './report-format.js';

interface ReportOptions {
  since: string;
  until?: string;
  top: string;
}

/** `--top` as core checks it: an integer when it reads as one, else the text (refused by core). */
function topOf(text: string): number {
  return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : (text as unknown as number);
}

export function registerReportCommand(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('report')
      .description(
        'report from the audit trail: changes per day, most-changed refs, approval latency, rotation success rate, drift and its time to repair',
      )
      .option(
        '--since <time|duration>',
        'start of the window: ISO-8601 time or a duration before --until (30d, 12h, 90m, 2w)',
        '30d',
      )
      .option(
        '--until <time|duration>',
        'end of the window (exclusive): ISO-8601 time or a duration before now; default now',
      )
      .option('--top <n>', 'how many refs and actors to list (1-1000)', '10'),
    async (run: Run<ReportOptions>) => {
      const { opts } = run;
      const window = {
        since: opts.since,
        ...(opts.until !== undefined ? { until: opts.until } : {}),
        top: topOf(opts.top),
      };
      // Bad options are refused before the stores (or the server) are reached.
      reportWindow(window);
      const s = await run.session();
      let report: AuditReport;
      if (s.remote) {
        report = await s.remote.api.request<AuditReport>('GET', '/api/v1/report', {
          query: { since: opts.since, until: opts.until, top: opts.top },
          ...(run.io.signal ? { signal: run.io.signal } : {}),
        });
      } else {
        report = await auditReport(s.service, s.actor, {
          ...window,
          ...(run.io.signal ? { signal: run.io.signal } : {}),
        });
      }
      run.out.result(report, () => reportText(report));
    },
  );
}
