/**
 * The console's build: Preact through esbuild's JSX transform (no Babel), into the server package's
 * `dist/ui`, which the config server serves at `/ui` (packages/server/src/routes/ui.ts). Hashed
 * file names, so the server caches `assets/` as immutable; no inline script (the server's CSP
 * forbids it), no module-preload polyfill, nothing loaded from another origin.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../server/dist/ui', import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
