/**
 * The GitOps imports as functions: the sample trees in examples/gitops map exactly to the layouts
 * shipped beside them (every file, both ways), the node-config layout holds what the JSON and YAML
 * sources say, properties files parse by Java's rules and Spring's paths, multi-document YAML maps
 * profile guards to overrides, and malformed or unmappable sources fail with the file and line while
 * nothing is written.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isConfigError } from '@summit-config/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { writeImportedLayout } from '../src/gitops/import-layout.js';
import { importNodeConfig } from '../src/gitops/import-node-config.js';
import { ImportSourceError } from '../src/gitops/import-source.js';
import { importSpring } from '../src/gitops/import-spring.js';
import { parseProperties, propertyValue } from '../src/gitops/properties.js';
import { readTree } from '../src/gitops/tree.js';

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/gitops');

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'summit-import-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every file under `dir`, relative with `/`, mapped to its text. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out.set(relative(dir, full).split(sep).join('/'), await readFile(full, 'utf8'));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** A fresh directory holding `files` (path -> text). */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = join(root, `src-${++counter}`);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await mkdir(dir, { recursive: true });
  return dir;
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<ImportSourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImportSourceError);
  return error as ImportSourceError;
}

describe('the sample trees in examples/gitops', () => {
  it('Spring: the config repository maps to exactly the layout shipped beside it', async () => {
    const { files, report } = await importSpring(join(EXAMPLES, 'spring/config-repo'));
    const expected = await filesUnder(join(EXAMPLES, 'spring/layout'));
    expect([...files.keys()]).toEqual([...expected.keys()]);
    for (const [path, text] of expected) expect({ path, text: files.get(path) }).toEqual({ path, text });
    expect(report.refs).toEqual(['app:billing-service/application', 'app:orders/application', 'global/application']);
    expect(report.environments).toEqual(['dev', 'production', 'staging']);
    expect(report.skipped.map((s) => s.source)).toEqual(['README.md', 'bootstrap.yml']);
    // Every source file that is not skipped is mapped, and each mapping names its file.
    const sources = (await readdir(join(EXAMPLES, 'spring/config-repo'))).filter(
      (n) => !report.skipped.some((s) => s.source === n),
    );
    expect([...new Set(report.mapped.map((m) => m.source))].sort()).toEqual(sources.sort());
    for (const m of report.mapped) expect(files.has(m.target)).toBe(true);
    // The multi-document application.yml: its staging document is an override, at its line.
    expect(report.mapped.filter((m) => m.source === 'application.yml')).toEqual([
      expect.objectContaining({ line: 2, ref: 'global/application' }),
      expect.objectContaining({ line: 15, ref: 'global/application', environment: 'staging' }),
    ]);
  });

  it('Spring: the layout is a tree the gitops parser reads, with the values the sources hold', async () => {
    const dir = join(root, `out-${++counter}`);
    await writeImportedLayout(dir, (await importSpring(join(EXAMPLES, 'spring/config-repo'))).files);
    const parsed = await readTree(dir);
    expect(parsed.refs.map((r) => r.key).sort()).toEqual([
      'app:billing-service/application',
      'app:orders/application',
      'global/application',
    ]);
    const orders = parsed.refs.find((r) => r.key === 'app:orders/application')?.document;
    const ordersYaml = parseYaml(await readFile(join(EXAMPLES, 'spring/config-repo/orders.yml'), 'utf8'));
    expect(orders?.config).toEqual(ordersYaml);
    expect(orders?.overrides.dev).toEqual(
      parseYaml(await readFile(join(EXAMPLES, 'spring/config-repo/orders-dev.yml'), 'utf8')),
    );
    // From orders-production.properties: numbers typed, a list by index, a continued line.
    expect(orders?.overrides.production).toMatchObject({
      spring: { datasource: { hikari: { 'maximum-pool-size': 40 } } },
      orders: {
        retry: { attempts: 5 },
        'payment-methods': ['card', 'invoice', 'paypal'],
        'fraud-check': { 'timeout-ms': 800, endpoint: 'https://fraud.prod.internal/v2/check' },
        banner: 'Orders (production)',
      },
    });
    const billing = parsed.refs.find((r) => r.key === 'app:billing-service/application')?.document;
    expect(billing?.config.billing).toMatchObject({ 'account-id': '007', tax: { rates: { de: 0.19, fr: 0.2 } } });
    expect((parsed.environments ?? []).map((e) => [e.name, e.production])).toEqual(
      expect.arrayContaining([
        ['dev', false],
        ['staging', false],
        ['production', true],
      ]),
    );
  });

  it('node-config: the project maps to exactly the layout shipped beside it, with the sources values', async () => {
    const src = join(EXAMPLES, 'node-config/shop');
    const { files, report } = await importNodeConfig(src);
    const expected = await filesUnder(join(EXAMPLES, 'node-config/layout'));
    expect([...files.keys()]).toEqual([...expected.keys()]);
    for (const [path, text] of expected) expect({ path, text: files.get(path) }).toEqual({ path, text });
    expect(report.refs).toEqual(['app:shop/config']);
    expect(report.skipped.map((s) => s.source)).toEqual([
      'config/custom-environment-variables.json',
      'config/local.json',
      'config/test.js',
    ]);
    const doc = parseYaml(files.get('configs/app:shop/config.yaml') as string);
    const read = async (name: string) => readFile(join(src, 'config', name), 'utf8');
    expect(doc.config).toEqual(JSON.parse(await read('default.json')));
    expect(doc.overrides.staging).toEqual(JSON.parse(await read('staging.json')));
    expect(doc.overrides.dev).toEqual(parseYaml(await read('dev.yaml')));
    // production.json, then production.yml over it.
    expect(doc.overrides.production).toEqual({
      ...JSON.parse(await read('production.json')),
      ...parseYaml(await read('production.yml')),
    });
  });
});

