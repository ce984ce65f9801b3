/**
 * The agent on a bare machine: no CONSUL_HTTP_ADDR, no DATABASE_URL. It runs on PGlite in
 * SUMMIT_DATA_DIR plus the memory cache, serves what is stored there, answers its probes, and stops
 * on SIGTERM with exit code 0 within 2 s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteStore } from '@summit-config/backends/pglite';
import { appendNext } from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllAgents, startAgentProcess } from './agent-process.js';

const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('agent process on the embedded default', () => {
  it('serves a config stored beforehand in the PGlite directory, answers /healthz and /readyz, stops on SIGTERM', async () => {
    const root = await mkdtemp(join(tmpdir(), 'summit-agent-embedded-'));
    dirs.push(root);
    const dataDir = join(root, 'data');
    // PGlite allows one process per directory: write, close, then start the agent on it.
    const seed = createPgliteStore({ dataDir });
    await appendNext(seed, {
      ref: 'global/database',
      config: { host: 'db', port: 5432 },
      overrides: { prod: { host: 'db-prod' } },
      createdBy: 'test',
    });
    await appendNext(seed, { ref: 'app:billing/database', config: { pool: 10 }, createdBy: 'test' });
    await seed.close();

    const agent = await startAgentProcess({
      label: 'embedded',
      config: {
        http: { port: 0 },
        apps: [{ app: 'billing', environment: 'prod' }],
        snapshotDir: join(root, 'snapshots'),
      },
      env: { CONSUL_HTTP_ADDR: undefined, DATABASE_URL: undefined, SUMMIT_DATA_DIR: dataDir },
    });
    expect(agent.logs.find((l) => l.msg === 'stores ready')).toMatchObject({
      tiers: ['pglite', 'cache'],
      embedded: true,
    });

    expect(await (await fetch(`${agent.base}/healthz`)).json()).toEqual({ status: 'ok' });
    await agent.waitForLog((l) => l.msg === 'client ready', 'the client to load');
    const ready = await fetch(`${agent.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, stores: { serving: 'pglite' } });

    const res = await fetch(`${agent.base}/v1/config/app:billing/database`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ host: 'db-prod', port: 5432, pool: 10 });
    expect(res.headers.get('x-summit-source')).toBe('pglite');

    // A single embedded agent leads itself.
    const status = (await (await fetch(`${agent.base}/v1/status`)).json()) as { leader: unknown };
    expect(status.leader).toEqual({ leading: true, kind: 'local', fencingToken: 1 });

    agent.signal('SIGTERM');
    const tookMs = await agent.waitForPidExit(10_000);
    const exit = await agent.exited;
    expect(exit.code).toBe(0);
    expect(tookMs).toBeLessThan(2000);
    expect(agent.logs.find((l) => l.msg === 'agent stopped')).toMatchObject({
      code: 0,
      signal: 'SIGTERM',
      forced: false,
    });
  }, 180_000);

  it('refuses to start with an invalid configuration: exit code 2 and a log line naming the field', async () => {
    await expect(
      startAgentProcess({
        label: 'bad-config',
        config: { http: { port: 'seventy' } },
        env: { CONSUL_HTTP_ADDR: undefined, DATABASE_URL: undefined },
        startTimeoutMs: 60_000,
      }),
    ).rejects.toThrow(/exited \(2\) before agent listening[\s\S]*http\.port must be an integer/);
  }, 120_000);
});
