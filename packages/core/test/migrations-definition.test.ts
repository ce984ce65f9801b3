import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { thrown, throwsCode } from '@summit-config/test-support/errors';
import { fixturePath, readJson } from '@summit-config/test-support/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError } from '../src/index.js';
import { sha256Hex } from '../src/internal.js';
import { migrationToJson } from '../src/migrations/definition.js';
import { compileIdPattern } from '../src/migrations/glob.js';
import {
  defineMigration,
  loadMigrationFile,
  loadMigrations,
  MigrationError,
  parseMigration,
  parseMigrationText,
} from '../src/migrations/index.js';

interface InvalidCase {
  name: string;
  format: 'json' | 'yaml';
  text: string;
  code: string;
  pointer?: string;
  mentions?: string;
}
const invalid = readJson('migrations/invalid-cases.json') as { cases: InvalidCase[] };
const idPatterns = readJson(new URL('./fixtures/id-patterns.json', import.meta.url)) as {
  cases: Array<[string, string, boolean]>;
};

describe('malformed migration files (fixtures)', () => {
  it.each(invalid.cases)('$name', (c) => {
    const error = thrown(() => parseMigrationText(c.text, { format: c.format, file: 'm.yaml', defaultName: 'm' }));
    expect(error).toBeInstanceOf(MigrationError);
    expect(isConfigError(error, c.code as never)).toBe(true);
    const e = error as MigrationError;
    if (c.pointer !== undefined) expect(e.pointer).toBe(c.pointer);
    expect(e.file).toBe('m.yaml');
    expect(e.message).toContain('m.yaml');
    if (c.mentions) expect(e.message).toContain(c.mentions);
    expect(e.toJSON()).toMatchObject({ code: c.code, file: 'm.yaml' });
  });
});

describe('parsing', () => {
  const yaml = `
version: 7
description: rename
dependencies: [b, a, a]
selector:
  scope: [app:billing, global]
  id: [services/*/db, "features/**"]
  environment: production
operations:
  - { op: move, from: /pool, to: /poolSize }
  - { op: remove, path: /legacy }
  - { op: set, path: /x, value: { deep: [1, 2] }, ifMissing: true }
  - op: patch
    patch: [{ op: add, path: /y, value: 1 }]
`;

  it('normalises a YAML data file (aliases, sorted and deduplicated lists, version as text)', () => {
    const m = parseMigrationText(yaml, { format: 'yaml', defaultName: '0007-rename' });
    expect(m.name).toBe('0007-rename');
    expect(m.version).toBe('7');
    expect(m.kind).toBe('data');
    expect(m.dependencies).toEqual(['a', 'b']);
    expect(m.selector).toEqual({
      scopes: ['app:billing', 'global'],
      ids: ['features/**', 'services/*/db'],
      environment: 'production',
    });
    expect(m.operations.map((o) => o.op)).toEqual(['rename', 'delete', 'set', 'patch']);
    expect(Object.isFrozen(m)).toBe(true);
    expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the same checksum to the same definition in JSON and YAML, and a different one to any change', () => {
    const fromYaml = parseMigrationText(yaml, { format: 'yaml', defaultName: 'n' });
    const json = JSON.stringify(migrationToJson(fromYaml));
    const fromJson = parseMigrationText(json, { format: 'json' });
    expect(fromJson.checksum).toBe(fromYaml.checksum);
    const changed = parseMigrationText(yaml.replace('value: 1', 'value: 2'), { format: 'yaml', defaultName: 'n' });
    expect(changed.checksum).not.toBe(fromYaml.checksum);
    const renamed = parseMigrationText(yaml, { format: 'yaml', defaultName: 'other' });
    expect(renamed.checksum).not.toBe(fromYaml.checksum);
  });

  it('keeps a name given in the file over the file name', () => {
    const m = parseMigrationText(
      '{"name":"given","version":1,"selector":{"id":"x"},"operations":[{"op":"delete","path":"/a"}]}',
      {
        format: 'json',
        defaultName: 'file-name',
      },
    );
    expect(m.name).toBe('given');
  });

  it('refuses a definition passed as something else than an object, or values JSON cannot hold', () => {
    expect(throwsCode(() => parseMigration(null), 'CONSTRAINT_VIOLATION')).toBe(true);
    const e = thrown(() =>
      parseMigration({
        name: 'n',
        version: 1,
        selector: { id: 'x' },
        operations: [{ op: 'set', path: '/a', value: Number.NaN }],
      }),
    ) as MigrationError;
    expect(e.code).toBe('CONSTRAINT_VIOLATION');
    expect(e.pointer).toBe('/operations/0/value');
  });
});

