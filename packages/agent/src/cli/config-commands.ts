/**
 * Config documents: get, set, delete, list, diff, rollback, versions, explain, watch.
 */
import {
  type ConfigChange,
  ConfigError,
  type ConfigVersion,
  compilePattern,
  errors,
  type HeadChange,
  isTombstone,
  type JsonObject,
  parseScope,
  refKey,
  type Scope,
  type SetInput,
} from '@summit-config/core';
import { type Command, Option } from 'commander';
import { toConfigError } from '../util.js';
import { action, addCommonOptions, type CliState, type Run } from './command.js';
import type { Session } from './context.js';
import { asObject, collect, contextOf, integer, readValue, ref } from './input.js';
import { brief, type Output, printable, table, when } from './io.js';
import { appEnvironment, openClient, target } from './resolve.js';

// -- shared helpers

/** What `set` and `propose` write: the value merged into the head's document (see `--env`, `--document`). */
export interface ContentOptions {
  file?: string;
  jsonValue?: string;
  env?: string;
  document?: boolean;
  message?: string;
}

export const CONTENT_HELP = `
The value (JSON or YAML) comes from [file], --file, --json-value, or stdin. By default it replaces
the document's config and keeps its overrides and rollout; with --env <name> it replaces the
overrides of that environment only; with --document it is the whole document
{ "config": {...}, "overrides": {...}, "rollout": {...}, "metadata": {...} }.`;

export function addContentOptions(command: Command): Command {
  return command
    .option('--file <file>', 'read the value from this JSON or YAML file ("-" for stdin)')
    .option('--json-value <json>', 'the value as JSON text')
    .option('--env <environment>', 'the value replaces the overrides of this environment')
    .option('--document', 'the value is the whole document: config, overrides, rollout, metadata')
    .option('-m, --message <text>', 'change message (audit trail, version history)');
}

/** The content to write, and the head it was based on. */
export async function contentFor(
  run: Run<ContentOptions>,
  session: Session,
  refText: string,
  fileArg: string | undefined,
): Promise<{ input: SetInput; base: ConfigVersion | undefined }> {
  const r = ref(refText);
  const value = await readValue({ file: fileArg, fileOption: run.opts.file, jsonValue: run.opts.jsonValue }, run.io);
  if (run.opts.document && run.opts.env) throw errors.constraint('--document and --env are exclusive');
  const head = await session.service.get(session.actor, r);
  const base = head && !isTombstone(head) ? head : undefined;
  let input: SetInput;
  if (run.opts.document) {
    const doc = asObject(value, 'the document');
    for (const key of Object.keys(doc)) {
      if (!['config', 'overrides', 'rollout', 'metadata', 'message'].includes(key)) {
        throw errors.constraint(`the document has an unknown field "${key}" (config, overrides, rollout, metadata)`);
      }
    }
    input = {
      ref: r,
      config: asObject((doc.config ?? {}) as never, 'config'),
      overrides: asObject((doc.overrides ?? {}) as never, 'overrides') as Record<string, JsonObject>,
      rollout: doc.rollout === undefined || doc.rollout === null ? null : asObject(doc.rollout, 'rollout'),
      ...(doc.metadata === undefined ? {} : { metadata: asObject(doc.metadata, 'metadata') }),
      message: run.opts.message ?? (typeof doc.message === 'string' ? doc.message : undefined),
    };
  } else if (run.opts.env) {
    const overrides = {
      ...(base?.overrides ?? {}),
      [run.opts.env]: asObject(value, `the overrides of ${run.opts.env}`),
    };
    input = {
      ref: r,
      config: base?.config ?? {},
      overrides,
      rollout: base?.rollout ?? null,
      message: run.opts.message,
    };
  } else {
    input = {
      ref: r,
      config: asObject(value, 'the config'),
      overrides: base?.overrides ?? {},
      rollout: base?.rollout ?? null,
      message: run.opts.message,
    };
  }
  return { input, base: head };
}

export function versionSummary(doc: ConfigVersion) {
  return {
    ref: refKey(doc.ref),
    version: doc.version,
    checksum: doc.checksum,
    createdAt: doc.createdAt,
    createdBy: doc.createdBy,
    message: doc.message,
    ...(isTombstone(doc) ? { deleted: true } : {}),
  };
}

