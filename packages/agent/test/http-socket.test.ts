/**
 * The agent on a Unix socket (`http.socket`), in process over memory tiers: served without a Host
 * check, mode 0600 (or `socketMode`), a stale socket file replaced, a live one or a regular file
 * left alone, the file removed at close.
 */
import { existsSync } from 'node:fs';
import { link, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { appendNext, isConfigError } from '@summit-config/core';
import { rejection } from '@summit-config/test-support/errors';
import { httpGet, rawHttp } from '@summit-config/test-support/http-client';
import { tempDirs } from '@summit-config/test-support/temp';
import { until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { resolveAgentConfig } from '../src/config.js';
import { memoryTiers, removeTestSnapshots, testConfig } from './helpers.js';

const get = (socketPath: string, path: string, headers: Record<string, string> = {}) =>
  httpGet({ socketPath }, path, headers);
const raw = (socketPath: string, text: string) => rawHttp({ socketPath }, text);

const tempDir = tempDirs();
const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(() => removeTestSnapshots());

function makeAgent(http: Record<string, unknown>) {
  const agent = new Agent({
    config: testConfig({ apps: [{ app: 'billing', environment: 'prod' }], http }),
    stores: memoryTiers().build,
  });
  agents.push(agent);
  return agent;
}

/** A socket file that nobody listens on, as a crashed agent leaves it. */
async function staleSocket(path: string): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  await link(path, `${path}.keep`); // closing the server unlinks `path`, not the second name
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rename(`${path}.keep`, path);
}

describe('agent on a Unix socket', () => {
  it('serves /v1/config and /healthz over the socket, mode 0600, with no Host check, and removes it at close', async () => {
    const socketPath = join(await tempDir(), 'agent.sock');
    const agent = makeAgent({ socket: socketPath });
    await agent.start();
    expect((await stat(socketPath)).isSocket()).toBe(true);
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect(agent.address).toEqual({ host: socketPath, port: 0 });

    await appendNext(agent.store, { ref: 'global/database', config: { pool: 5 }, overrides: {}, createdBy: 'test' });
    await until(() => agent.client('billing', 'prod')?.get('database') !== undefined, 'the client to load');
    expect(await get(socketPath, '/v1/config/global/database?app=billing')).toEqual({ status: 200, body: { pool: 5 } });
    expect(await get(socketPath, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    // Any Host, or none at all: the file's permissions guard the socket.
    expect((await get(socketPath, '/healthz', { Host: 'evil.example' })).status).toBe(200);
    expect(await raw(socketPath, 'GET /v1/config/global/database?app=billing HTTP/1.0\r\n\r\n')).toEqual({
      status: 200,
      body: { pool: 5 },
    });
    expect(agent.status().http).toMatchObject({ host: socketPath, port: 0 });

    await agent.close();
    expect(existsSync(socketPath)).toBe(false);
  });

  it('replaces a stale socket file, sets socketMode, and needs no token (nothing on TCP)', async () => {
    const socketPath = join(await tempDir(), 'agent.sock');
    await staleSocket(socketPath);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    // The host is ignored with a socket, so a wildcard host needs no token there.
    const agent = makeAgent({ socket: socketPath, socketMode: '0660', host: '0.0.0.0' });
    await agent.start();
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
    expect((await get(socketPath, '/healthz')).status).toBe(200);
  });

  it('leaves a socket another process listens on, and a regular file, alone', async () => {
    const dir = await tempDir();
    const live = join(dir, 'live.sock');
    const other = createServer((s) => s.end());
    await new Promise<void>((resolve) => other.listen(live, resolve));
    try {
      const error = await rejection(makeAgent({ socket: live }).start());
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      expect((error as Error).message).toMatch(/in use by a running process/);
      expect(existsSync(live)).toBe(true);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }

    const file = join(dir, 'notes.txt');
    await writeFile(file, 'keep me');
    const error = await rejection(makeAgent({ socket: file }).start());
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as Error).message).toMatch(/is not a socket; refusing to replace it/);
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  it('reads the socket from SUMMIT_AGENT_SOCKET and checks socketMode', () => {
    const c = resolveAgentConfig({}, { SUMMIT_AGENT_SOCKET: '/run/summit/agent.sock' });
    expect(c.http.socket).toEqual({ path: '/run/summit/agent.sock', mode: 0o600 });
    expect(resolveAgentConfig({ http: { socket: '/tmp/a.sock', socketMode: 0o640 } }, {}).http.socket?.mode).toBe(
      0o640,
    );
    expect(() => resolveAgentConfig({ http: { socketMode: '0600' } }, {})).toThrow(
      /http\.socketMode needs http\.socket/,
    );
    expect(() => resolveAgentConfig({ http: { socket: '/tmp/a.sock', socketMode: '0400' } }, {})).toThrow(
      /http\.socketMode must let the owner read and write/,
    );
  });
});
