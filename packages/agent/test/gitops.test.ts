/**
 * `summit-config gitops plan|apply|export` against real PostgreSQL + Consul (the CLI harness), on git
 * repositories the tests make with the git CLI (and bare remotes on the local file system): approvals
 * across environments, idempotence, --prune, malformed files (typed error naming file and line,
 * nothing written), --rev of an older commit, the export round trip, and a direct edit between plan
 * and apply (a conflict, not overwritten).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitFiles, git, initRepo } from '@summit-config/test-support/git';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness } from './cli-harness.js';

let root: string;
let counter = 0;

/** A new repository with `files` committed; returns its path and the commit. */
async function repoWith(files: Record<string, unknown>): Promise<{ dir: string; sha: string }> {
  const dir = join(root, `repo-${++counter}`);
  await initRepo(dir);
  return { dir, sha: await commitFiles(dir, files, 'initial') };
}

/** Writes `files` (objects as JSON, which is YAML; null removes) and commits. */
const commit = commitFiles;

const ENVS = [
  { name: 'dev', production: false },
  { name: 'production', production: true },
];

const DB_SCHEMA = {
  type: 'object',
  properties: { port: { type: 'integer', minimum: 1 }, host: { type: 'string' } },
  required: ['port'],
};

let h: Harness;
const harnesses: Harness[] = [];

async function fresh(label: string): Promise<Harness> {
  const made = await realHarness(label);
  harnesses.push(made);
  return made;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'summit-gitops-test-'));
});

