/**
 * A newcomer installs the library the way the README says: `npm run pack` writes the tarballs, npm
 * installs them into a fresh project outside the workspace, TypeScript checks the public types with
 * `skipLibCheck: false`, and every subpath export loads from ESM (`import`) and from CommonJS
 * (`require`), and the `summit-config` command runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { repoRoot } from '@summit-config/test-support/services';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'summit-newcomer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PACKAGES = ['core', 'backends', 'secrets', 'server', 'agent'] as const;

/** The optional peers at the ranges the packages declare, so that every subpath can load. */
function peers(): string[] {
  const out: string[] = [];
  for (const name of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'packages', name, 'package.json'), 'utf8')) as {
      peerDependencies?: Record<string, string>;
    };
    for (const [dep, range] of Object.entries(pkg.peerDependencies ?? {})) out.push(`${dep}@${range}`);
  }
  return out;
}

it('packs, installs with npm outside the workspace, type-checks strictly, loads every subpath from ESM and CommonJS', async () => {
  const packs = join(dir, 'packs');
  await run('sh', [join(repoRoot, 'scripts', 'pack.sh'), packs], { cwd: repoRoot, timeout: 300_000 });
  const tarballs = readdirSync(packs)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(packs, f));
  expect(tarballs).toHaveLength(PACKAGES.length);
  // Workspace ranges were rewritten: nothing in the packed manifests says `workspace:`.
  for (const tgz of tarballs) {
    const { stdout } = await run('tar', ['-xOzf', tgz, 'package/package.json']);
    expect(stdout).not.toContain('workspace:');
  }

  const app = join(dir, 'app');
  await run('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'newcomer-app', private: true, type: 'module' }));
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...tarballs,
      ...peers(),
      'typescript@~5.9.3',
      '@types/node@^20.19.0',
    ],
    { cwd: app, timeout: 480_000, maxBuffer: 16 << 20 },
  );

  // Every subpath export of every package, from the installed manifests.
  const subpaths: string[] = [];
  for (const name of PACKAGES) {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules', '@summit-config', name, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    for (const key of Object.keys(pkg.exports)) {
      if (key === './package.json') continue;
      subpaths.push(key === '.' ? `@summit-config/${name}` : `@summit-config/${name}/${key.slice(2)}`);
    }
  }
  expect(subpaths).toEqual(
    expect.arrayContaining([
      '@summit-config/core/migrations',
      '@summit-config/core/templates',
      '@summit-config/core/openfeature',
      '@summit-config/core/internal',
      '@summit-config/backends/consul',
      '@summit-config/backends/postgres',
      '@summit-config/backends/pglite',
      '@summit-config/backends/memory',
    ]),
  );
  // The drivers are optional peers of backends, installed above from its peerDependencies.
  expect(peers()).toEqual(expect.arrayContaining([expect.stringMatching(/^consul@/), expect.stringMatching(/^pg@/)]));

  writeFileSync(
    join(app, 'check.ts'),
    `${subpaths.map((s, i) => `import * as m${i} from '${s}';`).join('\n')}\nexport const loaded = [${subpaths.map((_, i) => `m${i}`).join(', ')}];\n`,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
      },
      files: ['check.ts'],
    }),
  );
  await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app, timeout: 180_000 }).catch(
    (error: { stdout?: string }) => {
      throw new Error(`tsc failed on the installed packages:\n${error.stdout ?? String(error)}`);
    },
  );

  writeFileSync(
    join(app, 'esm.mjs'),
    `for (const s of ${JSON.stringify(subpaths)}) { const m = await import(s); console.log(s, Object.keys(m).length); }\n`,
  );
  writeFileSync(
    join(app, 'cjs.cjs'),
    `for (const s of ${JSON.stringify(subpaths)}) { const m = require(s); console.log(s, Object.keys(m).length); }\n`,
  );
  for (const script of ['esm.mjs', 'cjs.cjs']) {
    const { stdout } = await run(process.execPath, ['--no-warnings', script], { cwd: app, timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(subpaths);
    for (const line of lines) expect(Number(line.split(' ')[1])).toBeGreaterThan(0);
  }
  // What an entry loads, seen by a module resolve hook: the root of core loads no migration or
  // template module, and the roots of backends load no driver (only their subpaths do).
  writeFileSync(
    join(app, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const result = await next(specifier, context);\n  appendFileSync(process.env.RESOLVE_LOG, result.url + '\\n');\n  return result;\n}\n`,
  );
  writeFileSync(
    join(app, 'register.mjs'),
    `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
  );
  const loads = async (entry: string): Promise<string[]> => {
    const log = join(app, `resolved-${entry.replace(/\W/g, '_')}.log`);
    writeFileSync(log, '');
    await run(
      process.execPath,
      ['--no-warnings', '--import', './register.mjs', '--input-type=module', '-e', `await import('${entry}');`],
      {
        cwd: app,
        timeout: 60_000,
        env: { ...process.env, RESOLVE_LOG: log },
      },
    );
    return readFileSync(log, 'utf8').trim().split('\n');
  };
  const drivers = /\/node_modules\/(consul|pg|@electric-sql\/pglite)\//;
  const core = await loads('@summit-config/core');
  expect(core.some((url) => url.includes('/@summit-config/core/dist/bundle/index.js'))).toBe(true);
  expect(
    core.filter((url) => /\/core\/dist\/(bundle\/)?(migrations|templates)\//.test(url) || drivers.test(url)),
  ).toEqual([]);
  // Core runs as one bundle for all its subpaths (scripts/bundle-core.mjs): the source maps of the
  // bundle files the root loads name every module in them, and none is a migration or template module.
  const coreModules = core
    .filter((url) => url.includes('/@summit-config/core/dist/bundle/'))
    .flatMap((url) => (JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')) as { sources: string[] }).sources);
  expect(coreModules.some((source) => source.endsWith('/src/client/client.ts'))).toBe(true);
  expect(coreModules.filter((source) => /\/src\/(migrations|templates)\//.test(source))).toEqual([]);
  for (const entry of ['@summit-config/backends', '@summit-config/backends/memory'])
    expect((await loads(entry)).filter((url) => drivers.test(url))).toEqual([]);
  expect((await loads('@summit-config/backends/postgres')).some((url) => /\/node_modules\/pg\//.test(url))).toBe(true);

  const { stdout } = await run(join(app, 'node_modules', '.bin', 'summit-config'), ['--version'], { cwd: app });
  expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
}, 900_000);
