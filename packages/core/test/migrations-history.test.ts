import { describe, expect, it } from 'vitest';
import {
  createLocalLock,
  createMemoryMigrationHistory,
  isConfigError,
  type MigrationRecord,
  type MigrationRefRecord,
} from '../src/index.js';

const record = (over: Partial<MigrationRecord> = {}): MigrationRecord => ({
  name: 'm1',
  version: '1',
  checksum: 'a'.repeat(64),
  kind: 'data',
  description: '',
  dependencies: [],
  status: 'running',
  run: 1,
  appliedBy: 'root',
  startedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

const refRecord = (over: Partial<MigrationRefRecord> = {}): MigrationRefRecord => ({
  migration: 'm1',
  run: 1,
  ref: 'global/x',
  state: 'applied',
  beforeVersion: 1,
  beforeChecksum: 'b'.repeat(64),
  beforeContent: 'c'.repeat(64),
  afterVersion: 2,
  recordedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

describe('memory migration history', () => {
  it('saves with compare-and-set on (status, run)', async () => {
    const h = createMemoryMigrationHistory();
    await h.save(record(), undefined);
    // A second claim of a new record loses.
    expect(isConfigError(await h.save(record(), undefined).catch((e: unknown) => e), 'CONFLICTING_CHANGE')).toBe(true);
    // The wrong expectation loses and writes nothing.
    const stale = await h.save(record({ status: 'applied' }), { status: 'failed', run: 1 }).catch((e: unknown) => e);
    expect(isConfigError(stale, 'CONFLICTING_CHANGE')).toBe(true);
    expect((await h.get('m1'))?.status).toBe('running');
    await h.save(record({ status: 'applied', finishedAt: '2030-01-01T00:01:00.000Z' }), { status: 'running', run: 1 });
    expect(await h.get('m1')).toMatchObject({ status: 'applied', finishedAt: '2030-01-01T00:01:00.000Z' });
    expect((await h.list()).map((r) => r.name)).toEqual(['m1']);
    expect(await h.get('nope')).toBeUndefined();
    await h.close();
  });

  it('keeps ref records per run, replaces by key, and refuses refs of an unknown migration', async () => {
    const h = createMemoryMigrationHistory();
    expect(isConfigError(await h.saveRef(refRecord()).catch((e: unknown) => e), 'CONSTRAINT_VIOLATION')).toBe(true);
    await h.save(record(), undefined);
    await h.saveRef(refRecord({ ref: 'global/y' }));
    await h.saveRef(refRecord({ ref: 'global/x', state: 'proposed', requestId: 'r1' }));
    await h.saveRef(refRecord({ ref: 'global/x', state: 'applied', requestId: 'r1' }));
    await h.saveRef(refRecord({ ref: 'global/x', run: 2 }));
    const refs = await h.listRefs('m1', 1);
    expect(refs.map((r) => [r.ref, r.state])).toEqual([
      ['global/x', 'applied'],
      ['global/y', 'applied'],
    ]);
    expect(await h.listRefs('m1', 2)).toHaveLength(1);
    // Returned records are copies.
    (refs[0] as MigrationRefRecord).state = 'declined';
    expect((await h.listRefs('m1', 1))[0]?.state).toBe('applied');
    await h.close();
  });

  it('validates records', async () => {
    const h = createMemoryMigrationHistory();
    const bad = await h.save({ ...record(), status: 'done' as never }, undefined).catch((e: unknown) => e);
    expect(isConfigError(bad, 'CONSTRAINT_VIOLATION')).toBe(true);
    await h.save(record(), undefined);
    const badRef = await h.saveRef({ ...refRecord(), beforeVersion: 0 }).catch((e: unknown) => e);
    expect(isConfigError(badRef, 'CONSTRAINT_VIOLATION')).toBe(true);
  });

  it('is CLOSED after close', async () => {
    const h = createMemoryMigrationHistory();
    await h.close();
    await h.close();
    expect(isConfigError(await h.list().catch((e: unknown) => e), 'CLOSED')).toBe(true);
    expect(isConfigError(await h.acquire().catch((e: unknown) => e), 'CLOSED')).toBe(true);
  });
});

describe('in-process lock', () => {
  it('grants one holder at a time, in arrival order', async () => {
    const lock = createLocalLock();
    const order: string[] = [];
    const first = await lock.acquire();
    const second = lock.acquire().then((l) => {
      order.push('second');
      return l;
    });
    const third = lock.acquire().then((l) => {
      order.push('third');
      return l;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    await first.release();
    await first.release();
    const s = await second;
    expect(order).toEqual(['second']);
    await s.release();
    const t = await third;
    expect(order).toEqual(['second', 'third']);
    await t.release();
    // Free again.
    await (await lock.acquire()).release();
  });

  it('times out with TIMEOUT and aborts with the signal, leaving the queue usable', async () => {
    const lock = createLocalLock();
    const held = await lock.acquire();
    const timedOut = await lock.acquire({ timeoutMs: 1 }).catch((e: unknown) => e);
    expect(isConfigError(timedOut, 'TIMEOUT')).toBe(true);
    const controller = new AbortController();
    const aborted = lock.acquire({ signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('stop'));
    expect(((await aborted) as Error).message).toBe('stop');
    const next = lock.acquire();
    await held.release();
    await (await next).release();
    const checked = await held.check().catch((e: unknown) => e);
    expect(checked).toBeInstanceOf(Error);
  });
});
