/**
 * `export` then `import` through the CLI, in process: a fresh PostgreSQL schema and Consul prefix
 * ends up with identical heads, version histories (checksums), environments, schemas and open
 * change requests; the file goes through a file or through stdout/stdin.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness } from './cli-harness.js';

const harnesses: Harness[] = [];
let source: Harness;

async function ok(h: Harness, args: string[], options: Parameters<Harness['run']>[1] = {}) {
  const r = await h.run([...args, '--json'], options);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.json();
}

/** Everything that must survive a backup and restore, as the CLI shows it. */
async function state(h: Harness) {
  const heads = (await ok(h, ['list'])) as Array<{ ref: string }>;
  const histories: Record<string, unknown> = {};
  for (const head of heads) {
    histories[head.ref] = ((await ok(h, ['versions', head.ref])) as Array<Record<string, unknown>>).map((v) => ({
      version: v.version,
      checksum: v.checksum,
      createdBy: v.createdBy,
      createdAt: v.createdAt,
      message: v.message,
    }));
  }
  return {
    heads,
    histories,
    environments: await ok(h, ['env', 'list']),
    schema: await ok(h, ['schema', 'get', 'database']),
    pending: ((await ok(h, ['pending'])) as Array<Record<string, unknown>>).map((r) => ({
      id: r.id,
      ref: r.ref,
      baseVersion: r.baseVersion,
      proposed: r.proposed,
    })),
  };
}

beforeAll(async () => {
  source = await realHarness('backup_src');
  harnesses.push(source);
  const steps: Array<[string[], string?]> = [
    [['env', 'create', 'staging']],
    [['schema', 'register', 'database', '--json-value', '{"type":"object","properties":{"pool":{"type":"integer"}}}']],
    [['set', 'global/database', '--json-value', '{"host":"db"}']],
    [['set', 'global/database', '--env', 'staging', '--json-value', '{"host":"db-staging"}']],
    [['set', 'app:billing/database', '--json-value', '{"pool":10}'], 'bob'],
    [['delete', 'app:billing/database']],
    [['rollback', 'app:billing/database']],
    [['set', 'app:shop/features/checkout', '--json-value', '{"newFlow":true}']],
    [['env', 'create', 'production', '--production']],
    [['propose', 'app:shop/features/checkout', '--env', 'production', '--json-value', '{"newFlow":false}'], 'bob'],
  ];
  for (const [args, actor] of steps) await ok(source, args, actor ? { actor } : {});
});
afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.cleanup()));
});

describe('export and import through the CLI', () => {
  it('to a file and back into a fresh schema and prefix: identical heads, checksums, governance', async () => {
    const before = await state(source);
    expect(before.heads).toHaveLength(3);
    expect(before.pending).toHaveLength(1);
    const file = join(source.dir, 'backup.ndjson');
    const exported = await ok(source, ['export', file]);
    // A progress counter on stderr when it is a terminal; nothing otherwise.
    const tty = await source.run(['export', join(source.dir, 'tty.ndjson')], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr.startsWith('\r\u001b[2Kexported records ')).toBe(true);
    expect(tty.stderr.endsWith('\r\u001b[2K')).toBe(true);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(exported).toEqual({ file, records: lines.length - 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.parse(lines[0] as string)).toMatchObject({ type: 'header', format: 'summit-config-export' });

    const target = await realHarness('backup_dst');
    harnesses.push(target);
    const report = await ok(target, ['import', file]);
    const quiet = await source.run(['export', join(source.dir, 'quiet.ndjson')]);
    expect([quiet.code, quiet.stderr]).toEqual([0, '']);
    expect(report).toMatchObject({
      governance: true,
      environments: 2,
      schemas: 1,
      requests: 1,
      versions: 6,
      sha256: exported.sha256,
      refs: { 'global/database': 2, 'app:billing/database': 3, 'app:shop/features/checkout': 1 },
    });
    expect(await state(target)).toEqual(before);

    // The store is no longer empty: a second import is refused, and writes nothing.
    const again = await target.run(['import', file, '--json']);
    expect(again.code).toBe(2);
    expect(again.error().code).toBe('CONSTRAINT_VIOLATION');
    expect(await state(target)).toEqual(before);
  });

  it('to stdout and back from stdin', async () => {
    const exported = await source.run(['export']);
    expect(exported.code).toBe(0);
    const records = exported.stdout.trim().split('\n');
    expect(JSON.parse(records.at(-1) as string)).toMatchObject({ type: 'trailer', records: records.length - 2 });
    const target = await realHarness('backup_pipe');
    harnesses.push(target);
    const imported = await target.run(['import', '-'], { stdin: exported.stdout });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported 6 version\(s\) of 3 ref\(s\)/);
    expect(await state(target)).toEqual(await state(source));

    const corrupted = await realHarness('backup_bad');
    harnesses.push(corrupted);
    const bad = await corrupted.run(['import', '-', '--json'], {
      stdin: exported.stdout.replace('db-staging', 'db-evil'),
    });
    expect(bad.code).toBe(1);
    expect(bad.error().code).toBe('CHECKSUM_MISMATCH');
    expect(await ok(corrupted, ['list'])).toEqual([]);
  });
});
