/**
 * `watch [pattern]`: streams head changes (or, with `--app` and `--environment`, resolved values)
 * until Ctrl-C or SIGTERM; NDJSON with `--json`. Store errors while watching are warnings on stderr.
 */
import {
  type ConfigChange,
  type ConfigError,
  type ConfigVersion,
  type HeadChange,
  isConfigError,
  refKey,
  type Scope,
} from '@summit-config/core';
import { compilePattern, isTombstone, parseScope } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { toConfigError } from '../util.js';
import { type CliState, define, type Run } from './command.js';
import { envAlias } from './config-read-commands.js';
import type { Session } from './context.js';
import { brief, type Output, when } from './io.js';
import { watchRemote } from './remote/watch.js';
import { appEnvironment, openClient, openResolver } from './resolve.js';
import { untilStopped } from './stop.js';

export function registerWatch(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('watch')
      .description('stream changes until Ctrl-C / SIGTERM (NDJSON with --json)')
      .argument('[pattern]', 'only ids matching (* within a segment, ** across); default all')
      .option('--scope <scope>', 'only this scope: global or app:<name>')
      .option('--app <name>', 'stream resolved values for this app (with --environment)')
      .option('-e, --environment <name>', 'the environment of resolved values')
      .addOption(envAlias())
      .option('--initial', 'print the current heads first (lines with "initial": true)')
      .addHelpText(
        'after',
        '\nWithout --app, each line is a head change: {"type":"change","ref","version","checksum","createdAt","createdBy","message"}.\nWith --app and --environment, each line is a resolved change: {"type":"change","id","ref","version","value"}.',
      ),
    async (
      run: Run<{ scope?: string; app?: string; environment?: string; initial?: boolean }>,
      pattern: string | undefined,
    ) => {
      const { opts, out } = run;
      opts.environment ??= (opts as { env?: string }).env;
      const match = compilePattern(pattern ?? '**');
      const s = await run.session();
      if (opts.app !== undefined || opts.environment !== undefined) {
        await watchResolved(run, s, pattern ?? '**');
        return;
      }
      const scope: Scope | undefined = opts.scope === undefined ? undefined : parseScope(opts.scope);
      if (s.remote) {
        await watchThroughServer(run, s, scope, match, pattern);
        return;
      }
      s.rbac.check(s.actor, 'config:read', scope ? { scope } : {});
      const stop = untilStopped(run.io.signal);
      let chain = Promise.resolve();
      const emit = (change: HeadChange) => {
        if (!match(change.ref.id) && !match(change.key)) return;
        const head = { ref: change.key, version: change.version, checksum: change.checksum };
        chain = chain.then(() =>
          printHeadChange(out, { ...head, ...(change.initial ? { initial: true } : {}) }, () =>
            s.store.getVersion(change.ref, change.version),
          ),
        );
      };
      const unwatch = s.store.watch(emit, {
        ...(scope ? { scope } : {}),
        initial: opts.initial === true,
        signal: stop.signal,
        onError: (error) => warn(out, error),
      });
      out.note(`watching ${scope ?? 'every scope'}${pattern ? ` for ${pattern}` : ''}; Ctrl-C to stop`);
      try {
        await stop.stopped;
      } finally {
        unwatch();
        stop.dispose();
      }
      await chain;
    },
  );
}

/** `watch` in remote mode: the server's event stream; each change's version is read for its author and message. */
async function watchThroughServer(
  run: Run<{ initial?: boolean }>,
  s: Session,
  scope: Scope | undefined,
  match: (text: string) => boolean,
  pattern: string | undefined,
): Promise<void> {
  const { out } = run;
  const stop = untilStopped(run.io.signal);
  let chain = Promise.resolve();
  out.note(
    `watching ${scope ?? 'every scope'}${pattern ? ` for ${pattern}` : ''} through ${s.remote?.url}; Ctrl-C to stop`,
  );
  try {
    await watchRemote((s.remote as NonNullable<Session['remote']>).api, {
      ...(scope ? { scope } : {}),
      initial: run.opts.initial === true,
      signal: stop.signal,
      onError: (error) => warn(out, error),
      onChange: (change) => {
        const id = change.ref.slice(change.ref.indexOf('/') + 1);
        if (!match(id) && !match(change.ref)) return;
        chain = chain.then(() =>
          printHeadChange(out, change, () => s.service.get(s.actor, change.ref, { version: change.version })),
        );
      },
    });
  } finally {
    stop.dispose();
  }
  await chain;
}

