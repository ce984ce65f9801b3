/**
 * The agent's HTTP edges as an operator meets them, with the agent as a real process on the embedded
 * store: a non-loopback bind without a token stops it before it listens, with the fix in the
 * message; with a token it serves, but not to a foreign Host; on `http.socket` it serves through the
 * Unix socket (mode 0600) and removes the file when it stops.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet as get } from '@summit-config/test-support/http-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAllAgents, startAgentProcess, uniqueSuffix, until } from './agent-process.js';

const dirs: string[] = [];
afterEach(() => killAllAgents());
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'summit-http-edges-'));
  dirs.push(dir);
  return dir;
}

/** The environment of a bare machine: no real stores, no agent settings from outside. */
const bare = {
  CONSUL_HTTP_ADDR: undefined,
  DATABASE_URL: undefined,
  SUMMIT_AGENT_HOST: undefined,
  SUMMIT_AGENT_PORT: undefined,
  SUMMIT_AGENT_TOKEN: undefined,
  SUMMIT_AGENT_SOCKET: undefined,
  SUMMIT_AGENT_ALLOWED_HOSTS: undefined,
};

function agentConfig(dir: string, http: Record<string, unknown>) {
  return {
    http,
    stores: { embedded: { dataDir: join(dir, 'data') } },
    snapshotDir: join(dir, 'snapshots'),
    apps: [{ app: 'billing', environment: 'prod' }],
    drift: { enabled: false },
    reconcile: { intervalMs: 0 },
  };
}

describe('agent process HTTP edges', () => {
  it('refuses 0.0.0.0 without a token, saying to set one or bind loopback, and serves with a token', async () => {
    const dir = await tempDir();
    const refused = await startAgentProcess({
      label: `open-${uniqueSuffix()}`,
      config: agentConfig(dir, { host: '0.0.0.0', port: 0 }),
      env: bare,
    }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toMatch(/exited \(\d+\) before agent listening/);
    expect(refused?.message).toMatch(/CONSTRAINT_VIOLATION|http\.host/);
    expect(refused?.message).toMatch(/Set http\.token \(SUMMIT_AGENT_TOKEN\) or bind a loopback address/);

    const agent = await startAgentProcess({
      label: `token-${uniqueSuffix()}`,
      config: agentConfig(dir, { host: '0.0.0.0', port: 0 }),
      env: { ...bare, SUMMIT_AGENT_TOKEN: 's3cret' },
    });
    const auth = { Authorization: 'Bearer s3cret' };
    expect(await get(agent, '/healthz', { Host: `localhost:${agent.port}` })).toEqual({
      status: 200,
      body: { status: 'ok' },
    });
    expect((await get(agent, '/v1/status', { Host: '127.0.0.1', ...auth })).status).toBe(200);
    const rebound = await get(agent, '/v1/status', { Host: 'evil.example', ...auth });
    expect(rebound).toEqual({ status: 421, body: { error: expect.objectContaining({ code: 'ACCESS_DENIED' }) } });
    agent.signal('SIGTERM');
    expect((await agent.exited).code).toBe(0);
  }, 120_000);

  it('serves on a Unix socket with mode 0600 and removes it when it stops', async () => {
    const dir = await tempDir();
    const socketPath = join(dir, 'agent.sock');
    const agent = await startAgentProcess({
      label: `socket-${uniqueSuffix()}`,
      config: agentConfig(dir, { socket: socketPath }),
      env: bare,
    });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect(await get({ socketPath }, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    await until(async () => (await get({ socketPath }, '/readyz')).status === 200, 'ready');
    const missing = await get({ socketPath }, '/v1/config/global/database?app=billing', { Host: 'anything.example' });
    expect(missing).toEqual({ status: 404, body: { error: expect.objectContaining({ code: 'NOT_FOUND' }) } });
    agent.signal('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
  }, 120_000);
});
