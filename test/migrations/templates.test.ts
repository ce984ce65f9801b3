/**
 * createFromTemplate through the change service on each backing: a new version with the template
 * in its metadata, a change request when the environments are guarded, and refusals (parameters,
 * the target schema, an existing ref) that write nothing.
 */
import type { SchemaValidationError } from '@summit-config/core';
import { createFromTemplate, loadTemplateFile } from '@summit-config/core/templates';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  actors,
  BACKINGS,
  closeShared,
  codeOf,
  ENVIRONMENTS,
  FIXTURES,
  type MigrationHarness,
  migrationHarness,
  snapshot,
} from './helpers.js';

afterAll(closeShared);

const root = actors.root;
const params = { service: 'billing', host: 'db.internal' };

describe.each(BACKINGS)('templates on %s', (backing) => {
  let h: MigrationHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('creates a config from a template, once; refusals write nothing', async () => {
    h = await migrationHarness(backing, { environments: [{ name: 'production', production: false }] });
    const template = await loadTemplateFile(`${FIXTURES}templates/service-database.yaml`);
    const result = await createFromTemplate(h.service, root, template, params, 'app:billing/services/billing/database');
    expect(result.kind).toBe('written');
    const doc = await h.service.get(root, 'app:billing/services/billing/database');
    expect(doc?.config).toMatchObject({ host: 'db.internal', port: 5432, url: 'postgres://db.internal:5432/billing' });
    expect(doc?.overrides).toEqual({ production: { poolSize: 50 } });
    expect(doc?.metadata.template).toEqual({ name: 'service-database', version: '2', checksum: template.checksum });

    const before = await snapshot(h.service, root);
    expect(
      await codeOf(createFromTemplate(h.service, root, template, params, 'app:billing/services/billing/database')),
    ).toBe('VERSION_CONFLICT');
    expect(await codeOf(createFromTemplate(h.service, root, template, { host: 'x' }, 'global/db2'))).toBe(
      'SCHEMA_VALIDATION',
    );
    expect(await codeOf(createFromTemplate(h.service, root, template, params, 'bad ref'))).toBe('INVALID_CONFIG_REF');
    await h.service.registerSchema(root, 'strict/db', {
      type: 'object',
      properties: { poolSize: { type: 'integer', maximum: 20 } },
    });
    const error = (await createFromTemplate(h.service, root, template, params, 'global/strict/db').catch(
      (e: unknown) => e,
    )) as SchemaValidationError;
    expect(error.code).toBe('SCHEMA_VALIDATION');
    expect(error.issues[0]?.pointer).toBe('/poolSize');
    expect(await codeOf(createFromTemplate(h.service, actors.reader, template, params, 'global/other'))).toBe(
      'ACCESS_DENIED',
    );
    expect(await snapshot(h.service, root)).toEqual(before);
    // Replacing an existing config needs its head.
    const replaced = await createFromTemplate(
      h.service,
      root,
      template,
      { ...params, pool: 12 },
      'app:billing/services/billing/database',
      { expectedVersion: 1, message: 'regenerated' },
    );
    expect(replaced.kind === 'written' && replaced.version.version).toBe(2);
  });

  it('opens a change request when the new config touches a guarded environment', async () => {
    h = await migrationHarness(backing, { environments: ENVIRONMENTS });
    const template = await loadTemplateFile(`${FIXTURES}templates/feature-flags.json`);
    const result = await createFromTemplate(h.service, root, template, { owner: 'team-a' }, 'app:billing/flags');
    expect(result.kind).toBe('proposed');
    if (result.kind !== 'proposed') return;
    expect(result.request.status).toBe('pending');
    expect(result.request.proposed.config).toEqual({ owner: 'team-a', flags: {} });
    expect(await h.service.get(root, 'app:billing/flags')).toBeUndefined();
  });
});