/** Seed 002 spells it `--env`: accepted as a hidden alias of `-e, --environment`. */
function envAlias(): Option {
  return new Option('--env <name>', 'alias of --environment').hideHelp();
}

function humanVersion(doc: ConfigVersion): string {
  const lines = [
    `${refKey(doc.ref)} v${doc.version}${isTombstone(doc) ? ' (deleted)' : ''}`,
    `checksum ${doc.checksum}`,
    `created  ${when(doc.createdAt)} by ${printable(doc.createdBy)}${doc.message ? `: ${printable(doc.message)}` : ''}`,
  ];
  if (!isTombstone(doc)) {
    lines.push(`config:\n${JSON.stringify(doc.config, null, 2)}`);
    for (const [env, value] of Object.entries(doc.overrides)) {
      lines.push(`overrides.${env}:\n${JSON.stringify(value, null, 2)}`);
    }
    if (doc.rollout) lines.push(`rollout:\n${JSON.stringify(doc.rollout, null, 2)}`);
  }
  return lines.join('\n');
}

function writeOptions(opts: { expectedVersion?: string; emergency?: boolean }) {
  return {
    expectedVersion: integer(opts.expectedVersion, '--expected-version', 0),
    ...(opts.emergency ? { emergency: true } : {}),
  };
}

const APPROVAL_HINT = (error: unknown) =>
  (error as ConfigError)?.code === 'APPROVAL_REQUIRED'
    ? 'propose the change instead: summit-config propose <ref> ... (or --emergency where the policy allows it)'
    : undefined;

function describePatch(patch: ReadonlyArray<{ op: string; path: string; value?: unknown; from?: string }>): string {
  if (patch.length === 0) return 'no differences';
  return patch
    .map((op) => {
      const sign = op.op === 'add' ? '+' : op.op === 'remove' ? '-' : op.op === 'replace' ? '~' : op.op;
      return `${sign} ${op.path}${op.op === 'remove' ? '' : `: ${brief(op.value, 100)}`}${op.from ? ` (from ${op.from})` : ''}`;
    })
    .join('\n');
}

/**
 * Resolves `stopped` when `signal` aborts; without one, on SIGINT or SIGTERM (the handlers are
 * removed by `dispose()` or once a signal arrived). `signal` of the result aborts at the same time.
 */
export function untilStopped(signal: AbortSignal | undefined): {
  stopped: Promise<void>;
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  let dispose = () => {};
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      dispose();
      controller.abort();
      resolve();
    };
    if (signal) {
      if (signal.aborted) stop();
      else {
        signal.addEventListener('abort', stop, { once: true });
        dispose = () => signal.removeEventListener('abort', stop);
      }
      return;
    }
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Signal handlers do not keep Node running, and an embedded store's watch holds no socket: this
    // timer does, until the command is stopped (otherwise Node exits with 13, an unsettled await).
    const keepAlive = setInterval(() => {}, 1 << 30);
    dispose = () => {
      clearInterval(keepAlive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
  });
  return { stopped, signal: controller.signal, dispose: () => dispose() };
}

// -- commands

