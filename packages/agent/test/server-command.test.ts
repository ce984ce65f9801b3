/**
 * `summit-config server` as a process, and its `server` section: loopback by default, a public
 * address refused without TLS (or the explicit flag), HTTPS from certificate and key files (a
 * self-signed certificate from test-support), the admin token written once with mode 0600 on the
 * embedded default, and bad sections refused with a typed error naming the field.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConfigError } from '@summit-config/core';
import { selfSignedCertificate } from '@summit-config/test-support/fakes/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, startProvider } from '../../server/test/oidc/provider.js';
import { serverSection } from '../src/config-server.js';
import { startServerProcess } from './server-process.js';

let dir = '';
const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv) {
  const s = startServerProcess(args, { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, ...env } });
  children.push(s.child);
  return s;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summit-server-cmd-'));
  // A self-signed certificate for 127.0.0.1 (the key file owner-only, as the server requires).
  const { cert, key } = await selfSignedCertificate();
  await writeFile(join(dir, 'cert.pem'), cert);
  await writeFile(join(dir, 'key.pem'), key, { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('the server section', () => {
  const refused = (raw: unknown, env: NodeJS.ProcessEnv = {}) => {
    try {
      serverSection(raw, env, undefined, true);
    } catch (error) {
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      return (error as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(raw)}`);
  };

  it('binds loopback by default and refuses a public address without TLS or the explicit flag', () => {
    expect(serverSection(undefined, {}, undefined, true)).toMatchObject({ host: '127.0.0.1', port: 7080 });
    expect(refused({ host: '0.0.0.0' })).toMatch(/server\.host .*not a loopback address, and no TLS/);
    expect(refused({}, { SUMMIT_SERVER_HOST: '10.1.2.3' })).toMatch(/server\.host/);
    expect(serverSection({ host: '0.0.0.0', allowInsecurePublic: true }, {}, undefined, true)?.host).toBe('0.0.0.0');
    expect(
      serverSection({ host: '0.0.0.0', tls: { certFile: 'c.pem', keyFile: 'k.pem' } }, {}, undefined, true)?.tls,
    ).toMatchObject({ certFile: expect.stringMatching(/c\.pem$/) });
  });

  it('names the field of every bad value', () => {
    expect(refused({ tls: { certFile: 'c.pem' } })).toMatch(/server\.tls needs both/);
    expect(refused({ port: 70000 })).toMatch(/server\.port/);
    expect(refused({ hots: 'x' })).toMatch(/server\.hots is not a known field/);
    expect(refused({ oidc: { issuer: 'https://idp' } })).toMatch(/server\.oidc\.audience/);
    expect(refused({ oidc: { issuer: 'https://idp', audience: 'a', roleMapping: [{ claim: 'g' }] } })).toMatch(
      /roleMapping\[0\]\.roles/,
    );
    expect(refused({ rateLimitPerSecond: -1 })).toMatch(/server\.rateLimitPerSecond/);
  });

  it('reads the console sign-in fields of server.oidc, the client secret from the environment', () => {
    const oidc = { issuer: 'https://idp.example.com', audience: 'summit' };
    const login = { clientId: 'console', redirectUri: 'https://cfg.example.com/api/v1/session/oidc/callback' };
    const section = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
      serverSection({ oidc: { ...oidc, ...extra } }, env, undefined, true)?.oidc;
    expect(section({})?.login).toBeUndefined();
    expect(section(login, { SUMMIT_OIDC_CLIENT_SECRET: 's3cret' })?.login).toEqual({
      ...login,
      clientSecret: 's3cret',
    });
    expect(
      section(
        { clientId: 'console', clientSecretEnv: 'IDP_SECRET', scopes: ['openid', 'config'], providerName: 'Ops SSO' },
        { IDP_SECRET: 'other' },
      )?.login,
    ).toEqual({ clientId: 'console', clientSecret: 'other', scopes: ['openid', 'config'], name: 'Ops SSO' });
    const bad = (extra: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
      refused({ oidc: { ...oidc, ...extra } }, env);
    expect(bad({ redirectUri: login.redirectUri })).toMatch(
      /server\.oidc\.clientId is required with server\.oidc\.redirectUri/,
    );
    expect(bad({ clientId: 'c', clientSecretEnv: 'UNSET_SECRET' })).toMatch(
      /server\.oidc\.clientSecretEnv names UNSET_SECRET/,
    );
    expect(bad({ clientId: 'c', clientSecretEnv: 'not a name' })).toMatch(/server\.oidc\.clientSecretEnv/);
    expect(bad({ clientId: 'c', redirectUri: 'https://cfg.example.com/callback' })).toMatch(
      /server\.oidc\.redirectUri/,
    );
    expect(bad({ clientId: 'c', scopes: ['profile'] })).toMatch(/server\.oidc\.scopes must include openid/);
    expect(bad({ clientId: 'c', authorizationParams: { resource: 1 } })).toMatch(/authorizationParams\.resource/);
    expect(bad({ clientId: 'c', clientSecret: 'inline' })).toMatch(/server\.oidc\.clientSecret is not a known field/);
  });
});

describe('summit-config server', () => {
  it('refuses to start on a public address without TLS: exit code 2, nothing listening', async () => {
    const s = start(['--host', '0.0.0.0', '--port', '0'], { SUMMIT_DATA_DIR: join(dir, 'refused', 'data') });
    expect(await s.exited).toBe(2);
    expect(s.output()).toMatch(/"code":"CONSTRAINT_VIOLATION".*not a loopback address, and no TLS/);
  }, 60_000);

  it('serves HTTPS from certificate files, writes the admin token once (0600), and keeps it on restart', async () => {
    const env = { SUMMIT_DATA_DIR: join(dir, 'tls', 'data') };
    const args = ['--port', '0', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')];
    const first = start(args, env);
    const up = await first.listening();
    expect(up.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(up.adminTokenCreated).toBe(true);
    const tokenFile = join(dir, 'tls', 'admin-token');
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    const ca = await readFile(join(dir, 'cert.pem'));
    const get = (path: string, bearer?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${up.url}${path}`,
          { agent: new Agent({ ca }), headers: bearer ? { authorization: `Bearer ${bearer}` } : {} },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const who = await get('/api/v1/whoami', token);
    expect(who.status).toBe(200);
    expect(JSON.parse(who.body)).toMatchObject({ roles: ['config-admin', 'secrets-admin', 'embedded-admin'] });
    expect((await get('/api/v1/whoami')).status).toBe(401);
    // Plain HTTP to the TLS port is not served.
    await expect(fetch(up.url.replace('https:', 'http:'))).rejects.toThrow();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // A second start keeps the file and the token in it.
    const second = start(args, env);
    const again = await second.listening();
    expect(again.adminTokenCreated).toBe(false);
    expect((await readFile(tokenFile, 'utf8')).trim()).toBe(token);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000);

  it('accepts OIDC bearer tokens of the provider its server section names (keys found by discovery)', async () => {
    const provider = await startProvider();
    try {
      const config = join(dir, 'oidc.yaml');
      await writeFile(
        config,
        [
          'server:',
          '  port: 0',
          '  oidc:',
          `    issuer: ${provider.issuer}`,
          `    audience: ${AUDIENCE}`,
          '    roleMapping:',
          '      - claim: groups',
          '        roles:',
          "          cfg-admins: ['config-admin']",
          '    clientId: summit-console',
          '    providerName: Test IdP',
          '',
        ].join('\n'),
      );
      const s = start(['--config', config], {
        SUMMIT_DATA_DIR: join(dir, 'oidc', 'data'),
        SUMMIT_OIDC_CLIENT_SECRET: 'console-secret',
      });
      const up = await s.listening();
      // The console's sign-in is offered, and starts at the provider with the configured client.
      expect(await (await fetch(`${up.url}/api/v1/session/oidc/config`)).json()).toMatchObject({
        enabled: true,
        name: 'Test IdP',
      });
      const signIn = await fetch(`${up.url}/api/v1/session/oidc`, { redirect: 'manual' });
      expect(signIn.status).toBe(303);
      const at = new URL(signIn.headers.get('location') as string);
      expect(`${at.origin}|${at.searchParams.get('client_id')}|${at.searchParams.get('redirect_uri')}`).toBe(
        `${provider.issuer}|summit-console|${up.url}/api/v1/session/oidc/callback`,
      );
      const jwt = await provider.accessToken();
      const who = await fetch(`${up.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${jwt}` } });
      expect(who.status).toBe(200);
      expect(await who.json()).toMatchObject({ method: 'oidc', roles: ['config-admin'] });
      const written = await fetch(`${up.url}/api/v1/configs/global/from-oidc`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({ config: { ok: true } }),
      });
      expect(written.status).toBe(201);
      // A tampered token is refused (the server tests cover every forgery; this one checks the wiring).
      const tampered = `${jwt.slice(0, -4)}${jwt.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
      const refused = await fetch(`${up.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${tampered}` } });
      expect(refused.status).toBe(401);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      await provider.close();
    }
  }, 120_000);
});
