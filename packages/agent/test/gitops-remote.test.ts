/**
 * `summit-config gitops` through a config server (`SUMMIT_SERVER` + an API token, no store
 * credentials): the commands use only the change service's interface, which the server's API
 * implements, so plan, apply (with its guarded change requests) and export work there too. Real
 * Consul and PostgreSQL under the server; the tree is a git repository made by the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadAgentConfig } from '../src/config.js';
import { serverSection } from '../src/config-server.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { type ServingServer, serveConfigServer } from '../src/serve.js';
import { type Harness, realHarness, runIn } from './cli-harness.js';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'gitops test',
  GIT_AUTHOR_EMAIL: 'gitops@example.test',
  GIT_COMMITTER_NAME: 'gitops test',
  GIT_COMMITTER_EMAIL: 'gitops@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: tmpdir(),
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

let h: Harness;
let runtime: Runtime;
let serving: ServingServer;
let root: string;
const tokens: Record<string, string> = {};

const remote = (args: string[], who = 'alice') =>
  runIn({ PATH: process.env.PATH, SUMMIT_SERVER: serving.url, SUMMIT_TOKEN: tokens[who] }, args, { actor: who });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'summit-gitops-remote-'));
  h = await realHarness('gitops_remote');
  const config = await loadAgentConfig(undefined, h.env);
  runtime = await openRuntime(config, { role: 'server' });
  const server = serverSection(
    { port: 0, rbacFile: `${h.dir}/rbac.yaml`, rateLimitPerSecond: 0 },
    {},
    undefined,
    true,
  ) as NonNullable<ReturnType<typeof serverSection>>;
  serving = await serveConfigServer({ runtime, config, server, owner: 'alice', env: h.env });
  const people: Array<[string, string]> = [
    ['alice', 'operator'],
    ['bob', 'config-admin'],
  ];
  for (const [who, roles] of people) {
    const r = await h.run(['token', 'create', '--name', who, '--owner', who, '--roles', roles, '--json'], {
      actor: 'alice',
    });
    expect(r.code, r.stderr).toBe(0);
    tokens[who] = r.json().token;
  }
}, 120_000);

afterAll(async () => {
  await serving?.close();
  await runtime?.close();
  await h?.cleanup();
  await rm(root, { recursive: true, force: true });
});

async function write(dir: string, files: Record<string, unknown>): Promise<string> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, path.endsWith('.json') ? JSON.stringify(content) : stringify(content));
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '--quiet', '-m', 'change');
  return git(dir, 'rev-parse', 'HEAD');
}

describe('gitops through a config server', () => {
  it('plans, applies with change requests, is idempotent, and exports a tree that plans as no change', async () => {
    const dir = join(root, 'repo');
    await mkdir(dir);
    git(dir, 'init', '--quiet', '--initial-branch=main');
    const sha = await write(dir, {
      'environments.yaml': [
        { name: 'dev', production: false },
        { name: 'production', production: true },
      ],
      'schemas/api.json': { type: 'object', properties: { timeoutMs: { type: 'integer' } } },
      'configs/global/api.yaml': { config: { timeoutMs: 500 }, overrides: { dev: { timeoutMs: 5000 } } },
    });

    const plan = await remote(['gitops', 'plan', dir, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.json().refs[0]).toMatchObject({ ref: 'global/api', action: 'create', schema: { valid: true } });

    const first = await remote(['gitops', 'apply', dir, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const proposed = first.json().results.find((r: { name: string }) => r.name === 'global/api');
    expect(proposed.outcome).toBe('proposed');
    // The request went through the server: the store holds it, with the commit in its message.
    const pending = (await h.run(['pending', '--json'])).json() as Array<{ id: string; message: string }>;
    expect(pending.map((r) => r.id)).toEqual([proposed.requestId]);
    expect(pending[0]?.message).toContain(sha);

    const again = await remote(['gitops', 'apply', dir, '--json']);
    expect(again.json().written).toBe(0);

    expect((await remote(['approve', proposed.requestId], 'bob')).code).toBe(0);
    const applied = await remote(['gitops', 'apply', dir, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json().results).toContainEqual(
      expect.objectContaining({ name: 'global/api', outcome: 'request-applied' }),
    );
    const head = (await h.run(['get', 'global/api', '--raw', '--json'])).json();
    expect(head.config).toEqual({ timeoutMs: 500 });
    expect(head.metadata.gitops).toEqual({ repo: dir, path: 'configs/global/api.yaml', commit: sha });

    const out = join(root, 'exported');
    const exported = await remote(['gitops', 'export', out, '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    const replan = (await remote(['gitops', 'plan', out, '--json'])).json();
    expect(replan.summary).toMatchObject({ create: 0, update: 0, delete: 0, unchanged: 1, proposals: 0 });
  });
});
