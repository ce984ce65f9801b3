/**
 * Backup and restore: `export` writes every ref with its history, the environments, schemas,
 * policies and open change requests as NDJSON (to a file, atomically, or to stdout); `import` reads
 * such a file into empty stores (`--resume` continues an interrupted import).
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ImportReport } from '@summit-config/core';
import { type ExportTrailer, errors, messageOf } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { date } from './input.js';

function reportText(r: ImportReport): string {
  return `imported ${r.versions} version(s) of ${Object.keys(r.refs).length} ref(s)${r.skippedVersions ? ` (${r.skippedVersions} already present)` : ''}, ${r.environments} environment(s), ${r.schemas} schema version(s), ${r.policies} polic(ies), ${r.requests} change request(s); file sha256 ${r.sha256.slice(0, 16)}…`;
}

/** The export file's directory must exist and be a directory: a typed error before any work. */
async function writableDirectory(file: string): Promise<void> {
  const dir = dirname(file);
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw errors.notFound(`cannot write ${file}: the directory ${dir} does not exist`);
  if (!info.isDirectory()) throw errors.constraint(`cannot write ${file}: ${dir} is not a directory`);
}

/** `export [file]`: every record as NDJSON, to stdout or atomically to a file (a temporary file renamed). */
async function exportTo(run: Run<{ output?: string; asOf?: string }>, fileArg: string | undefined): Promise<void> {
  const { opts, out } = run;
  if (fileArg !== undefined && opts.output !== undefined) throw errors.constraint('give the file once');
  const file = fileArg ?? opts.output;
  const asOf = date(opts.asOf, '--as-of');
  if (file !== undefined && file !== '-') await writableDirectory(file);
  const s = await run.session();
  const lines = await s.service.exportAll(s.actor, {
    ...(asOf ? { asOf } : {}),
    ...(run.io.signal ? { signal: run.io.signal } : {}),
  });
  const progress = out.progress('exported records');
  let records = 0;
  let last = '';
  const count = (line: string) => {
    records++;
    last = line;
    progress.update(records);
  };
  if (file === undefined || file === '-') {
    for await (const line of lines) {
      count(line);
      out.stdout.write(line);
    }
    progress.done();
    const trailer = JSON.parse(last) as ExportTrailer;
    out.note(`exported ${trailer.records} record(s); sha256 ${trailer.sha256}`);
    return;
  }
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w', 0o600);
  try {
    let buffer = '';
    for await (const line of lines) {
      count(line);
      buffer += line;
      if (buffer.length >= 1 << 16) {
        await handle.write(buffer);
        buffer = '';
      }
    }
    await handle.write(buffer);
    await handle.sync();
    await handle.close();
    await rename(temp, file);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  } finally {
    progress.done();
  }
  const trailer = JSON.parse(last) as ExportTrailer;
  out.result(
    { file, records: trailer.records, sha256: trailer.sha256 },
    () => `exported ${trailer.records} record(s) to ${file} (sha256 ${trailer.sha256.slice(0, 16)}…)`,
  );
}

/** `import <file>`: an export file (or stdin) into empty stores, with a counter of the versions written. */
async function importFrom(run: Run<{ resume?: boolean }>, file: string): Promise<void> {
  const { out } = run;
  let source: AsyncIterable<string | Uint8Array>;
  if (file === '-') {
    if (!run.io.stdin) throw errors.constraint('import -: no stdin');
    source = run.io.stdin as AsyncIterable<string | Uint8Array>;
  } else {
    const stream = createReadStream(file);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? errors.notFound(`export file ${file} does not exist`)
            : errors.constraint(`cannot read ${file}: ${messageOf(error)}`),
        ),
      );
    });
    source = stream;
  }
  const s = await run.session();
  const progress = out.progress('imported versions');
  let versions = 0;
  s.onAppend = (doc) => {
    versions++;
    progress.update(versions, `${doc.ref.scope}/${doc.ref.id}`);
  };
  let report: ImportReport;
  try {
    report = await s.service.importAll(s.actor, source, {
      resume: run.opts.resume === true,
      ...(run.io.signal ? { signal: run.io.signal } : {}),
    });
  } finally {
    s.onAppend = undefined;
    progress.done();
  }
  out.result(report, () => reportText(report));
}

export function registerBackupCommands(program: Command, state: CliState): void {
  define(
    state,
    program
      .command('export')
      .description('export everything (refs with history, environments, schemas, policies, open requests) as NDJSON')
      .argument('[file]', 'write to this file (atomically); default stdout')
      .option('-o, --output <file>', 'same as [file]')
      .option('--as-of <time>', 'the state at this time (ISO-8601): versions created up to then'),
    exportTo,
  );

  define(
    state,
    program
      .command('import')
      .description('import an export file into empty stores (validated whole before anything is written)')
      .argument('<file>', 'the export file ("-" for stdin)')
      .option('--resume', 'continue an import that stopped midway (skips what is already there)'),
    importFrom,
  );
}