describe('properties files', () => {
  it('parses Java syntax: separators, comments, continuations and escapes', () => {
    const [doc, ...rest] = parseProperties(
      [
        '# a comment',
        '! another',
        '   ',
        'a.b=1',
        'a.c : two',
        'a.d   three words  ',
        'e=',
        'f = =x',
        'g=line one \\',
        '    continued',
        'h\\:k=colon in key',
        'u=caf\\u00e9\\tend',
      ].join('\n'),
      'x.properties',
    );
    expect(rest).toEqual([]);
    expect(doc?.value).toEqual({
      a: { b: 1, c: 'two', d: 'three words  ' },
      e: '',
      f: '=x',
      g: 'line one continued',
      'h:k': 'colon in key',
      u: 'café\tend',
    });
  });

  it('types only canonical numbers and true/false; everything else stays a string', () => {
    expect(propertyValue('8080')).toBe(8080);
    expect(propertyValue('-1')).toBe(-1);
    expect(propertyValue('0.75')).toBe(0.75);
    expect(propertyValue('1e3')).toBe(1000);
    expect(propertyValue('true')).toBe(true);
    expect(propertyValue('false')).toBe(false);
    for (const text of ['007', '+1', '1.', '.5', 'TRUE', 'yes', 'null', '9007199254740993', '1,2', ' 1']) {
      expect(propertyValue(text)).toBe(text);
    }
  });

  it('builds lists from indices, keeps bracketed map keys whole, lets a later duplicate win', () => {
    const [doc] = parseProperties(
      ['l[1]=b', 'l[0]=a', 'm[x.y]=1', 'm[z]=2', 'o[0].name=n0', 'o[0].port=1', 'o[1].name=n1', 'k=1', 'k=2'].join(
        '\n',
      ),
      'x.properties',
    );
    expect(doc?.value).toEqual({
      l: ['a', 'b'],
      m: { 'x.y': 1, z: 2 },
      o: [{ name: 'n0', port: 1 }, { name: 'n1' }],
      k: 2,
    });
  });

  it('splits documents at #--- lines, each with its first line', () => {
    const docs = parseProperties('a=1\n#---\nb=2\n!---\nc=3\n', 'x.properties');
    expect(docs.map((d) => [d.value, d.line])).toEqual([
      [{ a: 1 }, 1],
      [{ b: 2 }, 3],
      [{ c: 3 }, 5],
    ]);
  });

  it.each([
    ['a value and an object at one path', 'a=1\nb=2\na.b=3\n', 3, /both a value and an object/],
    ['an object then a value', 'a.b=1\na=2\n', 2, /both a value and an object/],
    ['a list with a gap', 'x=1\nl[0]=a\nl[2]=c\n', 2, /no index \[1\]/],
    ['a list and keys at one level', 'l[0]=a\nl.k=b\n', 2, /both as a list and as an object/],
    ['a malformed \\u escape', 'ok=1\nbad=\\u12x4\n', 2, /malformed \\u escape/],
    ['an empty segment', 'a..b=1\n', 1, /empty segment/],
    ['an unclosed bracket', 'a=1\n\nb[0=1\n', 3, /unclosed/],
    ['a forbidden key', 'a.__proto__.x=1\n', 1, /not allowed/],
  ])('refuses %s, naming the file and line', (_name, text, line, message) => {
    let error: unknown;
    try {
      parseProperties(text, 'app.properties');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ImportSourceError);
    const e = error as ImportSourceError;
    expect({ file: e.file, line: e.line, code: e.code }).toEqual({
      file: 'app.properties',
      line,
      code: 'CONSTRAINT_VIOLATION',
    });
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`app.properties:${line}: `)).toBe(true);
    expect(isConfigError(e, 'CONSTRAINT_VIOLATION')).toBe(true);
  });
});

