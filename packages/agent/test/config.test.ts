import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { checkSchedule, loadAgentConfig, parseAgentConfig, resolveAgentConfig } from '../src/config.js';

const noEnv = {};

const tempDir = tempDirs();

describe('agent config', () => {
  it('fills every default and runs on the embedded store when nothing is configured', () => {
    const c = resolveAgentConfig({}, noEnv);
    expect(c.http).toEqual({
      host: '127.0.0.1',
      port: 7070,
      token: undefined,
      maxWaitMs: 300_000,
      defaultWaitMs: 30_000,
    });
    expect(c.stores.consul).toBeUndefined();
    expect(c.stores.postgres).toBeUndefined();
    expect(c.stores.embedded).toEqual({ dataDir: resolve('./.summit/data') });
    expect(c.apps).toEqual([]);
    expect(c.render).toEqual([]);
    expect(c.drift).toEqual({
      enabled: true,
      intervalMs: 60_000,
      lagThreshold: 0,
      lagGraceMs: 60_000,
      remediate: false,
      concurrency: 16,
    });
    expect(c.reconcile).toEqual({ intervalMs: 60_000 });
    expect(c.leader).toEqual({ name: 'summit-agent', ttlMs: 15_000, lockDelayMs: 15_000 });
    expect(c.snapshotDir).toBe(resolve('./.summit/snapshots'));
    expect(c.instance).toMatch(/-\d+$/);
  });

  it('environment variables switch on the real tiers and win over the file', () => {
    const c = resolveAgentConfig(
      {
        http: { port: 1, token: 'file-token' },
        stores: {
          consul: { address: 'http://file:1', prefix: 'p/' },
          postgres: { url: 'postgres://file/db', schema: 's' },
        },
      },
      {
        CONSUL_HTTP_ADDR: 'http://127.0.0.1:18500',
        CONSUL_HTTP_TOKEN: 'acl',
        DATABASE_URL: 'postgres://u@127.0.0.1:15432/summit',
        SUMMIT_AGENT_TOKEN: 'env-token',
        SUMMIT_AGENT_PORT: '0',
        SUMMIT_SNAPSHOT_DIR: '/tmp/snaps',
      },
    );
    expect(c.stores.consul).toMatchObject({ address: 'http://127.0.0.1:18500', token: 'acl', prefix: 'p/' });
    expect(c.stores.postgres).toEqual({ url: 'postgres://u@127.0.0.1:15432/summit', schema: 's' });
    expect(c.stores.embedded).toBeUndefined();
    expect(c.http.token).toBe('env-token');
    expect(c.http.port).toBe(0);
    expect(c.snapshotDir).toBe('/tmp/snaps');
  });

  it('uses SUMMIT_DATA_DIR for the embedded store, and keeps it beside Consul only when asked', () => {
    expect(resolveAgentConfig({}, { SUMMIT_DATA_DIR: '/tmp/x' }).stores.embedded).toEqual({ dataDir: '/tmp/x' });
    const consulOnly = resolveAgentConfig({}, { CONSUL_HTTP_ADDR: 'http://127.0.0.1:1' });
    expect(consulOnly.stores.embedded).toBeUndefined();
    const both = resolveAgentConfig({ stores: { embedded: {} } }, { CONSUL_HTTP_ADDR: 'http://127.0.0.1:1' });
    expect(both.stores.embedded?.dataDir).toBe(resolve('./.summit/data'));
  });

  it.each([
    [{ http: { port: 70000 } }, /http\.port must be an integer from 0 to 65535, got 70000/],
    [{ http: { prot: 1 } }, /http\.prot is not a known field/],
    [{ colour: 'blue' }, /colour is not a known field/],
    [{ stores: { consul: {} } }, /stores\.consul\.address is required/],
    [{ stores: { consul: { address: 'x', prefix: 'nope' } } }, /stores\.consul\.prefix must be path segments/],
    [{ stores: { postgres: { url: 'mysql://x' } } }, /stores\.postgres\.url must be a postgres:\/\/ URL/],
    [{ apps: [{ app: 'billing' }] }, /apps\[0\]\.environment is required/],
    [{ apps: [{ app: 'a/b', environment: 'prod' }] }, /apps\[0\]\.app must be one segment/],
    [{ apps: [{ app: 'billing', environment: 'bad env' }] }, /apps\[0\]\.environment is invalid/],
    [
      {
        apps: [
          { app: 'x', environment: 'a' },
          { app: 'x', environment: 'b' },
        ],
      },
      /apps\[1\]\.app "x" is listed twice/,
    ],
    [
      {
        apps: [
          {
            app: 'x',
            environment: 'a',
            environments: [
              { name: 'a', parent: 'b' },
              { name: 'b', parent: 'a' },
            ],
          },
        ],
      },
      /apps\[0\]\.environments is invalid: environment parents loop/,
    ],
    [{ render: [{ app: 'x', id: 'db', path: '/tmp/a.json' }] }, /render\[0\]\.environment is required/],
    [{ render: [{ app: 'x', id: 'db', environment: 'p', path: '/tmp/a.txt' }] }, /render\[0\]\.format is required/],
    [
      { render: [{ app: 'x', id: 'db', environment: 'p', path: '/tmp/a.txt', format: 'toml' }] },
      /render\[0\]\.format must be json, yaml or env, got "toml"/,
    ],
    [{ render: [{ app: 'x', id: '../db', environment: 'p', path: '/tmp/a.json' }] }, /render\[0\]\.id is invalid/],
    [{ drift: { intervalMs: 5 } }, /drift\.intervalMs must be an integer from 100/],
    [{ drift: { remediate: 'yes' } }, /drift\.remediate must be true or false/],
    [{ reconcile: { intervalMs: 50 } }, /reconcile\.intervalMs must be 0 \(off\) or at least 100/],
    [{ leader: { ttlMs: 5000 } }, /leader\.ttlMs must be an integer from 10000/],
    [{ leader: { name: '../x' } }, /leader\.name must be path segments/],
    [{ http: { token: 'a b' } }, /http\.token must not contain whitespace/],
    [{ apps: 'billing' }, /apps must be a list/],
  ])('names the bad field: %j', (raw, message) => {
    let caught: unknown;
    try {
      resolveAgentConfig(raw, noEnv);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect((caught as Error).message).toMatch(message);
  });

  it('serves every rendered (app, environment) and infers formats from extensions', () => {
    const c = resolveAgentConfig(
      {
        apps: [{ app: 'billing', environment: 'prod', environments: [{ name: 'prod-eu', parent: 'prod' }] }],
        render: [
          { app: 'billing', id: 'database', path: '/tmp/r/db.yaml', reloadCommand: 'true' },
          { app: 'billing', id: 'database', environment: 'staging', path: '/tmp/r/db.env' },
          { app: 'search', id: 'index', environment: 'dev', path: '/tmp/r/index.json', mode: '0640' },
        ],
      },
      noEnv,
    );
    expect(c.render.map((r) => [r.format, r.environment, r.debounceMs, r.mode])).toEqual([
      ['yaml', 'prod', 500, 0o600],
      ['env', 'staging', 500, 0o600],
      ['json', 'dev', 500, 0o640],
    ]);
    const billing = c.apps.find((a) => a.app === 'billing');
    expect(billing?.environments.sort()).toEqual(['prod', 'prod-eu', 'staging']);
    expect(billing?.definitions.find((d) => d.name === 'prod-eu')).toEqual({
      name: 'prod-eu',
      parent: 'prod',
      production: false,
    });
    expect(c.apps.find((a) => a.app === 'search')).toMatchObject({ environment: 'dev', environments: ['dev'] });
  });

  it('parses YAML, and reports a syntax error or a missing file with a code', async () => {
    const c = parseAgentConfig('http:\n  port: 0\napps:\n  - app: billing\n    environment: prod\n', noEnv);
    expect(c.http.port).toBe(0);
    expect(() => parseAgentConfig('http: [unclosed', noEnv)).toThrow(/not valid YAML/);
    expect(() => parseAgentConfig('a: 1\na: 2\n', noEnv)).toThrow(
      expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
    );
    const dir = await tempDir('agent-config-');
    await expect(loadAgentConfig(join(dir, 'missing.yaml'), noEnv)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await writeFile(join(dir, 'a.yaml'), 'drift:\n  intervalMs: nope\n');
    await expect(loadAgentConfig(join(dir, 'a.yaml'), noEnv)).rejects.toThrow(/drift\.intervalMs/);
  });

  it('checks leader job schedules', () => {
    expect(checkSchedule(1000, 'job')).toBe(1000);
    expect(checkSchedule('*/5 * * * *', 'job')).toBe('*/5 * * * *');
    expect(() => checkSchedule(1, 'job')).toThrow(/at least 10 ms/);
    expect(() => checkSchedule('every day', 'job')).toThrow(/cron expression/);
  });
});
