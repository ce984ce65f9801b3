import { connect, createServer } from 'node:net';
import { appendNext, isConfigError } from '@summit-config/core';
import { rejection, thrown } from '@summit-config/test-support/errors';
import { httpGet, rawHttp } from '@summit-config/test-support/http-client';
import { until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { resolveAgentConfig } from '../src/config.js';
import { HostGuard, isLoopbackHost } from '../src/http-guard.js';
import { memoryTiers, removeTestSnapshots, testConfig } from './helpers.js';

const get = (port: number, path: string, headers: Record<string, string>) => httpGet({ port }, path, headers);
const raw = (port: number, text: string) => rawHttp({ port }, text);

const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(() => removeTestSnapshots());

function makeAgent(raw: Record<string, unknown> = {}) {
  const agent = new Agent({
    config: testConfig({ apps: [{ app: 'billing', environment: 'prod' }], ...raw }),
    stores: memoryTiers().build,
  });
  agents.push(agent);
  return agent;
}

async function startAgent(raw: Record<string, unknown> = {}) {
  const agent = makeAgent(raw);
  await agent.start();
  await appendNext(agent.store, { ref: 'global/database', config: { pool: 5 }, overrides: {}, createdBy: 'test' });
  await until(() => agent.client('billing', 'prod')?.get('database') !== undefined, 'the client to load');
  return { agent, port: agent.address?.port as number };
}

const refused = expect.objectContaining({
  status: 421,
  body: { error: expect.objectContaining({ code: 'ACCESS_DENIED', message: expect.any(String) }) },
});

describe('agent HTTP Host allow-list', () => {
  it('refuses a DNS-rebinding Host on every route, before the route runs, with a JSON error', async () => {
    const { agent, port } = await startAgent();
    for (const path of ['/v1/config/global/database', '/v1/status', '/metrics', '/healthz', '/readyz', '/nothing']) {
      for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io']) {
        expect({ path, host, answer: await get(port, path, { Host: host }) }).toEqual({ path, host, answer: refused });
      }
    }
    const denied = await get(port, '/v1/config/global/database', { Host: 'evil.example' });
    expect((denied.body as { error: { message: string } }).error.message).toMatch(/evil\.example.*http\.allowedHosts/);
    // Refused before the method check too.
    expect(await raw(port, 'POST /v1/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n')).toEqual(
      refused,
    );
    // The refusals are counted like any answer.
    const metrics = await agent.metrics.registry.metrics();
    expect(metrics).toMatch(/summit_agent_http_requests_total\{route="healthz",status="421"\} 4/);
  });

  it('answers the loopback names with or without the bound port, and no other port', async () => {
    const { port } = await startAgent();
    for (const host of ['localhost', '127.0.0.1', '[::1]', 'LOCALHOST', `localhost:${port}`, `127.0.0.1:${port}`]) {
      expect({ host, status: (await get(port, '/healthz', { Host: host })).status }).toEqual({ host, status: 200 });
    }
    const ok = await get(port, '/v1/config/global/database?app=billing', { Host: `[::1]:${port}` });
    expect(ok).toEqual({ status: 200, body: { pool: 5 } });
    for (const host of [`localhost:${port + 1}`, '127.0.0.1:1', '[::1]:80', 'localhost:', '[::2]', 'a@localhost']) {
      expect({ host, answer: await get(port, '/healthz', { Host: host }) }).toEqual({ host, answer: refused });
    }
  });

  it('answers the names of http.allowedHosts (and any Host with "*")', async () => {
    const { port } = await startAgent({
      http: { port: 0, allowedHosts: ['agent.internal', 'Proxy.Example:8443', '[fd00::7]'] },
    });
    for (const host of ['agent.internal', `agent.internal:${port}`, 'proxy.example:8443', '[fd00::7]', 'localhost']) {
      expect({ host, status: (await get(port, '/healthz', { Host: host })).status }).toEqual({ host, status: 200 });
    }
    for (const host of ['agent.internal:9', 'proxy.example', `proxy.example:${port}`, 'evil.example']) {
      expect({ host, answer: await get(port, '/healthz', { Host: host }) }).toEqual({ host, answer: refused });
    }
    const any = await startAgent({ http: { port: 0, allowedHosts: ['*'] } });
    expect((await get(any.port, '/healthz', { Host: 'whatever.example' })).status).toBe(200);
  });

  it('refuses a request without a Host (HTTP/1.0) and one with two', async () => {
    const { port } = await startAgent();
    expect(await raw(port, 'GET /healthz HTTP/1.0\r\n\r\n')).toEqual(refused);
    expect(await raw(port, 'GET /v1/config/global/database?app=billing HTTP/1.0\r\n\r\n')).toEqual(refused);
    expect(await raw(port, 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n')).toEqual({
      status: 200,
      body: { status: 'ok' },
    });
    expect(
      await raw(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n'),
    ).toEqual(refused);
  });

  it('reads the allowed hosts from SUMMIT_AGENT_ALLOWED_HOSTS, over the file, and checks every entry', () => {
    const c = resolveAgentConfig(
      { http: { allowedHosts: ['file.example'] } },
      { SUMMIT_AGENT_ALLOWED_HOSTS: 'a.example, B.example:8080,' },
    );
    expect(c.http.allowedHosts).toEqual(['a.example', 'b.example:8080']);
    expect(resolveAgentConfig({}, {}).http.allowedHosts).toBeUndefined();
    for (const bad of ['http://x', 'a b', 'x:port', '', 7]) {
      const error = thrown(() => resolveAgentConfig({ http: { allowedHosts: [bad] } }, {}));
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      expect((error as Error).message).toMatch(/http\.allowedHosts\[0\]/);
    }
  });

  it('matches Host headers by name and port', () => {
    const guard = new HostGuard('10.0.0.5', ['cfg.example']);
    const hosts = (...values: string[]) => values.flatMap((v) => ['Host', v]);
    expect(guard.refusal(hosts('10.0.0.5:7070'), 7070)).toBeUndefined();
    expect(guard.refusal(hosts('cfg.example'), 7070)).toBeUndefined();
    expect(guard.refusal(hosts('10.0.0.5:7071'), 7070)).toMatch(/not allowed/);
    expect(guard.refusal([], 7070)).toMatch(/Host header is required/);
    expect(guard.refusal(hosts('localhost', 'localhost'), 7070)).toMatch(/exactly one/);
    const wildcard = new HostGuard('0.0.0.0');
    expect(wildcard.refusal(hosts('0.0.0.0:7070'), 7070)).toMatch(/not allowed/);
    expect(new HostGuard('::1').refusal(hosts('[::1]:7070'), 7070)).toBeUndefined();
  });
});

/** A port nothing listens on (bound and released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('agent non-loopback bind', () => {
  it('is refused without a token when the configuration is loaded, saying what to do', () => {
    for (const [http, env] of [
      [{ host: '0.0.0.0' }, {}],
      [{ host: '::' }, {}],
      [{ host: '10.1.2.3' }, {}],
      [{ host: 'agent.example' }, {}],
      [{}, { SUMMIT_AGENT_HOST: '0.0.0.0' }],
    ] as const) {
      const error = thrown(() => resolveAgentConfig({ http }, env));
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      expect((error as Error).message).toMatch(/^agent config: http\.host .*no token.*http\.token.*loopback/);
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect(resolveAgentConfig({ http: { host } }, {}).http.host).toBe(host);
    }
    expect(resolveAgentConfig({ http: { host: '0.0.0.0', token: 't' } }, {}).http.token).toBe('t');
    const fromEnv = resolveAgentConfig({}, { SUMMIT_AGENT_HOST: '0.0.0.0', SUMMIT_AGENT_TOKEN: 'env-token' });
    expect(fromEnv.http).toMatchObject({ host: '0.0.0.0', token: 'env-token' });
    expect(isLoopbackHost('0:0:0:0:0:0:0:1')).toBe(true);
    expect(isLoopbackHost('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });

  it('is refused at start without a token (a typed error, nothing listening), and served with one', async () => {
    const port = await freePort();
    const agent = makeAgent({ http: { port } });
    // A configuration built without the loader (an embedding process) is checked again at start.
    Object.assign(agent.config.http, { host: '0.0.0.0' });
    const error = await rejection(agent.start());
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as Error).message).toMatch(/without a token: set http\.token .* or bind a loopback address/);
    expect(agent.address).toBeUndefined();
    expect(await connects(port)).toBe(false);

    const { port: bound } = await startAgent({ http: { host: '0.0.0.0', port: 0, token: 's3cret' } });
    const auth = { Authorization: 'Bearer s3cret' };
    expect(await get(bound, '/v1/config/global/database?app=billing', { Host: '127.0.0.1', ...auth })).toEqual({
      status: 200,
      body: { pool: 5 },
    });
    expect((await get(bound, '/v1/config/global/database?app=billing', { Host: 'localhost' })).status).toBe(401);
    // The token does not lift the Host check.
    expect(await get(bound, '/v1/config/global/database?app=billing', { Host: 'evil.example', ...auth })).toEqual(
      refused,
    );
  });
});
