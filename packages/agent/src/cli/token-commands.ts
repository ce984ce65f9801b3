/**
 * API tokens of the config server: `token create --name --roles [--owner] [--expires]` (the token is
 * printed once), `token list [--owner]`, `token revoke <id>`. Direct mode works on the tokens beside
 * the store (`server_tokens`); remote mode (`--server`) through `/api/v1/tokens`. Both apply the same
 * rules (`@summit-config/server`'s token administration): `token:read` to list, `token:manage` to
 * create or revoke, a token's roles among its creator's, and every change audited.
 */
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { date, list } from './input.js';
import { when } from './io.js';

/** `--expires`: a duration (`30d`, `12h`, `90m`) from now, or a date. */
export function expiryOf(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,6})([mhdw])$/.exec(value.trim());
  if (!m) return date(value, '--expires');
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'm' | 'h' | 'd' | 'w'];
  return new Date(now + Number(m[1]) * unit).toISOString();
}

interface CreateOptions {
  name: string;
  roles: string[];
  owner?: string;
  expires?: string;
}

export function registerTokenCommands(program: Command, state: CliState): void {
  const token = program.command('token').description("the config server's API tokens");

  define(
    state,
    token
      .command('create')
      .description('create an API token; it is printed once and only its SHA-256 is kept')
      .requiredOption('--name <name>', 'what the token is for')
      .requiredOption('--roles <roles...>', 'roles it holds (repeat or comma-separate; each one you hold)')
      .option('--owner <id>', 'the actor id it acts as (default: you)')
      .option('--expires <when>', 'a duration (30d, 12h, 90m, 2w) or a date; default: never'),
    async (run: Run<CreateOptions>) => {
      const s = await run.session();
      const admin = await s.tokens();
      const expiresAt = expiryOf(run.opts.expires);
      const created = await admin.create(
        s.actor,
        {
          name: run.opts.name,
          roles: list(run.opts.roles),
          ...(run.opts.owner !== undefined ? { owner: run.opts.owner } : {}),
          ...(expiresAt !== undefined ? { expiresAt } : {}),
        },
        { source: 'cli' },
      );
      run.out.result(created, () =>
        [
          created.token,
          '',
          `Token ${created.record.id} "${created.record.name}" for ${created.record.owner}, roles ${created.record.roles.join(', ')}, ${created.record.expiresAt ? `expires ${created.record.expiresAt}` : 'never expires'}.`,
          'It is shown this once: store it now (e.g. SUMMIT_TOKEN, or `summit-config login`).',
        ].join('\n'),
      );
    },
  );

  define(
    state,
    token
      .command('list')
      .description('list API tokens (never their secrets)')
      .option('--owner <id>', "only this owner's"),
    async (run: Run<{ owner?: string }>) => {
      const s = await run.session();
      const admin = await s.tokens();
      const items = await admin.list(s.actor, run.opts.owner !== undefined ? { owner: run.opts.owner } : {});
      const now = Date.now();
      run.out.list(items, 'No API tokens.', ['ID', 'NAME', 'OWNER', 'ROLES', 'STATE', 'EXPIRES', 'LAST USED'], (t) => [
        t.id,
        t.name,
        t.owner,
        t.roles.join(','),
        t.revokedAt
          ? `revoked by ${t.revokedBy ?? '?'}`
          : t.expiresAt && Date.parse(t.expiresAt) <= now
            ? 'expired'
            : 'active',
        t.expiresAt ? when(t.expiresAt) : 'never',
        t.lastUsedAt ? when(t.lastUsedAt) : '-',
      ]);
    },
  );

  define(
    state,
    token.command('revoke').description('revoke an API token: refused from the next request on').argument('<id>'),
    async (run: Run<object>, id: string) => {
      const s = await run.session();
      const admin = await s.tokens();
      const revoked = await admin.revoke(s.actor, id, { source: 'cli' });
      run.out.result(revoked, () => `Token ${revoked.id} "${revoked.name}" of ${revoked.owner} revoked.`);
    },
  );
}
