/**
 * A real agent process whose leader rotates secrets on every configured provider (local on
 * PostgreSQL; aws, gcp, azure through their SDKs against the wire fakes; vault with AppRole and
 * with a token against Vault's fake) from its node-cron
 * schedule (`secrets.schedule`, every second), each policy due on its own 5-field cron. The
 * secrets and policies are made by real `summit-config secret create` processes. Checked over
 * what the providers hold: a new current version, the old one still readable as `previous`
 * during the one-day grace period, and no value in the agent's log or the CLI's output.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { offlineClouds } from '@summit-config/test-support/fakes/clouds';
import { repoRoot, services } from '@summit-config/test-support/services';
import { afterAll, describe, expect, it } from 'vitest';
import { type Harness, MASTER_KEY, realHarness } from '../../packages/agent/test/cli-harness.js';
import { killAllAgents, startAgentProcess, until } from '../agent/agent-process.js';
import { CLOUD_PROVIDERS, type ProviderFakes, startProviderFakes } from './provider-fakes.js';

let h: Harness;
let fakes: ProviderFakes;

offlineClouds(async () => {
  h = await realHarness('agentrotations');
  fakes = await startProviderFakes(h.dir);
  return [fakes, { close: () => h.cleanup() }];
});
afterAll(() => killAllAgents());

const PROVIDERS = ['local', ...CLOUD_PROVIDERS];

function cli(args: string[], stdin: string, configFile: string) {
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/tsx'),
    ['--conditions=source', join(repoRoot, 'packages/agent/src/cli.ts'), ...args],
    {
      cwd: repoRoot,
      env: { ...h.env, ...fakes.env, SUMMIT_ACTOR: 'carol', SUMMIT_AGENT_CONFIG: configFile },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(stdin);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('the leader rotates secrets on every provider on its node-cron schedule', () => {
  it('rotates each due secret once; the old version stays readable through the grace period; no value is logged', async () => {
    const { consulAddr, databaseUrl } = services();
    const config = {
      instance: `rotator-${randomBytes(3).toString('hex')}`,
      http: { port: 0 },
      stores: { consul: { address: consulAddr, prefix: h.prefix }, postgres: { url: databaseUrl, schema: h.schema } },
      drift: { enabled: false },
      reconcile: { intervalMs: 0 },
      leader: { name: 'rotators', ttlMs: 10_000, lockDelayMs: 0 },
      jobs: { scheduledAppliesMs: 0, rolloutStepsMs: 0, auditCheckpointsMs: 0 },
      snapshotDir: join(tmpdir(), `summit-rotations-${randomBytes(3).toString('hex')}`),
      secrets: { schedule: '* * * * * *', providers: fakes.providersConfig() },
    };
    const configFile = join(h.dir, 'agent.yaml');
    await writeFile(configFile, JSON.stringify(config, null, 2));

    // One secret per provider, each due at the next minute (`* * * * *`), grace one day.
    const secrets = new Map<string, { name: string; first: string; version: string }>();
    const outputs: string[] = [];
    for (const provider of PROVIDERS) {
      const name = `rot-${provider}-${randomBytes(3).toString('hex')}`;
      const first = `initial-${randomBytes(12).toString('hex')}`;
      const r = await cli(
        ['secret', 'create', name, '--provider', provider, '--cron', '* * * * *', '--grace-days', '1', '--json'],
        first,
        configFile,
      );
      outputs.push(r.stdout, r.stderr);
      expect(r.code, r.stderr).toBe(0);
      secrets.set(provider, { name, first, version: JSON.parse(r.stdout).version });
    }

    const agent = await startAgentProcess({
      label: 'rotations',
      config,
      env: { ...h.env, ...fakes.env, SUMMIT_AGENT_CONFIG: undefined },
    });
    const on = await agent.waitForLog((l) => l.msg === 'secret rotations on', 'rotations on', 60_000);
    expect(on).toMatchObject({
      providers: ['aws', 'gcp', 'azure', 'vault', 'vault-token', 'local'],
      schedule: '* * * * * *',
    });

    const local = { databaseUrl, schema: h.schema, masterKey: MASTER_KEY };
    const inspectors = new Map(PROVIDERS.map((p) => [p, fakes.inspect(p, local)]));
    try {
      // The policies fall due at the next whole minute; the every-second job then rotates them.
      await until(
        async () => {
          for (const [provider, s] of secrets) {
            const current = await (inspectors.get(provider) as NonNullable<ReturnType<typeof inspectors.get>>).read(
              s.name,
            );
            if (current.version === s.version) return false;
          }
          return true;
        },
        'a scheduled rotation of every secret',
        150_000,
      );
      const newValues: string[] = [];
      for (const [provider, s] of secrets) {
        const p = inspectors.get(provider) as NonNullable<ReturnType<typeof inspectors.get>>;
        const current = await p.read(s.name);
        newValues.push(current.value);
        expect(current.value).not.toBe(s.first);
        // Grace: the version that was current is still readable, as previous and by its id.
        expect(await p.read(s.name, 'previous')).toMatchObject({ version: s.version, value: s.first });
        expect((await p.read(s.name, { version: s.version })).value).toBe(s.first);
        const versions = await p.listVersions(s.name);
        expect(versions.find((v) => v.version === s.version)).toMatchObject({ stage: 'previous', state: 'enabled' });
      }
      // The policies show the run waiting out its grace period, a day from now.
      const listed = await cli(['secret', 'list', '--provider', 'aws', '--json'], '', configFile);
      outputs.push(listed.stdout, listed.stderr);
      type Row = { name: string; rotation?: { state: string; run?: { graceUntil?: string } } };
      const row = (JSON.parse(listed.stdout) as Row[]).find((r) => r.name === secrets.get('aws')?.name);
      expect(row?.rotation?.state).toBe('rotating');
      expect(Date.parse(row?.rotation?.run?.graceUntil ?? '')).toBeGreaterThan(Date.now() + 23 * 3_600_000);
      // Exactly one rotation per secret: each leader tick found it no longer due.
      for (const [provider, s] of secrets) {
        const p = inspectors.get(provider) as NonNullable<ReturnType<typeof inspectors.get>>;
        const live = (await p.listVersions(s.name)).filter((v) => v.state === 'enabled');
        expect(live.map((v) => v.stage).sort()).toEqual(['current', 'previous']);
      }
      const everything = [agent.output(), ...outputs].join('\n');
      for (const v of [...[...secrets.values()].map((s) => s.first), ...newValues]) {
        expect(everything.includes(v)).toBe(false);
      }
    } finally {
      for (const p of inspectors.values()) await p.close();
      agent.kill();
    }
  }, 300_000);

  it('refuses to start with a bad provider option, naming the field', async () => {
    const providers = fakes.providersConfig();
    const refused = await startAgentProcess({
      label: 'bad-secrets',
      config: {
        http: { port: 0 },
        stores: { embedded: { dataDir: join(h.dir, 'bad-data') } },
        secrets: { providers: { ...providers, azure: { ...providers.azure, vaultUrl: 'http://plain.example' } } },
      },
      env: { ...fakes.env, SUMMIT_AGENT_CONFIG: undefined, DATABASE_URL: undefined, CONSUL_HTTP_ADDR: undefined },
    }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toMatch(/exited \(2\) before agent listening/);
    expect(refused?.message).toMatch(/CONSTRAINT_VIOLATION/);
    expect(refused?.message).toMatch(/secrets\.providers\.azure\.vaultUrl must be an https URL/);
  }, 120_000);

  it('an unset credential variable turns the rotations off with an error naming it; the agent serves on', async () => {
    const agent = await startAgentProcess({
      label: 'no-token',
      config: {
        http: { port: 0 },
        stores: { embedded: { dataDir: join(h.dir, 'no-token-data') } },
        secrets: { schedule: '* * * * * *', providers: fakes.providersConfig() },
      },
      env: {
        ...fakes.env,
        GCP_ACCESS_TOKEN: undefined,
        SUMMIT_AGENT_CONFIG: undefined,
        DATABASE_URL: undefined,
        CONSUL_HTTP_ADDR: undefined,
      },
    });
    try {
      const off = await agent.waitForLog(
        (l) => l.msg === 'secret rotations off: a secret provider could not be built',
        'rotations off',
      );
      expect(off).toMatchObject({ level: 'error', err: { code: 'MISSING_REQUIRED' } });
      expect(JSON.stringify(off.err)).toMatch(/gcp\.accessTokenEnv names the environment variable GCP_ACCESS_TOKEN/);
      expect(agent.logs.some((l) => l.msg === 'secret rotations on')).toBe(false);
      expect((await fetch(`${agent.base}/healthz`)).status).toBe(200);
      // No credential the others use reaches the log either.
      for (const v of [
        fakes.env.AWS_SECRET_ACCESS_KEY,
        fakes.env.AZURE_ACCESS_TOKEN,
        fakes.env.SUMMIT_TEST_VAULT_TOKEN,
      ]) {
        expect(agent.output().includes(v as string)).toBe(false);
      }
    } finally {
      agent.kill();
    }
  }, 120_000);
});