describe('module migrations', () => {
  it('defineMigration accepts transforms; its checksum covers the function source', () => {
    const a = defineMigration({
      name: 'double',
      version: 1,
      selector: { id: 'x' },
      operations: [{ op: 'transform', path: '/n', fn: (v: unknown) => (v as number) * 2 }],
    });
    const b = defineMigration({
      name: 'double',
      version: 1,
      selector: { id: 'x' },
      operations: [{ op: 'transform', path: '/n', fn: (v: unknown) => (v as number) * 3 }],
    });
    expect(a.kind).toBe('module');
    expect(a.checksum).not.toBe(b.checksum);
  });

  it('a transform needs a function', () => {
    const e = thrown(() =>
      defineMigration({
        name: 'n',
        version: 1,
        selector: { id: 'x' },
        operations: [{ op: 'transform', path: '/a', fn: 'x => x' }],
      }),
    ) as MigrationError;
    expect(e.pointer).toBe('/operations/0/fn');
  });

  it('loads a module file; its checksum is the SHA-256 of the file text', async () => {
    const path = fixturePath('migrations/modules/0003-double-pool.mjs');
    const m = await loadMigrationFile(path);
    expect(m.name).toBe('0003-double-pool');
    expect(m.kind).toBe('module');
    expect(m.dependencies).toEqual(['0002-rename-pool']);
    expect(m.checksum).toBe(sha256Hex(readFileSync(path, 'utf8')));
    expect(m.file).toBe(path);
  });
});

describe('files and directories', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'summit-migrations-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a directory in file-name order, ignoring other files', async () => {
    const list = await loadMigrations(fixturePath('migrations/basic'));
    expect(list.map((m) => m.name)).toEqual(['0001-add-timeouts', '0002-rename-pool']);
    expect(list[0]?.file).toMatch(/0001-add-timeouts\.yaml$/);
  });

  it('refuses two files defining one name', async () => {
    const error = await loadMigrations(fixturePath('migrations/duplicate')).catch((e: unknown) => e);
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as MigrationError).message).toContain('same');
  });

  it('a missing directory or file is NOT_FOUND; an unknown extension or a module without export is CONSTRAINT_VIOLATION', async () => {
    expect(isConfigError(await loadMigrations(join(dir, 'none')).catch((e: unknown) => e), 'NOT_FOUND')).toBe(true);
    expect(isConfigError(await loadMigrationFile(join(dir, 'none.yaml')).catch((e: unknown) => e), 'NOT_FOUND')).toBe(
      true,
    );
    await writeFile(join(dir, 'm.toml'), 'x = 1');
    expect(
      isConfigError(await loadMigrationFile(join(dir, 'm.toml')).catch((e: unknown) => e), 'CONSTRAINT_VIOLATION'),
    ).toBe(true);
    await writeFile(join(dir, 'empty.mjs'), 'export const nothing = 1;\n');
    const e = (await loadMigrationFile(join(dir, 'empty.mjs')).catch((x: unknown) => x)) as MigrationError;
    expect(e.code).toBe('CONSTRAINT_VIOLATION');
    expect(e.file).toMatch(/empty\.mjs$/);
    await writeFile(join(dir, 'broken.mjs'), 'export default {;\n');
    const b = (await loadMigrationFile(join(dir, 'broken.mjs')).catch((x: unknown) => x)) as MigrationError;
    expect(b.code).toBe('CONSTRAINT_VIOLATION');
  });

  it('a YAML error names the line', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'version: 1\nselector:\n  id: x\noperations: [\n');
    const e = (await loadMigrationFile(join(dir, 'bad.yaml')).catch((x: unknown) => x)) as MigrationError;
    expect(e.code).toBe('CONSTRAINT_VIOLATION');
    expect(e.message).toMatch(/line \d+/);
  });
});

describe('id patterns', () => {
  it.each(idPatterns.cases)('%s matches %s: %s', (pattern, id, expected) => {
    expect(compileIdPattern(pattern).matches(id)).toBe(expected);
  });

  it('has the literal prefix for listing', () => {
    expect(compileIdPattern('services/*/db').prefix).toBe('services/');
    expect(compileIdPattern('database').prefix).toBe('database');
    expect(compileIdPattern('**').prefix).toBe('');
  });
});
