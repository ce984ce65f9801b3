/**
 * Change requests: propose, approve, reject, cancel, apply, pending.
 */
import { type ChangeRequest, type RequestStatus, refKey } from '@summit-config/core';
import { errors, REQUEST_STATUSES } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { addContentOptions, CONTENT_HELP, type ContentOptions, contentFor } from './content.js';
import type { Session } from './context.js';
import { date, integer, list, ref } from './input.js';
import { when } from './io.js';

function summary(r: ChangeRequest): string {
  const approvals = r.approvals.filter((a) => a.decision === 'approve').length;
  const lines = [
    `change request ${r.id}: ${r.kind} ${refKey(r.ref)} against v${r.baseVersion}, ${r.status}${r.emergency ? ` (emergency, review ${r.review ?? '-'})` : ''}`,
  ];
  if (r.environments.length > 0) {
    lines.push(
      `  needs ${r.requirements.map((q) => `${q.requiredApprovals} approval(s) in ${q.environment}${q.approvers.length ? ` from ${q.approvers.join(', ')}` : ''}`).join('; ')}; has ${approvals}`,
    );
  }
  if (r.appliedVersion !== undefined) lines.push(`  applied as v${r.appliedVersion} by ${r.appliedBy ?? '?'}`);
  if (r.reason) lines.push(`  reason: ${r.reason}`);
  if (r.applyAt) lines.push(`  apply at ${when(r.applyAt)}`);
  if (r.status === 'pending') lines.push(`  expires ${when(r.expiresAt)}`);
  return lines.join('\n');
}

interface DecisionOptions {
  comment?: string;
  reason?: string;
}

/** approve, reject, cancel and apply: a change request id in, the request as it is now out. */
function decide(s: Session, name: string, id: string, o: DecisionOptions): Promise<ChangeRequest> {
  switch (name) {
    case 'approve':
      return s.service.approve(s.actor, id, o.comment === undefined ? {} : { comment: o.comment });
    case 'reject':
      return s.service.reject(s.actor, id, { reason: o.reason as string });
    case 'cancel':
      return s.service.cancel(s.actor, id, o.reason === undefined ? {} : { reason: o.reason });
    default:
      return s.service.apply(s.actor, id);
  }
}

