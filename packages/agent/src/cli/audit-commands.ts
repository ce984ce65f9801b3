/**
 * The audit trail: `audit [ref]` queries it, `audit verify` checks its hash chain.
 */
import { type AuditQuery, ConfigError, refKey } from '@summit-config/core';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { date, integer, ref } from './input.js';
import { when } from './io.js';

interface AuditOptions {
  by?: string;
  action?: string;
  request?: string;
  since?: string;
  until?: string;
  afterSeq?: string;
  limit: string;
}

export function registerAuditCommands(program: Command, state: CliState): void {
  const audit = define(
    state,
    program
      .command('audit')
      .description('query the audit trail (every change, approval and schema or environment event)')
      .argument('[ref]', 'only events of this ref (<scope>/<id>)')
      .option('--by <user>', 'only events by this actor')
      .option('--action <action>', 'only this action, or a prefix ending in "." (e.g. request.)')
      .option('--request <id>', 'only events of this change request')
      .option('--since <time>', 'events at or after this time (ISO-8601)')
      .option('--until <time>', 'events before this time')
      .option('--after-seq <n>', 'events after this sequence number (paging)')
      .option('--limit <n>', 'at most this many, oldest first', '1000'),
    async (run: Run<AuditOptions>, refText: string | undefined) => {
      const { opts } = run;
      const query: AuditQuery = {
        ...(refText === undefined ? {} : { ref: refKey(ref(refText)) }),
        ...(opts.by ? { actor: opts.by } : {}),
        ...(opts.action ? { action: opts.action } : {}),
        ...(opts.request ? { requestId: opts.request } : {}),
        ...(opts.since ? { since: date(opts.since, '--since') } : {}),
        ...(opts.until ? { until: date(opts.until, '--until') } : {}),
        ...(opts.afterSeq ? { afterSeq: integer(opts.afterSeq, '--after-seq', 0) } : {}),
        limit: integer(opts.limit, '--limit', 1),
      };
      const s = await run.session();
      const events = await s.service.audit(s.actor, query);
      run.out.list(
        events,
        'No audit events.',
        ['SEQ', 'AT', 'ACTOR', 'ACTION', 'REF', 'VERSION', 'SOURCE', 'MESSAGE'],
        (e) => [
          String(e.seq),
          when(e.at),
          e.actor,
          e.action,
          e.ref ?? '-',
          e.version === undefined ? '-' : String(e.version),
          e.source ?? '-',
          e.message,
        ],
      );
    },
  );

  define(
    state,
    audit
      .command('verify')
      .description('verify the hash chain of the audit trail (CHECKSUM_MISMATCH, exit 1, when it is broken)'),
    async (run: Run<object>) => {
      const s = await run.session();
      const result = await s.service.verifyAudit(s.actor);
      run.out.result(result, () =>
        result.ok
          ? `audit chain ok: ${result.checked} event(s)${result.head ? `, head seq ${result.head.seq} ${result.head.hash.slice(0, 16)}…` : ''}`
          : `audit chain BROKEN at seq ${result.brokenAt ?? '?'}: ${result.reason ?? ''} (${result.checked} checked)`,
      );
      if (!result.ok) {
        throw new ConfigError(
          'CHECKSUM_MISMATCH',
          `the audit chain is broken at seq ${result.brokenAt ?? '?'}: ${result.reason ?? 'unknown reason'}`,
        );
      }
    },
  );
}
