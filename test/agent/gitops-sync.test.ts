/**
 * The gitops sync loop in real agent processes against the real Consul and PostgreSQL, following a
 * bare remote on the local file system that the test pushes to with the git CLI; changes made outside
 * git go through the CLI on the same stores:
 *
 * - two agents: the leader applies the first commit and each new one (a guarded environment gets a
 *   change request carrying the SHA, applied by the loop once approved); `/v1/status` of both and
 *   the config server's `/api/v1/status` show the loop; a direct edit is reported as drift and left;
 *   a force-pushed branch is reported (state `blocked`, a log line) with nothing written, then applied
 *   once accepted; the leader killed, the other agent resumes from the shared state without writing;
 * - `revert: true`: an out-of-git change is set back to the tree;
 * - the push webhook (signed as GitHub does) makes the leader sync at once;
 * - direct edits made again and again while the loop applies new commits: every acknowledged edit
 *   stays in the history as written, every version is either an edit or a write of the loop naming a
 *   commit, and the loop ends on the last commit.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, remoteRepo } from '@summit-config/test-support/git';
import { afterAll, describe, expect, it } from 'vitest';
import { RBAC_YAML, runIn } from '../../packages/agent/test/cli-harness.js';
import { type AgentProcess, killAllAgents, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

const clusters: Cluster[] = [];
const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface GitopsStatus {
  state: string;
  appliedCommit?: string;
  head?: string;
  blocked?: { head: string; applied: string; reason: string };
  drift: string[];
  conflicts: string[];
  requests: string[];
  lastError?: string;
  leading: boolean;
  repo: string;
  branch: string;
  path: string;
}

async function statusOf(agent: AgentProcess): Promise<{ leader: { leading: boolean }; gitops?: GitopsStatus }> {
  return (await (await fetch(`${agent.base}/v1/status`)).json()) as {
    leader: { leading: boolean };
    gitops?: GitopsStatus;
  };
}

async function gitopsOf(agent: AgentProcess): Promise<GitopsStatus> {
  return (await statusOf(agent)).gitops as GitopsStatus;
}

async function leaderOf(agents: AgentProcess[]): Promise<AgentProcess> {
  let found: AgentProcess | undefined;
  await until(
    async () => {
      for (const a of agents) if ((await statusOf(a)).leader.leading) found = a;
      return found !== undefined;
    },
    'a leader',
    60_000,
  );
  return found as AgentProcess;
}

/** A cluster, a repository, the RBAC file (binding `gitops`) and a CLI on the same stores. */
async function setup(tag: string) {
  const cluster = createCluster(tag);
  clusters.push(cluster);
  const dir = await mkdtemp(join(tmpdir(), `summit-gitops-${tag}-`));
  dirs.push(dir);
  const rbacFile = join(dir, 'rbac.yaml');
  await writeFile(rbacFile, `${RBAC_YAML}  - users: [gitops]\n    roles: [config-admin]\n`);
  const repo = await remoteRepo(dir, 'config');
  const cliEnv = {
    PATH: process.env.PATH,
    CONSUL_HTTP_ADDR: cluster.consulAddr,
    SUMMIT_CONSUL_PREFIX: cluster.prefix,
    DATABASE_URL: cluster.databaseUrl,
    SUMMIT_PG_SCHEMA: cluster.schema,
    SUMMIT_RBAC_FILE: rbacFile,
  };
  const run = (args: string[], actor = 'alice') => runIn(cliEnv, [...args, '--json'], { actor });
  const cli = async (args: string[], actor = 'alice') => {
    const r = await run(args, actor);
    if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
    return r.json();
  };
  const head = async (ref: string) => {
    const r = await run(['get', ref, '--raw']);
    return r.code === 0 ? r.json() : undefined;
  };
  const auditCount = async () => ((await cli(['audit', '--limit', '10000'])) as unknown[]).length;
  return { cluster, dir, rbacFile, repo, run, cli, head, auditCount };
}

const DEV = { name: 'dev', production: false };
const PRODUCTION = { name: 'production', production: true };

