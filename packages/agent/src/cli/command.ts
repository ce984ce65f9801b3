/**
 * The frame every CLI command runs in: common options, the session opened on first use and closed
 * after the command (also when it fails), and errors turned into output and an exit code.
 */
import { errors } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { EmbeddedStoreBusyError } from '../embedded-lock.js';
import { runningServer } from '../serve.js';
import type { CommonOptions, Session } from './context.js';
import { openSession } from './context.js';
import { exitCodeFor } from './exit-codes.js';
import { type CliIo, createOutput, type Output } from './io.js';
import { openRemoteSession, serverOf, tokenFor, tokenFromFile } from './remote/session.js';

/** State of one `runCli` call, shared by its commands. */
export interface CliState {
  readonly io: Required<Pick<CliIo, 'stdout' | 'stderr' | 'env'>> & CliIo;
  exitCode: number;
  /** `--json` is on the command line: usage errors are printed as JSON too. */
  readonly jsonErrors: boolean;
  /** Opens the session (tests replace it to count or fail opens). */
  open(options: CommonOptions): Promise<Session>;
}

/** What a command body gets. */
export interface Run<O> {
  readonly out: Output;
  readonly opts: O & CommonOptions;
  readonly io: CliState['io'];
  /** The session, opened on the first call, closed after the command. */
  session(): Promise<Session>;
}

/** Adds `--json`, `--config`, `--rbac` and `--actor` to a command that lacks them. */
export function addCommonOptions(command: Command): Command {
  const has = (flag: string) => command.options.some((o) => o.long === flag);
  if (!has('--json')) command.option('--json', 'machine-readable output: one JSON document');
  if (!has('--config')) {
    command.option('--config <file>', 'agent configuration YAML (the stores); env SUMMIT_AGENT_CONFIG');
  }
  if (!has('--rbac')) command.option('--rbac <file>', 'role bindings YAML; env SUMMIT_RBAC_FILE');
  if (!has('--server')) {
    command.option('--server <url>', 'go through this config server (token: SUMMIT_TOKEN or login); env SUMMIT_SERVER');
  }
  if (!has('--actor'))
    command.option(
      '--actor <id>',
      'act under this id (needs actor:impersonate); env SUMMIT_ACTOR; default the OS user',
    );
  return command;
}

/** A command body: `body(run, ...positionalArgs)` resolves with the exit code (default 0). */
export type Body<O, A extends unknown[]> = (run: Run<O>, ...args: A) => Promise<number | undefined> | Promise<void>;

/** An extra line printed under an error (`hint: ...`), e.g. what to do instead. */
export type Hint = (error: unknown) => string | undefined;

/**
 * Wraps a command body as a commander action. The body returns the exit code (default 0); a thrown
 * error is printed with its code and mapped through the exit table (`exit-codes.ts`), the one place
 * that turns errors into exit codes.
 */
export function action<O extends object, A extends unknown[]>(state: CliState, body: Body<O, A>, hint?: Hint) {
  return async (...raw: unknown[]) => {
    const command = raw.at(-1) as Command;
    const opts = command.optsWithGlobals() as O & CommonOptions;
    const args = raw.slice(0, -2) as A;
    const out = createOutput(state.io, opts.json === true);
    let session: Promise<Session> | undefined;
    const run: Run<O> = {
      out,
      opts,
      io: state.io,
      session: () => {
        session ??= state.open(opts);
        return session;
      },
    };
    try {
      const code = await body(run, ...args);
      state.exitCode = typeof code === 'number' ? code : 0;
    } catch (error) {
      out.error(error, hint?.(error));
      state.exitCode = exitCodeFor(error);
    } finally {
      if (session) {
        const s = await session.catch(() => undefined);
        await s?.close();
      }
    }
  };
}

/** Registers `command` in the frame: the common options, and `body` as its action (see `action`). */
export function define<O extends object, A extends unknown[]>(
  state: CliState,
  command: Command,
  body: Body<O, A>,
  hint?: Hint,
): Command {
  return addCommonOptions(command).action(action(state, body, hint));
}

/**
 * The default `open`: remote mode when `--server` or `SUMMIT_SERVER` names a config server; else the
 * stores from the command's options and the run's environment, and when the embedded directory is
 * busy because the main job runs there with its server, that server (with the admin token).
 */
export function defaultOpen(io: CliState['io']) {
  return async (options: CommonOptions): Promise<Session> => {
    const url = serverOf(options, io.env);
    if (url !== undefined) {
      refuseActor(options, io.env);
      return openRemoteSession(url, await tokenFor(url, io.env));
    }
    try {
      return await openSession({ ...options, env: io.env, ...(io.user !== undefined ? { user: io.user } : {}) });
    } catch (error) {
      const running = error instanceof EmbeddedStoreBusyError ? runningServer(error.dataDir) : undefined;
      if (!running) throw error;
      refuseActor(options, io.env);
      return openRemoteSession(running.url, tokenFromFile(running.adminTokenFile));
    }
  };
}

/** `--actor` acts under another id with the stores' credentials; a server authenticates its callers instead. */
function refuseActor(options: CommonOptions, env: NodeJS.ProcessEnv): void {
  if (options.actor || env.SUMMIT_ACTOR) {
    throw errors.constraint(
      '--actor (SUMMIT_ACTOR) is not available through a config server: use a token of that actor',
    );
  }
}
