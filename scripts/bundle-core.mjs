#!/usr/bin/env node
// Bundles @summit-config/core's built JavaScript (`dist`, from `tsc -b`) into `dist/bundle`, the
// files its package `exports` load at run time (types stay `dist/**/*.d.ts`). Run after `tsc -b`:
// `pnpm build` and `pnpm typecheck` do both.
//
// Why: Node's ESM loader costs ~0.4 ms per module file (resolve, read, compile), and core is ~90
// files; one bundle cuts the import of the package root by about half (issue 17's cold start).
//
// One bundle for every entry: all of core's subpaths (`.`, `/internal`, `/migrations`, `/templates`,
// `/openfeature`) are entry points of the same esbuild run with code splitting, so each source module
// lands in exactly one output file and all entries share it: one `ConfigError` class, one module
// state, whichever subpath a sibling package imports. This script refuses a package.json whose
// `exports` send any subpath elsewhere. Modules loaded on demand (`import()`, e.g. the change
// service's methods) stay separate chunks, loaded on demand.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const core = join(root, 'packages', 'core');
const OUT = 'dist/bundle';

const pkg = JSON.parse(readFileSync(join(core, 'package.json'), 'utf8'));
const entryPoints = {};
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue; // ./package.json
  // `types` names tsc's output (dist/x.d.ts, beside dist/x.js); `default` must be the bundle's x.js.
  const name = target.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '');
  if (target.default !== `./${OUT}/${name}.js`) {
    throw new Error(`bundle-core: exports["${subpath}"].default must be ./${OUT}/${name}.js, not ${target.default}`);
  }
  const input = join(core, 'dist', `${name}.js`);
  if (!existsSync(input)) throw new Error(`bundle-core: ${input} is missing; run tsc -b packages/core first`);
  entryPoints[name] = input;
}

rmSync(join(core, OUT), { recursive: true, force: true });
await build({
  absWorkingDir: core,
  entryPoints,
  outdir: OUT,
  entryNames: '[dir]/[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Dependencies (ajv, yaml, semver, ...) and node: builtins are imported, never copied in.
  packages: 'external',
  // Functions and classes keep their names (error classes, stack traces).
  keepNames: true,
  // Maps back to src/ through tsc's own maps.
  sourcemap: true,
  logLevel: 'warning',
});