describe('gitops sync loop (real agents, Consul, PostgreSQL, git)', () => {
  it('follows a branch: new commits applied, guarded changes proposed with the SHA, drift reported, a force push blocked until accepted, a new leader resuming', async () => {
    const t = await setup('gsync');
    const c1 = await t.repo.commit(
      {
        'environments.yaml': [DEV],
        'configs/global/db.yaml': { config: { port: 1 } },
        'configs/app:shop/cache.yaml': { config: { ttl: 10 } },
      },
      'c1',
    );
    // Rounds run on start and on request only (a long interval): every step below is one round.
    const gitops = { repo: t.repo.remote, intervalMs: 3_600_000, rbacFile: t.rbacFile };
    const config = t.cluster.agentConfig({
      gitops,
      server: { port: 0, rbacFile: t.rbacFile, adminTokenFile: join(t.dir, 'admin.token') },
    });
    const agents = await Promise.all([
      startAgentProcess({ label: 'gsync-a', config }),
      startAgentProcess({ label: 'gsync-b', config }),
    ]);
    const leader = await leaderOf(agents);
    const follower = agents.find((a) => a !== leader) as AgentProcess;
    await until(async () => (await gitopsOf(leader)).appliedCommit === c1, 'c1 applied', 60_000);
    expect(await gitopsOf(leader)).toMatchObject({
      repo: t.repo.remote,
      branch: 'main',
      path: '',
      state: 'synced',
      head: c1,
      drift: [],
      leading: true,
    });
    expect(await gitopsOf(follower)).toMatchObject({ leading: false, state: 'starting' });
    const db1 = await t.head('global/db');
    expect(db1).toMatchObject({ config: { port: 1 }, createdBy: 'gitops' });
    expect(db1.metadata.gitops).toEqual({ repo: t.repo.remote, path: 'configs/global/db.yaml', commit: c1 });

    // c2: a guarded environment appears; the db change touches it (a change request carrying the
    // SHA), the cache's dev override does not (written at once).
    const c2 = await t.repo.commit(
      {
        'environments.yaml': [DEV, PRODUCTION],
        'configs/global/db.yaml': { config: { port: 2 } },
        'configs/app:shop/cache.yaml': { config: { ttl: 10 }, overrides: { dev: { ttl: 5 } } },
      },
      'c2',
    );
    await t.cli(['gitops', 'sync']);
    await until(async () => (await gitopsOf(leader)).appliedCommit === c2, 'c2 applied', 60_000);
    const pending = (await t.cli(['pending'])) as Array<{
      id: string;
      ref: { scope: string; id: string };
      message: string;
    }>;
    expect(pending.map((r) => `${r.ref.scope}/${r.ref.id}`)).toEqual(['global/db']);
    expect(pending[0]?.message).toContain(c2);
    expect((await gitopsOf(leader)).requests).toEqual([`global/db#${pending[0]?.id}`]);
    expect((await t.head('global/db')).config).toEqual({ port: 1 });
    const cache2 = await t.head('app:shop/cache');
    expect(cache2.overrides).toEqual({ dev: { ttl: 5 } });
    expect(cache2.metadata.gitops.commit).toBe(c2);
    // The config server beside each agent serves the loop's status (a follower: the shared applied commit).
    for (const a of agents) {
      const token = await serverToken(a);
      const served = (await (
        await fetch(`${token.url}/api/v1/status`, { headers: { authorization: `Bearer ${token.token}` } })
      ).json()) as { gitops: GitopsStatus };
      expect(served.gitops).toMatchObject({ appliedCommit: c2, leading: a === leader, repo: t.repo.remote });
    }

    // Approved by another person: the loop applies the request at its next round.
    await t.cli(['approve', pending[0]?.id as string], 'bob');
    await t.cli(['gitops', 'sync']);
    await until(async () => (await t.head('global/db'))?.config?.port === 2, 'the approved request applied', 60_000);
    await until(async () => (await gitopsOf(leader)).requests.length === 0, 'no request left open', 60_000);

    // A direct edit outside git: reported as drift, not reverted.
    const edit = await t.cli(['set', 'app:shop/cache', '--env', 'dev', '--json-value', '{"ttl":77}']);
    await t.cli(['gitops', 'sync']);
    await until(async () => (await gitopsOf(leader)).drift.includes('app:shop/cache'), 'drift reported', 60_000);
    expect((await gitopsOf(leader)).state).toBe('synced');
    await leader.waitForLog((l) => String(l.msg).includes('differ from commit'), 'the drift log line');
    expect((await t.head('app:shop/cache')).version).toBe(edit.version);

    // A force push: c2 rewritten as c2' on c1. Reported, nothing written.
    git(t.repo.work, 'reset', '--quiet', '--hard', c1);
    const c2b = await t.repo.commit(
      { 'configs/app:shop/cache.yaml': { config: { ttl: 10 }, overrides: { dev: { ttl: 6 } } } },
      "c2'",
    );
    const audited = await t.auditCount();
    await t.cli(['gitops', 'sync']);
    await until(async () => (await gitopsOf(leader)).state === 'blocked', 'blocked', 60_000);
    const blocked = await gitopsOf(leader);
    expect(blocked).toMatchObject({ appliedCommit: c2, head: c2b, blocked: { head: c2b, applied: c2 } });
    await leader.waitForLog((l) => String(l.msg).includes(`gitops accept ${c2b}`), 'the blocked log line');
    // Another round changes nothing either.
    await t.cli(['gitops', 'sync']);
    await until(async () => (await t.cli(['gitops', 'state'])).requests === 5, 'the request seen');
    await leader.waitForLog((l) => l.msg === 'gitops: sync requested' && l.generation === 5, 'the fifth request');
    expect((await gitopsOf(leader)).state).toBe('blocked');
    expect(await t.auditCount()).toBe(audited);
    // Reported once as a metric, not once per round.
    expect(await metric(leader, 'summit_agent_gitops_blocked')).toBe(1);
    expect(await metric(leader, 'summit_agent_gitops_events_total{kind="blocked"}')).toBe(1);
    expect((await t.head('app:shop/cache')).version).toBe(edit.version);

    // Accepted: applied.
    await t.cli(['gitops', 'accept', c2b]);
    await until(async () => (await gitopsOf(leader)).appliedCommit === c2b, "c2' applied", 60_000);
    expect((await gitopsOf(leader)).state).toBe('synced');
    const cache3 = await t.head('app:shop/cache');
    expect(cache3.overrides).toEqual({ dev: { ttl: 6 } });
    expect(cache3.metadata.gitops.commit).toBe(c2b);
    expect(await metric(leader, 'summit_agent_gitops_blocked')).toBe(0);

    // The leader dies: the other agent resumes from the shared state, in sync, writing nothing.
    const settled = await t.auditCount();
    leader.kill();
    await until(async () => (await statusOf(follower)).leader.leading, 'the follower leading', 60_000);
    await until(async () => (await gitopsOf(follower)).state === 'synced', 'the new leader synced', 60_000);
    expect(await gitopsOf(follower)).toMatchObject({ appliedCommit: c2b, head: c2b, drift: [] });
    expect(await t.auditCount()).toBe(settled);
  }, 300_000);

  it('revert: true sets a change made outside git back to the tree; the push webhook syncs at once', async () => {
    const t = await setup('grevert');
    const c1 = await t.repo.commit(
      { 'environments.yaml': [DEV], 'configs/app:shop/flags.yaml': { config: { beta: false } } },
      'c1',
    );
    const secret = randomBytes(24).toString('hex');
    const gitops = {
      repo: t.repo.remote,
      intervalMs: 3_600_000,
      revert: true,
      rbacFile: t.rbacFile,
      webhookSecretEnv: 'GITOPS_HOOK_SECRET',
    };
    const agent = await startAgentProcess({
      label: 'grevert',
      config: t.cluster.agentConfig({
        gitops,
        server: { port: 0, rbacFile: t.rbacFile, adminTokenFile: join(t.dir, 'admin.token') },
      }),
      env: { GITOPS_HOOK_SECRET: secret },
    });
    await until(async () => (await gitopsOf(agent)).appliedCommit === c1, 'c1 applied', 60_000);
    const applied = await t.head('app:shop/flags');

    const edit = await t.cli(['set', 'app:shop/flags', '--json-value', '{"beta":true}']);
    expect(edit.version).toBe(applied.version + 1);
    await t.cli(['gitops', 'sync']);
    await until(async () => (await t.head('app:shop/flags'))?.version === edit.version + 1, 'the revert', 60_000);
    const reverted = await t.head('app:shop/flags');
    expect(reverted).toMatchObject({ config: { beta: false }, createdBy: 'gitops' });
    expect(reverted.metadata.gitops.commit).toBe(c1);
    await agent.waitForLog((l) => String(l.msg).includes('set back to commit'), 'the revert log line');
    const kept = await t.cli(['get', 'app:shop/flags', '--version', String(edit.version), '--raw']);
    expect(kept).toMatchObject({ config: { beta: true }, createdBy: 'alice' });
    expect((await gitopsOf(agent)).drift).toEqual([]);

    // A push, announced by the webhook (signed as GitHub signs): applied without waiting for the interval.
    const c2 = await t.repo.commit({ 'configs/app:shop/flags.yaml': { config: { beta: true } } }, 'c2');
    const { url } = await serverToken(agent);
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: c2,
      before: c1,
      repository: { full_name: 'ops/config', clone_url: t.repo.remote },
    });
    const hook = (id: string) =>
      fetch(`${url}/api/v1/gitops/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': id,
          'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
        },
        body,
      });
    const delivery = randomUUID();
    expect((await hook(delivery)).status).toBe(202);
    expect((await hook(delivery)).status).toBe(409); // a replay: refused, no second request
    await until(async () => (await gitopsOf(agent)).appliedCommit === c2, 'c2 applied after the webhook', 60_000);
    expect((await t.head('app:shop/flags')).config).toEqual({ beta: true });
    expect((await t.cli(['gitops', 'state'])).requests).toBe(2); // the CLI's sync, then one delivery
  }, 300_000);

  it('direct edits racing the loop: every acknowledged edit kept as written, the loop ends on the last commit', async () => {
    const t = await setup('grace');
    const commits = [
      await t.repo.commit({ 'environments.yaml': [DEV], 'configs/app:shop/limits.yaml': { config: { rps: 0 } } }, 'c0'),
    ];
    const agent = await startAgentProcess({
      label: 'grace',
      config: t.cluster.agentConfig({ gitops: { repo: t.repo.remote, intervalMs: 100, rbacFile: t.rbacFile } }),
    });
    await until(async () => (await gitopsOf(agent)).appliedCommit === commits[0], 'c0 applied', 60_000);

    // Edits through the CLI, one after another, while commits are pushed.
    const acknowledged: Array<{ version: number; rps: number }> = [];
    let editing = true;
    const editor = (async () => {
      for (let i = 1; editing; i++) {
        const rps = 1000 + i;
        const r = await t.run(['set', 'app:shop/limits', '--json-value', JSON.stringify({ rps })]);
        if (r.code === 0) acknowledged.push({ version: r.json().version, rps });
      }
    })();
    for (let i = 1; i <= 6; i++) {
      commits.push(await t.repo.commit({ 'configs/app:shop/limits.yaml': { config: { rps: i } } }, `c${i}`));
      const seen = commits.at(-1);
      await until(async () => (await gitopsOf(agent)).appliedCommit === seen, `c${i} applied`, 60_000);
    }
    editing = false;
    await editor;

    const history = (await t.cli(['versions', 'app:shop/limits', '--limit', '10000'])) as Array<{
      version: number;
      createdBy: string;
    }>;
    // Versions are 1..n, each an edit of alice's or a write of the loop naming one of the commits.
    expect(history.map((v) => v.version).sort((a, b) => a - b)).toEqual(history.map((_, i) => i + 1));
    for (const v of history) {
      const doc = await t.cli(['get', 'app:shop/limits', '--version', String(v.version), '--raw']);
      if (v.createdBy === 'gitops') expect(commits).toContain(doc.metadata.gitops.commit);
      else expect(v.createdBy).toBe('alice');
    }
    // Every acknowledged edit is in the history exactly as written.
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const a of acknowledged) {
      const doc = await t.cli(['get', 'app:shop/limits', '--version', String(a.version), '--raw']);
      expect(doc).toMatchObject({ config: { rps: a.rps }, createdBy: 'alice' });
    }
    // Every write the loop lost to an edit was reported as a conflict of this ref at one of the commits.
    const conflicts = agent.logs.filter((l) => (l.gitops as { kind?: string } | undefined)?.kind === 'conflict');
    for (const l of conflicts) {
      const event = l.gitops as { commit: string; refs: string[] };
      expect(event.refs).toEqual(['app:shop/limits']);
      expect(commits).toContain(event.commit);
    }
    // The last commit is applied: it was written over the head it read, or the head is a later edit.
    const final = await t.head('app:shop/limits');
    const lastWrite = await t.cli([
      'get',
      'app:shop/limits',
      '--version',
      String(Math.max(...history.filter((v) => v.createdBy === 'gitops').map((v) => v.version))),
      '--raw',
    ]);
    expect(lastWrite).toMatchObject({ config: { rps: 6 }, metadata: { gitops: { commit: commits.at(-1) } } });
    if (final.createdBy === 'gitops') expect(final.version).toBe(lastWrite.version);
    else expect(acknowledged.at(-1)).toEqual({ version: final.version, rps: final.config.rps });
  }, 300_000);
});

/** One sample of the agent's `/metrics` (`name` with its labels as printed), or undefined. */
async function metric(agent: AgentProcess, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`${agent.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

/** The config server beside an agent: its URL (from its log line) and the admin token (from the token file). */
async function serverToken(agent: AgentProcess): Promise<{ url: string; token: string }> {
  const line = await agent.waitForLog((l) => l.msg === 'config server listening', 'the config server');
  return { url: String(line.url), token: (await readFile(String(line.adminTokenFile), 'utf8')).trim() };
}