afterEach(async () => {
  for (const x of harnesses.splice(0)) await x.cleanup();
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** How many audit events the store holds. */
async function auditCount(x: Harness): Promise<number> {
  const r = await x.run(['audit', '--json', '--limit', '10000']);
  expect(r.code, r.stderr).toBe(0);
  return (r.json() as unknown[]).length;
}

async function head(x: Harness, ref: string) {
  const r = await x.run(['get', ref, '--raw', '--json']);
  return r.code === 0 ? r.json() : undefined;
}

async function openRequests(x: Harness) {
  const r = await x.run(['pending', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.json() as Array<{ id: string; ref: { scope: string; id: string }; message: string; status: string }>;
}

describe('gitops plan and apply', () => {
  it('applies open environments directly and guarded ones as change requests carrying the commit', async () => {
    h = await fresh('gitops_appr');
    const { dir, sha } = await repoWith({
      'environments.yaml': ENVS,
      'schemas/db.json': DB_SCHEMA,
      'configs/global/db.yaml': { config: { port: 5432, host: 'db' }, overrides: { production: { host: 'db-prod' } } },
      'configs/app:shop/cache.json': { config: { ttl: 10 }, metadata: { owner: 'shop-team' } },
    });

    const plan = await h.run(['gitops', 'plan', dir, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = plan.json();
    expect(p.commit).toBe(sha);
    expect(
      p.environments
        .filter((e: { action: string }) => e.action === 'create')
        .map((e: { name: string }) => e.name)
        .sort(),
    ).toEqual(['dev', 'production']);
    expect(p.schemas).toMatchObject([{ id: 'db', action: 'register', file: 'schemas/db.json' }]);
    const db = p.refs.find((r: { ref: string }) => r.ref === 'global/db');
    expect(db).toMatchObject({
      action: 'create',
      baseVersion: 0,
      file: 'configs/global/db.yaml',
      schema: { valid: true, from: 'tree' },
    });
    expect(db.approvals).toEqual([{ environment: 'production', requiredApprovals: 1 }]);
    expect(db.patch).toContainEqual({ op: 'add', path: '/config/port', value: 5432 });
    expect(db.patch).toContainEqual({ op: 'replace', path: '/deleted', value: false });
    // Planning wrote nothing.
    expect(await head(h, 'global/db')).toBeUndefined();

    // A reader (config-reader) may plan, e.g. in CI, and sees the same plan; it cannot apply.
    const asReader = await h.run(['gitops', 'plan', dir, '--json'], { actor: 'rita' });
    expect(asReader.code, asReader.stderr).toBe(0);
    expect(asReader.json().summary).toEqual(p.summary);
    const denied = await h.run(['gitops', 'apply', dir, '--json'], { actor: 'rita' });
    expect(denied.code).toBe(3);
    expect(denied.error().code).toBe('ACCESS_DENIED');
    expect(await head(h, 'global/db')).toBeUndefined();

    const applied = await h.run(['gitops', 'apply', dir, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    const report = applied.json();
    const proposed = report.results.filter((r: { outcome: string }) => r.outcome === 'proposed');
    expect(proposed.map((r: { name: string }) => r.name).sort()).toEqual(['app:shop/cache', 'global/db']);
    const requests = await openRequests(h);
    expect(requests).toHaveLength(2);
    for (const r of requests) expect(r.message).toContain(sha);
    expect(await head(h, 'global/db')).toBeUndefined();

    // A second apply of the same commit proposes nothing again and writes nothing.
    const before = await auditCount(h);
    const again = await h.run(['gitops', 'apply', dir, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().written).toBe(0);
    expect(again.json().results.filter((r: { outcome: string }) => r.outcome === 'request-open')).toHaveLength(2);
    expect(await openRequests(h)).toHaveLength(2);
    expect(await auditCount(h)).toBe(before);

    // Another person approves; the next apply applies the approved requests.
    for (const r of requests) {
      const ok = await h.run(['approve', r.id], { actor: 'bob' });
      expect(ok.code, ok.stderr).toBe(0);
    }
    const third = await h.run(['gitops', 'apply', dir, '--json']);
    expect(third.code, third.stderr).toBe(0);
    expect(third.json().results.filter((r: { outcome: string }) => r.outcome === 'request-applied')).toHaveLength(2);
    const written = await head(h, 'global/db');
    expect(written.config).toEqual({ port: 5432, host: 'db' });
    expect(written.overrides).toEqual({ production: { host: 'db-prod' } });
    expect(written.metadata.gitops).toEqual({ repo: dir, path: 'configs/global/db.yaml', commit: sha });
    const cache = await head(h, 'app:shop/cache');
    expect(cache.metadata.owner).toBe('shop-team');
    expect(cache.metadata.gitops.path).toBe('configs/app:shop/cache.json');

    // Now in sync: the plan shows no change.
    const synced = (await h.run(['gitops', 'plan', dir, '--json'])).json();
    expect(synced.summary).toMatchObject({ create: 0, update: 0, delete: 0, proposals: 0 });
    const settled = await auditCount(h);
    const noop = await h.run(['gitops', 'apply', dir, '--json']);
    expect(noop.code, noop.stderr).toBe(0);
    expect(noop.json().written).toBe(0);
    expect(await auditCount(h)).toBe(settled);
    expect((await head(h, 'global/db')).version).toBe(written.version);

    // A change to the dev override touches only dev: written at once, the audit row names the commit.
    const sha2 = await commit(
      dir,
      {
        'configs/global/db.yaml': {
          config: { port: 5432, host: 'db' },
          overrides: { production: { host: 'db-prod' }, dev: { host: 'db-dev' } },
        },
      },
      'dev host',
    );
    const p2 = (await h.run(['gitops', 'plan', dir, '--json'])).json();
    const db2 = p2.refs.find((r: { ref: string }) => r.ref === 'global/db');
    expect(db2).toMatchObject({
      action: 'update',
      approvals: [],
      patch: [{ op: 'add', path: '/overrides/dev', value: { host: 'db-dev' } }],
    });
    const a2 = await h.run(['gitops', 'apply', dir, '--json']);
    expect(a2.code, a2.stderr).toBe(0);
    expect(a2.json().results).toContainEqual(
      expect.objectContaining({ name: 'global/db', outcome: 'updated', version: written.version + 1 }),
    );
    const audit = (await h.run(['audit', 'global/db', '--json'])).json() as Array<{
      action: string;
      message: string;
      version?: number;
    }>;
    const row = audit.find((e) => e.action === 'config.set' && e.version === written.version + 1);
    expect(row?.message).toContain(sha2);
    expect(row?.message).toContain('configs/global/db.yaml');
    expect((await head(h, 'global/db')).metadata.gitops.commit).toBe(sha2);
  });

  it('lists open gitops requests a later commit supersedes, and proposes the new content once', async () => {
    h = await fresh('gitops_super');
    const { dir } = await repoWith({ 'environments.yaml': ENVS, 'configs/global/svc.yaml': { config: { v: 1 } } });
    const first = (await h.run(['gitops', 'apply', dir, '--json'])).json();
    const r1 = first.results.find((r: { name: string }) => r.name === 'global/svc').requestId;
    expect(r1).toEqual(expect.any(String));
    await commit(dir, { 'configs/global/svc.yaml': { config: { v: 2 } } }, 'v2');
    const p = (await h.run(['gitops', 'plan', dir, '--json'])).json().refs[0];
    expect(p).toMatchObject({ ref: 'global/svc', action: 'create', superseded: [r1] });
    expect(p.openRequest).toBeUndefined();
    const text = await h.run(['gitops', 'plan', dir]);
    expect(text.stdout).toContain(`superseded gitops request(s) still open: ${r1}`);
    const second = (await h.run(['gitops', 'apply', dir, '--json'])).json();
    const r2 = second.results.find((r: { name: string }) => r.name === 'global/svc').requestId;
    expect(r2).not.toBe(r1);
    const again = (await h.run(['gitops', 'plan', dir, '--json'])).json().refs[0];
    expect(again).toMatchObject({ openRequest: { id: r2, status: 'pending' }, superseded: [r1] });
    expect((await openRequests(h)).map((r) => r.id).sort()).toEqual([r1, r2].sort());

    // The old one is approved and applied anyway: the newer one, made against v0, is stale now.
    expect((await h.run(['approve', r1], { actor: 'bob' })).code).toBe(0);
    expect((await h.run(['apply', r1])).code).toBe(0);
    const stale = (await h.run(['gitops', 'plan', dir, '--json'])).json().refs[0];
    expect(stale).toMatchObject({ action: 'update', baseVersion: 1, superseded: [r2] });
    expect(stale.openRequest).toBeUndefined();
    const third = (await h.run(['gitops', 'apply', dir, '--json'])).json();
    const r3 = third.results.find((r: { name: string }) => r.name === 'global/svc');
    expect(r3).toMatchObject({ outcome: 'proposed' });
    expect(r3.requestId).not.toBe(r2);
  });

  it('refuses a document that fails its schema: plan exits 2 with the issues, apply writes nothing', async () => {
    h = await fresh('gitops_schema');
    const { dir } = await repoWith({
      'environments.yaml': [{ name: 'dev', production: false }],
      'schemas/db.json': DB_SCHEMA,
      'configs/global/db.yaml': { config: { port: 'not-a-number' } },
      'configs/global/other.yaml': { config: { fine: true } },
    });
    const plan = await h.run(['gitops', 'plan', dir, '--json']);
    expect(plan.code).toBe(2);
    expect(plan.error().code).toBe('SCHEMA_VALIDATION');
    const verdict = plan.json().refs.find((r: { ref: string }) => r.ref === 'global/db').schema;
    expect(verdict.valid).toBe(false);
    expect(verdict.issues[0].pointer).toBe('/port');
    const before = await auditCount(h);
    const apply = await h.run(['gitops', 'apply', dir, '--json']);
    expect(apply.code).toBe(2);
    expect(await head(h, 'global/other')).toBeUndefined();
    expect(await auditCount(h)).toBe(before);
  });

  it('publishes a breaking schema only with --force-schemas, and checks kept documents against a new schema', async () => {
    h = await fresh('gitops_schemas');
    const props = { port: { type: 'integer' }, host: { type: 'string' } };
    const { dir } = await repoWith({
      'schemas/svc.json': { type: 'object', properties: props },
      'configs/global/svc.yaml': { config: { port: 1 } },
    });
    expect((await h.run(['gitops', 'apply', dir])).code).toBe(0);
    // host becomes required: breaking for the registry, and the tree's document gains it.
    await commit(
      dir,
      {
        'schemas/svc.json': { type: 'object', properties: props, required: ['host'] },
        'configs/global/svc.yaml': { config: { port: 1, host: 'h' } },
      },
      'require host',
    );
    const plan = (await h.run(['gitops', 'plan', dir, '--json'])).json();
    expect(plan.schemas[0]).toMatchObject({ id: 'svc', action: 'register', currentVersion: 1, compatible: false });
    expect(plan.refs[0].schema).toMatchObject({ from: 'tree', valid: true });
    const refused = await h.run(['gitops', 'apply', dir, '--json']);
    expect(refused.code).not.toBe(0);
    expect(refused.json().results).toContainEqual(
      expect.objectContaining({ kind: 'schema', name: 'svc', outcome: 'failed' }),
    );
    expect((await head(h, 'global/svc')).config).toEqual({ port: 1 });
    expect((await h.run(['schema', 'get', 'svc', '--json'])).json().version).toBe(1);
    const forced = await h.run(['gitops', 'apply', dir, '--force-schemas', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect((await h.run(['schema', 'get', 'svc', '--json'])).json().version).toBe(2);
    expect((await head(h, 'global/svc')).config).toEqual({ port: 1, host: 'h' });

    // A document the tree does not hold is still checked when its schema changes.
    expect((await h.run(['set', 'app:x/svc', '--json-value', '{"port": 2}'])).code).toBe(0);
    await commit(
      dir,
      { 'schemas/svc.json': { type: 'object', properties: { ...props, port: { type: 'integer', maximum: 1 } } } },
      'port at most 1',
    );
    const bad = await h.run(['gitops', 'plan', dir, '--json']);
    expect(bad.code).toBe(2);
    const kept = bad.json().refs.find((r: { ref: string }) => r.ref === 'app:x/svc');
    expect(kept).toMatchObject({ action: 'absent', schema: { valid: false } });
    expect(kept.schema.issues[0].pointer).toBe('/port');
  });

  it('deletes refs missing from the tree only with --prune', async () => {
    h = await fresh('gitops_prune');
    const { dir } = await repoWith({
      'environments.yaml': [{ name: 'dev', production: false }],
      'configs/global/a.yaml': { config: { a: 1 } },
      'configs/global/b.yaml': { config: { b: 1 } },
    });
    expect((await h.run(['gitops', 'apply', dir])).code).toBe(0);
    await commit(dir, { 'configs/global/b.yaml': null }, 'drop b');
    const kept = (await h.run(['gitops', 'plan', dir, '--json'])).json();
    expect(kept.refs.find((r: { ref: string }) => r.ref === 'global/b')).toMatchObject({ action: 'absent', patch: [] });
    const apply = await h.run(['gitops', 'apply', dir, '--json']);
    expect(apply.code, apply.stderr).toBe(0);
    expect(apply.json().written).toBe(0);
    expect((await head(h, 'global/b'))?.config).toEqual({ b: 1 });

    const pruned = (await h.run(['gitops', 'plan', dir, '--prune', '--json'])).json();
    expect(pruned.refs.find((r: { ref: string }) => r.ref === 'global/b')).toMatchObject({ action: 'delete' });
    const text = await h.run(['gitops', 'plan', dir, '--prune']);
    expect(text.stdout).toMatch(/- global\/b .*delete/);
    const applied = await h.run(['gitops', 'apply', dir, '--prune', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json().results).toContainEqual(expect.objectContaining({ name: 'global/b', outcome: 'deleted' }));
    expect((await head(h, 'global/b'))?.metadata?.deleted).toBe(true);
    expect((await head(h, 'global/a'))?.config).toEqual({ a: 1 });
  });

  it('names file and line of a malformed YAML or JSON file, and writes nothing', async () => {
    h = await fresh('gitops_bad');
    const yamlText = 'config:\n  port: 5432\n  hosts: [a, b\n';
    const jsonText = '{\n  "config": {\n    "port": 1,\n  }\n}\n';
    const { dir } = await repoWith({
      'configs/global/good.yaml': { config: { ok: true } },
      'configs/global/bad.yaml': yamlText,
    });
    const before = await auditCount(h);
    for (const args of [
      ['gitops', 'plan', dir, '--json'],
      ['gitops', 'apply', dir, '--json'],
    ]) {
      const r = await h.run(args);
      expect(r.code).toBe(2);
      const e = r.error();
      expect(e.code).toBe('CONSTRAINT_VIOLATION');
      expect(e.file).toBe('configs/global/bad.yaml');
      expect(e.line).toBeGreaterThanOrEqual(3);
      expect(e.message).toContain(`configs/global/bad.yaml:${e.line}`);
    }
    await commit(dir, { 'configs/global/bad.yaml': null, 'configs/global/bad.json': jsonText }, 'json');
    const r = await h.run(['gitops', 'apply', dir, '--json']);
    expect(r.code).toBe(2);
    const e = r.error();
    expect(e.file).toBe('configs/global/bad.json');
    // The trailing comma is on line 3; JSON.parse stops at the closing brace after it.
    const braceLine = jsonText.split('\n').findIndex((l) => l.trim() === '}') + 1;
    expect(e.line).toBe(braceLine);
    // An unknown key names the file and the key's line.
    await commit(
      dir,
      { 'configs/global/bad.json': null, 'configs/global/extra.yaml': 'config: {}\nrollouts: {}\n' },
      'key',
    );
    const k = await h.run(['gitops', 'plan', dir, '--json']);
    expect(k.code).toBe(2);
    expect(k.error()).toMatchObject({ file: 'configs/global/extra.yaml', line: 2 });
    expect(k.error().message).toContain('rollouts');
    // Overrides naming an environment nobody defines: refused at plan time, naming the file and the line.
    await commit(
      dir,
      { 'configs/global/extra.yaml': null, 'configs/global/env.yaml': 'config: {}\noverrides:\n  staging: { a: 1 }\n' },
      'env',
    );
    const env = await h.run(['gitops', 'apply', dir, '--json']);
    expect(env.code).toBe(2);
    expect(env.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION', file: 'configs/global/env.yaml', line: 2 });
    expect(env.error().message).toContain('"staging"');
    // Environments whose parent is unknown: refused naming environments.yaml.
    await commit(
      dir,
      { 'configs/global/env.yaml': null, 'environments.yaml': [{ name: 'eu', parent: 'nowhere', production: false }] },
      'parent',
    );
    const parent = await h.run(['gitops', 'apply', dir, '--json']);
    expect(parent.code).not.toBe(0);
    expect(parent.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION', file: 'environments.yaml' });
    // Nothing was written by any of them.
    expect(await head(h, 'global/good')).toBeUndefined();
    expect(await auditCount(h)).toBe(before);
  });

  it('reads an older commit with --rev, and a bare remote by path and by file:// URL', async () => {
    h = await fresh('gitops_rev');
    const { dir, sha: first } = await repoWith({ 'configs/global/svc.yaml': { config: { level: 1 } } });
    const second = await commit(dir, { 'configs/global/svc.yaml': { config: { level: 2 } } }, 'level 2');
    const old = await h.run(['gitops', 'apply', dir, '--rev', first, '--json']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.json().commit).toBe(first);
    const v1 = await head(h, 'global/svc');
    expect(v1.config).toEqual({ level: 1 });
    expect(v1.metadata.gitops.commit).toBe(first);

    const bare = join(root, `remote-${++counter}.git`);
    git(root, 'clone', '--quiet', '--bare', dir, bare);
    const byPath = (await h.run(['gitops', 'plan', bare, '--json'])).json();
    expect(byPath.commit).toBe(second);
    expect(byPath.refs[0]).toMatchObject({
      ref: 'global/svc',
      action: 'update',
      patch: [{ op: 'replace', path: '/config/level', value: 2 }],
    });
    // A tag of the remote is a revision too.
    git(dir, 'tag', 'v1', first);
    git(dir, 'push', '--quiet', bare, 'v1');
    const tagged = (await h.run(['gitops', 'plan', `file://${bare}`, '--rev', 'v1', '--json'])).json();
    expect(tagged.commit).toBe(first);
    expect(tagged.summary).toMatchObject({ unchanged: 1, update: 0 });
    const url = `file://${bare}`;
    const byUrl = await h.run(['gitops', 'apply', url, '--json']);
    expect(byUrl.code, byUrl.stderr).toBe(0);
    expect(byUrl.json().commit).toBe(second);
    const v2 = await head(h, 'global/svc');
    expect(v2.config).toEqual({ level: 2 });
    expect(v2.metadata.gitops).toEqual({ repo: url, path: 'configs/global/svc.yaml', commit: second });
    // --rev of something that is not a commit is NOT_FOUND; --rev on a plain directory is refused.
    expect((await h.run(['gitops', 'plan', dir, '--rev', 'no-such-branch', '--json'])).code).toBe(4);
    const plain = join(root, `plain-${++counter}`);
    await mkdir(join(plain, 'configs', 'global'), { recursive: true });
    expect((await h.run(['gitops', 'plan', plain, '--rev', first, '--json'])).code).toBe(2);
  });

  it('refuses to overwrite a direct edit made between plan and apply', async () => {
    h = await fresh('gitops_race');
    const { dir } = await repoWith({ 'configs/global/flags.yaml': { config: { beta: false } } });
    expect((await h.run(['gitops', 'apply', dir])).code).toBe(0);
    await commit(dir, { 'configs/global/flags.yaml': { config: { beta: true } } }, 'beta on');
    const planned = await h.run(['gitops', 'plan', dir, '--json']);
    const planFile = join(root, `plan-${++counter}.json`);
    await writeFile(planFile, planned.stdout);
    // Someone edits the ref directly.
    const edit = await h.run(
      ['set', 'global/flags', '--document', '--json-value', '{"config":{"beta":false,"hotfix":1}}'],
      {
        actor: 'bob',
      },
    );
    expect(edit.code, edit.stderr).toBe(0);
    const apply = await h.run(['gitops', 'apply', dir, '--plan', planFile, '--json']);
    expect(apply.code).toBe(1);
    expect(apply.error().code).toBe('VERSION_CONFLICT');
    expect(apply.json().results).toContainEqual(expect.objectContaining({ name: 'global/flags', outcome: 'conflict' }));
    expect((await head(h, 'global/flags')).config).toEqual({ beta: false, hotfix: 1 });
  });
});

describe('gitops export', () => {
  it('round trip: export, then plan the exported directory, shows no change', async () => {
    h = await fresh('gitops_export');
    // Refs first: once a production environment exists, a new ref needs approval there.
    const steps: string[][] = [
      ['env', 'create', 'staging'],
      ['schema', 'register', 'db', '--json-value', JSON.stringify(DB_SCHEMA)],
      [
        'set',
        'global/db',
        '--document',
        '--json-value',
        JSON.stringify({ config: { port: 5432, host: 'h' }, overrides: { staging: { host: 's' } } }),
      ],
      [
        'set',
        'app:shop/db',
        '--document',
        '--json-value',
        JSON.stringify({
          config: { port: 6432, tags: ['a', 'b'], nested: { z: 1, a: { '01': '1' } } },
          rollout: { rules: [{ id: 'p', strategy: 'percentage', bps: 2500, patch: { pool: 5 } }] },
          metadata: { owner: 'shop' },
        }),
      ],
      ['set', 'app:shop/features/checkout', '--json-value', '{"new": true, "limit": 1.5, "note": "yes", "n": null}'],
      ['set', 'global/gone', '--json-value', '{"x": 1}'],
      ['delete', 'global/gone'],
      ['env', 'create', 'production', '--production', '--required-approvals', '2', '--approvers', 'bob,carol'],
      ['env', 'create', 'production-eu', '--parent', 'production', '--production'],
    ];
    for (const step of steps) {
      const r = await h.run(step);
      expect(r.code, `${step.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const out = join(root, `export-${++counter}`);
    const exported = await h.run(['gitops', 'export', out, '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.json()).toMatchObject({ refs: 3, schemas: 1, environments: 3 });
    expect(exported.json().files).toContain('configs/app:shop/features/checkout.yaml');

    const plan = await h.run(['gitops', 'plan', out, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = plan.json();
    expect(p.commit).toBeUndefined();
    expect(p.summary).toMatchObject({ create: 0, update: 0, delete: 0, absent: 0, proposals: 0, invalid: 0 });
    expect(p.summary.unchanged).toBe(3);
    expect(p.environments.every((e: { action: string }) => e.action === 'unchanged')).toBe(true);
    expect(p.schemas.every((s: { action: string }) => s.action === 'unchanged')).toBe(true);

    // The exported tree committed to a repository plans the same, and a second export is identical.
    git(out, 'init', '--quiet', '--initial-branch=main');
    const sha = await commit(out, {}, 'export');
    const fromGit = (await h.run(['gitops', 'plan', out, '--json'])).json();
    expect(fromGit.commit).toBe(sha);
    expect(fromGit.summary).toEqual(p.summary);
    expect((await h.run(['gitops', 'export', out])).code).toBe(0);
    expect(git(out, 'status', '--porcelain')).toBe('');
  });
});
