/**
 * The gitops sync loop in this process, on the real PostgreSQL + Consul of the CLI harness and git
 * repositories made with the git CLI (a bare remote on the local file system):
 *
 * - the shared state's cursors (applied, accepted, sync requests) and the `gitops accept|sync|state`
 *   commands writing them; a bad SHA refused before anything is written;
 * - a direct edit landing between the loop's plan and its apply (the applier wrapped to make the
 *   edit first): the write is refused (`VERSION_CONFLICT`), reported, the commit not recorded as
 *   applied, the edit kept as its own version; the next round plans afresh from the edited head;
 * - a new commit writes only what it changed: an out-of-git edit it does not touch stays, as drift;
 * - a malformed commit (an error naming file and line, nothing written, the next good commit applied)
 *   and an unreachable remote (an error naming it);
 * - the `gitops` section's validation, naming the bad field.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remoteRepo as createRemoteRepo } from '@summit-config/test-support/git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../src/config.js';
import { applyTree } from '../src/gitops/apply.js';
import { createGitopsSync, type GitopsSyncEvent } from '../src/gitops/sync.js';
import { openAgentGitopsSync } from '../src/gitops/sync-agent.js';
import { openSyncRepository } from '../src/gitops/sync-git.js';
import { createSyncState } from '../src/gitops/sync-state.js';
import { createNotificationStore } from '../src/notifications/sql.js';
import { openRuntime } from '../src/runtime.js';
import { type Harness, realHarness } from './cli-harness.js';

let root: string;
const harnesses: Harness[] = [];
const closers: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'summit-gitops-sync-'));
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  for (const h of harnesses) await h.cleanup();
  await rm(root, { recursive: true, force: true });
});

/** A work repository and its bare remote under the test's folder. */
const remoteRepo = (name: string) => createRemoteRepo(root, name);

/** The harness's stores opened as the agent opens them, with the `gitops` section given. */
async function agentSide(h: Harness, gitops: Record<string, unknown>) {
  const rbacFile = join(h.dir, 'rbac-gitops.yaml');
  await writeFile(
    rbacFile,
    `${await readFile(h.env.SUMMIT_RBAC_FILE as string, 'utf8')}  - users: [gitops]\n    roles: [config-admin]\n`,
  );
  const config = resolveAgentConfig({ snapshotDir: join(h.dir, 'snapshots'), gitops: { rbacFile, ...gitops } }, h.env);
  const stores = await openRuntime(config, { role: 'agent' });
  closers.push(() => stores.close());
  const handle = await (stores.secretSql as NonNullable<typeof stores.secretSql>)();
  closers.unshift(() => handle.close());
  const cursors = createNotificationStore({ sql: handle.sql, schema: handle.schema });
  return { config, stores, cursors, rbacFile };
}

async function cli(h: Harness, args: string[], actor = 'alice') {
  const r = await h.run([...args, '--json'], { actor });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.json();
}

