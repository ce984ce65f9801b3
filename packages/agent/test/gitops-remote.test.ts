/**
 * `summit-config gitops` through a config server (`SUMMIT_SERVER` + an API token, no store
 * credentials): the commands use only the change service's interface, which the server's API
 * implements, so plan, apply (with its guarded change requests) and export work there too. Real
 * Consul and PostgreSQL under the server; the tree is a git repository made by the test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitFiles, initRepo } from '@summit-config/test-support/git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../src/config.js';
import { serverSection } from '../src/config-server.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { type ServingServer, serveConfigServer } from '../src/serve.js';
import { type Harness, realHarness, runIn } from './cli-harness.js';

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

const write = (dir: string, files: Record<string, unknown>) => commitFiles(dir, files, 'change');

describe('gitops through a config server', () => {
  it('plans, applies with change requests, is idempotent, and exports a tree that plans as no change', async () => {
    const dir = join(root, 'repo');
    await initRepo(dir);
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
