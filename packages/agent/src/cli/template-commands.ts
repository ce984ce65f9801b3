/**
 * `summit-config template list|render|apply`: configuration templates from a directory (`--dir`,
 * default `templates`). `list` and `render` need no session (`render --ref` opens one to validate
 * against the service's schemas and environments); `apply` creates the config through the change
 * service (a change request where the environment is guarded).
 */
import { readFile } from 'node:fs/promises';
import type { JsonObject } from '@summit-config/core';
import { errors, isPlainObject, messageOf } from '@summit-config/core/internal';
import { createFromTemplate, loadTemplates, renderTemplate } from '@summit-config/core/templates';
import type { Command } from 'commander';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type CliState, define, type Run } from './command.js';
import { collect, parseParams } from './input.js';

const DEFAULT_DIR = 'templates';

interface ParamOptions {
  dir: string;
  param: string[];
  paramsFile?: string;
}

/** `template <name>` with `<name>` (the template), `--dir`, `--param` and `--params-file` (`render`, `apply`). */
function withParams(template: Command, name: string, description: string): Command {
  return template
    .command(name)
    .description(description)
    .argument('<name>', 'template name')
    .option('-d, --dir <dir>', 'templates directory', DEFAULT_DIR)
    .option('-p, --param <name=value>', 'a parameter (value parsed as JSON when it parses); repeatable', collect, [])
    .option('--params-file <file>', 'parameters from a JSON or YAML file (--param wins)');
}

/** The parameters: those of `--params-file`, with the `--param` pairs over them. */
async function paramsFrom(file: string | undefined, pairs: readonly string[]): Promise<JsonObject> {
  let base: JsonObject = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw errors.notFound(`cannot read parameters file ${file}: ${messageOf(error)}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw errors.constraint(`parameters file ${file} is not JSON or YAML: ${messageOf(error)}`);
    }
    if (!isPlainObject(parsed)) throw errors.constraint(`parameters file ${file} must hold an object`);
    base = parsed as JsonObject;
  }
  return parseParams(pairs, base);
}

/** The template `name` of the options' directory, and its parameters. */
async function templateAndParams(opts: ParamOptions, name: string) {
  const templates = await loadTemplates(opts.dir);
  const template = templates.find((t) => t.name === name);
  if (!template) {
    throw errors.notFound(
      `no template is named "${name}" in ${opts.dir} (known: ${templates.map((t) => t.name).join(', ') || 'none'})`,
    );
  }
  return { template, params: await paramsFrom(opts.paramsFile, opts.param) };
}

export function registerTemplateCommands(program: Command, state: CliState): Command {
  const template = program.command('template').description('configuration templates: list, render, apply');

  define(
    state,
    template
      .command('list')
      .description('the templates of a directory, with their parameters')
      .option('-d, --dir <dir>', 'templates directory', DEFAULT_DIR)
      .option('--json', 'print as JSON'),
    async (run: Run<{ dir: string }>) => {
      const templates = (await loadTemplates(run.opts.dir)).map((t) => ({
        name: t.name,
        version: t.version,
        description: t.description,
        parameters: t.parameters,
        checksum: t.checksum,
        file: t.file,
      }));
      run.out.list(
        templates,
        `No templates in ${run.opts.dir}.`,
        ['NAME', 'VERSION', 'PARAMETERS', 'DESCRIPTION'],
        (t) => {
          const props = isPlainObject(t.parameters.properties) ? Object.keys(t.parameters.properties) : [];
          const required = Array.isArray(t.parameters.required) ? (t.parameters.required as string[]) : [];
          return [
            t.name,
            t.version,
            props.map((p) => (required.includes(p) ? `${p}*` : p)).join(',') || '-',
            t.description,
          ];
        },
      );
    },
  );

  define(
    state,
    withParams(
      template,
      'render',
      'render a template with parameters (validated; with --ref also against the ref id schema)',
    )
      .option('--ref <ref>', 'validate for this ref (<scope>/<id>) with the service schemas and environments')
      .option('--format <format>', 'json or yaml', 'json')
      .option('--json', 'print as JSON (same as --format json)'),
    async (run: Run<ParamOptions & { ref?: string; format: string }>, name: string) => {
      const { opts, out } = run;
      if (opts.format !== 'json' && opts.format !== 'yaml') throw errors.constraint('--format must be json or yaml');
      const { template: t, params } = await templateAndParams(opts, name);
      let rendered: Awaited<ReturnType<typeof renderTemplate>>;
      if (opts.ref === undefined) rendered = await renderTemplate(t, params);
      else {
        const s = await run.session();
        const environments = await s.service.listEnvironments(s.actor);
        rendered = await renderTemplate(t, params, { schemas: s.service.schemas, ref: opts.ref, environments });
      }
      const doc = { config: rendered.config, overrides: rendered.overrides, rollout: rendered.rollout };
      out.line(
        opts.format === 'yaml' && !out.json ? stringifyYaml(doc, { lineWidth: 0 }) : JSON.stringify(doc, null, 2),
      );
    },
  );

  define(
    state,
    withParams(
      template,
      'apply',
      'create a config from a template through the change service (a change request when guarded)',
    )
      .argument('<ref>', 'the new config, <scope>/<id>')
      .option('--expected-version <n>', 'replace this head (default 0: create only)', '0')
      .option('-m, --message <text>', 'version message')
      .option('--json', 'print the result as JSON'),
    async (run: Run<ParamOptions & { expectedVersion: string; message?: string }>, name: string, ref: string) => {
      const { opts, out } = run;
      const expectedVersion = Number(opts.expectedVersion);
      if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
        throw errors.constraint('--expected-version must be an integer >= 0');
      }
      const { template: t, params } = await templateAndParams(opts, name);
      const s = await run.session();
      const result = await createFromTemplate(s.service, s.actor, t, params, ref, {
        expectedVersion,
        message: opts.message,
      });
      if (result.kind === 'written') {
        out.result(
          { kind: 'written', ref, version: result.version.version, checksum: result.version.checksum },
          () => `${ref}: v${result.version.version} written from template ${t.name}@${t.version}`,
        );
      } else {
        out.result(
          { kind: 'proposed', ref, request: result.request.id, environments: result.request.environments },
          () =>
            `${ref}: change request ${result.request.id} opened (approval needed in ${result.request.environments.join(', ')})`,
        );
      }
    },
  );

  return template;
}
