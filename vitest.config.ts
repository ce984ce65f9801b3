import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Tests run against the TypeScript sources: `@summit-config/<pkg>[/<sub>]` resolves through the
 * `source` condition of that package's `exports`, so no build is needed between edit and test.
 */
function workspaceSources(): Plugin {
  return {
    name: 'summit-workspace-sources',
    enforce: 'pre',
    resolveId(id) {
      const m = /^@summit-config\/(core|backends|secrets|agent|server|test-support)(\/.+)?$/.exec(id);
      if (!m) return null;
      const pkgDir = join(root, 'packages', m[1] as string);
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
        exports: Record<string, { source?: string }>;
      };
      const key = m[2] ? `.${m[2]}` : '.';
      const entry = pkg.exports[key];
      if (entry?.source) return join(pkgDir, entry.source);
      // A pattern export (`./*` -> `./src/*.ts`, the private test-support package).
      for (const [pattern, target] of Object.entries(pkg.exports)) {
        const star = pattern.indexOf('*');
        if (star < 0 || !target.source) continue;
        const [head, tail] = [pattern.slice(0, star), pattern.slice(star + 1)];
        if (key.startsWith(head) && key.endsWith(tail) && key.length >= head.length + tail.length) {
          return join(pkgDir, target.source.replace('*', key.slice(head.length, key.length - tail.length)));
        }
      }
      return null;
    },
  };
}

export default defineConfig({
  plugins: [workspaceSources()],
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