async function watchResolved(
  run: Run<{ app?: string; environment?: string; initial?: boolean }>,
  s: Session,
  pattern: string,
): Promise<void> {
  const { out, opts } = run;
  const t = appEnvironment(opts.app, opts.environment);
  if (s.remote) {
    await watchResolvedThroughServer(run, s, t, pattern);
    return;
  }
  const client = await openClient(s, t);
  const stop = untilStopped(run.io.signal);
  try {
    const match = compilePattern(pattern);
    if (opts.initial) {
      for (const id of client.ids().filter(match)) {
        const d = client.resolve(id);
        printChange(out, { type: 'value', initial: true, id, versions: d.versions, value: d.value });
      }
    }
    client.watch(pattern, (change: ConfigChange) => {
      printChange(out, {
        type: 'change',
        id: change.id,
        ref: refKey(change.ref),
        version: change.version,
        value: change.value ?? null,
      });
    });
    out.note(`watching ${pattern} for app ${t.app} in ${t.environment}; Ctrl-C to stop`);
    await stop.stopped;
  } finally {
    stop.dispose();
    await client.close();
  }
}

/**
 * `watch --app --environment` in remote mode: the server's event stream of every scope, and for each
 * change of `global/<id>` or `app:<app>/<id>` the value the server resolves for the id.
 */
async function watchResolvedThroughServer(
  run: Run<{ initial?: boolean }>,
  s: Session,
  t: { app: string; environment: string },
  pattern: string,
): Promise<void> {
  const { out } = run;
  const match = compilePattern(pattern);
  // One resolver for the watch: the environment is checked once, each change is one request.
  const resolver = await openResolver(s, { id: '', app: t.app, environment: t.environment, ref: undefined }, []);
  const resolveId = (id: string) => resolver.resolve(id);
  const idOf = (ref: string) => {
    const slash = ref.indexOf('/');
    const scope = ref.slice(0, slash);
    return scope === 'global' || scope === `app:${t.app}` ? ref.slice(slash + 1) : undefined;
  };
  if (run.opts.initial) {
    const heads = [
      ...(await s.service.list(s.actor, { scope: 'global' })),
      ...(await s.service.list(s.actor, { scope: `app:${t.app}` })),
    ];
    for (const id of [...new Set(heads.map((h) => h.ref.id))].filter(match).sort()) {
      const d = await resolveId(id);
      printChange(out, { type: 'value', initial: true, id, versions: d.versions, value: d.value });
    }
  }
  const stop = untilStopped(run.io.signal);
  let chain = Promise.resolve();
  out.note(`watching ${pattern} for app ${t.app} in ${t.environment} through ${s.remote?.url}; Ctrl-C to stop`);
  try {
    await watchRemote((s.remote as NonNullable<Session['remote']>).api, {
      initial: false,
      signal: stop.signal,
      onError: (error) => warn(out, error),
      onChange: (change) => {
        const id = idOf(change.ref);
        if (id === undefined || !match(id)) return;
        chain = chain.then(async () => {
          let value: unknown = null;
          try {
            value = (await resolveId(id)).value ?? null;
          } catch (error) {
            if (!isConfigError(error, 'NOT_FOUND')) warn(out, toConfigError(error));
          }
          printChange(out, { type: 'change', id, ref: change.ref, version: change.version, value });
        });
      },
    });
  } finally {
    stop.dispose();
  }
  await chain;
}

/** One head change: a current head (`initial`), or a change with its version's author and message. */
async function printHeadChange(
  out: Output,
  change: { ref: string; version: number; checksum: string; initial?: boolean; deleted?: boolean },
  read: () => Promise<ConfigVersion | undefined>,
): Promise<void> {
  const head = { ref: change.ref, version: change.version, checksum: change.checksum };
  if (change.initial) {
    printChange(out, { type: 'head', initial: true, ...head });
    return;
  }
  let doc: ConfigVersion | undefined;
  try {
    doc = await read();
  } catch (error) {
    warn(out, toConfigError(error));
  }
  printChange(out, {
    type: 'change',
    ...head,
    ...(doc ? { createdAt: doc.createdAt, createdBy: doc.createdBy, message: doc.message } : {}),
    ...((doc && isTombstone(doc)) || change.deleted ? { deleted: true } : {}),
  });
}

function printChange(out: Output, line: Record<string, unknown>): void {
  if (out.json) {
    out.ndjson(line);
    return;
  }
  const head = `${when(new Date().toISOString())}  ${String(line.ref ?? line.id)}`;
  if (line.type === 'head') out.line(`${head} v${String(line.version)} (current)`);
  else if ('value' in line) out.line(`${head} v${String(line.version ?? '')} ${brief(line.value, 200)}`);
  else {
    out.line(
      `${head} v${String(line.version)}${line.deleted ? ' deleted' : ''}${line.createdBy ? ` by ${String(line.createdBy)}` : ''}${line.message ? `: ${String(line.message)}` : ''}`,
    );
  }
}

function warn(out: Output, error: ConfigError): void {
  if (out.json) out.stderr.write(`${JSON.stringify({ warning: error.toJSON() })}\n`);
  else out.stderr.write(`warning ${error.code}: ${error.message}\n`);
}
