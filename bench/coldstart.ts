/**
 * `pnpm bench coldstart`: process start to the first read, in whole `node` processes, against
 * node-config in the same run.
 *
 * Every run spawns plain `node` (no tsx, no `source` condition) on the BUILT packages (`dist`, built
 * first with `tsc -b`, then core's bundle with `scripts/bundle-core.mjs`, unless `--no-build`), so
 * import cost is real. Each scenario runs `--runs` times (default 10), interleaved (A B C ... A B C
 * ...) so machine noise hits all of them alike; figures are medians.
 *
 * - `node_config`: `require('config')` with a config directory holding `default.json`, then
 *   `config.get('database')` (node-config's normal setup).
 * - `summit` (the goal): the client on the memory store, no service, no disk: import
 *   `@summit-config/core` and `@summit-config/backends/memory`, append one document, create the
 *   client, `client.get('database')`. The README's quick usage also talks to Consul and PostgreSQL;
 *   their connections measure the services, not the library, so they are not part of the figure.
 * - `summit_schema`: the same with a `SchemaRegistry` and one registered schema (loads ajv).
 * - `summit_readme_imports`: the same with every import of the README's quick usage (backends root,
 *   `/consul`, `/postgres`: driver load cost) and a schema, on the memory store.
 *
 * `*_ms` is `performance.now()` in the child at the first `get` (from the process's time origin);
 * `*_wall_ms` is spawn to exit as the parent sees it. `import_ms` is the cost of each import in turn
 * in one process (each figure excludes what the ones before it already loaded); `node_ms` is an
 * empty `node` process for scale.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { round } from './_measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 10);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');

if (!process.argv.includes('--no-build')) {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const built = spawnSync(tsc, ['-b', 'packages/core', 'packages/backends'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('coldstart: `tsc -b packages/core packages/backends` failed');
  // Core's package exports load its bundle (dist/bundle), built from tsc's output.
  const bundled = spawnSync(process.execPath, [join(root, 'scripts', 'bundle-core.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (bundled.status !== 0) throw new Error('coldstart: `node scripts/bundle-core.mjs` failed');
}

const configDir = mkdtempSync(join(tmpdir(), 'summit-coldstart-'));
writeFileSync(join(configDir, 'default.json'), JSON.stringify({ database: { pool: { max: 10 } } }));

// The one document both sides read, and what `get` must return.
const DOC = JSON.stringify({ pool: { max: 10 } });
const report = (value: string) => `console.log(JSON.stringify({ t: performance.now(), value: ${value} }));`;

const summit = (opts: { schema?: boolean; readmeImports?: boolean }) =>
  [
    opts.readmeImports
      ? `import '@summit-config/backends'; import '@summit-config/backends/consul'; import '@summit-config/backends/postgres';`
      : '',
    `import { appendNext, createConfigClient, SchemaRegistry } from '@summit-config/core';`,
    `import { createMemoryStore } from '@summit-config/backends/memory';`,
    `const store = createMemoryStore();`,
    `await appendNext(store, { ref: { scope: 'global', id: 'database' }, config: ${DOC}, createdBy: 'bench' });`,
    opts.schema
      ? `const schemas = new SchemaRegistry(); await schemas.register('database', { type: 'object', properties: { pool: { type: 'object', properties: { max: { type: 'integer', default: 10 } } } } });`
      : 'const schemas = undefined;',
    `const client = await createConfigClient({ store, app: 'bench', environment: 'production', schemas });`,
    `const value = client.get('database');`,
    report('value'),
    `await client.close(); await store.close();`,
  ].join('\n');

const IMPORTS = [
  '@summit-config/core',
  '@summit-config/backends/memory',
  '@summit-config/backends',
  '@summit-config/backends/consul',
  '@summit-config/backends/postgres',
];

const scenarios: Record<string, { code: string; esm: boolean; check?: boolean }> = {
  node: { code: report('null'), esm: false },
  node_config: {
    code: `const config = require('config'); const value = config.get('database'); ${report('value')}`,
    esm: false,
    check: true,
  },
  summit: { code: summit({}), esm: true, check: true },
  summit_schema: { code: summit({ schema: true }), esm: true, check: true },
  summit_readme_imports: { code: summit({ schema: true, readmeImports: true }), esm: true, check: true },
  imports: {
    code: `const out = {}; let t = performance.now();
for (const s of ${JSON.stringify(IMPORTS)}) { await import(s); const now = performance.now(); out[s] = now - t; t = now; }
${report('out')}`,
    esm: true,
  },
};

// Children run with a clean environment for node-config and no inherited loader flags (tsx).
const env: NodeJS.ProcessEnv = { ...process.env, NODE_CONFIG_DIR: configDir, NODE_ENV: 'production' };
delete env.NODE_OPTIONS;
delete env.NODE_CONFIG;
delete env.SUPPRESS_NO_CONFIG_WARNING;

interface Sample {
  t: number;
  wall: number;
  value: unknown;
}
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]));

function runOnce(name: string): Sample {
  const { code, esm } = scenarios[name] as { code: string; esm: boolean };
  const args = esm ? ['--input-type=module', '-e', code] : ['-e', code];
  const start = process.hrtime.bigint();
  // cwd bench/: `-e` resolves bare specifiers from the working directory (bench's node_modules).
  const child = spawnSync(process.execPath, args, { cwd: here, env, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (child.status !== 0) throw new Error(`coldstart ${name}: exit ${child.status}\n${child.stderr}`);
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  const { t, value } = JSON.parse(last) as { t: number; value: unknown };
  return { t, wall, value };
}

const order = Object.keys(scenarios);
for (const name of order) runOnce(name); // warm the file cache once, unmeasured
for (let i = 0; i < RUNS; i++) for (const name of order) (samples[name] as Sample[]).push(runOnce(name));
rmSync(configDir, { recursive: true, force: true });

for (const [name, list] of Object.entries(samples)) {
  if (!scenarios[name]?.check) continue;
  for (const s of list) {
    if (JSON.stringify(s.value) !== DOC) throw new Error(`coldstart ${name}: get returned ${JSON.stringify(s.value)}`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const ms = (name: string) => round(median((samples[name] as Sample[]).map((s) => s.t)), 1);
const wall = (name: string) => round(median((samples[name] as Sample[]).map((s) => s.wall)), 1);
const import_ms = Object.fromEntries(
  IMPORTS.map((s) => [
    s,
    round(median((samples.imports as Sample[]).map((x) => (x.value as Record<string, number>)[s] as number)), 1),
  ]),
);

const summit_ms = ms('summit');
const node_config_ms = ms('node_config');
console.log(
  JSON.stringify({
    bench: 'coldstart',
    runs: RUNS,
    summit_ms,
    node_config_ms,
    ratio: round(summit_ms / node_config_ms),
    summit_schema_ms: ms('summit_schema'),
    summit_readme_imports_ms: ms('summit_readme_imports'),
    node_ms: ms('node'),
    summit_wall_ms: wall('summit'),
    node_config_wall_ms: wall('node_config'),
    ratio_wall: round(wall('summit') / wall('node_config')),
    import_ms,
  }),
);
