/**
 * Outbound notifications' records (docs/notifications.md): `notifications list [--dead] [--channel]
 * [--limit]` (deliveries and dead letters, newest first; `config:audit:read`) and
 * `notifications retry <id> | --all` (sends dead letters again, signed anew with the channel's
 * current secret, once each: a letter delivered is marked so and never sent again; `config:write`).
 * Works on the stores directly (the records sit beside them); the channels come from the agent
 * configuration (`notifications.webhooks`).
 */
import { errors } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { deliver } from '../notifications/deliver.js';
import type { NotificationRecord } from '../notifications/sql.js';
import { type CliState, define, type Run } from './command.js';
import { when } from './io.js';

interface ListOptions {
  dead?: boolean;
  channel?: string;
  limit?: string;
}

/** A record as printed (the body is left out of the table, kept in `--json`). */
function view(r: NotificationRecord) {
  return { ...r, body: JSON.parse(r.body) as unknown };
}

/** Registers `notifications list` and `notifications retry` on the program. */
export function registerNotificationCommands(program: Command, state: CliState): void {
  const group = program
    .command('notifications')
    .description('outbound webhook notifications: what was delivered, dead letters, and retrying them');

  define(
    state,
    group
      .command('list')
      .description('deliveries and dead letters, newest first')
      .option('--dead', 'only dead letters (every attempt failed)')
      .option('--channel <name>', 'only this channel')
      .option('--limit <n>', 'at most this many (default 100)'),
    async (run: Run<ListOptions>) => {
      const limit = run.opts.limit === undefined ? 100 : Number(run.opts.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
        throw errors.constraint(`--limit must be an integer from 1 to 10000, got ${JSON.stringify(run.opts.limit)}`);
      }
      const s = await run.session();
      s.rbac.check(s.actor, 'config:audit:read');
      const store = await s.notifications();
      const items = await store.list({
        ...(run.opts.dead ? { dead: true } : {}),
        ...(run.opts.channel !== undefined ? { channel: run.opts.channel } : {}),
        limit,
      });
      run.out.list(
        items.map(view),
        run.opts.dead ? 'No dead letters.' : 'No notifications recorded.',
        ['ID', 'CHANNEL', 'EVENT', 'ACTION', 'REF', 'STATUS', 'ATTEMPTS', 'UPDATED', 'LAST ERROR'],
        (r) => [
          r.id,
          r.channel,
          r.eventId,
          r.action,
          r.ref ?? '-',
          r.status,
          String(r.attempts),
          when(r.updatedAt),
          r.lastError ?? '-',
        ],
      );
    },
  );

  define(
    state,
    group
      .command('retry')
      .description('send dead letters again (each once more, with the channel’s retries); delivered ones are marked')
      .argument('[id]', 'the dead letter (see notifications list --dead)')
      .option('--all', 'every dead letter'),
    async (run: Run<{ all?: boolean }>, id: string | undefined) => {
      if ((id === undefined) === (run.opts.all !== true)) throw errors.constraint('give a dead letter id or --all');
      const s = await run.session();
      s.rbac.check(s.actor, 'config:write');
      const store = await s.notifications();
      let letters: NotificationRecord[];
      if (id !== undefined) {
        const found = await store.get(id);
        if (!found) throw errors.notFound(`notification ${id} does not exist`);
        if (found.status !== 'dead') throw errors.constraint(`notification ${id} was delivered: nothing to retry`);
        letters = [found];
      } else letters = (await store.list({ dead: true, limit: 10_000 })).reverse();
      const hooks = new Map(s.config.notifications.webhooks.map((h) => [h.name, h]));
      const results: Array<{ id: string; channel: string; eventId: string; delivered: boolean; error?: string }> = [];
      for (const letter of letters) {
        const hook = hooks.get(letter.channel);
        if (!hook) {
          results.push({ ...pick(letter), delivered: false, error: `channel ${letter.channel} is not configured` });
          continue;
        }
        const outcome = await deliver(
          hook,
          letter.body,
          { eventId: letter.eventId, eventType: letter.action },
          run.io.signal ? { signal: run.io.signal } : {},
        );
        const attempts = letter.attempts + outcome.attempts;
        if (outcome.ok) {
          await store.markDelivered(letter.id, attempts);
          results.push({ ...pick(letter), delivered: true });
        } else {
          await store.markFailed(letter.id, attempts, outcome.lastError ?? 'failed');
          results.push({ ...pick(letter), delivered: false, error: outcome.lastError ?? 'failed' });
        }
      }
      const failed = results.filter((r) => !r.delivered);
      run.out.result({ results }, () =>
        results.length === 0
          ? 'No dead letters.'
          : results
              .map((r) => `${r.id} ${r.channel} ${r.eventId}: ${r.delivered ? 'delivered' : `still dead (${r.error})`}`)
              .join('\n'),
      );
      if (failed.length > 0) {
        throw errors.unavailable(
          'notification receiver',
          new Error(`${failed.length} of ${results.length} dead letter(s) still not delivered`),
        );
      }
    },
  );
}

const pick = (r: NotificationRecord) => ({ id: r.id, channel: r.channel, eventId: r.eventId });
