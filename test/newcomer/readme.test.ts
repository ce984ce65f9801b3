/**
 * The README cannot drift from the code: every `<!-- snippet: name -->` TypeScript block is extracted,
 * type-checked and run as written against the real Consul and PostgreSQL (a database of its own, and
 * Consul's default `summit/` prefix, which no other suite uses). Each must exit 0 by itself: a
 * snippet that leaves something open keeps its process alive and fails here.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, services } from '@summit-config/test-support/services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** `<!-- snippet: name -->` followed by a ```ts block. */
export function readmeSnippets(readme: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- snippet: ([a-z0-9-]+) -->\s*\n```ts\n([\s\S]*?)\n```/g;
  for (const m of readme.matchAll(re)) out.set(m[1] as string, `${m[2]}\n`);
  return out;
}

const snippets = readmeSnippets(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
// Inside the repository, so that @summit-config/* resolve to the workspace packages.
const dir = join(repoRoot, 'test', 'newcomer', `.snippets-${process.pid}`);
const database = `summit_readme_${process.pid}`;
let databaseUrl = '';

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  const admin = new pg.Client({ connectionString: services().databaseUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(services().databaseUrl);
  url.pathname = `/${database}`;
  databaseUrl = url.toString();
  // The snippets use Consul's default prefix: start it empty.
  await fetch(`${services().consulAddr}/v1/kv/summit/?recurse`, { method: 'DELETE' });
}, 60_000);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = new pg.Client({ connectionString: services().databaseUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
});

describe('README snippets', () => {
  it('has the snippets this test expects', () => {
    expect([...snippets.keys()]).toEqual(['client', 'service']);
  });

  it('type-checks every snippet as written', async () => {
    const files = [...snippets].map(([name, code]) => {
      const file = join(dir, `${name}.ts`);
      writeFileSync(file, code);
      return file;
    });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../../tsconfig.base.json',
        compilerOptions: {
          noEmit: true,
          composite: false,
          declaration: false,
          declarationMap: false,
          rootDir: '../../..',
        },
        files: files.map((f) => f.slice(dir.length + 1)),
      }),
    );
    await run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', dir], { cwd: repoRoot, timeout: 120_000 }).catch(
      (error: { stdout?: string }) => {
        throw new Error(`a README snippet does not type-check:\n${error.stdout ?? String(error)}`);
      },
    );
  }, 150_000);

  // The service snippet writes first, so the client snippet reads something.
  for (const name of ['service', 'client']) {
    it(`runs the ${name} snippet as written, and it exits by itself`, async () => {
      const file = join(dir, `${name}.run.ts`);
      writeFileSync(file, snippets.get(name) as string);
      const { stdout, stderr } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
        cwd: repoRoot,
        timeout: 60_000,
        env: { ...process.env, DATABASE_URL: databaseUrl, CONSUL_HTTP_ADDR: services().consulAddr },
      }).catch((error: { stdout?: string; stderr?: string; killed?: boolean }) => {
        throw new Error(
          `${name} snippet ${error.killed ? 'did not exit within 60 s' : 'failed'}:\n${error.stderr ?? ''}${error.stdout ?? ''}`,
        );
      });
      if (name === 'service') expect(stdout).toMatch(/op: '(replace|add)'/);
      expect(stderr).not.toMatch(/Error/);
    }, 90_000);
  }
});
