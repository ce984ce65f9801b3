/**
 * The audit trail: `audit [ref]` queries it, `audit verify` checks its hash chain, its signatures and
 * its checkpoints, `audit checkpoint` signs its head into every anchor.
 */
import { type AuditQuery, type AuditVerifyResult, refKey } from '@summit-config/core';
import { auditTrailError } from '@summit-config/core/internal';
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
      .description(
        'verify the audit trail: hash chain, event signatures, checkpoints in the anchors (exit 1 naming each problem)',
      ),
    async (run: Run<object>) => {
      const s = await run.session();
      const result = await s.service.verifyAudit(s.actor);
      run.out.result(result, () => verifyText(result));
      if (!result.ok) throw auditTrailError(result);
    },
  );

  define(
    state,
    audit
      .command('checkpoint')
      .description('verify the audit trail, then sign its head and keep the checkpoint in every anchor')
      .option(
        '--adopt',
        'first checkpoint of a trail written before signing: accept its events so far unsigned (needs policy:write)',
      ),
    async (run: Run<{ adopt?: boolean }>) => {
      const s = await run.session();
      const report = await s.service.checkpointAudit(s.actor, { adopt: run.opts.adopt === true });
      const { checkpoint } = report;
      run.out.result({ checkpoint, anchors: report.anchors, failed: report.failed }, () =>
        [
          `audit checkpoint: seq ${checkpoint.seq} ${checkpoint.hash.slice(0, 16)}… at ${checkpoint.at}, signed from seq ${checkpoint.signedFrom} by ${checkpoint.keyId}`,
          ...report.anchors.map((a) => `  kept in ${a}`),
          ...report.failed.map((f) => `  NOT kept in ${f.anchor}: ${f.message}`),
        ].join('\n'),
      );
    },
  );
}

/** The human text of a verification: the summary, then one line per problem with its code. */
function verifyText(result: AuditVerifyResult): string {
  const head = result.head ? `, head seq ${result.head.seq} ${result.head.hash.slice(0, 16)}…` : '';
  const signatures =
    result.signatures === 'checked'
      ? `signatures checked from seq ${result.signedFrom ?? 1}`
      : 'signatures not checked (no trust root)';
  const checkpoint = result.checkpoint
    ? `checkpoint seq ${result.checkpoint.seq} (${result.checkpoint.anchors.join(', ')})`
    : 'no checkpoint';
  const lines = [
    `audit trail ${result.ok ? 'ok' : 'NOT OK'}: ${result.checked} event(s)${head}; ${signatures}; ${checkpoint}`,
  ];
  for (const p of result.problems) lines.push(`  ${p.code}${p.seq !== undefined ? ` seq ${p.seq}` : ''}: ${p.message}`);
  if (result.omittedProblems) lines.push(`  ... and ${result.omittedProblems} more problem(s)`);
  for (const a of result.unreadableAnchors ?? []) lines.push(`  anchor ${a} could not be read`);
  return lines.join('\n');
}
