/**
 * JSON Schemas per config id: register (publish, with the compatibility report), validate, get, list.
 */
import { SchemaValidationError } from '@summit-config/core';
import { errors, parseId } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { asObject, integer, readValue, type ValueOptions } from './input.js';

/**
 * `schema <name> <config-id> [file]` with `--file` and `--json-value`: a config id and one JSON or
 * YAML value, `what` (`register`, `validate`).
 */
function withValue(
  schema: Command,
  name: string,
  description: string,
  args: { id: string; file: string; what: string },
) {
  return schema
    .command(name)
    .description(description)
    .argument('<config-id>', args.id)
    .argument(args.file, `JSON or YAML ${args.what} ("-" for stdin)`)
    .option('--file <file>', `the ${args.what} file`)
    .option('--json-value <json>', `the ${args.what} as JSON text`);
}

/** `schema register`: publishes the schema, with its compatibility report. */
async function publish(
  run: Run<ValueOptions & { force?: boolean }>,
  id: string,
  file: string | undefined,
): Promise<void> {
  parseId(id);
  const value = asObject(await readValue(run, file), 'the schema');
  const s = await run.session();
  const report = await s.service.publishSchema(s.actor, id, value, { force: run.opts.force === true });
  run.out.result(report, () => {
    if (!report.changed) return `schema ${id}: unchanged (v${report.version})`;
    const lines = [
      `schema ${id}: v${report.version} published${report.previousVersion ? ` (previous v${report.previousVersion})` : ''}${report.forced ? ' (forced)' : ''}`,
    ];
    const breaking = report.compatibility.breaking;
    lines.push(
      breaking.length === 0
        ? '  backward compatible'
        : `  BREAKING: ${breaking.map((b) => JSON.stringify(b)).join('; ')}`,
    );
    const valid = report.documents.filter((d) => d.validAfter).length;
    lines.push(`  documents: ${valid} of ${report.documents.length} validate`);
    for (const name of report.stopsValidating) lines.push(`  ! ${name} stops validating`);
    return lines.join('\n');
  });
}

export function registerSchemaCommands(program: Command, state: CliState): void {
  const schema = program.command('schema').description('JSON Schemas (draft 2020-12) per config id');

  define(
    state,
    withValue(
      schema,
      'register',
      'publish a new schema version: refused when it is breaking or stored documents stop validating (unless --force)',
      { id: 'the config id (e.g. database), shared by every scope', file: '[schema-file]', what: 'schema' },
    ).option('--force', 'publish even when breaking or when documents stop validating'),
    publish,
  );

  define(
    state,
    withValue(
      schema,
      'validate',
      'validate a config value against the schema of an id (SCHEMA_VALIDATION, exit 2, when it does not)',
      { id: 'the config id', file: '[config-file]', what: 'value' },
    ).option('--version <n>', 'against this schema version (default: the latest)'),
    async (run: Run<ValueOptions & { version?: string }>, id: string, file: string | undefined) => {
      parseId(id);
      const version = integer(run.opts.version, '--version', 1);
      const value = await readValue(run, file);
      const s = await run.session();
      const current = await s.service.getSchema(s.actor, id, version);
      if (!current) {
        throw errors.notFound(
          version === undefined ? `no schema is registered for ${id}` : `schema ${id} has no version ${version}`,
        );
      }
      const issues = await s.service.validateDocument(s.actor, id, value, { version: current.version });
      if (issues.length > 0) {
        throw new SchemaValidationError(
          `the value does not validate against schema ${id} v${current.version} (${issues.length} issue${issues.length === 1 ? '' : 's'})`,
          issues,
        );
      }
      run.out.result(
        { id, version: current.version, valid: true, issues: [] },
        () => `valid against schema ${id} v${current.version}`,
      );
    },
  );

  define(
    state,
    schema
      .command('get')
      .description('show the schema of an id')
      .argument('<config-id>', 'the config id')
      .option('--version <n>', 'this version (default: the latest)'),
    async (run: Run<{ version?: string }>, id: string) => {
      parseId(id);
      const version = integer(run.opts.version, '--version', 1);
      const s = await run.session();
      const found = await s.service.getSchema(s.actor, id, version);
      if (!found) throw errors.notFound(`no schema ${id}${version ? ` v${version}` : ''}`);
      run.out.result(found, () => `# schema ${id} v${found.version}\n${JSON.stringify(found.schema, null, 2)}`);
    },
  );

  define(
    state,
    schema.command('list').description('every registered schema id, its latest version'),
    async (run: Run<object>) => {
      const s = await run.session();
      const list = await s.service.listSchemas(s.actor);
      run.out.list(list, 'No schemas.', ['ID', 'LATEST', 'VERSIONS'], (e) => [
        e.id,
        `v${e.version}`,
        String(e.versions),
      ]);
    },
  );
}
