/**
 * The agent and the CLI on a Consul with ACLs on (default deny) and no token: Consul 1.8.7 answers
 * their recursive reads with 404, as if nothing were stored. Neither may take that for "no configs":
 * the CLI exits with ACCESS_DENIED's code (3) and the agent never reports ready nor serves a 404 for
 * a config that exists. A second ACL agent of the services script on its own port
 * (`SUMMIT_CONSUL_ACL_PORT`), so this file and test/backends/consul-acl.test.ts may run together.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConsulStore } from '@summit-config/backends/consul';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { repoRoot, services } from '@summit-config/test-support/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIn } from '../../packages/agent/test/cli-harness.js';
import { killAllAgents, startAgentProcess, uniqueSuffix } from './agent-process.js';

const run = promisify(execFile);
const script = join(repoRoot, 'scripts', 'services.sh');
const aclEnv = { ...process.env, SUMMIT_CONSUL_ACL_PORT: '18740' };

let addr = '';
let master = '';
let dir = '';
const me = userInfo().username;

beforeAll(async () => {
  await run('sh', [script, 'consul-acl', 'up'], { timeout: 60_000, env: aclEnv });
  const { stdout } = await run('sh', [script, 'consul-acl', 'env'], { env: aclEnv });
  addr = /SUMMIT_CONSUL_ACL_ADDR=(\S+)/.exec(stdout)?.[1] ?? '';
  master = /SUMMIT_CONSUL_ACL_TOKEN=(\S+)/.exec(stdout)?.[1] ?? '';
  expect(addr).toBe('http://127.0.0.1:18740');
  dir = await mkdtemp(join(tmpdir(), 'summit-consul-acl-'));
  await writeFile(
    join(dir, 'rbac.yaml'),
    `roles:\n  operator: ['*']\nbindings:\n  - users: [${me}]\n    roles: [operator]\n`,
  );
});

afterAll(async () => {
  killAllAgents();
  await run('sh', [script, 'consul-acl', 'down'], { timeout: 60_000, env: aclEnv });
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fresh prefix holding app:billing/flags v1, written with the management token. */
async function seeded(): Promise<string> {
  const prefix = `acl-${uniqueSuffix()}/`;
  const admin = createConsulStore({ address: addr, prefix, token: master });
  await admin.append(doc('app:billing/flags', 1, { checkout: true }));
  await admin.close();
  return prefix;
}

describe('Consul ACLs deny a token-less agent and CLI', () => {
  it('`summit-config list` exits with ACCESS_DENIED (3), with PostgreSQL or the embedded store as the record', async () => {
    const prefix = await seeded();
    const { databaseUrl } = services();
    const base = {
      PATH: process.env.PATH,
      CONSUL_HTTP_ADDR: addr,
      SUMMIT_CONSUL_PREFIX: prefix,
      SUMMIT_RBAC_FILE: join(dir, 'rbac.yaml'),
      DATABASE_URL: databaseUrl,
      SUMMIT_PG_SCHEMA: `acl_${uniqueSuffix()}`,
    };
    const denied = await runIn(base, ['list'], { actor: me });
    expect(denied.code, denied.stderr).toBe(3);
    expect(denied.stdout).not.toContain('No configs.');
    expect(denied.stderr).toMatch(/ACCESS_DENIED/);
    expect(denied.stderr).toMatch(/no ACL token/);
    const json = await runIn(base, ['list', '--json'], { actor: me });
    expect(json.code).toBe(3);
    expect(json.error()).toMatchObject({ code: 'ACCESS_DENIED' });

    // With the token the same command lists the config.
    const allowed = await runIn({ ...base, CONSUL_HTTP_TOKEN: master }, ['list'], { actor: me });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('app:billing/flags');

    // Consul beside an embedded record (a configuration file): the same refusal.
    const config = join(dir, `agent-${uniqueSuffix()}.yaml`);
    await writeFile(
      config,
      JSON.stringify({
        stores: { consul: { address: addr, prefix }, embedded: { dataDir: join(dir, uniqueSuffix()) } },
      }),
    );
    const embedded = await runIn(
      { PATH: process.env.PATH, SUMMIT_RBAC_FILE: join(dir, 'rbac.yaml'), SUMMIT_AGENT_CONFIG: config },
      ['list'],
      { actor: me },
    );
    expect(embedded.code, embedded.stderr).toBe(3);
    expect(embedded.stderr).toMatch(/ACCESS_DENIED/);
  });

  it('the agent does not start (exit 3, ACCESS_DENIED), so it never reports ready nor serves a 404', async () => {
    const prefix = await seeded();
    const started = await startAgentProcess({
      label: 'acl',
      config: {
        http: { port: 0 },
        stores: { consul: { address: addr, prefix } },
        apps: [{ app: 'billing', environment: 'prod' }],
        drift: { enabled: false },
        reconcile: { intervalMs: 0 },
        snapshotDir: join(dir, `snapshots-${uniqueSuffix()}`),
      },
      env: { CONSUL_HTTP_ADDR: undefined, CONSUL_HTTP_TOKEN: undefined, DATABASE_URL: undefined },
    }).then(
      (agent) => {
        agent.kill();
        throw new Error(`the agent started and listens on ${agent.base}:\n${agent.output()}`);
      },
      (error: Error) => error.message,
    );
    // agent-process.ts: "<label> exited (<code>) before agent listening; output: ..."
    expect(started).toMatch(/exited \(3\) before agent listening/);
    expect(started).toMatch(/"msg":"agent did not start: consul: no ACL token .* may not read acl-/);
    expect(started).toMatch(/"code":"ACCESS_DENIED"/);
  });
});
