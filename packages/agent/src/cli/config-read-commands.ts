/**
 * Reading config documents: `get` (resolved, or the stored version), `list`, `diff`, `versions`,
 * `explain` (which layer set each value).
 */
import { ConfigError, type ConfigVersion, refKey, type Scope } from '@summit-config/core';
import { compilePattern, errors, isTombstone, parseScope } from '@summit-config/core/internal';
import { type Command, Option } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { collect, integer, ref } from './input.js';
import { brief, printable, table, when } from './io.js';
import { openResolver, target } from './resolve.js';

/** Seed 002 spells it `--env`: accepted as a hidden alias of `-e, --environment`. */
export function envAlias(): Option {
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

function describePatch(patch: ReadonlyArray<{ op: string; path: string; value?: unknown; from?: string }>): string {
  if (patch.length === 0) return 'no differences';
  return patch
    .map((op) => {
      const sign = op.op === 'add' ? '+' : op.op === 'remove' ? '-' : op.op === 'replace' ? '~' : op.op;
      return `${sign} ${op.path}${op.op === 'remove' ? '' : `: ${brief(op.value, 100)}`}${op.from ? ` (from ${op.from})` : ''}`;
    })
    .join('\n');
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

export function registerGet(program: Command, state: CliState): void {
  define(
    state,
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
      const s = await run.session();
      const client = await openResolver(s, t, opts.context);
      try {
        const details = await client.resolve(t.id);
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
  );
}

export function registerList(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('list')
      .description('list configs (their heads)')
      .option('--scope <scope>', 'only this scope: global or app:<name>')
      .option('--prefix <text>', 'only ids starting with this text')
      .option('--filter <pattern>', 'only ids (or <scope>/<id> refs) matching: * within a segment, ** across'),
    async (run: Run<{ scope?: string; prefix?: string; filter?: string }>) => {
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
      run.out.list(rows, 'No configs.', ['REF', 'VERSION', 'CHECKSUM'], (r) => [
        r.ref,
        String(r.version),
        `${r.checksum.slice(0, 12)}…`,
      ]);
    },
  );
}

export function registerDiff(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('diff')
      .description('the RFC 6902 JSON Patch between two versions (default: <from> to the head)')
      .argument('<ref>', '<scope>/<id>')
      .argument('<from>', 'version (0: nothing)')
      .argument('[to]', 'version (default: the head)'),
    async (run: Run<object>, refText: string, from: string, to: string | undefined) => {
      const r = ref(refText);
      const a = integer(from, '<from>', 0) as number;
      const b = integer(to, '<to>', 0);
      const s = await run.session();
      const result = await s.service.diff(s.actor, r, a, b);
      run.out.result(result, () => `${result.ref} v${result.from} -> v${result.to}\n${describePatch(result.patch)}`);
    },
  );
}

export function registerVersions(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('versions')
      .description('the version history of a config, newest first')
      .argument('<ref>', '<scope>/<id>')
      .option('--limit <n>', 'at most this many', '100'),
    async (run: Run<{ limit: string }>, refText: string) => {
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
    },
  );
}

export function registerExplain(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('explain')
      .description('which layer (schema defaults, global, overrides, app, rollout) set each value')
      .argument('<ref>', 'an id with --app, or app:<name>/<id>')
      .option('--app <name>', 'the app (default: the app of an app:<name> ref)')
      .option('-e, --environment <name>', 'the environment (required)')
      .addOption(envAlias())
      .option('--context <key=value>', 'evaluation context for rollouts (repeatable)', collect, []),
    async (run: Run<{ app?: string; environment?: string; context: string[] }>, arg: string) => {
      const environment = run.opts.environment ?? (run.opts as { env?: string }).env;
      if (environment === undefined)
        throw new ConfigError('MISSING_REQUIRED', 'explain needs -e, --environment <name>');
      const t = target(arg, run.opts.app, environment);
      const s = await run.session();
      const client = await openResolver(s, t, run.opts.context);
      try {
        const details = await client.resolve(t.id);
        const explain = await client.explain(t.id);
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
    },
  );
}