describe('Spring mapping', () => {
  it('maps on-profile and spring.profiles documents (one or several profiles) to overrides', async () => {
    const dir = await tree({
      'application.yml': [
        'a: 1',
        'spring.application.name: demo',
        '---',
        'spring:',
        '  config.activate.on-profile: [dev, qa]',
        'a: 2',
        '---',
        'spring.profiles: prod',
        'a: 3',
      ].join('\n'),
      'application.properties': 'b=x\n#---\nspring.config.activate.on-profile=dev\nb=y\n',
      'web.yaml': 'port: 80\n',
      'web-prod.properties': 'port=443\n',
    });
    const { files, report } = await importSpring(dir, { id: 'settings' });
    expect([...files.keys()]).toEqual([
      'configs/app:web/settings.yaml',
      'configs/global/settings.yaml',
      'environments.yaml',
    ]);
    expect(parseYaml(files.get('configs/global/settings.yaml') as string)).toEqual({
      config: { a: 1, spring: { application: { name: 'demo' } }, b: 'x' },
      overrides: { dev: { a: 2, b: 'y' }, prod: { a: 3 }, qa: { a: 2 } },
    });
    expect(parseYaml(files.get('configs/app:web/settings.yaml') as string)).toEqual({
      config: { port: 80 },
      overrides: { prod: { port: 443 } },
    });
    expect(report.environments).toEqual(['dev', 'prod', 'qa']);
    expect(parseYaml(files.get('environments.yaml') as string)).toEqual([
      { name: 'dev', production: false },
      { name: 'prod', production: true },
      { name: 'qa', production: false },
    ]);
  });

  it('reads properties as ISO-8859-1 and YAML as UTF-8, as Spring does', async () => {
    const dir = await tree({ 'application.yml': 'yaml: é\n' });
    await writeFile(join(dir, 'application.properties'), Buffer.from([...Buffer.from('latin=caf'), 0xe9, 0x0a]));
    await writeFile(join(dir, 'application-dev.properties'), 'escaped=caf\\u00e9\n');
    const { files } = await importSpring(dir);
    expect(parseYaml(files.get('configs/global/application.yaml') as string)).toEqual({
      config: { yaml: 'é', latin: 'café' },
      overrides: { dev: { escaped: 'café' } },
    });
  });

  it('splits <app>-<profile> by the known profiles, and --app keeps the shared files and that app', async () => {
    const dir = await tree({
      'application-prod-eu.yml': 'x: 1\n',
      'order-service.yml': 'x: 2\n',
      'order-service-prod-eu.yml': 'x: 3\n',
      'order-service-canary.yml': 'x: 4\n',
      'web-api.yml': 'x: 5\n',
    });
    const all = await importSpring(dir);
    expect(all.report.refs).toEqual(['app:order-service/application', 'app:web-api/application', 'global/application']);
    expect(parseYaml(all.files.get('configs/app:order-service/application.yaml') as string)).toEqual({
      config: { x: 2 },
      overrides: { canary: { x: 4 }, 'prod-eu': { x: 3 } },
    });
    const one = await importSpring(dir, { app: 'web-api' });
    expect(one.report.refs).toEqual(['app:web-api/application', 'global/application']);
    expect(one.report.skipped.map((s) => s.source)).toEqual([
      'order-service-canary.yml',
      'order-service-prod-eu.yml',
      'order-service.yml',
    ]);
  });

  it.each([
    ['a profile expression', 'application.yml', 'a: 1\n---\nspring.config.activate.on-profile: "prod & eu"\na: 2\n', 3],
    ['a negated profile', 'application.yml', 'a: 1\n---\nspring.profiles: "!dev"\na: 2\n', 3],
    ['another activation', 'application.yml', 'spring.config.activate.on-cloud-platform: kubernetes\na: 1\n', 1],
    ['a guard in a profile file', 'application-dev.yml', 'a: 1\n---\nspring.config.activate.on-profile: dev\n', 3],
    ['a YAML syntax error', 'shop.yml', 'a: 1\nb: [1, 2\nc: 3\n', 3],
    ['a duplicate YAML key', 'shop.yml', 'a: 1\nb: 2\na: 3\n', 3],
    ['a document that is not a mapping', 'shop.yml', 'a: 1\n---\n- just\n- a list\n', 3],
    ['a conflicting dotted key', 'shop.yml', 'a: 1\na.b: 2\n', 1],
    ['a bad properties line', 'shop.properties', 'a=1\nb[=2\n', 2],
  ])('refuses %s with the file and line, and an import writes nothing', async (_name, file, text, line) => {
    const dir = await tree({ 'application.yml': 'ok: true\n', [file]: text });
    const error = await failure(importSpring(dir));
    expect({ file: error.file, line: error.line }).toEqual({ file, line });
    expect(error.code).toBe('CONSTRAINT_VIOLATION');
  });
});

