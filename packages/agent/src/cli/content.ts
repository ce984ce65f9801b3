/**
 * What `set` and `propose` write: a value (JSON or YAML from a file, `--json-value` or stdin) merged
 * into the head's document: its config by default, the overrides of one environment with `--env`,
 * or the whole document with `--document`.
 */
import type { ConfigVersion, JsonObject, SetInput } from '@summit-config/core';
import { errors, isTombstone } from '@summit-config/core/internal';
import type { Command } from 'commander';
import type { Run } from './command.js';
import type { Session } from './context.js';
import { asObject, readValue, ref } from './input.js';

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
  const value = await readValue(run, fileArg);
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
