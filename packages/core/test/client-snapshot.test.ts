/**
 * The last-known-good snapshot off the hot path: a burst of changes is a bounded number of writes,
 * the file after the burst holds the latest versions, flush() writes what is pending, and the file
 * stays in the format (and checksum) older readers check.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClientContext } from '../src/client/context.js';
import { readSnapshot, writeSnapshot } from '../src/client/snapshot.js';
import { SnapshotKeeper } from '../src/client/snapshot-keeper.js';
import { canonicalJson, sha256Hex } from '../src/model/json.js';
import { type ConfigVersion, createVersion } from '../src/model/version.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempFile(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'summit-snapshot-'));
  dirs.push(dir);
  return join(dir, name);
}

const version = (id: string, v: number, config: Record<string, unknown> = { n: v, id }) =>
  createVersion({ ref: { scope: 'app:billing', id }, config: config as never, createdBy: 'test' }, v);

/** The checksum as the first snapshot reader computed it (JSON.parse, then canonical JSON of the fields). */
function legacyChecksum(raw: Record<string, unknown>): string {
  const { format, app, environment, writtenAt, docs, epoch } = raw;
  return sha256Hex(
    canonicalJson({ format, app, environment, writtenAt, docs, ...(epoch === undefined ? {} : { epoch }) }),
  );
}

function fakeContext(snapshotFile: string, reported: unknown[]): ClientContext {
  return {
    app: 'billing',
    environment: 'production',
    options: { snapshotFile },
    report: (error: unknown) => reported.push(error),
  } as unknown as ClientContext;
}

describe('snapshot file', () => {
  it('writes the summit-snapshot/1 format older readers verify, and reads it back', async () => {
    const file = await tempFile('s.json');
    const docs = Array.from({ length: 3000 }, (_, i) =>
      version(`svc/${i}`, 1 + (i % 3), { i, nested: { b: [1, 2, { z: 'é', a: null }], a: 'x' } }),
    );
    await writeSnapshot(file, 'billing', 'production', docs, 'epoch-1');
    const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(raw.format).toBe('summit-snapshot/1');
    expect(raw.checksum).toBe(legacyChecksum(raw));
    const read = await readSnapshot(file, 'billing', 'production');
    expect(read?.epoch).toBe('epoch-1');
    expect(read?.docs.map((d) => [d.ref.id, d.version, d.checksum])).toEqual(
      docs.map((d) => [d.ref.id, d.version, d.checksum]),
    );
    // Without an epoch, and empty.
    await writeSnapshot(file, 'billing', 'production', []);
    const empty = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(empty.checksum).toBe(legacyChecksum(empty));
    expect('epoch' in empty).toBe(false);
    expect((await readSnapshot(file, 'billing', 'production'))?.docs).toEqual([]);
    // No temp file is left behind.
    expect((await readdir(join(file, '..'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('still refuses an edited file', async () => {
    const file = await tempFile('s.json');
    await writeSnapshot(file, 'billing', 'production', [version('a', 1, { host: 'db' })]);
    const text = await readFile(file, 'utf8');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, text.replace('"host":"db"', '"host":"evil"'));
    await expect(readSnapshot(file, 'billing', 'production')).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });
});

describe('snapshot keeper', () => {
  it('writes a burst of changes a bounded number of times, the last write holding the latest versions', async () => {
    const file = await tempFile('burst.json');
    const reported: unknown[] = [];
    const held = new Map<string, ConfigVersion>();
    for (let i = 0; i < 500; i++) held.set(`svc/${i}`, version(`svc/${i}`, 1));
    const keeper = new SnapshotKeeper(fakeContext(file, reported), () => [...held.values()], {
      delayMs: 10,
      minIntervalMs: 250,
    });
    // 200 changes over ~400 ms: one write per interval at most.
    const started = performance.now();
    for (let c = 0; c < 200; c++) {
      const id = `svc/${c % 50}`;
      held.set(id, version(id, (held.get(id)?.version ?? 0) + 1));
      keeper.schedule();
      await new Promise((r) => setTimeout(r, 2));
    }
    const elapsed = performance.now() - started;
    await keeper.flush();
    expect(reported).toEqual([]);
    expect(keeper.writes).toBeGreaterThanOrEqual(1);
    expect(keeper.writes).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    const snapshot = await readSnapshot(file, 'billing', 'production');
    const versions = new Map(snapshot?.docs.map((d) => [d.ref.id, d.version]));
    for (const [id, doc] of held) expect(versions.get(id)).toBe(doc.version);
    expect(versions.get('svc/0')).toBe(5);
  });

  it('flush() writes a scheduled snapshot at once, and waits for a write under way', async () => {
    const file = await tempFile('flush.json');
    const held = [version('a', 1)];
    const keeper = new SnapshotKeeper(fakeContext(file, []), () => held, { delayMs: 60_000, minIntervalMs: 60_000 });
    keeper.schedule();
    held[0] = version('a', 2);
    await keeper.flush();
    expect(keeper.writes).toBe(1);
    expect((await readSnapshot(file, 'billing', 'production'))?.docs[0]?.version).toBe(2);
    // Nothing scheduled: nothing written.
    await keeper.flush();
    expect(keeper.writes).toBe(1);
  });

  it('never writes without a snapshot file', async () => {
    const keeper = new SnapshotKeeper(
      { app: 'billing', environment: 'production', options: {}, report: () => {} } as unknown as ClientContext,
      () => [],
    );
    keeper.schedule();
    await keeper.flush();
    expect(keeper.writes).toBe(0);
  });
});
