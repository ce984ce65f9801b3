/**
 * Writing config documents through the change service: `set`, `delete` (a tombstone version) and
 * `rollback` (an earlier version's content as a new version). Guarded environments refuse them with
 * APPROVAL_REQUIRED unless `--emergency` (where the policy allows it): the hint says to propose.
 */
import { type ConfigVersion, isConfigError, refKey } from '@summit-config/core';
import { isTombstone } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Hint, type Run } from './command.js';
import { addContentOptions, CONTENT_HELP, type ContentOptions, contentFor } from './content.js';
import { integer, ref } from './input.js';

interface WriteOptions {
  message?: string;
  expectedVersion?: string;
  emergency?: boolean;
}

/** What `set`, `delete` and `rollback` print with `--json`. */
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

/** `--expected-version` and `--emergency`. */
function addGuardOptions(command: Command, expected = 'the head this change is based on'): Command {
  return command
    .option('--expected-version <n>', expected)
    .option('--emergency', 'apply at once in guarded environments and open a mandatory review');
}

function writeOptions(opts: WriteOptions) {
  return {
    expectedVersion: integer(opts.expectedVersion, '--expected-version', 0),
    ...(opts.emergency ? { emergency: true } : {}),
  };
}

const APPROVAL_HINT: Hint = (error) =>
  isConfigError(error, 'APPROVAL_REQUIRED')
    ? 'propose the change instead: summit-config propose <ref> ... (or --emergency where the policy allows it)'
    : undefined;

export function registerSet(program: Command, state: CliState): void {
  define(
    state,
    addGuardOptions(
      addContentOptions(
        program
          .command('set')
          .description('write a new version of a config (refused with APPROVAL_REQUIRED in guarded environments)')
          .argument('<ref>', '<scope>/<id>, e.g. app:billing/database')
          .argument('[file]', 'JSON or YAML file with the value ("-" for stdin)'),
      ),
      'the head this change is based on (default: the head read now)',
    ).addHelpText('after', CONTENT_HELP),
    async (run: Run<ContentOptions & WriteOptions>, refText: string, file: string | undefined) => {
      const s = await run.session();
      const { input, base } = await contentFor(run, s, refText, file);
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
  );
}

export function registerDelete(program: Command, state: CliState): void {
  define(
    state,
    addGuardOptions(
      program
        .command('delete')
        .description('delete a config (appends a tombstone version; rollback restores it)')
        .argument('<ref>', '<scope>/<id>')
        .option('-m, --message <text>', 'change message'),
    ),
    async (run: Run<WriteOptions>, refText: string) => {
      const r = ref(refText);
      const s = await run.session();
      const written = await s.service.delete(s.actor, r, { ...writeOptions(run.opts), message: run.opts.message });
      run.out.result(versionSummary(written), () => `${refKey(r)}: deleted as v${written.version}`);
    },
    APPROVAL_HINT,
  );
}

export function registerRollback(program: Command, state: CliState): void {
  define(
    state,
    addGuardOptions(
      program
        .command('rollback')
        .description('append the content of an earlier version as a new version')
        .argument('<ref>', '<scope>/<id>')
        .argument('[version]', 'the version to restore (default: the one before the head)')
        .option('-m, --message <text>', 'change message'),
    ),
    async (run: Run<WriteOptions>, refText: string, version: string | undefined) => {
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
  );
}
