/**
 * The sync loop's operator commands (docs/gitops.md "Sync loop"), on the shared state beside the
 * stores (gitops/sync-state.ts), so they work from any machine that reaches the database:
 *
 * - `gitops accept <commit>`: after a force push the loop is `blocked`; accepting the branch's new head
 *   (the full 40-hex SHA the status and the log line show) lets the leader apply it (or a descendant of
 *   it) at its next round, which this command also requests (`config:write`);
 * - `gitops sync`: asks the leader to run a round at once (`config:write`);
 * - `gitops state`: the applied commit, the accepted one and the sync requests (`config:read`).
 */
import { errors } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { createSyncState } from '../gitops/sync-state.js';
import { type CliState, define, type Run } from './command.js';

const SHA = /^[0-9a-f]{40}$/;

/** Registers `accept`, `sync` and `state` under the `gitops` command group. */
export function registerGitopsSyncCommands(gitops: Command, state: CliState): void {
  define(
    state,
    gitops
      .command('accept')
      .description('let the sync loop apply a head that does not descend from the applied commit (after a force push)')
      .argument('<commit>', 'the full SHA of the branch head to accept (gitops state, /v1/status)')
      .option('--json', 'print the result as JSON'),
    async (run: Run<object>, commit: string) => {
      if (!SHA.test(commit))
        throw errors.constraint(`<commit> must be a full 40-hex commit SHA, got ${JSON.stringify(commit)}`);
      const s = await run.session();
      s.rbac.check(s.actor, 'config:write');
      const sync = createSyncState(await s.notifications());
      await sync.accept(commit);
      const requests = await sync.requestSync();
      const accepted = await sync.accepted();
      run.out.result({ accepted, requests }, () => `accepted ${commit}: the sync loop applies it at its next round\n`);
    },
  );
  define(
    state,
    gitops
      .command('sync')
      .description('ask the leading agent to run a sync round at once')
      .option('--json', 'print the result as JSON'),
    async (run: Run<object>) => {
      const s = await run.session();
      s.rbac.check(s.actor, 'config:write');
      const requests = await createSyncState(await s.notifications()).requestSync();
      run.out.result({ requests }, () => `sync requested (request ${requests})\n`);
    },
  );
  define(
    state,
    gitops
      .command('state')
      .description('the sync loop’s shared state: the applied commit, the accepted one, sync requests')
      .option('--json', 'print the state as JSON'),
    async (run: Run<object>) => {
      const s = await run.session();
      s.rbac.check(s.actor, 'config:read');
      const sync = createSyncState(await s.notifications());
      const [applied, accepted, requests] = await Promise.all([sync.applied(), sync.accepted(), sync.requests()]);
      run.out.result({ applied: applied ?? null, accepted: accepted ?? null, requests }, () =>
        [
          `applied:  ${applied ? `${applied.commit} at ${applied.at}` : 'none'}`,
          `accepted: ${accepted ? `${accepted.commit} at ${accepted.at}${applied && accepted.generation <= applied.acceptedGeneration ? ' (applied since)' : ''}` : 'none'}`,
          `requests: ${requests}`,
          '',
        ].join('\n'),
      );
    },
  );
}
