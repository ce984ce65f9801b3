/**
 * Fault injection on the real PostgreSQL: a server restart under a running watch, a killed LISTEN
 * connection, and two processes migrating one fresh schema at the same moment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { LATEST_MIGRATION } from '@summit-config/backends/postgres';
import { isConfigError, parseRef } from '@summit-config/core';
import { collect, doc } from '@summit-config/test-support/contract/store-contract';
import { errorCode as codeOf } from '@summit-config/test-support/errors';
import { repoRoot, serviceCtl, services } from '@summit-config/test-support/services';
import { adminQuery, freshSchema, q } from '@summit-config/test-support/sql';
import { forgeSilentAppend, postgresStores } from '@summit-config/test-support/stores';
import { slowly, until, whenBack } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const pgStore = postgresStores('fault');

function uniqueAppName(): string {
  return `summit-fault-${process.pid}-${Math.floor(Math.random() * 1e9)}`;
}

async function listenPids(applicationName: string): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
    `${applicationName}:listen`,
  ]);
  return rows.map((r) => r.pid);
}

describe('postgres store under faults', () => {
  it('resumes its watch after PostgreSQL restarts and misses no change made before, during or after', async () => {
    const applicationName = uniqueAppName();
    const watched = pgStore({ applicationName, connectTimeoutMs: 2000, reconnectMaxMs: 1000 });
    // A second path to the database: its own pool, as another process would have.
    const other = pgStore({ schema: watched.schema, connectTimeoutMs: 2000 });
    const before = parseRef('global/restart/before');
    const outage = parseRef('global/restart/outage');
    const afterOther = parseRef('app:other/restart/after');
    const afterSelf = parseRef('global/restart/after');

    await watched.append(doc(before, 1));
    const w = collect(watched);
    await until(async () => (await listenPids(applicationName)).length === 1, 'the LISTEN connection', slowly);
    await watched.append(doc(before, 2));
    await w.until((events) => events.some((e) => e.key === 'global/restart/before' && e.version === 2));

    try {
      await serviceCtl('postgres', 'stop');
      // During the outage every call fails fast and typed; nothing reads as missing.
      expect(await codeOf(other.append(doc(outage, 1)))).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(watched.append(doc(before, 3)))).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(watched.getHead(before))).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(watched.ping())).toBe('BACKEND_UNAVAILABLE');
      await until(() => w.errors.length > 0, 'the watch to report the outage', slowly);
    } finally {
      await serviceCtl('postgres', 'start');
    }

    // Right after the restart, from the other path: possibly before the watcher has re-LISTENed.
    await whenBack(() => other.append(doc(afterOther, 1)));
    await whenBack(() => other.append(doc(before, 3)));
    await whenBack(() => watched.append(doc(afterSelf, 1)));
    await whenBack(() => other.append(doc(afterOther, 2)));

    await w.until(
      (events) =>
        events.some((e) => e.key === 'global/restart/before' && e.version === 3) &&
        events.some((e) => e.key === 'app:other/restart/after' && e.version === 2) &&
        events.some((e) => e.key === 'global/restart/after' && e.version === 1),
      30_000,
    );
    expect(await watched.getHead(outage)).toBeUndefined();
    for (const key of ['global/restart/before', 'app:other/restart/after']) {
      const seen = w.events.filter((e) => e.key === key).map((e) => e.version);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
    }
    expect(w.errors.every((e) => isConfigError(e, 'BACKEND_UNAVAILABLE'))).toBe(true);
    await until(async () => (await listenPids(applicationName)).length === 1, 'a new LISTEN connection', slowly);
    w.stop();
  }, 120_000);

  it('re-LISTENs and resyncs when its LISTEN connection is terminated, and survives dropped pool connections', async () => {
    const applicationName = uniqueAppName();
    // No periodic resync during the test: only the reconnect can find the silent change.
    const store = pgStore({ applicationName, resyncIntervalMs: 3_600_000 });
    const ref = parseRef('global/terminated');
    await store.append(doc(ref, 1));
    const w = collect(store);
    await until(async () => (await listenPids(applicationName)).length === 1, 'the LISTEN connection', slowly);
    const [firstPid] = await listenPids(applicationName);

    // A change whose notification is lost: written behind the store's back without NOTIFY.
    await forgeSilentAppend(store.schema, doc(ref, 2));
    await store.ping();
    expect(w.events.map((e) => e.version)).toEqual([]);

    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      `${applicationName}:listen`,
    ]);
    await w.until((events) => events.some((e) => e.version === 2), 20_000);
    await until(
      async () => {
        const pids = await listenPids(applicationName);
        return pids.length === 1 && pids[0] !== firstPid;
      },
      'a new LISTEN connection',
      slowly,
    );
    expect(w.errors.some((e) => isConfigError(e, 'BACKEND_UNAVAILABLE'))).toBe(true);

    // Idle pooled connections dropped by the server: logged by the pool, never an uncaught error.
    await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      applicationName,
    ]);
    await until(
      async () =>
        (
          await adminQuery<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
            [applicationName],
          )
        )[0]?.n === 0,
      'the pooled connections to end',
      slowly,
    );
    await store.append(doc(ref, 3));
    await w.until((events) => events.some((e) => e.version === 3));
    expect(w.events.map((e) => e.version)).toEqual([2, 3]);
    w.stop();
  }, 60_000);

  it('applies the schema once when two processes migrate a fresh schema at the same moment', async () => {
    const schema = freshSchema('race');
    pgStore.schemas.add(schema);
    const child = join(repoRoot, 'test', 'backends', 'migrate-child.ts');
    const children: ChildProcess[] = [];
    try {
      const outputs = [0, 1].map(() => {
        const proc = spawn('npx', ['tsx', '--conditions=source', child, services().databaseUrl, schema], {
          cwd: repoRoot,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        children.push(proc);
        let out = '';
        let err = '';
        proc.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
        });
        proc.stderr?.on('data', (chunk: Buffer) => {
          err += chunk.toString();
        });
        const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
        return { proc, out: () => out, err: () => err, exited };
      });
      await until(
        () => outputs.every((o) => o.out().includes('ready')),
        `both children ready (stderr: ${outputs.map((o) => o.err()).join(' | ')})`,
        { ...slowly, timeoutMs: 60_000 },
      );
      for (const o of outputs) o.proc.stdin?.write('go\n');
      const codes = await Promise.all(outputs.map((o) => o.exited));
      expect(codes, outputs.map((o) => o.err()).join('\n')).toEqual([0, 0]);
      const results = outputs.map(
        (o) => JSON.parse(o.out().trim().split('\n').at(-1) as string) as { applied: number[] },
      );
      const all = Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1);
      // One applied everything, the other found it done.
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, all.length]);
      const rows = await adminQuery<{ version: number }>(
        `SELECT version FROM ${q(schema)}.summit_migrations ORDER BY version`,
      );
      expect(rows.map((r) => r.version)).toEqual(all);
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill();
    }
  }, 120_000);
});
