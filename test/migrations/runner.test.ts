/**
 * The migration runner on each backing (memory; the real PostgreSQL server; embedded PGlite): dry
 * runs, apply, resume after a failure part-way, concurrent runners, rollback, schema refusals,
 * approvals in guarded environments, changed migrations, bad selectors.
 */
import { isConfigError } from '@summit-config/core';
import {
  contentChecksum,
  createMigrationRunner,
  defineMigration,
  type Migration,
  MigrationError,
  type MigrationRunner,
  parseMigration,
} from '@summit-config/core/migrations';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  actors,
  BACKINGS,
  closeShared,
  codeOf,
  ENVIRONMENTS,
  failingAfter,
  fixtureMigrations,
  head,
  type MigrationHarness,
  migrationHarness,
  SELECTED,
  seed,
  snapshot,
} from './helpers.js';

afterAll(closeShared);

const root = actors.root;

describe.each(BACKINGS)('migration runner on %s', (backing) => {
  let h: MigrationHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function setup(options: Parameters<typeof migrationHarness>[1] = {}) {
    h = await migrationHarness(backing, options);
    await seed(h.service, root);
    const migrations = await fixtureMigrations();
    const runner = createMigrationRunner({ service: h.service, history: h.history, migrations });
    return { h, runner, migrations };
  }

  it('plan is a dry run: patches per affected ref over the simulated chain, nothing written', async () => {
    const { h, runner } = await setup();
    const before = await snapshot(h.service, root);
    const auditBefore = (await h.service.audit(root)).length;
    const plan = await runner.plan(root);
    expect(plan.refused).toBe(false);
    expect(plan.migrations.map((m) => [m.name, m.status, m.run])).toEqual([
      ['0001-add-timeouts', 'pending', 1],
      ['0002-rename-pool', 'pending', 1],
      ['0003-double-pool', 'pending', 1],
    ]);
    const [first, second, third] = plan.migrations;
    expect(first?.refs.map((r) => [r.ref, r.action])).toEqual([
      [SELECTED[0], 'update'],
      [SELECTED[1], 'unchanged'],
      [SELECTED[2], 'update'],
    ]);
    expect(first?.refs[0]?.patch).toEqual([{ op: 'add', path: '/config/timeouts', value: { connectMs: 5000 } }]);
    expect(second?.refs.every((r) => r.action === 'update' && r.valid)).toBe(true);
    expect(second?.refs[0]?.patch).toEqual(
      expect.arrayContaining([
        { op: 'remove', path: '/config/pool' },
        { op: 'add', path: '/config/poolSize', value: 10 },
      ]),
    );
    // The module migration sees the simulated result of 0002 (poolSize), not the stored pool.
    expect(third?.refs[0]?.patch).toEqual([{ op: 'replace', path: '/config/poolSize', value: 20 }]);
    expect(await snapshot(h.service, root)).toEqual(before);
    expect((await h.service.audit(root)).length).toBe(auditBefore);
    expect(await h.history.list()).toEqual([]);
    expect((await runner.status(root)).map((s) => s.state)).toEqual(['pending', 'pending', 'pending']);
  });

  it('apply writes one version per affected ref, named in message and metadata; applying again does nothing', async () => {
    const { h, runner, migrations } = await setup();
    const before = await snapshot(h.service, root);
    const report = await runner.apply(root);
    expect(report.migrations.map((m) => [m.name, m.outcome, m.written])).toEqual([
      ['0001-add-timeouts', 'applied', 2],
      ['0002-rename-pool', 'applied', 3],
      ['0003-double-pool', 'applied', 3],
    ]);
    const billing = await head(h.service, root, SELECTED[0] as string);
    expect(billing.config).toEqual({ host: 'db1', poolSize: 20, timeouts: { connectMs: 5000 } });
    expect(billing.version).toBe(4);
    expect(billing.message).toContain('0003-double-pool');
    expect(billing.metadata.migration).toEqual({
      name: '0003-double-pool',
      version: '3',
      checksum: migrations[2]?.checksum,
      run: 1,
    });
    const orders = await h.service.history(root, SELECTED[1] as string);
    expect(orders.map((v) => v.message)).toEqual([
      expect.stringContaining('0003-double-pool'),
      expect.stringContaining('0002-rename-pool'),
      '',
    ]);
    // Documents outside the selector are untouched.
    const after = await snapshot(h.service, root);
    expect(after['global/services/shared/database']).toEqual(before['global/services/shared/database']);
    expect(after['app:billing/services/billing/cache']).toEqual(before['app:billing/services/billing/cache']);
    // The audit trail names the migration.
    const events = await h.service.audit(root, { ref: SELECTED[0] });
    expect(events.some((e) => e.message.includes('0002-rename-pool'))).toBe(true);

    const status = await runner.status(root);
    expect(status.map((s) => [s.name, s.state, s.counts.applied, s.counts.unchanged])).toEqual([
      ['0001-add-timeouts', 'applied', 2, 1],
      ['0002-rename-pool', 'applied', 3, 0],
      ['0003-double-pool', 'applied', 3, 0],
    ]);
    expect(status[0]?.record?.checksum).toBe(migrations[0]?.checksum);

    const again = await runner.apply(root);
    expect(again.migrations).toEqual([]);
    expect((await runner.plan(root)).migrations).toEqual([]);
    expect(await snapshot(h.service, root)).toEqual(after);
  });

  it('apply only a target applies its dependencies first and nothing else', async () => {
    const { h, runner } = await setup();
    const report = await runner.apply(root, { only: ['0002-rename-pool'] });
    expect(report.migrations.map((m) => m.name)).toEqual(['0001-add-timeouts', '0002-rename-pool']);
    expect((await head(h.service, root, SELECTED[0] as string)).config.poolSize).toBe(10);
    expect(await codeOf(runner.apply(root, { only: ['nope'] }))).toBe('NOT_FOUND');
  });

  it('rollback appends the pre-migration content as new versions (content checksums restored), once', async () => {
    const { h, runner } = await setup();
    await runner.apply(root, { only: ['0001-add-timeouts'] });
    const applied = await h.history.listRefs('0001-add-timeouts', 1);
    const report = await runner.rollback(root, '0001-add-timeouts');
    expect(report.already).toBe(false);
    for (const r of applied.filter((x) => x.state === 'applied')) {
      const doc = await head(h.service, root, r.ref);
      expect(doc.version).toBe((r.afterVersion as number) + 1);
      expect(contentChecksum(doc)).toBe(r.beforeContent);
      const original = await h.service.getVersion(root, r.ref, r.beforeVersion);
      expect(doc.config).toEqual(original.config);
      expect(doc.checksum).not.toBe(original.checksum);
      expect(doc.message).toContain('rollback of migration 0001-add-timeouts');
      const rec = report.refs.find((x) => x.ref === r.ref);
      expect(rec?.rollback).toMatchObject({ state: 'rolled_back', version: doc.version, checksum: doc.checksum });
    }
    // The unchanged ref was left alone.
    expect((await head(h.service, root, SELECTED[1] as string)).version).toBe(1);
    expect((await h.history.get('0001-add-timeouts'))?.status).toBe('rolled_back');
    const heads = await snapshot(h.service, root);
    expect((await runner.rollback(root, '0001-add-timeouts')).already).toBe(true);
    expect(await snapshot(h.service, root)).toEqual(heads);
    // Applying again starts run 2, which writes again.
    const again = await runner.apply(root, { only: ['0001-add-timeouts'] });
    expect(again.migrations[0]).toMatchObject({ run: 2, written: 2 });
    expect((await head(h.service, root, SELECTED[0] as string)).metadata.migration).toMatchObject({ run: 2 });
    expect(await codeOf(runner.rollback(root, 'never-ran'))).toBe('NOT_FOUND');
  });

  it('rollback refuses refs changed since (CONFLICTING_CHANGE, nothing written) unless forced', async () => {
    const { h, runner } = await setup();
    await runner.apply(root, { only: ['0001-add-timeouts'] });
    const ref = SELECTED[2] as string;
    await h.service.set(root, { ref, config: { host: 'moved', pool: 5, timeouts: { connectMs: 5000 } } });
    const before = await snapshot(h.service, root);
    const error = await runner.rollback(root, '0001-add-timeouts').catch((e: unknown) => e);
    expect(isConfigError(error, 'CONFLICTING_CHANGE')).toBe(true);
    expect((error as Error).message).toContain(ref);
    expect(await snapshot(h.service, root)).toEqual(before);
    expect((await h.history.get('0001-add-timeouts'))?.status).toBe('applied');
    const forced = await runner.rollback(root, '0001-add-timeouts', { force: true });
    expect(forced.refs.find((r) => r.ref === ref)?.rollback).toMatchObject({ state: 'rolled_back', forced: true });
    expect((await head(h.service, root, ref)).config).toEqual({ host: 'db3', pool: 5 });
  });

  it('rollback of a migration that an applied migration depends on is refused', async () => {
    const { runner } = await setup();
    await runner.apply(root, { only: ['0002-rename-pool'] });
    const error = await runner.rollback(root, '0001-add-timeouts').catch((e: unknown) => e);
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
    expect((error as Error).message).toContain('0002-rename-pool');
    await runner.rollback(root, '0002-rename-pool');
    await runner.rollback(root, '0001-add-timeouts');
  });

  it.each([
    ['throws before the next write', false],
    ['writes, then throws (the write is never recorded)', true],
  ])('a failure part-way (%s) leaves done refs consistent; resume applies each ref exactly once', async (_, after) => {
    const { h, migrations } = await setup();
    const rename = migrations.filter((m) => m.name !== '0003-double-pool');
    const crashing = createMigrationRunner({
      service: failingAfter(h.service, 3, { after }),
      history: h.history,
      migrations: rename,
    });
    // 0001 writes 2 refs, 0002 writes its first; the fourth write (0002, second ref) is where it fails.
    const error = await crashing.apply(root).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/injected failure/);
    const record = await h.history.get('0002-rename-pool');
    expect(record).toMatchObject({ status: 'failed', run: 1 });
    expect(record?.error?.message).toMatch(/injected failure/);
    expect((await h.history.get('0001-add-timeouts'))?.status).toBe('applied');
    const status = await createMigrationRunner({ service: h.service, history: h.history, migrations: rename }).status(
      root,
    );
    expect(status[1]?.state).toBe('failed');

    const runner = createMigrationRunner({ service: h.service, history: h.history, migrations: rename });
    const plan = await runner.plan(root);
    expect(plan.migrations.map((m) => [m.name, m.status])).toEqual([['0002-rename-pool', 'resume']]);
    expect(plan.migrations[0]?.refs.map((r) => r.action)).toEqual(['done', after ? 'done' : 'update', 'update']);
    const report = await runner.apply(root);
    expect(report.migrations[0]).toMatchObject({ name: '0002-rename-pool', outcome: 'applied', run: 1 });
    for (const ref of SELECTED) {
      const versions = await h.service.history(root, ref);
      const renames = versions.filter(
        (v) => (v.metadata.migration as { name?: string } | undefined)?.name === '0002-rename-pool',
      );
      expect(renames).toHaveLength(1);
      expect((await head(h.service, root, ref)).config.poolSize).toBeTypeOf('number');
    }
    const refs = await h.history.listRefs('0002-rename-pool', 1);
    expect(refs.map((r) => r.state)).toEqual(['applied', 'applied', 'applied']);
    expect((await h.history.get('0002-rename-pool'))?.status).toBe('applied');
  });

  it('a failed run can be rolled back (what it did is undone), then applied again as run 2', async () => {
    const { h, migrations } = await setup();
    const two = migrations.slice(0, 2);
    await createMigrationRunner({ service: failingAfter(h.service, 3), history: h.history, migrations: two })
      .apply(root)
      .catch(() => undefined);
    expect((await h.history.get('0002-rename-pool'))?.status).toBe('failed');
    const runner = createMigrationRunner({ service: h.service, history: h.history, migrations: two });
    const rolled = await runner.rollback(root, '0002-rename-pool');
    expect(rolled.refs.map((r) => [r.ref, r.rollback?.state])).toEqual([[SELECTED[0], 'rolled_back']]);
    expect((await head(h.service, root, SELECTED[0] as string)).config).toMatchObject({ pool: 10 });
    const report = await runner.apply(root);
    expect(report.migrations[0]).toMatchObject({ name: '0002-rename-pool', run: 2, written: 3 });
  });

  it('a rollback that fails part-way is finished by the next rollback, each ref rolled back once', async () => {
    const { h, migrations } = await setup();
    const runner = createMigrationRunner({ service: h.service, history: h.history, migrations });
    await runner.apply(root, { only: ['0001-add-timeouts'] });
    const crashing = createMigrationRunner({
      service: failingAfter(h.service, 0, { after: true, methods: ['rollback'] }),
      history: h.history,
      migrations,
    });
    const failure = await crashing.rollback(root, '0001-add-timeouts').catch((e: unknown) => e);
    expect((failure as Error).message).toMatch(/injected/);
    const record = await h.history.get('0001-add-timeouts');
    expect(record?.status).toBe('rolling_back');
    expect(record?.error?.message).toMatch(/injected/);
    // Applying while the rollback is unfinished is refused.
    expect(await codeOf(runner.apply(root, { only: ['0001-add-timeouts'] }))).toBe('CONSTRAINT_VIOLATION');
    const done = await runner.rollback(root, '0001-add-timeouts');
    expect(done.refs.filter((r) => r.rollback?.state === 'rolled_back')).toHaveLength(2);
    for (const ref of [SELECTED[0], SELECTED[2]] as string[]) {
      const rollbacks = (await h.service.history(root, ref)).filter((v) =>
        v.message.startsWith('rollback of migration'),
      );
      expect(rollbacks).toHaveLength(1);
    }
    expect((await h.history.get('0001-add-timeouts'))?.status).toBe('rolled_back');
  });

  it('two runners started at once apply each migration once', async () => {
    const { h, migrations } = await setup();
    const twin = await h.twin();
    try {
      const a = createMigrationRunner({ service: h.service, history: h.history, migrations });
      const b = createMigrationRunner({ service: twin.service, history: h.newHistory(), migrations });
      const [ra, rb] = await Promise.all([a.apply(root), b.apply(root)]);
      const outcomes = [...ra.migrations, ...rb.migrations].map((m) => m.outcome);
      // One runner applied everything; the other found nothing left to do.
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(3);
      expect(outcomes.filter((o) => o !== 'applied' && o !== 'skipped')).toEqual([]);
      for (const ref of SELECTED) {
        const versions = await h.service.history(root, ref);
        const names = versions
          .map((v) => (v.metadata.migration as { name?: string } | undefined)?.name)
          .filter((n) => n !== undefined);
        expect(new Set(names).size).toBe(names.length);
      }
      expect((await head(h.service, root, SELECTED[0] as string)).config.poolSize).toBe(20);
    } finally {
      await twin.close();
    }
  });

  it('a migration that breaks schema validation is refused at plan time; apply writes nothing', async () => {
    const { h, runner } = await setup();
    await h.service.registerSchema(root, 'services/billing/database', {
      type: 'object',
      required: ['pool'],
      properties: { pool: { type: 'integer' }, host: { type: 'string' } },
    });
    const before = await snapshot(h.service, root);
    const plan = await runner.plan(root);
    expect(plan.refused).toBe(true);
    const rename = plan.migrations.find((m) => m.name === '0002-rename-pool');
    expect(rename?.refused).toBe(true);
    const bad = rename?.refs.find((r) => r.ref === SELECTED[0]);
    expect(bad).toMatchObject({ action: 'error', valid: false, error: { code: 'SCHEMA_VALIDATION' } });
    expect(bad?.issues.map((i) => i.pointer)).toContain('/pool');
    // Other ids have no schema and stay valid.
    expect(rename?.refs.find((r) => r.ref === SELECTED[1])?.valid).toBe(true);
    // 0001 alone is fine.
    expect(plan.migrations[0]?.refused).toBe(false);
    const error = await runner.apply(root).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).code).toBe('SCHEMA_VALIDATION');
    expect((error as MigrationError).issues.length).toBeGreaterThan(0);
    expect(await snapshot(h.service, root)).toEqual(before);
    expect(await h.history.list()).toEqual([]);
  });

  it('guarded (production) changes open change requests; dependents wait; approval completes them', async () => {
    h = await migrationHarness(backing, { environments: ENVIRONMENTS });
    const svc = h.service;
    await svc.set(
      root,
      { ref: 'global/flags', config: { beta: false }, overrides: { staging: { beta: true } } },
      {
        emergency: true,
      },
    );
    await svc.set(
      root,
      { ref: 'app:billing/flags', config: { beta: false }, overrides: { production: { beta: false } } },
      { emergency: true },
    );
    const stagingOnly = parseMigration({
      name: 'm1-staging',
      version: 1,
      selector: { id: 'flags', environment: 'staging' },
      operations: [{ op: 'set', path: '/verbose', value: true }],
    });
    const prod = parseMigration({
      name: 'm2-production',
      version: 2,
      selector: { id: 'flags', environment: 'production' },
      operations: [{ op: 'rename', from: '/beta', to: '/betaEnabled' }],
    });
    const base = parseMigration({
      name: 'm3-base',
      version: 3,
      dependencies: ['m2-production'],
      selector: { id: 'flags' },
      operations: [{ op: 'set', path: '/owner', value: 'team' }],
    });
    const runner = createMigrationRunner({ service: svc, history: h.history, migrations: [stagingOnly, prod, base] });
    const plan = await runner.plan(root);
    expect(plan.migrations.map((m) => [m.name, m.refs.map((r) => `${r.ref}:${r.action}`)])).toEqual([
      ['m1-staging', ['app:billing/flags:update', 'global/flags:update']],
      ['m2-production', ['app:billing/flags:propose', 'global/flags:unchanged']],
      ['m3-base', ['app:billing/flags:propose', 'global/flags:propose']],
    ]);
    expect(plan.migrations[1]?.refs[0]?.environments).toEqual(['production', 'production-eu']);
    expect(plan.migrations[2]?.blockedBy).toEqual(['m2-production']);

    const billingBefore = (await head(svc, root, 'app:billing/flags')).version;
    const report = await runner.apply(root);
    expect(report.migrations.map((m) => [m.name, m.outcome])).toEqual([
      ['m1-staging', 'applied'],
      ['m2-production', 'applied'],
      ['m3-base', 'blocked'],
    ]);
    expect(report.migrations[2]?.blockedBy).toEqual(['m2-production']);
    const proposed = report.migrations[1]?.refs[0];
    expect(proposed).toMatchObject({ ref: 'app:billing/flags', state: 'proposed' });
    // Only the staging write happened on billing; production waits for approvals.
    expect((await head(svc, root, 'app:billing/flags')).version).toBe(billingBefore + 1);
    const request = await svc.getRequest(root, proposed?.requestId as string);
    expect(request).toMatchObject({ status: 'pending', environments: ['production', 'production-eu'] });
    expect(request.message).toContain('m2-production');
    const status = await runner.status(root);
    expect(status[1]?.pendingRequests).toEqual([proposed?.requestId]);

    // Still blocked until the request is approved and applied.
    expect((await runner.apply(root)).migrations.map((m) => m.outcome)).toEqual(['blocked']);
    await svc.approve(actors.bob, request.id);
    await svc.approve(actors.carol, request.id);
    await svc.apply(root, request.id);
    const synced = await runner.status(root);
    expect(synced[1]?.counts).toMatchObject({ applied: 1, proposed: 0 });
    const billing = await head(svc, root, 'app:billing/flags');
    expect(billing.overrides.production).toEqual({ betaEnabled: false });
    expect(billing.metadata.migration).toMatchObject({ name: 'm2-production' });

    // m3 touches base config: every environment, so both refs become change requests.
    const third = await runner.apply(root);
    expect(third.migrations.map((m) => [m.name, m.outcome, m.refs.map((r) => r.state)])).toEqual([
      ['m3-base', 'applied', ['proposed', 'proposed']],
    ]);
    // Rolling back m3 cancels its pending requests.
    const rolled = await runner.rollback(root, 'm3-base');
    for (const r of rolled.refs) {
      expect(r.rollback?.state).toBe('cancelled');
      expect((await svc.getRequest(root, r.requestId as string)).status).toBe('cancelled');
    }
    // Rolling back m2 proposes the rollback (production is guarded).
    const rolledProd = await runner.rollback(root, 'm2-production');
    expect(rolledProd.refs[0]?.rollback?.state).toBe('proposed');
  });

  it('a changed migration is refused (CHECKSUM_MISMATCH) before anything is written', async () => {
    const { h, runner, migrations } = await setup();
    await runner.apply(root, { only: ['0001-add-timeouts'] });
    const edited = parseMigration({
      name: '0001-add-timeouts',
      version: 1,
      selector: { scope: 'app:*', id: 'services/*/database' },
      operations: [{ op: 'set', path: '/timeouts/connectMs', value: 9999, ifMissing: true }],
    });
    const changed = createMigrationRunner({
      service: h.service,
      history: h.history,
      migrations: [edited, ...migrations.slice(1)],
    });
    const before = await snapshot(h.service, root);
    const plan = await changed.plan(root);
    expect(plan.refused).toBe(true);
    expect(plan.migrations[0]).toMatchObject({ name: '0001-add-timeouts', error: { code: 'CHECKSUM_MISMATCH' } });
    expect(await codeOf(changed.apply(root))).toBe('CHECKSUM_MISMATCH');
    expect(await snapshot(h.service, root)).toEqual(before);
    expect((await changed.status(root))[0]?.changed).toBe(true);
    // A failed run that changed is refused too.
    const failing = createMigrationRunner({
      service: failingAfter(h.service, 0),
      history: h.history,
      migrations: migrations.slice(0, 2),
    });
    await failing.apply(root).catch(() => undefined);
    expect((await h.history.get('0002-rename-pool'))?.status).toBe('failed');
    const edited2 = parseMigration({
      name: '0002-rename-pool',
      version: 2,
      dependencies: ['0001-add-timeouts'],
      selector: { scope: 'app:*', id: 'services/*/database' },
      operations: [{ op: 'rename', from: '/pool', to: '/size' }],
    });
    const changed2 = createMigrationRunner({
      service: h.service,
      history: h.history,
      migrations: [migrations[0] as Migration, edited2],
    });
    expect(await codeOf(changed2.apply(root))).toBe('CHECKSUM_MISMATCH');
  });

  it('bad selectors and operations that fail on real documents are refused at plan time', async () => {
    const { h } = await setup({ environments: [{ name: 'staging', production: false }] });
    const unknownEnv = parseMigration({
      name: 'env',
      version: 1,
      selector: { id: '**', environment: 'qa' },
      operations: [{ op: 'set', path: '/x', value: 1 }],
    });
    const runner = createMigrationRunner({ service: h.service, history: h.history, migrations: [unknownEnv] });
    const plan = await runner.plan(root);
    expect(plan.migrations[0]?.error?.code).toBe('ENVIRONMENT_NOT_FOUND');
    expect(await codeOf(runner.apply(root))).toBe('ENVIRONMENT_NOT_FOUND');

    const clash = parseMigration({
      name: 'clash',
      version: 1,
      selector: { scope: 'app:orders', id: 'services/**' },
      operations: [{ op: 'rename', from: '/pool', to: '/timeouts' }],
    });
    const r2 = createMigrationRunner({ service: h.service, history: h.history, migrations: [clash] });
    const p2 = await r2.plan(root);
    expect(p2.migrations[0]?.refs).toEqual([
      expect.objectContaining({
        ref: SELECTED[1],
        action: 'error',
        error: expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
      }),
    ]);
    expect(await codeOf(r2.apply(root))).toBe('CONSTRAINT_VIOLATION');

    const wrongType = defineMigration({
      name: 'rollout',
      version: 1,
      selector: { id: 'services/*/database' },
      operations: [{ op: 'transform', path: '', fn: () => ({ pool: 1, ['x'.repeat(10)]: 'y'.repeat(300_000) }) }],
    });
    const r3 = createMigrationRunner({ service: h.service, history: h.history, migrations: [wrongType] });
    const p3 = await r3.plan(root);
    expect(p3.migrations[0]?.refs.every((r) => r.error?.code === 'DOCUMENT_TOO_LARGE')).toBe(true);
    expect(await h.history.list()).toEqual([]);
  });

  it('RBAC holds: an actor without write permission changes nothing and the run can resume', async () => {
    const { h, runner } = await setup();
    const before = await snapshot(h.service, root);
    expect(await codeOf(runner.apply(actors.reader))).toBe('ACCESS_DENIED');
    expect(await snapshot(h.service, root)).toEqual(before);
    expect((await h.history.get('0001-add-timeouts'))?.status).toBe('failed');
    const report = await runner.apply(root);
    expect(report.migrations.map((m) => m.outcome)).toEqual(['applied', 'applied', 'applied']);
  });
});

