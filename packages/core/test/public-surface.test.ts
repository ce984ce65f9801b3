/**
 * Nothing is exported that the README does not document: every name the public entries of
 * @summit-config/core export (the root, `/migrations`, `/templates`, `/openfeature`) appears in
 * README.md in backticks, and the internal helpers stay behind `@summit-config/core/internal`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = (path: string) => fileURLToPath(new URL(`../src/${path}`, import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
const ENTRIES = {
  '@summit-config/core': src('index.ts'),
  '@summit-config/core/migrations': src('migrations/index.ts'),
  '@summit-config/core/templates': src('templates/index.ts'),
  '@summit-config/core/openfeature': src('openfeature/provider.ts'),
  '@summit-config/core/internal': src('internal.ts'),
} as const;

/** Every name (values and types) each entry exports, through the type checker. */
function exportedNames(): Record<keyof typeof ENTRIES, string[]> {
  const files = Object.values(ENTRIES);
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out = {} as Record<keyof typeof ENTRIES, string[]>;
  for (const [entry, file] of Object.entries(ENTRIES) as Array<[keyof typeof ENTRIES, string]>) {
    const source = program.getSourceFile(file);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read ${file}`);
    out[entry] = checker.getExportsOfModule(module).map((s) => s.name);
  }
  return out;
}

describe('the public surface of @summit-config/core', () => {
  const names = exportedNames();

  it.each([
    '@summit-config/core',
    '@summit-config/core/migrations',
    '@summit-config/core/templates',
    '@summit-config/core/openfeature',
  ] as const)('%s exports only names the README documents', (entry) => {
    expect(names[entry].length).toBeGreaterThan(0);
    const undocumented = names[entry].filter(
      (name) => !readme.includes(`\`${name}\``) && !readme.includes(`\`${name}(`),
    );
    expect(undocumented).toEqual([]);
  });

  it('keeps the internal helpers out of the root', () => {
    expect(names['@summit-config/core'].length).toBeLessThan(150);
    for (const name of ['Lifecycle', 'ListenerSet', 'delay', 'normaliseAt', 'errors', 'createVersion'])
      expect(names['@summit-config/core']).not.toContain(name);
    expect(names['@summit-config/core/internal']).toEqual(expect.arrayContaining(['Lifecycle', 'delay', 'errors']));
    for (const name of ['defineMigration', 'createMigrationRunner', 'renderTemplate', 'loadTemplates'])
      expect(names['@summit-config/core']).not.toContain(name);
  });
});
