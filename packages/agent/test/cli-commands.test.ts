/**
 * Every `summit-config` command once with --json, in process (`runCli`), against the real Consul
 * and PostgreSQL on a fresh prefix and schema: the JSON output and exit code 0. The tests build on
 * each other in order (one store state per file).
 */
import { mkdir } from 'node:fs/promises';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext } from '@summit-config/core';
import { slowly, until } from '@summit-config/test-support/wait';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, MASTER_KEY, realHarness } from './cli-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await realHarness('cmds');
});
afterAll(async () => {
  await h?.cleanup();
});

async function ok(args: string[], options: Parameters<Harness['run']>[1] = {}) {
  const r = await h.run([...args, '--json'], options);
  if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.json();
}

describe('summit-config commands (--json, exit 0)', () => {
  it('env create / update / list', async () => {
    expect(await ok(['env', 'create', 'staging'])).toEqual({ name: 'staging', production: false });
    expect(await ok(['env', 'create', 'qa', '--parent', 'staging', '--approvers', 'alice,carol'])).toEqual({
      name: 'qa',
      parent: 'staging',
      production: false,
      approvalPolicy: { requiredApprovals: 0, approvers: ['alice', 'carol'] },
    });
    expect(await ok(['env', 'update', 'qa', '--parent', 'staging', '--expires-after-hours', '4'])).toEqual({
      name: 'qa',
      parent: 'staging',
      production: false,
      approvalPolicy: { requiredApprovals: 0, expiresAfterHours: 4 },
    });
    const envs = await ok(['env', 'list'], { actor: 'rita' });
    expect(envs.map((e: { name: string }) => e.name).sort()).toEqual(['qa', 'staging']);
  });

  it('set (from --json-value, --env, stdin YAML), get (raw and resolved), explain, list, versions, diff', async () => {
    const v1 = await ok(['set', 'global/database', '--json-value', '{"host":"db","port":5432}', '-m', 'first']);
    expect(v1).toMatchObject({ ref: 'global/database', version: 1, createdBy: 'alice', message: 'first' });
    expect(v1.checksum).toMatch(/^[0-9a-f]{64}$/);
    const v2 = await ok(['set', 'global/database', '--env', 'staging', '--json-value', '{"host":"db-staging"}']);
    expect(v2).toMatchObject({ version: 2 });
    const app = await ok(['set', 'app:billing/database'], { stdin: 'pool: 10\ntls: true\n', actor: 'bob' });
    expect(app).toMatchObject({ ref: 'app:billing/database', version: 1, createdBy: 'bob' });

    const raw = await ok(['get', 'global/database']);
    expect(raw).toMatchObject({
      ref: { scope: 'global', id: 'database' },
      version: 2,
      config: { host: 'db', port: 5432 },
      overrides: { staging: { host: 'db-staging' } },
      checksum: v2.checksum,
    });
    expect(await ok(['get', 'global/database', '--raw', '--version', '1'])).toMatchObject({
      version: 1,
      overrides: {},
    });

    const resolved = await ok(['get', 'app:billing/database', '--environment', 'staging'], { actor: 'rita' });
    expect(resolved).toMatchObject({
      id: 'database',
      app: 'billing',
      environment: 'staging',
      value: { host: 'db-staging', port: 5432, pool: 10, tls: true },
      versions: { global: 2, app: 1 },
      reason: 'STATIC',
      stale: false,
    });
    expect(['consul', 'postgres']).toContain(resolved.source);

    const explained = await ok(['explain', 'database', '--app', 'billing', '-e', 'staging']);
    expect(explained.explain['/host']).toMatchObject({
      value: 'db-staging',
      layer: { kind: 'override', environment: 'staging', version: 2 },
    });
    expect(explained.explain['/pool']).toMatchObject({ value: 10, layer: { kind: 'app', scope: 'app:billing' } });

    const all = await ok(['list']);
    expect(all).toEqual([
      { ref: 'app:billing/database', version: 1, checksum: app.checksum },
      { ref: 'global/database', version: 2, checksum: v2.checksum },
    ]);
    expect((await ok(['list', '--filter', 'app:*/**'])).map((r: { ref: string }) => r.ref)).toEqual([
      'app:billing/database',
    ]);
    expect(await ok(['list', '--scope', 'global'])).toHaveLength(1);

    const history = await ok(['versions', 'global/database']);
    expect(history.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(history[1]).toMatchObject({ createdBy: 'alice', message: 'first', deleted: false });

    const diff = await ok(['diff', 'global/database', '1', '2']);
    expect(diff).toEqual({
      ref: 'global/database',
      from: 1,
      to: 2,
      patch: [{ op: 'add', path: '/overrides/staging', value: { host: 'db-staging' } }],
    });
  });
  it('rollback and delete (tombstone), rollback of the delete', async () => {
    const back = await ok(['rollback', 'global/database', '1']);
    expect(back).toMatchObject({ version: 3, message: 'rollback to v1' });
    expect(await ok(['get', 'global/database'])).toMatchObject({ version: 3, overrides: {}, config: { host: 'db' } });

    const deleted = await ok(['delete', 'app:billing/database', '-m', 'gone']);
    expect(deleted).toMatchObject({ version: 2, deleted: true, message: 'gone' });
    const restored = await ok(['rollback', 'app:billing/database']);
    expect(restored).toMatchObject({ version: 3 });
    expect(await ok(['get', 'app:billing/database'])).toMatchObject({ config: { pool: 10, tls: true } });
  });
  it('schema register, validate, get', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: { pool: { type: 'integer', default: 5 }, tls: { type: 'boolean' }, host: { type: 'string' } },
    });
    const report = await ok(['schema', 'register', 'database', '--json-value', schema]);
    expect(report).toMatchObject({ id: 'database', version: 1, changed: true, stopsValidating: [] });
    expect(await ok(['schema', 'validate', 'database', '--json-value', '{"pool":3}'])).toEqual({
      id: 'database',
      version: 1,
      valid: true,
      issues: [],
    });
    expect(await ok(['schema', 'get', 'database'])).toMatchObject({ id: 'database', version: 1 });
  });
  it('secret create (stdin), policy, list, rotate: configs referencing it are bumped; no value is printed', async () => {
    const created = await ok(['secret', 'create', 'db-pass', '--rotation-days', '30', '--label', 'team=billing'], {
      actor: 'carol',
      stdin: 'hunter2-value\n',
    });
    expect(created).toMatchObject({
      provider: 'local',
      name: 'db-pass',
      version: '1',
      stage: 'current',
      labels: { team: 'billing' },
      policy: { intervalDays: 30, state: 'idle', enabled: true },
    });
    await ok([
      'set',
      'app:billing/credentials',
      '--json-value',
      '{"password":{"$secret":{"provider":"local","name":"db-pass"}}}',
    ]);
    const listed = await ok(['secret', 'list'], { actor: 'carol' });
    expect(listed).toEqual([
      expect.objectContaining({ name: 'db-pass', current: '1', versions: 1, rotation: expect.any(Object) }),
    ]);
    const rotated = await h.run(['secret', 'rotate', 'db-pass', '--json'], { actor: 'carol' });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json()).toMatchObject({
      state: 'rotating',
      step: 'grace',
      run: { newVersion: '2', previousVersion: '1', bumps: [{ ref: 'app:billing/credentials', version: 2 }] },
    });
    const policy = await ok(['secret', 'policy', 'db-pass', '--cron', '0 3 * * *', '--grace-days', '1'], {
      actor: 'carol',
    });
    expect(policy).toMatchObject({ cron: '0 3 * * *', graceMs: 86_400_000, state: 'rotating' });
    expect((await ok(['secret', 'list'], { actor: 'carol' }))[0]).toMatchObject({ current: '2', previous: '1' });
    const trail = JSON.stringify(await ok(['audit', '--action', 'secret.create']));
    expect(trail).toContain('local/db-pass');
    for (const text of [JSON.stringify(created), JSON.stringify(listed), rotated.stdout, rotated.stderr, trail]) {
      expect(text).not.toContain('hunter2');
    }
    expect(MASTER_KEY).toHaveLength(44);
  });
  it('drift detect (--exit-code), drift report --all, reconcile', async () => {
    expect(await ok(['drift', 'detect'])).toMatchObject({ examined: 3, findings: [], remediated: 0 });
    // A version written to PostgreSQL only: Consul lacks the ref.
    const pgOnly = createPostgresStore({ connectionString: h.env.DATABASE_URL as string, schema: h.schema });
    try {
      await appendNext(pgOnly, { ref: 'global/pg-only', config: { a: 1 }, createdBy: 'test' });
    } finally {
      await pgOnly.close();
    }
    const found = await h.run(['drift', 'detect', 'global/pg-only', '--exit-code', '--json']);
    expect(found.code).toBe(1);
    expect(found.json().findings).toEqual([
      expect.objectContaining({ kind: 'missing', ref: 'global/pg-only', tier: 'consul' }),
    ]);
    const report = await ok(['drift', 'report', '--all']);
    expect(report.counts).toMatchObject({ missing: 1, 'head-mismatch': 0 });
    expect(report.refs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ref: 'global/pg-only', kinds: ['missing'] }),
        expect.objectContaining({ ref: 'global/database', findings: 0 }),
      ]),
    );
    const reconciled = await ok(['reconcile']);
    expect(reconciled.copied).toEqual([{ ref: 'global/pg-only', version: 1, from: 'postgres', to: 'consul' }]);
    expect(await ok(['drift', 'detect', '--exit-code'])).toMatchObject({ findings: [] });
  });
  it('watch --json --initial prints the current heads, then the change made by a concurrent set', async () => {
    const lines: Array<Record<string, unknown>> = [];
    let partial = '';
    const controller = new AbortController();
    const watching = h.run(['watch', 'database', '--json', '--initial'], {
      signal: controller.signal,
      onStdout: (chunk) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop() ?? '';
        for (const p of parts) lines.push(JSON.parse(p));
      },
    });
    await until(
      () => lines.some((l) => l.initial === true && l.ref === 'global/database'),
      'the initial heads',
      slowly,
    );
    expect(lines.every((l) => String(l.ref).endsWith('/database'))).toBe(true);
    const written = await ok(['set', 'global/database', '--json-value', '{"host":"db2"}', '-m', 'watched']);
    await until(() => lines.some((l) => l.type === 'change'), 'the change', slowly);
    expect(lines.find((l) => l.type === 'change')).toEqual({
      type: 'change',
      ref: 'global/database',
      version: written.version,
      checksum: written.checksum,
      createdAt: written.createdAt,
      createdBy: 'alice',
      message: 'watched',
    });
    controller.abort();
    const done = await watching;
    expect(done.code).toBe(0);
  });

  it('watch --app --environment streams resolved values', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const controller = new AbortController();
    const watching = h.run(['watch', 'data*', '--app', 'billing', '-e', 'staging', '--initial', '--json'], {
      signal: controller.signal,
      actor: 'rita',
      onStdout: (chunk) => {
        for (const line of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      },
    });
    await until(() => lines.length > 0, 'the initial value', slowly);
    expect(lines[0]).toMatchObject({ type: 'value', initial: true, id: 'database', value: { host: 'db2', pool: 10 } });
    await ok(['set', 'app:billing/database', '--json-value', '{"pool":12,"tls":true}']);
    await until(() => lines.some((l) => l.type === 'change'), 'the resolved change', slowly);
    expect(lines.find((l) => l.type === 'change')).toMatchObject({
      id: 'database',
      ref: 'app:billing/database',
      value: { host: 'db2', pool: 12, tls: true },
    });
    controller.abort();
    expect((await watching).code).toBe(0);
  });
  it('propose, pending, approve, apply; reject; cancel', async () => {
    // From here on every change of a document production resolves needs an approval.
    expect(await ok(['env', 'create', 'production', '--production', '--approvers', 'alice,carol'])).toEqual({
      name: 'production',
      production: true,
      approvalPolicy: { requiredApprovals: 1, approvers: ['alice', 'carol'] },
    });
    const request = await ok(
      ['propose', 'app:billing/database', '--env', 'production', '--json-value', '{"pool":50}', '-m', 'bigger pool'],
      { actor: 'bob' },
    );
    expect(request).toMatchObject({
      status: 'pending',
      kind: 'set',
      baseVersion: 4,
      requestedBy: 'bob',
      environments: ['production'],
      requiredApprovals: 1,
    });
    const pending = await ok(['pending', '--env', 'production']);
    expect(pending.map((r: { id: string }) => r.id)).toEqual([request.id]);
    expect(await ok(['pending', '--env', 'staging'])).toEqual([]);

    expect(await ok(['approve', request.id, '--comment', 'fine'])).toMatchObject({
      status: 'approved',
      approvals: [{ by: 'alice', decision: 'approve', comment: 'fine' }],
    });
    const applied = await ok(['apply', request.id], { actor: 'bob' });
    expect(applied).toMatchObject({ status: 'applied', appliedVersion: 5 });
    expect(await ok(['get', 'app:billing/database', '-e', 'production'])).toMatchObject({
      value: { pool: 50 },
      versions: { app: 5 },
    });

    const second = await ok(['propose', 'app:billing/database', '--kind', 'rollback', '--to', '3'], { actor: 'bob' });
    expect(await ok(['reject', second.id, '--reason', 'not now'])).toMatchObject({
      status: 'rejected',
      reason: 'not now',
    });
    const third = await ok(['propose', 'app:billing/database', '--kind', 'delete'], { actor: 'bob' });
    expect(await ok(['cancel', third.id, '--reason', 'changed my mind'], { actor: 'bob' })).toMatchObject({
      status: 'cancelled',
    });
    expect(await ok(['pending'])).toEqual([]);
    expect((await ok(['pending', '--all'])).map((r: { status: string }) => r.status).sort()).toEqual([
      'applied',
      'cancelled',
      'rejected',
    ]);
  });
  it('audit (query) and audit verify', async () => {
    const events = await ok(['audit', 'app:billing/database'], { actor: 'rita' });
    const actions = events.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['config.set', 'config.delete', 'request.apply', 'request.reject']));
    expect(events.every((e: { ref: string }) => e.ref === 'app:billing/database')).toBe(true);
    const byBob = await ok(['audit', '--by', 'bob', '--action', 'request.', '--limit', '2']);
    expect(byBob).toHaveLength(2);
    expect(byBob.every((e: { actor: string; action: string }) => e.actor === 'bob' && e.action.startsWith('request.')));
    const verified = await ok(['audit', 'verify'], { actor: 'rita' });
    expect(verified).toMatchObject({ ok: true });
    expect(verified.checked).toBeGreaterThan(10);
  });
  it('migrate and template commands run on the same session and options', async () => {
    const dir = `${h.dir}/migrations`;
    const created = await ok(['migrate', 'create', 'add-timeout', '--dir', dir]);
    expect(created.name).toMatch(/^\d{14}-add-timeout$/);
    const status = await ok(['migrate', 'status', '--dir', dir], { actor: 'rita' });
    expect(status).toEqual([expect.objectContaining({ name: created.name, state: 'pending' })]);
    await mkdir(`${h.dir}/templates`);
    expect(await ok(['template', 'list', '--dir', `${h.dir}/templates`])).toEqual([]);
  });
});