describe('migration runner options', () => {
  it('refuses bad options and migration sets at construction', async () => {
    const h = await migrationHarness('memory');
    try {
      const ok = { service: h.service, history: h.history, migrations: [] as Migration[] };
      expect(() => createMigrationRunner({ ...ok, service: {} as never })).toThrow(/service/);
      expect(() => createMigrationRunner({ ...ok, history: {} as never })).toThrow(/history/);
      expect(() => createMigrationRunner({ ...ok, migrations: [{ name: 'raw' }] as never })).toThrow(
        /parsed migration/,
      );
      expect(() => createMigrationRunner({ ...ok, lockTimeoutMs: -1 })).toThrow(/lockTimeoutMs/);
      // Two migrations that depend on each other.
      const dependingOn = (name: string, dependency: string) =>
        parseMigration({
          name,
          version: 1,
          dependencies: [dependency],
          selector: { id: 'x' },
          operations: [{ op: 'delete', path: '/y' }],
        });
      const a = dependingOn('a', 'b');
      const b = dependingOn('b', 'a');
      let error: unknown;
      try {
        createMigrationRunner({ ...ok, migrations: [a, b] });
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error, 'CIRCULAR_DEPENDENCY')).toBe(true);
      try {
        createMigrationRunner({ ...ok, migrations: [a] });
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error, 'NOT_FOUND')).toBe(true);
      const runner: MigrationRunner = createMigrationRunner(ok);
      expect(await codeOf(runner.apply(root, { only: 'x' as never }))).toBe('CONSTRAINT_VIOLATION');
    } finally {
      await h.close();
    }
  });
});
