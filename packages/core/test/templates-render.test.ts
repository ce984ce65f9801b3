import { thrown } from '@summit-config/test-support/errors';
import { fixturePath } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { isConfigError, SchemaRegistry, SchemaValidationError } from '../src/index.js';
import { MigrationError } from '../src/migrations/index.js';
import {
  type ConfigTemplate,
  loadTemplateFile,
  loadTemplates,
  parseTemplate,
  parseTemplateText,
  renderTemplate,
} from '../src/templates/index.js';

const dir = fixturePath('migrations/templates/');

describe('template files', () => {
  it('loads a directory sorted by name', async () => {
    const list = await loadTemplates(dir);
    expect(list.map((t) => t.name)).toEqual(['feature-flags', 'service-database']);
    const db = list[1] as ConfigTemplate;
    expect(db.version).toBe('2');
    expect(db.uses).toEqual(['host', 'pool', 'port', 'service', 'tls.ca', 'tls.enabled']);
    expect(db.checksum).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('renderTemplate', () => {
  it('substitutes typed values and interpolates text, defaults applied', async () => {
    const t = await loadTemplateFile(`${dir}service-database.yaml`);
    const out = await renderTemplate(t, { service: 'billing', host: 'db.internal', tls: { ca: 'pem' } });
    expect(out.config).toEqual({
      host: 'db.internal',
      port: 5432,
      poolSize: 10,
      url: 'postgres://db.internal:5432/billing',
      tls: { enabled: true, ca: 'pem' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the template syntax under test
      note: 'literal ${not-a-param}',
    });
    expect(out.overrides).toEqual({ production: { poolSize: 50 } });
    expect(out.rollout).toBeNull();
    expect(out.params).toMatchObject({ port: 5432, pool: 10, tls: { enabled: true, ca: 'pem' } });
  });

  it('leaves out keys whose optional parameter is absent', async () => {
    const t = await loadTemplateFile(`${dir}service-database.yaml`);
    const out = await renderTemplate(t, { service: 'billing', host: 'h', port: 6543 });
    expect(out.config.tls).toEqual({ enabled: true });
    expect(out.config.port).toBe(6543);
  });

  it('refuses bad parameters with SCHEMA_VALIDATION and pointers', async () => {
    const t = await loadTemplateFile(`${dir}service-database.yaml`);
    const error = (await renderTemplate(t, { service: 'Bad Name', port: 'x', extra: 1 }).catch(
      (e: unknown) => e,
    )) as SchemaValidationError;
    expect(error).toBeInstanceOf(SchemaValidationError);
    const pointers = error.issues.map((i) => i.pointer).sort();
    expect(pointers).toEqual(['/extra', '/host', '/port', '/service']);
    expect(isConfigError(await renderTemplate(t, 'text').catch((e: unknown) => e), 'CONSTRAINT_VIOLATION')).toBe(true);
  });

  it('validates the result against the target id schema when one is registered', async () => {
    const t = await loadTemplateFile(`${dir}service-database.yaml`);
    const schemas = new SchemaRegistry();
    await schemas.register('services/billing/database', {
      type: 'object',
      properties: { poolSize: { type: 'integer', maximum: 40 } },
    });
    const params = { service: 'billing', host: 'h' };
    // Without a ref nothing is checked against the registry; with one, the production view fails.
    await renderTemplate(t, params, { schemas });
    const error = (await renderTemplate(t, params, {
      schemas,
      ref: 'app:billing/services/billing/database',
    }).catch((e: unknown) => e)) as SchemaValidationError;
    expect(error.code).toBe('SCHEMA_VALIDATION');
    expect(error.message).toContain('@production');
    expect(error.issues[0]?.pointer).toBe('/poolSize');
    // An id without a schema renders.
    await renderTemplate(t, params, { schemas, ref: 'global/other' });
  });

  it('checks overrides against the given environments, and the ref', async () => {
    const t = await loadTemplateFile(`${dir}service-database.yaml`);
    const params = { service: 'billing', host: 'h' };
    const e = await renderTemplate(t, params, { environments: [{ name: 'staging', production: false }] }).catch(
      (x: unknown) => x,
    );
    expect(isConfigError(e, 'ENVIRONMENT_NOT_FOUND')).toBe(true);
    expect(
      isConfigError(await renderTemplate(t, params, { ref: 'nope' }).catch((x: unknown) => x), 'INVALID_CONFIG_REF'),
    ).toBe(true);
  });

  it('an interpolated parameter without a value is MISSING_REQUIRED', async () => {
    const t = parseTemplate({
      name: 't',
      parameters: { type: 'object', properties: { who: { type: 'string' } } },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the template syntax under test
      config: { greeting: 'hello ${who}' },
    });
    expect(isConfigError(await renderTemplate(t, {}).catch((e: unknown) => e), 'MISSING_REQUIRED')).toBe(true);
    expect((await renderTemplate(t, { who: 'you' })).config.greeting).toBe('hello you');
  });
});

describe('malformed templates', () => {
  it.each([
    ['not an object', [], ''],
    ['unknown field', { name: 't', config: {}, params: {} }, '/params'],
    ['bad name', { name: 'a b', config: {} }, '/name'],
    ['config missing', { name: 't' }, '/config'],
    ['parameters not a schema', { name: 't', parameters: { type: 'banana' }, config: {} }, '/parameters'],
    ['parameters not an object schema', { name: 't', parameters: { type: 'string' }, config: {} }, '/parameters'],
    [
      'undeclared parameter',
      { name: 't', parameters: { type: 'object', properties: {} }, config: { a: { $param: 'x' } } },
      '/parameters',
    ],
    ['placeholder with extra keys', { name: 't', config: { a: { $param: 'x', default: 1 } } }, '/config/a'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the template syntax under test
    ['bad interpolation', { name: 't', config: { a: 'x ${not valid}' } }, '/config/a'],
    ['overrides not objects', { name: 't', config: {}, overrides: { production: 1 } }, '/overrides'],
  ])('%s', (_name, raw, pointer) => {
    const error = thrown(() => parseTemplate(raw)) as MigrationError;
    expect(error).toBeInstanceOf(MigrationError);
    expect(error.code).toBe('CONSTRAINT_VIOLATION');
    expect(error.pointer).toBe(pointer);
  });

  it('YAML that does not parse names the line', () => {
    const error = thrown(() =>
      parseTemplateText('name: t\nconfig: {\n', { format: 'yaml', file: 't.yaml' }),
    ) as MigrationError;
    expect(error.code).toBe('CONSTRAINT_VIOLATION');
    expect(error.message).toMatch(/t\.yaml.*line \d+/);
  });
});