export function registerConfigCommands(program: Command, state: CliState): void {
  addCommonOptions(
    program
      .command('get')
      .description('show a config: resolved for an app and environment, or the stored version (--raw)')
      .argument('<ref>', '<scope>/<id> (e.g. app:billing/database), or an id with --app')
      .option('--raw', 'the stored version, not resolved (the default without --environment)')
      .option('--version <n>', 'with --raw: this version instead of the head')
      .option('--app <name>', 'resolve for this app (default: the app of an app:<name> ref)')
      .option('-e, --environment <name>', 'resolve for this environment (overrides along its parents apply)')
      .addOption(envAlias())
      .option('--context <key=value>', 'evaluation context for rollouts (repeatable)', collect, [])
      .addHelpText(
        'after',
        '\nSecret references ({"$secret": ...}) are shown as references; their values are never printed.',
      ),
  ).action(
    action(
      state,
      async (
        run: Run<{ raw?: boolean; version?: string; app?: string; environment?: string; context: string[] }>,
        arg: string,
      ) => {
        const { opts, out } = run;
        opts.environment ??= (opts as { env?: string }).env;
        if (opts.raw || opts.environment === undefined) {
          if (opts.app !== undefined && !opts.raw) throw errors.constraint('--app needs --environment (or use --raw)');
          const r = ref(arg);
          const version = integer(opts.version, '--version', 1);
          const s = await run.session();
          const doc = await s.service.get(s.actor, r, version === undefined ? {} : { version });
          if (!doc) {
            throw errors.notFound(
              version === undefined ? `${refKey(r)} does not exist` : `${refKey(r)} v${version} does not exist`,
              { ref: refKey(r), ...(version === undefined ? {} : { version }) },
            );
          }
          out.result(doc, () => humanVersion(doc));
          return;
        }
        if (opts.version !== undefined) throw errors.constraint('--version needs --raw');
        const t = target(arg, opts.app, opts.environment);
        const context = contextOf(opts.context);
        const s = await run.session();
        const client = await openClient(s, t);
        try {
          const details = client.resolve(t.id, context);
          if (details.value === undefined) {
            throw errors.notFound(`no document for id ${t.id} in global or app:${t.app}`, {
              ref: `app:${t.app}/${t.id}`,
            });
          }
          out.result(
            {
              id: t.id,
              app: t.app,
              environment: t.environment,
              value: details.value,
              versions: details.versions,
              checksum: details.checksum,
              source: details.source,
              stale: details.stale,
              reason: details.reason,
              ...(details.variant !== undefined ? { variant: details.variant } : {}),
              ...(details.ruleId !== undefined ? { ruleId: details.ruleId } : {}),
            },
            () => JSON.stringify(details.value, null, 2),
          );
          out.note(
            `# ${t.id} for app ${t.app} in ${t.environment}: ${Object.entries(details.versions)
              .filter(([, v]) => v !== undefined)
              .map(([scope, v]) => `${scope} v${v}`)
              .join(
                ', ',
              )}; source ${details.source}${details.stale ? ' (stale)' : ''}; ${details.reason}${details.variant ? ` variant ${details.variant}` : ''}`,
          );
        } finally {
          await client.close();
        }
      },
    ),
  );

  addCommonOptions(
    addContentOptions(
      program
        .command('set')
        .description('write a new version of a config (refused with APPROVAL_REQUIRED in guarded environments)')
        .argument('<ref>', '<scope>/<id>, e.g. app:billing/database')
        .argument('[file]', 'JSON or YAML file with the value ("-" for stdin)'),
    )
      .option('--expected-version <n>', 'the head this change is based on (default: the head read now)')
      .option('--emergency', 'apply at once in guarded environments and open a mandatory review')
      .addHelpText('after', CONTENT_HELP),
  ).action(
    action(
      state,
      async (run: Run<ContentOptions & { expectedVersion?: string; emergency?: boolean }>, refText: string, file) => {
        const s = await run.session();
        const { input, base } = await contentFor(run, s, refText, file as string | undefined);
        const options = writeOptions(run.opts);
        const written = await s.service.set(s.actor, input, {
          ...options,
          expectedVersion: options.expectedVersion ?? base?.version ?? 0,
        });
        run.out.result(
          versionSummary(written),
          () =>
            `${refKey(written.ref)}: v${written.version} written (checksum ${written.checksum.slice(0, 12)}…)${written.metadata.emergency ? `; emergency change, review request ${String(written.metadata.changeRequest)}` : ''}`,
        );
      },
      APPROVAL_HINT,
    ),
  );

  addCommonOptions(
    program
      .command('delete')
      .description('delete a config (appends a tombstone version; rollback restores it)')
      .argument('<ref>', '<scope>/<id>')
      .option('-m, --message <text>', 'change message')
      .option('--expected-version <n>', 'the head this change is based on')
      .option('--emergency', 'apply at once in guarded environments and open a mandatory review'),
  ).action(
    action(
      state,
      async (run: Run<{ message?: string; expectedVersion?: string; emergency?: boolean }>, refText: string) => {
        const r = ref(refText);
        const s = await run.session();
        const written = await s.service.delete(s.actor, r, { ...writeOptions(run.opts), message: run.opts.message });
        run.out.result(versionSummary(written), () => `${refKey(r)}: deleted as v${written.version}`);
      },
      APPROVAL_HINT,
    ),
  );

  addCommonOptions(
    program
      .command('list')
      .description('list configs (their heads)')
      .option('--scope <scope>', 'only this scope: global or app:<name>')
      .option('--prefix <text>', 'only ids starting with this text')
      .option('--filter <pattern>', 'only ids (or <scope>/<id> refs) matching: * within a segment, ** across'),
  ).action(
    action(state, async (run: Run<{ scope?: string; prefix?: string; filter?: string }>) => {
      const { opts } = run;
      const scope: Scope | undefined = opts.scope === undefined ? undefined : parseScope(opts.scope);
      const s = await run.session();
      let heads = await s.service.list(s.actor, {
        ...(scope ? { scope } : {}),
        ...(opts.prefix ? { prefix: opts.prefix } : {}),
      });
      if (opts.filter) {
        const match = compilePattern(opts.filter);
        const onRef = opts.filter.startsWith('global/') || opts.filter.startsWith('app:');
        heads = heads.filter((h) => match(onRef ? refKey(h.ref) : h.ref.id));
      }
      const rows = heads.map((h) => ({ ref: refKey(h.ref), version: h.version, checksum: h.checksum }));
      run.out.result(rows, () =>
        rows.length === 0
          ? 'No configs.'
          : table(
              ['REF', 'VERSION', 'CHECKSUM'],
              rows.map((r) => [r.ref, String(r.version), `${r.checksum.slice(0, 12)}…`]),
            ),
      );
    }),
  );

  addCommonOptions(
    program
      .command('diff')
      .description('the RFC 6902 JSON Patch between two versions (default: <from> to the head)')
      .argument('<ref>', '<scope>/<id>')
      .argument('<from>', 'version (0: nothing)')
      .argument('[to]', 'version (default: the head)'),
  ).action(
    action(state, async (run: Run<object>, refText: string, from: string, to: string | undefined) => {
      const r = ref(refText);
      const a = integer(from, '<from>', 0) as number;
      const b = integer(to, '<to>', 0);
      const s = await run.session();
      const result = await s.service.diff(s.actor, r, a, b);
      run.out.result(result, () => `${result.ref} v${result.from} -> v${result.to}\n${describePatch(result.patch)}`);
    }),
  );

  addCommonOptions(
    program
      .command('rollback')
      .description('append the content of an earlier version as a new version')
      .argument('<ref>', '<scope>/<id>')
      .argument('[version]', 'the version to restore (default: the one before the head)')
      .option('-m, --message <text>', 'change message')
      .option('--expected-version <n>', 'the head this change is based on')
      .option('--emergency', 'apply at once in guarded environments and open a mandatory review'),
  ).action(
    action(
      state,
      async (
        run: Run<{ message?: string; expectedVersion?: string; emergency?: boolean }>,
        refText: string,
        version: string | undefined,
      ) => {
        const r = ref(refText);
        const to = integer(version, '<version>', 1);
        const s = await run.session();
        const written = await s.service.rollback(s.actor, r, {
          ...writeOptions(run.opts),
          ...(to === undefined ? {} : { to }),
          message: run.opts.message,
        });
        run.out.result(
          versionSummary(written),
          () => `${refKey(r)}: v${written.version} written (${written.message || `rollback to v${to ?? '?'}`})`,
        );
      },
      APPROVAL_HINT,
    ),
  );

  addCommonOptions(
    program
      .command('versions')
      .description('the version history of a config, newest first')
      .argument('<ref>', '<scope>/<id>')
      .option('--limit <n>', 'at most this many', '100'),
  ).action(
    action(state, async (run: Run<{ limit: string }>, refText: string) => {
      const r = ref(refText);
      const limit = integer(run.opts.limit, '--limit', 1);
      const s = await run.session();
      const history = await s.service.history(s.actor, r, { limit });
      if (history.length === 0) throw errors.notFound(`${refKey(r)} does not exist`, { ref: refKey(r) });
      run.out.result(history, () =>
        table(
          ['VERSION', 'CREATED', 'BY', 'CHECKSUM', 'MESSAGE'],
          history.map((v) => [
            `${v.version}${v.deleted ? ' (deleted)' : ''}`,
            when(v.createdAt),
            v.createdBy,
            `${v.checksum.slice(0, 12)}…`,
            v.message,
          ]),
        ),
      );
    }),
  );

  addCommonOptions(
    program
      .command('explain')
      .description('which layer (schema defaults, global, overrides, app, rollout) set each value')
      .argument('<ref>', 'an id with --app, or app:<name>/<id>')
      .option('--app <name>', 'the app (default: the app of an app:<name> ref)')
      .option('-e, --environment <name>', 'the environment (required)')
      .addOption(envAlias())
      .option('--context <key=value>', 'evaluation context for rollouts (repeatable)', collect, []),
  ).action(
    action(state, async (run: Run<{ app?: string; environment?: string; context: string[] }>, arg: string) => {
      const environment = run.opts.environment ?? (run.opts as { env?: string }).env;
      if (environment === undefined)
        throw new ConfigError('MISSING_REQUIRED', 'explain needs -e, --environment <name>');
      const t = target(arg, run.opts.app, environment);
      const context = contextOf(run.opts.context);
      const s = await run.session();
      const client = await openClient(s, t);
      try {
        const details = client.resolve(t.id, context);
        const explain = client.explain(t.id, context);
        if (details.value === undefined || !explain) {
          throw errors.notFound(`no document for id ${t.id} in global or app:${t.app}`);
        }
        run.out.result({ id: t.id, app: t.app, environment: t.environment, value: details.value, explain }, () =>
          table(
            ['PATH', 'VALUE', 'SET BY'],
            Object.entries(explain).map(([pointer, entry]) => [
              pointer || '/',
              brief(entry.value),
              describeLayer(entry.layer),
            ]),
          ),
        );
      } finally {
        await client.close();
      }
    }),
  );

  addCommonOptions(
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
  ).action(
    action(
      state,
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
        s.rbac.check(s.actor, 'config:read', scope ? { scope } : {});
        const stop = untilStopped(run.io.signal);
        let chain = Promise.resolve();
        const emit = (change: HeadChange) => {
          if (!match(change.ref.id) && !match(change.key)) return;
          chain = chain.then(async () => {
            if (change.initial) {
              printChange(out, {
                type: 'head',
                initial: true,
                ref: change.key,
                version: change.version,
                checksum: change.checksum,
              });
              return;
            }
            let doc: ConfigVersion | undefined;
            try {
              doc = await s.store.getVersion(change.ref, change.version);
            } catch (error) {
              warn(out, toConfigError(error));
            }
            printChange(out, {
              type: 'change',
              ref: change.key,
              version: change.version,
              checksum: change.checksum,
              ...(doc ? { createdAt: doc.createdAt, createdBy: doc.createdBy, message: doc.message } : {}),
              ...(doc && isTombstone(doc) ? { deleted: true } : {}),
            });
          });
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
    ),
  );
}

async function watchResolved(
  run: Run<{ app?: string; environment?: string; initial?: boolean }>,
  s: Session,
  pattern: string,
): Promise<void> {
  const { out, opts } = run;
  const t = appEnvironment(opts.app, opts.environment);
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

function describeLayer(layer: {
  kind: string;
  scope?: string;
  environment?: string;
  version?: number;
  rule?: string;
  variant?: string;
  source?: string;
}): string {
  const v = layer.version !== undefined ? ` v${layer.version}` : '';
  switch (layer.kind) {
    case 'defaults':
      return 'schema defaults';
    case 'global':
    case 'app':
      return `${layer.scope ?? layer.kind}${v}`;
    case 'override':
      return `${layer.scope ?? ''}${v} overrides.${layer.environment ?? '?'}`;
    case 'rollout':
      return `rollout${layer.rule ? ` rule ${layer.rule}` : ''}${layer.variant ? ` variant ${layer.variant}` : ''}${v}`;
    default:
      return `${layer.kind}${layer.source ? ` ${layer.source}` : ''}`;
  }
}
