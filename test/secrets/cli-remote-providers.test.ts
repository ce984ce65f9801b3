/**
 * `summit-config secret list|policy|rotate --provider <name> --server <url>`: real CLI processes
 * through a real `summit-config server` process (embedded store) serving every provider of its
 * agent config (aws, gcp, azure and vault against the fakes); the provider name travels as
 * `?provider=`. A value never crosses the API: the secrets are made beside it, `secret create`
 * is refused, and the rotated values are read only from the providers.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { offlineClouds } from '@summit-config/test-support/fakes/clouds';
import { repoRoot } from '@summit-config/test-support/services';
import { describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../../packages/agent/test/server-process.js';
import { CLOUD_PROVIDERS, type ProviderFakes, startProviderFakes } from './provider-fakes.js';

let fakes: ProviderFakes;
let server: ServerProcess;
let url: string;
let token: string;

offlineClouds(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'summit-remote-providers-'));
  fakes = await startProviderFakes(dir);
  const configFile = join(dir, 'agent.yaml');
  await writeFile(configFile, JSON.stringify({ secrets: { providers: fakes.providersConfig() } }));
  const dataDir = join(dir, 'data');
  server = startServerProcess(['--port', '0', '--config', configFile], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      SUMMIT_DATA_DIR: dataDir,
      SUMMIT_MASTER_KEY: randomBytes(32).toString('base64'),
      ...fakes.env,
    },
  });
  url = (await server.listening()).url;
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  return [
    fakes,
    {
      close: async () => {
        server.child.kill('SIGTERM');
        await server.exited;
        await rm(dir, { recursive: true, force: true });
      },
    },
  ];
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A CLI process with no store and no cloud credentials: only the server's URL and token. */
function remote(args: string[]): Promise<Ran> {
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/tsx'),
    ['--conditions=source', join(repoRoot, 'packages/agent/src/cli.ts'), ...args],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, SUMMIT_SERVER: url, SUMMIT_TOKEN: token },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end('never-sent-value');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function json(r: Ran) {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const errorOf = (r: Ran) => JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}').error;

describe('secret commands through the config server, per provider', () => {
  it.each(CLOUD_PROVIDERS.map((provider) => ({ provider })))(
    '$provider: policy, list, rotate over the API; create refused',
    async ({ provider }) => {
      const inspect = fakes.inspect(provider);
      const name = `remote-${provider}-${randomBytes(3).toString('hex')}`;
      const first = `remote-first-${randomBytes(12).toString('hex')}`;
      const v1 = (await inspect.create(name, first)).version;
      const outputs: string[] = [];
      const on = (...rest: string[]) => [...rest, '--provider', provider, '--json'];
      try {
        const policy = await remote(on('secret', 'policy', name, '--rotation-days', '30', '--grace-days', '1'));
        outputs.push(policy.stdout, policy.stderr);
        expect(json(policy)).toMatchObject({ secret: { provider, name }, intervalDays: 30 });

        const listed = await remote(on('secret', 'list'));
        outputs.push(listed.stdout, listed.stderr);
        expect((json(listed) as Array<Record<string, unknown>>).find((r) => r.name === name)).toMatchObject({
          provider,
          current: v1,
          rotation: { intervalDays: 30 },
        });

        const rotated = await remote(on('secret', 'rotate', name));
        outputs.push(rotated.stdout, rotated.stderr);
        expect(json(rotated)).toMatchObject({ secret: { provider, name }, run: { previousVersion: v1 } });
        const current = await inspect.read(name);
        expect(current.version).not.toBe(v1);
        expect(await inspect.read(name, 'previous')).toMatchObject({ version: v1, value: first });

        const created = await remote(on('secret', 'create', `${name}-2`));
        expect(created.code).not.toBe(0);
        expect(errorOf(created).message).toMatch(/a value never crosses the API/);
        await expect(inspect.listVersions(`${name}-2`)).rejects.toMatchObject({ code: 'NOT_FOUND' });

        for (const out of [...outputs, server.output()]) {
          expect(out.includes(first)).toBe(false);
          expect(out.includes(current.value)).toBe(false);
        }
      } finally {
        await inspect.close();
      }
    },
    120_000,
  );

  it('a provider the server does not serve is NOT_FOUND naming the ones it does', async () => {
    const r = await remote(['secret', 'list', '--provider', 'nowhere', '--json']);
    expect(r.code).toBe(4);
    expect(errorOf(r)).toMatchObject({ code: 'NOT_FOUND' });
    expect(errorOf(r).message).toMatch(/no secret provider "nowhere" on this server \(it serves: local, aws, gcp/);
    const rotate = await remote(['secret', 'rotate', 'anything', '--provider', 'nowhere', '--json']);
    expect(rotate.code).toBe(4);
    expect(errorOf(rotate).message).toMatch(/no secret provider "nowhere" on this server/);
  });
});