export function registerApprovalCommands(program: Command, state: CliState): void {
  define(
    state,
    addContentOptions(
      program
        .command('propose')
        .description('open a change request (for changes that touch guarded environments)')
        .argument('<ref>', '<scope>/<id>')
        .argument('[file]', 'JSON or YAML file with the value ("-" for stdin); not for --kind delete/rollback'),
    )
      .option('--kind <kind>', 'set, delete or rollback', 'set')
      .option('--to <version>', 'rollback: the version to restore (default: the one before the head)')
      .option('--base-version <n>', 'the head the change is based on (default: the head read now)')
      .option('--apply-at <time>', 'apply no earlier than this (ISO-8601)')
      .option('-q, --quiet', 'print only the change request id (for scripts: ID=$(summit-config propose ... -q))')
      .addHelpText('after', CONTENT_HELP),
    async (
      run: Run<ContentOptions & { kind: string; to?: string; baseVersion?: string; applyAt?: string; quiet?: boolean }>,
      refText: string,
      file: string | undefined,
    ) => {
      const { opts } = run;
      if (!['set', 'delete', 'rollback'].includes(opts.kind)) {
        throw errors.constraint(`--kind must be set, delete or rollback, got ${JSON.stringify(opts.kind)}`);
      }
      const kind = opts.kind as 'set' | 'delete' | 'rollback';
      const baseVersion = integer(opts.baseVersion, '--base-version', 0);
      const to = integer(opts.to, '--to', 1);
      const applyAt = date(opts.applyAt, '--apply-at');
      const r = ref(refText);
      const s = await run.session();
      let request: ChangeRequest;
      if (kind === 'set') {
        const { input, base } = await contentFor(run, s, refText, file);
        request = await s.service.propose(s.actor, {
          ...input,
          kind,
          baseVersion: baseVersion ?? base?.version ?? 0,
          ...(applyAt ? { applyAt } : {}),
        });
      } else {
        if (file !== undefined || opts.file !== undefined || opts.jsonValue !== undefined) {
          throw errors.constraint(`--kind ${kind} takes no value`);
        }
        request = await s.service.propose(s.actor, {
          ref: r,
          kind,
          ...(to === undefined ? {} : { to }),
          ...(baseVersion === undefined ? {} : { baseVersion }),
          ...(opts.message === undefined ? {} : { message: opts.message }),
          ...(applyAt ? { applyAt } : {}),
        });
      }
      if (opts.quiet && !opts.json) run.out.line(request.id);
      else run.out.result(request, () => summary(request));
    },
  );

  const decision = (name: string, description: string) =>
    program.command(name).description(description).argument('<change-id>', 'the change request id');
  for (const command of [
    decision('approve', 'approve a change request (or the review of an emergency change)').option(
      '--comment <text>',
      'a comment recorded with the approval',
    ),
    decision('reject', 'reject a change request (or the review of an emergency change)').requiredOption(
      '--reason <text>',
      'why (recorded)',
    ),
    decision('cancel', 'cancel a pending or approved change request').option('--reason <text>', 'why (recorded)'),
    decision('apply', 'apply an approved change request (CONFLICTING_CHANGE when its base is no longer the head)'),
  ]) {
    define(state, command, async (run: Run<DecisionOptions>, id: string) => {
      const s = await run.session();
      const r = await decide(s, command.name(), id, run.opts);
      run.out.result(r, () => summary(r));
    });
  }

  define(
    state,
    program
      .command('pending')
      .description('list pending change requests (and emergency changes awaiting review)')
      .option('--env <environment>', 'only requests touching this environment')
      .option('--ref <ref>', 'only requests of this ref')
      .option('--status <status...>', `these statuses instead (${REQUEST_STATUSES.join(', ')})`)
      .option('--all', 'every status')
      .option('--limit <n>', 'at most this many', '1000'),
    async (run: Run<{ env?: string; ref?: string; status?: string[]; all?: boolean; limit: string }>) => {
      const { opts } = run;
      const statuses = list(opts.status);
      for (const st of statuses) {
        if (!REQUEST_STATUSES.includes(st as RequestStatus)) {
          throw errors.constraint(`--status ${st} is not one of ${REQUEST_STATUSES.join(', ')}`);
        }
      }
      const limit = integer(opts.limit, '--limit', 1);
      const r = opts.ref === undefined ? undefined : refKey(ref(opts.ref));
      const s = await run.session();
      let requests: ChangeRequest[];
      if (opts.all || statuses.length > 0) {
        requests = await s.service.listRequests(s.actor, {
          ...(r ? { ref: r } : {}),
          ...(opts.all ? {} : { status: statuses as RequestStatus[] }),
          limit,
        });
      } else {
        const pending = await s.service.listRequests(s.actor, { ...(r ? { ref: r } : {}), status: 'pending', limit });
        const reviews = await s.service.listRequests(s.actor, { ...(r ? { ref: r } : {}), reviewPending: true, limit });
        requests = [...pending, ...reviews.filter((x) => !pending.some((p) => p.id === x.id))];
      }
      if (opts.env) requests = requests.filter((x) => x.environments.includes(opts.env as string));
      run.out.list(
        requests,
        'No pending change requests.',
        ['ID', 'REF', 'KIND', 'BASE', 'STATUS', 'APPROVALS', 'ENVIRONMENTS', 'BY', 'REQUESTED', 'EXPIRES'],
        (x) => [
          x.id,
          refKey(x.ref),
          x.kind,
          `v${x.baseVersion}`,
          x.emergency ? `emergency, review ${x.review ?? '-'}` : x.status,
          `${x.approvals.filter((a) => a.decision === 'approve').length}/${x.requiredApprovals}`,
          x.environments.join(',') || '-',
          x.requestedBy,
          when(x.requestedAt),
          x.status === 'pending' ? when(x.expiresAt) : '-',
        ],
      );
    },
  );
}