describe('gitops sync loop (in process, real PostgreSQL and Consul)', () => {
  it('a direct edit between plan and apply is a conflict: reported, kept, and the commit applied only after a fresh plan', async () => {
    const h = await realHarness('gsync_race');
    harnesses.push(h);
    const repo = await remoteRepo('race');
    const c1 = await repo.commit(
      {
        'environments.yaml': [{ name: 'dev', production: false }],
        'configs/app:shop/cache.yaml': { config: { ttl: 10 } },
      },
      'c1',
    );
    const { config, stores, cursors, rbacFile } = await agentSide(h, { repo: repo.remote });
    const gitops = config.gitops as NonNullable<typeof config.gitops>;
    const { loadRbacFile } = await import('@summit-config/core');
    const service = (stores.service as NonNullable<typeof stores.service>)(await loadRbacFile(rbacFile), {
      source: 'agent',
    });
    const events: GitopsSyncEvent[] = [];
    let race: (() => Promise<void>) | undefined;
    const sync = createGitopsSync({
      config: gitops,
      service,
      actor: { id: 'gitops' },
      repository: openSyncRepository({ remote: repo.remote, branch: 'main', path: '', dir: join(h.dir, 'cache') }),
      state: createSyncState(cursors),
      onEvent: (e) => events.push(e),
      // The real applier, with a direct edit made first when one is armed.
      apply: async (options) => {
        const edit = race;
        race = undefined;
        await edit?.();
        return applyTree(options);
      },
    });
    const signal = new AbortController().signal;

    await sync.round(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c1, head: c1, conflicts: [] });
    const v1 = await cli(h, ['get', 'app:shop/cache', '--raw']);
    expect(v1.config).toEqual({ ttl: 10 });
    expect(v1.metadata.gitops.commit).toBe(c1);

    // c2 changes the ref; alice edits it after the loop planned c2 and before it writes.
    const c2 = await repo.commit({ 'configs/app:shop/cache.yaml': { config: { ttl: 20 } } }, 'c2');
    let acknowledged: { version: number } | undefined;
    race = async () => {
      acknowledged = await cli(h, ['set', 'app:shop/cache', '--json-value', '{"ttl":99}', '--message', 'hotfix']);
    };
    await sync.round(signal);
    expect(acknowledged?.version).toBe(v1.version + 1);
    const status = sync.status();
    expect(status.state).toBe('applying');
    expect(status.conflicts).toEqual(['app:shop/cache']);
    expect(status.appliedCommit).toBe(c1); // not recorded: a write did not land
    expect(events.filter((e) => e.kind === 'conflict').map((e) => [e.commit, e.refs])).toEqual([
      [c2, ['app:shop/cache']],
    ]);
    expect((await createSyncState(cursors).applied())?.commit).toBe(c1);
    // The direct edit is the head, untouched.
    const edited = await cli(h, ['get', 'app:shop/cache', '--raw']);
    expect(edited.version).toBe(acknowledged?.version);
    expect(edited.config).toEqual({ ttl: 99 });

    // The next round plans from the edited head: c2 is written on top of it, the edit kept in the history.
    await sync.round(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c2, conflicts: [] });
    const after = await cli(h, ['get', 'app:shop/cache', '--raw']);
    expect(after.version).toBe(edited.version + 1);
    expect(after.config).toEqual({ ttl: 20 });
    expect(after.metadata.gitops.commit).toBe(c2);
    const versions = (await cli(h, ['versions', 'app:shop/cache'])) as Array<{ version: number; createdBy: string }>;
    expect(versions.map((v) => [v.version, v.createdBy])).toEqual([
      [after.version, 'gitops'],
      [edited.version, 'alice'],
      [v1.version, 'gitops'],
    ]);
    const kept = await cli(h, ['get', 'app:shop/cache', '--version', String(edited.version), '--raw']);
    expect(kept.config).toEqual({ ttl: 99 });
  });

  it('keeps the applied commit, accepts and sync requests in the shared cursors; the CLI writes them', async () => {
    const h = await realHarness('gsync_state');
    harnesses.push(h);
    const repo = await remoteRepo('state');
    const c1 = await repo.commit({ 'configs/global/db.yaml': { config: { port: 1 } } }, 'c1');
    const { stores, cursors, config } = await agentSide(h, { repo: repo.remote, intervalMs: 100 });
    const opened = await openAgentGitopsSync({ config, stores, cursors, env: {} });
    const sync = opened?.sync as NonNullable<typeof opened>['sync'];
    const signal = new AbortController().signal;

    // Requests: a request since the first check runs a round at once; none runs nothing.
    await sync.checkRequests(signal);
    expect(sync.status().state).toBe('starting');
    const r = await cli(h, ['gitops', 'sync']);
    expect(r.requests).toBe(1);
    await sync.checkRequests(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c1 });
    const state = await cli(h, ['gitops', 'state']);
    expect(state.applied.commit).toBe(c1);
    expect(state.accepted).toBeNull();
    expect(state.requests).toBe(1);

    // A bad SHA: refused (exit 2) with nothing written.
    const bad = await h.run(['gitops', 'accept', 'abc123', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('40-hex');
    expect((await cli(h, ['gitops', 'state'])).accepted).toBeNull();
    // Access: a reader may not accept.
    const denied = await h.run(['gitops', 'accept', c1, '--json'], { actor: 'rita' });
    expect(denied.code).not.toBe(0);
    expect((await cli(h, ['gitops', 'state'])).accepted).toBeNull();

    const accepted = await cli(h, ['gitops', 'accept', c1]);
    expect(accepted.accepted.commit).toBe(c1);
    expect(accepted.requests).toBe(2);
    const after = await cli(h, ['gitops', 'state']);
    expect(after.accepted.commit).toBe(c1);
    expect(after.accepted.generation).toBe(1);
  });

  it('a malformed commit is an error naming the file and line, with nothing written; the next good commit is applied', async () => {
    const h = await realHarness('gsync_bad');
    harnesses.push(h);
    const repo = await remoteRepo('bad');
    const c1 = await repo.commit({ 'configs/global/db.yaml': { config: { port: 1 } } }, 'c1');
    const { stores, cursors, config } = await agentSide(h, { repo: repo.remote });
    const opened = await openAgentGitopsSync({ config, stores, cursors, env: {} });
    const sync = opened?.sync as NonNullable<typeof opened>['sync'];
    const signal = new AbortController().signal;
    await sync.round(signal);
    expect(sync.status().appliedCommit).toBe(c1);
    const audited = ((await cli(h, ['audit', '--limit', '10000'])) as unknown[]).length;

    // c2 changes one file and breaks another: nothing of it is written.
    const c2 = await repo.commit(
      { 'configs/global/db.yaml': { config: { port: 2 } }, 'configs/global/cache.yaml': 'config:\n  ttl: [1,\n' },
      'c2',
    );
    await expect(sync.round(signal)).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    const status = sync.status();
    expect(status).toMatchObject({ state: 'error', appliedCommit: c1, head: c2 });
    expect(status.lastError).toMatch(/^CONSTRAINT_VIOLATION: configs\/global\/cache\.yaml:\d+:\d+: invalid YAML/);
    expect((await cli(h, ['get', 'global/db', '--raw'])).config).toEqual({ port: 1 });
    expect(((await cli(h, ['audit', '--limit', '10000'])) as unknown[]).length).toBe(audited);
    expect((await createSyncState(cursors).applied())?.commit).toBe(c1);

    // An unreachable remote: an error naming it, the applied commit kept.
    const gone = createGitopsSync({
      config: { ...(config.gitops as NonNullable<typeof config.gitops>), repo: join(root, 'missing.git') },
      service: (stores.service as NonNullable<typeof stores.service>)(
        (await import('@summit-config/core')).createRbac({ roles: {} }),
        { source: 'agent' },
      ),
      actor: { id: 'gitops' },
      repository: openSyncRepository({
        remote: join(root, 'missing.git'),
        branch: 'main',
        path: '',
        dir: join(h.dir, 'gone'),
      }),
      state: createSyncState(cursors),
    });
    await expect(gone.round(signal)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(gone.status().lastError).toContain('missing.git');

    // Fixed in c3: applied.
    const c3 = await repo.commit({ 'configs/global/cache.yaml': { config: { ttl: 1 } } }, 'c3');
    await sync.round(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c3, lastError: undefined });
    expect((await cli(h, ['get', 'global/db', '--raw'])).config).toEqual({ port: 2 });
    expect((await cli(h, ['get', 'global/cache', '--raw'])).metadata.gitops.commit).toBe(c3);
  });

  it('a new commit writes what it changed: a change made outside git that it does not touch stays, as drift', async () => {
    const h = await realHarness('gsync_keep');
    harnesses.push(h);
    const repo = await remoteRepo('keep');
    const c1 = await repo.commit(
      {
        'environments.yaml': [{ name: 'dev', production: false }],
        'configs/app:shop/a.yaml': { config: { n: 1 } },
        'configs/app:shop/b.yaml': { config: { n: 1 } },
      },
      'c1',
    );
    const { stores, cursors, config } = await agentSide(h, { repo: repo.remote });
    const events: GitopsSyncEvent[] = [];
    const opened = await openAgentGitopsSync({ config, stores, cursors, env: {}, onEvent: (e) => events.push(e) });
    const sync = opened?.sync as NonNullable<typeof opened>['sync'];
    const signal = new AbortController().signal;
    await sync.round(signal);
    expect(sync.status().appliedCommit).toBe(c1);

    // Outside git: a is edited and a ref nobody committed appears.
    const edit = await cli(h, ['set', 'app:shop/a', '--json-value', '{"n":99}']);
    await cli(h, ['set', 'app:shop/extra', '--json-value', '{"x":1}']);
    const c2 = await repo.commit({ 'configs/app:shop/b.yaml': { config: { n: 2 } } }, 'c2');
    await sync.round(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c2, drift: ['app:shop/a'] });
    expect(await cli(h, ['get', 'app:shop/a', '--raw'])).toMatchObject({ version: edit.version, config: { n: 99 } });
    expect((await cli(h, ['get', 'app:shop/b', '--raw'])).metadata.gitops.commit).toBe(c2);
    expect((await cli(h, ['get', 'app:shop/extra', '--raw'])).config).toEqual({ x: 1 }); // no prune
    expect(events.filter((e) => e.kind === 'drift').map((e) => e.refs)).toEqual([['app:shop/a']]);

    // A commit that changes a: git's change is written over the edit (kept in the history).
    const c3 = await repo.commit({ 'configs/app:shop/a.yaml': { config: { n: 3 } } }, 'c3');
    await sync.round(signal);
    expect(sync.status()).toMatchObject({ state: 'synced', appliedCommit: c3, drift: [] });
    const a = await cli(h, ['get', 'app:shop/a', '--raw']);
    expect(a).toMatchObject({ version: edit.version + 1, config: { n: 3 }, createdBy: 'gitops' });
    expect((await cli(h, ['get', 'app:shop/a', '--version', String(edit.version), '--raw'])).config).toEqual({ n: 99 });
  });

  it('validates the gitops section eagerly, naming the bad field', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{}, 'gitops.repo is required'],
      [{ repo: '/r', branch: '-x' }, 'gitops.branch'],
      [{ repo: '/r', branch: 'a..b' }, 'gitops.branch'],
      [{ repo: '/r', path: '../up' }, 'gitops.path'],
      [{ repo: '/r', path: '/abs' }, 'gitops.path'],
      [{ repo: '/r', intervalMs: 5 }, 'gitops.intervalMs'],
      [{ repo: '/r', revert: 'yes' }, 'gitops.revert'],
      [{ repo: '/r', prune: 1 }, 'gitops.prune'],
      [{ repo: '/r', actor: 'a b' }, 'gitops.actor'],
      [{ repo: '/r', webhookSecretEnv: 'NOPE_NOT_SET_G3' }, 'gitops.webhookSecretEnv'],
      [{ repo: '/r', colour: 'red' }, 'gitops.colour is not a known field'],
    ];
    for (const [gitops, message] of bad) {
      expect(() => resolveAgentConfig({ gitops }, {}), JSON.stringify(gitops)).toThrow(message);
    }
    const ok = resolveAgentConfig({ gitops: { repo: 'file:///srv/cfg.git', path: './deploy/config/' } }, {});
    expect(ok.gitops).toMatchObject({
      repo: 'file:///srv/cfg.git',
      branch: 'main',
      path: 'deploy/config',
      intervalMs: 30_000,
      prune: false,
      revert: false,
      actor: 'gitops',
      webhookSecret: undefined,
    });
    expect(resolveAgentConfig({}, {}).gitops).toBeUndefined();
  });
});