describe('node-config mapping', () => {
  it('takes the app from package.json without its npm scope, or from the option', async () => {
    const dir = await tree({
      'package.json': '{ "name": "@acme/cart" }',
      'config/default.yml': 'a: 1\n',
      'config/qa.json': '{ "a": 2 }',
      'config/local-qa.json': '{ "a": 9 }',
      'config/custom-environment-variables.yaml': 'a: A\n',
      'config/settings.toml': 'a = 1\n',
      'config/default.json5': '{ a: 1 }',
    });
    const fromPackage = await importNodeConfig(dir);
    expect(fromPackage.report.refs).toEqual(['app:cart/config']);
    expect(parseYaml(fromPackage.files.get('configs/app:cart/config.yaml') as string)).toEqual({
      config: { a: 1 },
      overrides: { qa: { a: 2 } },
    });
    expect(fromPackage.report.skipped.map((s) => s.source)).toEqual([
      'config/custom-environment-variables.yaml',
      'config/default.json5',
      'config/local-qa.json',
      'config/settings.toml',
    ]);
    const named = await importNodeConfig(dir, { app: 'basket', id: 'settings' });
    expect(named.report.refs).toEqual(['app:basket/settings']);
  });

  it('refuses a project without a name, and malformed JSON or YAML with the file and line', async () => {
    const nameless = await tree({ 'config/default.json': '{}' });
    const e = await importNodeConfig(nameless).catch((x: unknown) => x);
    expect(isConfigError(e, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((e as Error).message).toMatch(/--app/);

    const json = await tree({ 'config/default.json': '{\n  "a": 1,\n  "b": 2,\n}\n' });
    const je = await failure(importNodeConfig(json, { app: 'x' }));
    expect({ file: je.file, line: je.line }).toEqual({ file: 'config/default.json', line: 4 });

    const yaml = await tree({ 'config/default.json': '{}', 'config/prod.yaml': 'a:\n  b: 1\n c: 2\n' });
    const ye = await failure(importNodeConfig(yaml, { app: 'x' }));
    expect({ file: ye.file, line: ye.line }).toEqual({ file: 'config/prod.yaml', line: 3 });

    const array = await tree({ 'config/default.json': '[1, 2]' });
    expect((await failure(importNodeConfig(array, { app: 'x' }))).file).toBe('config/default.json');
  });
});

describe('writing the layout', () => {
  it('writes into a new or empty directory and refuses a non-empty one, leaving it untouched', async () => {
    const { files } = await importNodeConfig(join(EXAMPLES, 'node-config/shop'));
    const fresh = join(root, `new-${++counter}`, 'nested');
    await writeImportedLayout(fresh, files);
    expect(await filesUnder(fresh)).toEqual(files);

    const empty = join(root, `empty-${++counter}`);
    await mkdir(empty);
    await writeImportedLayout(empty, files);
    expect(await filesUnder(empty)).toEqual(files);

    const busy = await tree({ 'keep.txt': 'mine' });
    const e = await writeImportedLayout(busy, files).catch((x: unknown) => x);
    expect(isConfigError(e, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(await filesUnder(busy)).toEqual(new Map([['keep.txt', 'mine']]));
    // No staging directory is left beside it.
    expect((await readdir(dirname(busy))).filter((n) => n.startsWith(`${busy.split(sep).at(-1)}.import-`))).toEqual([]);
    const file = join(busy, 'keep.txt');
    expect(isConfigError(await writeImportedLayout(file, files).catch((x: unknown) => x), 'CONSTRAINT_VIOLATION')).toBe(
      true,
    );
    expect((await stat(file)).isFile()).toBe(true);
  });
});
