/**
 * `summit-config login --server <url>` reads an API token from stdin (the first line), checks it
 * with the server (`/api/v1/whoami`) and stores it for that URL in the user's config directory
 * (`remote/credentials.ts`, mode 0600). `logout --server <url>` removes it. `whoami` prints who the
 * command runs as: through a server, the token's principal; directly, the OS user.
 */

import { errors } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { readAll } from './io.js';
import { credentialsFile, serverKey, writeCredential } from './remote/credentials.js';
import { openRemoteSession } from './remote/session.js';

export function registerLoginCommands(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('login')
      .description('store an API token for a config server (read from stdin; checked with the server first)'),
    async (run: Run<object>) => {
      const url = run.opts.server || run.io.env.SUMMIT_SERVER;
      if (!url) throw errors.constraint('login needs --server <url> (or SUMMIT_SERVER)');
      const key = serverKey(url);
      const token = (await readAll(run.io.stdin as NodeJS.ReadableStream)).split('\n', 1)[0]?.trim() ?? '';
      if (token === '') throw errors.constraint('login reads the token from stdin: pipe it in (e.g. < token-file)');
      const session = await openRemoteSession(key, token);
      await writeCredential(run.io.env, key, {
        token,
        actor: session.actor.id,
        savedAt: new Date().toISOString(),
      });
      run.out.result(
        { server: key, actor: session.actor.id, roles: session.actor.roles, file: credentialsFile(run.io.env) },
        () =>
          `Logged in to ${key} as ${session.actor.id} (${(session.actor.roles ?? []).join(', ')}); token stored in ${credentialsFile(run.io.env)}.`,
      );
    },
  );

  define(
    state,
    program.command('logout').description('forget the stored token of a config server'),
    async (run: Run<object>) => {
      const url = run.opts.server || run.io.env.SUMMIT_SERVER;
      if (!url) throw errors.constraint('logout needs --server <url> (or SUMMIT_SERVER)');
      const key = serverKey(url);
      const had = await writeCredential(run.io.env, key, undefined);
      run.out.result({ server: key, removed: had }, () =>
        had ? `Logged out of ${key}.` : `No token was stored for ${key}.`,
      );
    },
  );

  define(
    state,
    program.command('whoami').description('who commands run as (through a server: the token; directly: the OS user)'),
    async (run: Run<object>) => {
      const s = await run.session();
      const via = s.remote ? s.remote.url : 'the stores (direct)';
      run.out.result(
        { id: s.actor.id, roles: s.actor.roles ?? [], kind: s.actor.kind, via },
        () => `${s.actor.id} (${(s.actor.roles ?? []).join(', ') || 'roles from bindings'}) via ${via}`,
      );
    },
  );
}
