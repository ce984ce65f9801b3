/**
 * The package boundary: the main entry point (contract, references, resolver, local provider) must
 * not load any cloud SDK; each SDK is reached only from its own subpath export.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '@summit-config/test-support/services';
import { describe, expect, it } from 'vitest';

const pkgDir = join(repoRoot, 'packages', 'secrets');
const CLOUD_SDK = /^@(aws-sdk|google-cloud|azure|azure-rest|smithy)\//;

/** Every module specifier imported (statically or dynamically) by `file` and the local files it reaches. */
function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'/g),
      ...source.matchAll(/import\(\s*'([^']+)'\s*\)/g),
      ...source.matchAll(/^import\s+'([^']+)'/gm),
    ].map((m) => m[1] as string);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  }
  return { files, packages };
}

describe('@summit-config/secrets package boundary', () => {
  it('the main entry point reaches no cloud SDK', () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      exports: Record<string, { source?: string }>;
    };
    const main = reachable(join(pkgDir, pkg.exports['.']?.source as string));
    expect(main.files.size).toBeGreaterThan(5);
    expect([...main.packages].filter((p) => CLOUD_SDK.test(p))).toEqual([]);
    // Core only: its root and its internal entry (`@summit-config/core/internal`).
    const others = [...main.packages].filter((p) => !p.startsWith('node:')).sort();
    expect(others).toContain('@summit-config/core/internal');
    expect(others.filter((p) => p !== '@summit-config/core' && p !== '@summit-config/core/internal')).toEqual([]);
  });

  it.each([
    ['./aws', '@aws-sdk/client-secrets-manager'],
    ['./gcp', '@google-cloud/secret-manager'],
    ['./azure', '@azure/keyvault-secrets'],
  ])('%s loads only its own SDK', (subpath, sdk) => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      exports: Record<string, { source?: string }>;
    };
    const sub = reachable(join(pkgDir, pkg.exports[subpath]?.source as string));
    const clouds = [...sub.packages].filter((p) => CLOUD_SDK.test(p));
    expect(clouds).toContain(sdk);
    for (const other of clouds) expect(other.split('/')[0]).toBe(sdk.split('/')[0]);
  });

  it('./vault loads no SDK at all (plain fetch) and the root entry point reaches it', () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      exports: Record<string, { source?: string }>;
    };
    const vault = join(pkgDir, pkg.exports['./vault']?.source as string);
    const sub = reachable(vault);
    expect([...sub.packages].filter((p) => !p.startsWith('node:') && !p.startsWith('@summit-config/core'))).toEqual([]);
    expect(reachable(join(pkgDir, pkg.exports['.']?.source as string)).files.has(vault)).toBe(true);
  });
});
