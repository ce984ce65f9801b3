/**
 * `summit-config secret create|list|rotate|policy --provider <name>` as real processes, one table
 * row per provider: local (PostgreSQL), aws, gcp, azure through their real SDKs against the wire
 * fakes, and vault (AppRole in a namespace on mount kv) and vault-token (a token) against Vault's fake, configured only by the agent config's `secrets.providers` and the SDKs' standard
 * credential sources (environment variables). Checked over what the providers hold afterwards, and
 * that no value reaches stdout or stderr.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { offlineClouds } from '@summit-config/test-support/fakes/clouds';
import { repoRoot, services } from '@summit-config/test-support/services';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Harness, MASTER_KEY, realHarness } from '../../packages/agent/test/cli-harness.js';
import { CLOUD_PROVIDERS, type ProviderFakes, startProviderFakes } from './provider-fakes.js';

let h: Harness;
let fakes: ProviderFakes;
let configFile: string;

offlineClouds(async () => {
  h = await realHarness('secretproviders');
  fakes = await startProviderFakes(h.dir);
  configFile = join(h.dir, 'agent.yaml');
  await writeFile(configFile, JSON.stringify({ secrets: { providers: fakes.providersConfig() } }, null, 2));
  return [fakes, { close: () => h.cleanup() }];
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One `summit-config` process as carol (secrets-admin) with the agent config file. */
function cli(args: string[], options: { stdin?: string; config?: string; env?: Record<string, string> } = {}) {
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/tsx'),
    ['--conditions=source', join(repoRoot, 'packages/agent/src/cli.ts'), ...args],
    {
      cwd: repoRoot,
      env: {
        ...h.env,
        ...fakes.env,
        SUMMIT_ACTOR: 'carol',
        SUMMIT_AGENT_CONFIG: options.config ?? configFile,
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(options.stdin ?? '');
  return new Promise<Ran>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function json(r: Ran) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const errorOf = (r: Ran) => JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}').error;

/** Each test runs real processes on a machine shared with other suites: a generous bound, not a goal. */
const PROCESS_TEST_MS = 300_000;

const ROWS = ['local', ...CLOUD_PROVIDERS].map((provider) => ({ provider }));
/** Every value written, to check no output ever shows one. */
const values: string[] = [];
const outputs: string[] = [];

describe('secret commands on every provider (real processes, fakes, PostgreSQL)', () => {
  beforeAll(() => {
    services(); // the services must be up (throws with how to start them otherwise)
  });

  it.each(ROWS)(
    '$provider: create, list, rotate, policy',
    async ({ provider }) => {
      const name = `db-${provider}-${randomBytes(3).toString('hex')}`;
      const first = `first-${randomBytes(12).toString('hex')}`;
      values.push(first);
      const args = (...rest: string[]) => [...rest, '--provider', provider, '--json'];

      const createdRun = await cli(args('secret', 'create', name, '--cron', '0 3 * * *', '--grace-days', '1'), {
        stdin: `${first}\n`,
      });
      outputs.push(createdRun.stdout, createdRun.stderr);
      const created = json(createdRun);
      expect(created).toMatchObject({ provider, name, stage: 'current', policy: { secret: { provider, name } } });

      const inspect = fakes.inspect(provider, {
        databaseUrl: services().databaseUrl,
        schema: h.schema,
        masterKey: MASTER_KEY,
      });
      try {
        // The value is where the provider keeps it, under the version the CLI reported.
        const read = await inspect.read(name);
        expect(read.version).toBe(created.version);
        expect(read.value).toBe(first);

        const listedRun = await cli(args('secret', 'list'));
        outputs.push(listedRun.stdout, listedRun.stderr);
        const listed = json(listedRun) as Array<Record<string, unknown>>;
        expect(listed.find((r) => r.name === name)).toMatchObject({
          provider,
          current: created.version,
          versions: 1,
          rotation: { cron: '0 3 * * *', state: 'idle' },
        });

        const rotatedRun = await cli(args('secret', 'rotate', name));
        outputs.push(rotatedRun.stdout, rotatedRun.stderr);
        const rotated = json(rotatedRun);
        // Promoted and bumped; the old version stays valid through the one-day grace period.
        expect(rotated.secret).toEqual({ provider, name });
        expect(rotated.run.previousVersion).toBe(created.version);
        const current = await inspect.read(name);
        expect(current.version).toBe(rotated.run.newVersion);
        expect(current.version).not.toBe(created.version);
        values.push(current.value);
        const previous = await inspect.read(name, 'previous');
        expect(previous).toMatchObject({ version: created.version, value: first });

        const policyRun = await cli(args('secret', 'policy', name, '--rotation-days', '30'));
        outputs.push(policyRun.stdout, policyRun.stderr);
        expect(json(policyRun)).toMatchObject({ secret: { provider, name }, intervalDays: 30 });

        const again = json(await cli(args('secret', 'list'))) as Array<Record<string, unknown>>;
        expect(again.find((r) => r.name === name)).toMatchObject({
          current: current.version,
          previous: created.version,
          rotation: { intervalDays: 30 },
        });
      } finally {
        await inspect.close();
      }
      // Only this provider's backend holds the secret.
      for (const other of CLOUD_PROVIDERS.filter((p) => p !== provider)) {
        const look = fakes.inspect(other);
        await expect(look.listVersions(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await look.close();
      }
    },
    PROCESS_TEST_MS,
  );

  it('no value written or rotated appears on any stdout or stderr', () => {
    expect(values.length).toBe(ROWS.length * 2);
    for (const out of outputs) for (const v of values) expect(out.includes(v)).toBe(false);
  });

  it(
    'secret list shows a cloud secret without a policy when named; a named secret that does not exist is NOT_FOUND',
    async () => {
      const name = `unlisted-${randomBytes(3).toString('hex')}`;
      const value = `unlisted-${randomBytes(12).toString('hex')}`;
      const created = json(await cli(['secret', 'create', name, '--provider', 'gcp', '--json'], { stdin: value }));
      const plain = json(await cli(['secret', 'list', '--provider', 'gcp', '--json'])) as Array<{ name: string }>;
      expect(plain.some((r) => r.name === name)).toBe(false); // no policy: GCP cannot list it for us
      const namedRun = await cli(['secret', 'list', name, '--provider', 'gcp', '--json']);
      expect(namedRun.stdout.includes(value) || namedRun.stderr.includes(value)).toBe(false);
      const named = json(namedRun) as Array<Record<string, unknown>>;
      expect(named.find((r) => r.name === name)).toMatchObject({
        provider: 'gcp',
        current: created.version,
        versions: 1,
      });
      expect(named.find((r) => r.name === name)?.rotation).toBeUndefined();
      const missing = await cli(['secret', 'list', `${name}-nope`, '--provider', 'gcp', '--json']);
      expect(missing.code).toBe(4);
      expect(errorOf(missing)).toMatchObject({ code: 'NOT_FOUND' });
    },
    PROCESS_TEST_MS,
  );

  it(
    'a bad rotation schedule is refused before the secret is created (exit 2)',
    async () => {
      const name = `badcron-${randomBytes(3).toString('hex')}`;
      const r = await cli(['secret', 'create', name, '--provider', 'aws', '--cron', '61 * * * *', '--json'], {
        stdin: 'never-stored',
      });
      expect(r.code).toBe(2);
      expect(errorOf(r)).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(errorOf(r).message).toMatch(/cron "61 \* \* \* \*"/);
      const look = fakes.inspect('aws');
      await expect(look.listVersions(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await look.close();
    },
    PROCESS_TEST_MS,
  );

  it(
    'an unconfigured provider is NOT_FOUND naming the configured ones; nothing is created',
    async () => {
      const r = await cli(['secret', 'create', 'x-nowhere', '--provider', 'vaultx', '--json'], { stdin: 'v' });
      expect(r.code).toBe(4);
      expect(errorOf(r)).toMatchObject({ code: 'NOT_FOUND' });
      expect(errorOf(r).message).toMatch(
        /no secret provider "vaultx".*configured: aws, gcp, azure, vault, vault-token, local/,
      );
    },
    PROCESS_TEST_MS,
  );

  it(
    'a bad provider option fails before anything is done, naming the field (exit 2)',
    async () => {
      const bad = join(h.dir, 'bad.yaml');
      const providers = fakes.providersConfig();
      await writeFile(
        bad,
        JSON.stringify({ secrets: { providers: { ...providers, gcp: { ...providers.gcp, apiEndpoint: 'ftp://x' } } } }),
      );
      const name = `never-${randomBytes(3).toString('hex')}`;
      const r = await cli(['secret', 'create', name, '--provider', 'aws', '--json'], { stdin: 'v', config: bad });
      expect(r.code).toBe(2);
      expect(errorOf(r)).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(errorOf(r).message).toMatch(/secrets\.providers\.gcp\.apiEndpoint/);
      const look = fakes.inspect('aws');
      await expect(look.listVersions(name)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await look.close();
    },
    PROCESS_TEST_MS,
  );

  it(
    'a credential variable the config names but the environment lacks is MISSING_REQUIRED naming both',
    async () => {
      const r = await cli(['secret', 'list', '--provider', 'gcp', '--json'], { env: { GCP_ACCESS_TOKEN: '' } });
      expect(r.code).not.toBe(0);
      expect(errorOf(r)).toMatchObject({ code: 'MISSING_REQUIRED' });
      expect(errorOf(r).message).toMatch(/gcp\.accessTokenEnv.*GCP_ACCESS_TOKEN/);
    },
    PROCESS_TEST_MS,
  );
});
