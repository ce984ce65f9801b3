/**
 * Secret rotation end to end with the local provider, over three backings of the config store,
 * the change service and the policy storage: memory; the real PostgreSQL server; embedded PGlite.
 * The full flow, revocation held back by the grace period and by lagging instances, the failure
 * path, crashes between every pair of steps (each side effect once), leases between two runners,
 * scheduling, webhooks and RBAC.
 */
import { inspect } from 'node:util';
import { type ConfigVersion, createConfigClient, isConfigError, parseRef } from '@summit-config/core';
import {
  createLocalProvider,
  databaseUserHandler,
  isSecretError,
  ROTATION_STEPS,
  type RotationHandler,
  type RotationPolicy,
  type RotationStep,
  type SecretId,
} from '@summit-config/secrets';
import type { Backing } from '@summit-config/test-support/backings';
import { masterKey } from '@summit-config/test-support/builders';
import {
  actors,
  type CountingProvider,
  countingProvider,
  type RotationHarness,
  RUN_EVENTS,
  recordEvents,
  resolverOf,
  rotationHarness,
  webhookReceiver,
} from '@summit-config/test-support/rotation';
import { closeShared } from '@summit-config/test-support/sql';
import { slowly, until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rejection, secretName, secretText } from './provider-contract.js';

const key = masterKey();
const HOUR = 3_600_000;
const LEASE = 60_000;
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(closeShared);

async function harness(backing: Backing): Promise<RotationHarness> {
  const h = await rotationHarness(backing);
  cleanups.push(() => h.close());
  return h;
}

function local(): CountingProvider {
  const p = countingProvider(createLocalProvider({ key: key.base64 }));
  cleanups.push(() => p.close());
  return p;
}

/** A secret with one version, and an app config referencing it. */
async function scenario(h: RotationHarness, provider: CountingProvider) {
  const secret: SecretId = { provider: provider.name, name: secretName('db') };
  const oldValue = secretText('old');
  const v1 = (await provider.create(secret.name, oldValue)).version;
  const app = await seed(h, {
    ref: 'app:billing/database',
    config: { host: 'db.internal', password: { $secret: { ...secret } } },
  });
  return { secret, oldValue, v1, app };
}

/** Writes a config as an admin. Production is guarded (one approval): the first write of a ref is an emergency change. */
function seed(h: RotationHarness, input: Parameters<RotationHarness['service']['set']>[1]): Promise<ConfigVersion> {
  return h.service.set(actors.admin, input, { emergency: true });
}

/** Another config referencing `secret` (as its `password`). */
function seedReference(h: RotationHarness, ref: string, secret: SecretId): Promise<ConfigVersion> {
  return seed(h, { ref, config: { password: { $secret: { ...secret } } } });
}

async function head(h: RotationHarness, ref: string): Promise<ConfigVersion> {
  return (await h.store.getVersion(parseRef(ref))) as ConfigVersion;
}

async function policyOf(h: RotationHarness, secret: SecretId): Promise<RotationPolicy> {
  return (await h.policies.get(secret)) as RotationPolicy;
}

async function ack(h: RotationHarness, ref: string, instance: string, version: number, status = 'applied') {
  const doc = (await h.store.getVersion(parseRef(ref), version)) as ConfigVersion;
  await h.store.ack?.({
    ref: parseRef(ref),
    environment: 'production',
    instance,
    version,
    checksum: doc.checksum,
    status: status as 'applied',
    at: new Date().toISOString(),
  });
}

describe.each(['memory', 'postgres', 'pglite'] as const)('rotation on the %s backing', (backing) => {
  it('rotates: pending, verify, promote, bump every referencing config, grace, revoke the previous', async () => {
    const h = await harness(backing);
    const provider = local();
    const { secret, oldValue, v1, app } = await scenario(h, provider);
    const global = await seed(h, {
      ref: 'global/database',
      config: { pool: 5 },
      overrides: { production: { password: { $secret: { ...secret, version: 'current' } } } },
    });
    const pinned = await seed(h, {
      ref: 'app:billing/legacy',
      config: { password: { $secret: { ...secret, version: v1 } } },
    });
    const unrelated = await seed(h, { ref: 'app:billing/other', config: { x: 1 } });
    const m = h.manager([provider]);
    const events = recordEvents(m);
    const created = await m.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR });
    expect(created).toMatchObject({ state: 'idle', revision: 1, graceMs: HOUR, generator: { type: 'password' } });

    let p = await m.rotate(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'rotating', step: 'grace' });
    const run = p.run as NonNullable<RotationPolicy['run']>;
    expect(run.previousVersion).toBe(v1);
    const newVersion = run.newVersion as string;
    expect(newVersion).not.toBe(v1);

    // During the grace period both versions are readable; the new one is current.
    const current = await provider.read(secret.name);
    expect(current.version).toBe(newVersion);
    expect(current.value).not.toBe(oldValue);
    expect(current.value).toMatch(/^[\x21-\x7e]{32}$/);
    expect((await provider.read(secret.name, 'previous')).value).toBe(oldValue);
    expect((await provider.read(secret.name, { version: v1 })).value).toBe(oldValue);

    // Every config referencing current (or unversioned) got a new version, written by the agent.
    for (const before of [app, global]) {
      const doc = await head(h, `${before.ref.scope}/${before.ref.id}`);
      expect(doc.version).toBe(before.version + 1);
      expect(doc.config).toEqual(before.config);
      expect(doc.overrides).toEqual(before.overrides);
      expect(doc.metadata.secretRotation).toEqual({ ...secret, version: newVersion });
      expect(doc.message).toBe(`rotate ${secret.provider}/${secret.name}`);
      expect(doc.createdBy).toBe(actors.agent.id);
    }
    expect((await head(h, 'app:billing/legacy')).version).toBe(pinned.version);
    expect((await head(h, 'app:billing/other')).version).toBe(unrelated.version);
    expect(run.pinned).toEqual(['app:billing/legacy']);
    expect(run.bumps?.map((b) => [b.ref, b.version])).toEqual([
      ['app:billing/database', app.version + 1],
      ['global/database', global.version + 1],
    ]);

    // Not revoked before the grace period ends.
    expect((await m.runDue()).results).toEqual([]);
    expect(await m.dueRotations()).toEqual([]);
    h.clock.advance(HOUR - 1);
    await m.runDue();
    expect(provider.calls.revoke).toBe(0);
    expect((await provider.read(secret.name, { version: v1 })).value).toBe(oldValue);

    h.clock.advance(1);
    const report = await m.runDue();
    expect(report.results).toEqual([{ secret, started: false, state: 'idle', step: undefined }]);
    p = await policyOf(h, secret);
    expect(p).toMatchObject({ state: 'idle', step: undefined, run: undefined, error: undefined });
    expect(p.lastRotatedAt).toBe(run.promotedAt);
    expect(Date.parse(p.nextRotationAt as string)).toBe(Date.parse(run.promotedAt as string) + 30 * 24 * HOUR);
    expect(p.lastRun).toMatchObject({ runId: run.id, version: newVersion, previousVersion: v1 });
    expect(p.lastRun?.bumped).toHaveLength(2);

    // The previous version is revoked; the new one stays current.
    expect(await rejection(provider.read(secret.name, { version: v1 }))).toMatchObject({ reason: 'revoked' });
    expect(await rejection(provider.read(secret.name, 'previous'))).toMatchObject({ code: 'NOT_FOUND' });
    expect((await provider.read(secret.name)).version).toBe(newVersion);
    expect(provider.calls).toMatchObject({ write: 1, promote: 1, revoke: 1 });

    const steps = events.filter((e) => e.type === 'step').map((e) => (e as { step: RotationStep }).step);
    expect(steps).toEqual(['generate', 'write', 'verify', 'promote', 'bump', 'grace', 'revoke']);
    expect(events.filter((e) => e.type !== 'step').map((e) => e.type)).toEqual(RUN_EVENTS);
    // Nothing the manager recorded or emitted holds a value.
    const recorded = JSON.stringify([p, events, await h.policies.list()]) + inspect(events, { depth: 10 });
    expect(recorded).not.toContain(oldValue);
    expect(recorded).not.toContain(current.value);

    if (backing !== 'memory') {
      const rows = await h.sql<Record<string, unknown>>(
        `SELECT secret_id, provider, secret_name, rotation_interval_days, grace_period_days, grace_ms::int AS grace_ms,
                state, step, last_rotated_at IS NOT NULL AS rotated, run::text AS run, last_run::text AS last_run
         FROM "${h.schema}".secret_rotation_policies`,
      );
      expect(rows).toEqual([
        {
          secret_id: `local/${secret.name}`,
          provider: 'local',
          secret_name: secret.name,
          rotation_interval_days: 30,
          grace_period_days: 0,
          grace_ms: HOUR,
          state: 'idle',
          step: null,
          rotated: true,
          run: null,
          last_run: expect.stringContaining(newVersion),
        },
      ]);
    }
  });

  it('revocation waits for every live instance to acknowledge the bumped version, beyond the grace period', async () => {
    const h = await harness(backing);
    const provider = local();
    const { secret, v1, app } = await scenario(h, provider);
    const m = h.manager([provider], { isLive: (a) => a.instance !== 'gone-1' });
    const events = recordEvents(m);
    await m.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR });
    await ack(h, 'app:billing/database', 'old-1', app.version);
    await ack(h, 'app:billing/database', 'gone-1', app.version);
    const p = await m.rotate(actors.secrets, secret);
    const bumped = app.version + 1;
    await ack(h, 'app:billing/database', 'new-1', bumped);

    h.clock.advance(HOUR);
    await m.runDue();
    let now = await policyOf(h, secret);
    expect(now).toMatchObject({ state: 'rotating', step: 'grace' });
    expect(now.run?.waitingFor).toEqual([
      {
        ref: 'app:billing/database',
        environment: 'production',
        instance: 'old-1',
        version: app.version,
        status: 'applied',
        needed: bumped,
      },
    ]);
    expect(events.filter((e) => e.type === 'waiting')).toHaveLength(1);
    await m.runDue();
    expect(events.filter((e) => e.type === 'waiting')).toHaveLength(1);
    expect(provider.calls.revoke).toBe(0);
    expect((await provider.read(secret.name, { version: v1 })).version).toBe(v1);

    // Rejecting the new version is not applying it: the instance still runs on the old secret.
    await ack(h, 'app:billing/database', 'old-1', bumped, 'rejected');
    await m.runDue();
    now = await policyOf(h, secret);
    expect(now.run?.waitingFor).toMatchObject([{ instance: 'old-1', status: 'rejected', version: bumped }]);
    expect(provider.calls.revoke).toBe(0);

    await ack(h, 'app:billing/database', 'old-1', bumped);
    await m.runDue();
    now = await policyOf(h, secret);
    expect(now.state).toBe('idle');
    expect(provider.calls.revoke).toBe(1);
    expect(await rejection(provider.read(secret.name, { version: v1 }))).toMatchObject({ reason: 'revoked' });
    expect(p.run?.newVersion).toBe((await provider.read(secret.name)).version);
  });

  it('a provider that keeps failing ends in state failed with the error, after bounded retries', async () => {
    const h = await harness(backing);
    const provider = local();
    const { secret, oldValue } = await scenario(h, provider);
    const hook = await webhookReceiver();
    cleanups.push(() => hook.close());
    const m = h.manager([provider]);
    const events = recordEvents(m);
    await m.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR, notify: [hook.url] });
    provider.failNext('write', Number.POSITIVE_INFINITY);

    let p = await m.rotate(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'rotating', step: 'write' });
    expect(p.run).toMatchObject({
      attempts: 1,
      lastError: { code: 'SECRET_PROVIDER', reason: 'unavailable', step: 'write', attempts: 1 },
    });
    const firstRetry = Date.parse(p.run?.nextAttemptAt as string);
    expect(firstRetry).toBe(h.clock.now().getTime() + 1_000);
    expect(await m.dueRotations()).toEqual([]);
    expect((await m.dueRotations(new Date(firstRetry))).map((x) => x.secret)).toEqual([secret]);

    h.clock.advance(1_000);
    await m.runDue();
    p = await policyOf(h, secret);
    expect(p.run).toMatchObject({ attempts: 2 });
    expect(Date.parse(p.run?.nextAttemptAt as string)).toBe(h.clock.now().getTime() + 2_000);

    h.clock.advance(2_000);
    await m.runDue();
    p = await policyOf(h, secret);
    expect(p).toMatchObject({
      state: 'failed',
      step: 'write',
      error: { code: 'SECRET_PROVIDER', reason: 'unavailable', step: 'write', attempts: 3 },
    });
    expect(p.error?.message).toContain('injected outage');
    expect(provider.calls.write).toBe(3);
    expect(events.filter((e) => e.type === 'retrying').map((e) => (e as { attempts: number }).attempts)).toEqual([
      1, 2,
    ]);
    expect(events.filter((e) => e.type === 'failed')).toHaveLength(1);
    // A failed rotation is not due again by itself, and the old value still serves.
    expect(await m.dueRotations(new Date(h.clock.now().getTime() + 365 * 24 * HOUR))).toEqual([]);
    expect((await provider.read(secret.name)).value).toBe(oldValue);
    expect(hook.bodies.map((b) => (b as { event: string }).event)).toEqual([
      'secret.rotation.started',
      'secret.rotation.failed',
    ]);
    expect(hook.bodies[1]).toMatchObject({
      secret,
      runId: p.run?.id,
      error: { code: 'SECRET_PROVIDER', step: 'write', attempts: 3 },
    });

    // Once the provider heals, retry finishes the same run.
    provider.failNext('write', 0);
    p = await m.retry(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'rotating', step: 'grace', error: undefined });
    expect(provider.calls.write).toBe(4);
  });

  it('a crash between two steps resumes at the recorded step on another runner; each side effect once', async () => {
    const h = await harness(backing);
    const provider = local();
    const { secret, app } = await scenario(h, provider);
    const m1 = h.manager([provider], {
      hooks: {
        afterStep: (step) => {
          if (step === 'promote') throw new Error('crash after promote');
        },
      },
    });
    await m1.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR });
    await expect(m1.rotate(actors.secrets, secret)).rejects.toThrow('crash after promote');
    await m1.close();
    const left = await policyOf(h, secret);
    expect(left).toMatchObject({ state: 'rotating', step: 'bump' });

    // Another runner leaves it alone while the dead one's lease lasts, then takes over.
    const m2 = h.manager([provider]);
    expect(await m2.dueRotations()).toEqual([]);
    h.clock.advance(LEASE);
    expect((await m2.dueRotations()).map((p) => p.secret)).toEqual([secret]);
    await m2.runDue();
    h.clock.advance(HOUR);
    await m2.runDue();
    expect(await policyOf(h, secret)).toMatchObject({ state: 'idle' });
    expect(provider.calls).toMatchObject({ write: 1, promote: 1, revoke: 1 });
    expect((await head(h, 'app:billing/database')).version).toBe(app.version + 1);
  });
});

describe('crash between every pair of steps (memory backing)', () => {
  /** A handler with every hook, counting its side effects. */
  function countingHandler() {
    const counts = { generate: 0, activate: 0, verify: 0, retire: 0 };
    const handler: RotationHandler = {
      generate: () => {
        counts.generate++;
        return secretText('gen');
      },
      activate: async () => {
        counts.activate++;
      },
      verify: async () => {
        counts.verify++;
      },
      retire: async () => {
        counts.retire++;
      },
    };
    return { counts, handler };
  }

  async function settle(h: RotationHarness, m: ReturnType<RotationHarness['manager']>, secret: SecretId) {
    for (let i = 0; i < 10; i++) {
      const p = await policyOf(h, secret);
      if (p.state !== 'rotating') return p;
      h.clock.advance(HOUR + LEASE);
      const report = await m.runDue();
      for (const r of report.results) if (r.error) throw new Error(r.error.message);
    }
    throw new Error('the rotation did not settle');
  }

  for (const when of ['afterStep', 'beforeStep'] as const) {
    it.each(ROTATION_STEPS)(`${when} %s: the run resumes and completes, each side effect once`, async (step) => {
      const h = await harness('memory');
      const provider = local();
      const { secret, app } = await scenario(h, provider);
      const global = await seedReference(h, 'global/database', secret);
      const { counts, handler } = countingHandler();
      let crashed = 0;
      const m1 = h.manager([provider], {
        handlers: { db: handler },
        hooks: {
          [when]: (s: RotationStep) => {
            if (s === step) {
              crashed++;
              throw new Error(`crash ${when} ${s}`);
            }
          },
        },
      });
      await m1.putPolicy(actors.secrets, {
        secret,
        intervalDays: 30,
        graceMs: HOUR,
        generator: { type: 'handler', name: 'db' },
      });
      const first = await m1.rotate(actors.secrets, secret).catch((e: Error) => e);
      if (!(first instanceof Error)) {
        // The crash point lies after the grace period: reach it through the scheduler.
        h.clock.advance(HOUR);
        const report = await m1.runDue();
        expect(report.results[0]?.error?.message).toBe(`crash ${when} ${step}`);
      } else {
        expect(first.message).toBe(`crash ${when} ${step}`);
      }
      expect(crashed).toBe(1);
      await m1.close();

      const m2 = h.manager([provider], { handlers: { db: handler } });
      const done = await settle(h, m2, secret);
      expect(done).toMatchObject({ state: 'idle', error: undefined });
      expect(provider.calls).toMatchObject({ write: 1, promote: 1, revoke: 1 });
      // Only generating (memory only, no side effect) is redone when the value was lost with the runner.
      expect(counts).toEqual({
        generate: (when === 'afterStep' && step === 'generate') || (when === 'beforeStep' && step === 'write') ? 2 : 1,
        activate: 1,
        verify: 1,
        retire: 1,
      });
      expect((await head(h, 'app:billing/database')).version).toBe(app.version + 1);
      expect((await head(h, 'global/database')).version).toBe(global.version + 1);
      const versions = await provider.listVersions(secret.name);
      expect(versions.map((v) => [v.stage, v.state])).toEqual([
        [undefined, 'disabled'],
        ['current', 'enabled'],
      ]);
    });
  }

  it('a runner killed after the provider wrote the pending version: the next adopts it, no second write', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret } = await scenario(h, provider);
    const m1 = h.manager([provider]);
    await m1.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR });
    provider.after('write', () => void m1.close());
    const e = await m1.rotate(actors.secrets, secret).catch((x: unknown) => x);
    expect(isConfigError(e, 'CLOSED')).toBe(true);
    provider.after('write', undefined);
    expect(await policyOf(h, secret)).toMatchObject({ state: 'rotating', step: 'write' });
    const pending = (await provider.listVersions(secret.name)).find((v) => v.stage === 'pending');
    expect(pending?.labels).toMatchObject({ 'summit-rotation': (await policyOf(h, secret)).run?.id });

    const m2 = h.manager([provider]);
    const events = recordEvents(m2);
    h.clock.advance(LEASE);
    await m2.runDue();
    const p = await policyOf(h, secret);
    expect(p).toMatchObject({ state: 'rotating', step: 'grace' });
    expect(p.run?.newVersion).toBe(pending?.version);
    expect(provider.calls.write).toBe(1);
    expect(events.find((x) => x.type === 'written')).toMatchObject({ reused: true, version: pending?.version });
  });

  it('a runner killed in the middle of bumping: the config already bumped is found, not bumped twice', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret, app } = await scenario(h, provider);
    const second = await seedReference(h, 'app:shop/database', secret);
    const m1 = h.manager([provider]);
    await m1.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: HOUR });
    // The store reports the first bump; the runner dies before it records it.
    const unwatch = h.store.watch((change) => {
      if (change.key === 'app:billing/database' && change.version === app.version + 1) void m1.close();
    });
    cleanups.push(async () => unwatch());
    await m1.rotate(actors.secrets, secret).catch(() => undefined);
    const left = await policyOf(h, secret);
    expect(left.step).toBe('bump');
    expect(left.run?.bumps?.every((b) => b.version === undefined)).toBe(true);

    const m2 = h.manager([provider]);
    h.clock.advance(LEASE);
    await m2.runDue();
    const p = await policyOf(h, secret);
    expect(p.step).toBe('grace');
    expect(p.run?.bumps?.map((b) => b.version)).toEqual([app.version + 1, second.version + 1]);
    expect((await head(h, 'app:billing/database')).version).toBe(app.version + 1);
    expect((await head(h, 'app:shop/database')).version).toBe(second.version + 1);
  });

  it('two runners at once: one runs the rotation, the other stands back', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret, app } = await scenario(h, provider);
    const a = h.manager([provider], { owner: 'agent-a' });
    const b = h.manager([provider], { owner: 'agent-b' });
    await a.putPolicy(actors.secrets, {
      secret,
      intervalDays: 30,
      graceMs: HOUR,
      nextRotationAt: new Date(h.clock.now().getTime() - 1).toISOString(),
    });
    const [ra, rb] = await Promise.all([a.runDue(), b.runDue()]);
    expect([...ra.results, ...rb.results].filter((r) => r.started)).toHaveLength(1);
    expect([...ra.results, ...rb.results].every((r) => r.error === undefined)).toBe(true);
    h.clock.advance(HOUR + LEASE);
    await Promise.all([a.runDue(), b.runDue()]);
    await Promise.all([a.runDue(), b.runDue()]);
    expect(await policyOf(h, secret)).toMatchObject({ state: 'idle' });
    expect(provider.calls).toMatchObject({ write: 1, promote: 1, revoke: 1 });
    expect((await head(h, 'app:billing/database')).version).toBe(app.version + 1);
  });
});

describe('rotation: scheduling, failures, notifications, access (memory backing)', () => {
  it('schedules by interval and by cron; runDue starts what is due as a scheduled run', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret } = await scenario(h, provider);
    const other = { provider: 'local', name: secretName('cron') };
    await provider.create(other.name, secretText());
    const m = h.manager([provider]);
    const events = recordEvents(m);
    const t0 = h.clock.now().getTime();
    const byInterval = await m.putPolicy(actors.secrets, { secret, intervalDays: 7, gracePeriodDays: 1 });
    expect(Date.parse(byInterval.nextRotationAt as string)).toBe(t0 + 7 * 24 * HOUR);
    expect(byInterval.graceMs).toBe(24 * HOUR);
    const byCron = await m.putPolicy(actors.secrets, { secret: other, cron: '0 3 * * *', graceMs: 0 });
    const cronAt = new Date(byCron.nextRotationAt as string);
    expect([cronAt.getUTCHours(), cronAt.getUTCMinutes()]).toEqual([3, 0]);
    expect(cronAt.getTime() - t0).toBeGreaterThan(0);
    expect(cronAt.getTime() - t0).toBeLessThanOrEqual(24 * HOUR);

    expect(await m.dueRotations()).toEqual([]);
    h.clock.advance(7 * 24 * HOUR);
    expect((await m.dueRotations()).map((p) => p.secret.name).sort()).toEqual([secret.name, other.name].sort());
    // As a leader job: the function alone, called with the job's context; an aborted one rejects.
    const job = m.runDue;
    const stopped = new AbortController();
    stopped.abort(new Error('leadership lost'));
    await expect(job({ signal: stopped.signal })).rejects.toThrow('leadership lost');
    await expect(job('now' as never)).rejects.toThrow(/runDue takes a Date/);
    expect(await h.policies.list()).toMatchObject([{ state: 'idle' }, { state: 'idle' }]);
    const report = await job({ signal: new AbortController().signal });
    expect(report.results.map((r) => [r.secret.name, r.started, r.state])).toEqual(
      [
        [secret.name, true, 'rotating'],
        [other.name, true, 'idle'],
      ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
    );
    expect(
      events.filter((e) => e.type === 'started').every((e) => (e as { reason: string }).reason === 'scheduled'),
    ).toBe(true);
    // A disabled policy is never due, but can still be rotated by hand.
    await m.putPolicy(actors.secrets, { secret: other, cron: '0 3 * * *', graceMs: 0, enabled: false });
    h.clock.advance(30 * 24 * HOUR);
    expect((await m.dueRotations()).map((p) => p.secret.name)).toEqual([secret.name]);
    expect((await m.rotate(actors.secrets, other)).state).toBe('idle');
  });

  it('a failure retrying cannot fix fails at once: a missing secret', async () => {
    const h = await harness('memory');
    const provider = local();
    const m = h.manager([provider]);
    const secret = { provider: 'local', name: secretName('missing') };
    await m.putPolicy(actors.secrets, { secret, intervalDays: 1 });
    const p = await m.rotate(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'failed', step: 'generate', error: { code: 'NOT_FOUND', attempts: 1 } });
  });

  it('a verify hook that refuses the value keeps it from being promoted', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret, oldValue } = await scenario(h, provider);
    const seen: string[] = [];
    const m = h.manager([provider], {
      retry: { maxAttempts: 2, baseMs: 0 },
      verify: async (ctx) => {
        seen.push(ctx.value);
        throw new Error(`login refused for ${ctx.value}`);
      },
    });
    await m.putPolicy(actors.secrets, { secret, intervalDays: 1 });
    let p = await m.rotate(actors.secrets, secret);
    p = await m.runDue().then(() => policyOf(h, secret));
    expect(p).toMatchObject({ state: 'failed', step: 'verify' });
    // The value the hook saw is redacted from the recorded error.
    expect(p.error?.message).toBe('login refused for [REDACTED]');
    expect(JSON.stringify(p)).not.toContain(seen[0]);
    expect((await provider.read(secret.name)).value).toBe(oldValue);
    expect(provider.calls.promote).toBe(0);
    // A new run may start over: the unpromoted pending version is replaced.
    const again = await m.rotate(actors.secrets, secret);
    expect(again).toMatchObject({ state: 'rotating', step: 'verify', run: { attempts: 1 } });
    expect((await provider.listVersions(secret.name)).filter((v) => v.stage === 'pending')).toHaveLength(1);
  });

  it('a database-user handler alternates logins, sets and tests the password, disables the old login; its errors are redacted', async () => {
    const h = await harness('memory');
    const provider = local();
    const secret = { provider: 'local', name: secretName('dbuser') };
    const initial = secretText('init');
    await provider.create(secret.name, JSON.stringify({ username: 'app_a', password: initial }));
    // The "database": logins, their passwords, which may log in.
    const passwords = new Map([['app_a', initial]]);
    const enabled = new Set(['app_a']);
    let failNext = true;
    const handler = databaseUserHandler({
      users: ['app_a', 'app_b'],
      setPassword: async (user, password) => {
        if (failNext) {
          failNext = false;
          throw new Error(`ALTER ROLE ${user} PASSWORD '${password}' failed: connection reset`);
        }
        passwords.set(user, password);
        enabled.add(user);
      },
      testLogin: async (user, password) => {
        if (passwords.get(user) !== password || !enabled.has(user)) throw new Error('login failed');
      },
      disableUser: async (user) => {
        enabled.delete(user);
      },
    });
    const m = h.manager([provider], { handlers: { 'db-user': handler }, retry: { maxAttempts: 3, baseMs: 0 } });
    await m.putPolicy(actors.secrets, {
      secret,
      intervalDays: 30,
      graceMs: 0,
      generator: { type: 'handler', name: 'db-user' },
    });
    let p = await m.rotate(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'rotating', step: 'activate', run: { attempts: 1 } });
    expect(p.run?.lastError?.message).toMatch(/^ALTER ROLE \[REDACTED\] PASSWORD '\[REDACTED\]' failed/);
    await m.runDue();
    p = await policyOf(h, secret);
    expect(p.state).toBe('idle');
    const first = JSON.parse((await provider.read(secret.name)).value) as { username: string; password: string };
    expect(first.username).toBe('app_b');
    expect(passwords.get('app_b')).toBe(first.password);
    expect([...enabled]).toEqual(['app_b']);

    p = await m.rotate(actors.secrets, secret);
    expect(p.state).toBe('idle');
    const second = JSON.parse((await provider.read(secret.name)).value) as { username: string; password: string };
    expect(second.username).toBe('app_a');
    expect(passwords.get('app_a')).toBe(second.password);
    expect([...enabled]).toEqual(['app_a']);
  });

  it('an agent without config:write fails visibly at bump; retry with the right actor finishes', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret, app } = await scenario(h, provider);
    const weak = h.manager([provider], { actor: { id: 'weak-agent', roles: ['rotation-no-write'] } });
    await weak.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: 0 });
    const p = await weak.rotate(actors.secrets, secret);
    expect(p).toMatchObject({ state: 'failed', step: 'bump', error: { code: 'ACCESS_DENIED', attempts: 1 } });
    expect(p.error?.message).toContain('config:write');
    // Promoted already: a fresh run would revoke the previous version at once, so it needs force.
    expect(isConfigError(await weak.rotate(actors.secrets, secret).catch((e) => e), 'CONSTRAINT_VIOLATION')).toBe(true);
    const strong = h.manager([provider]);
    const done = await strong.retry(actors.secrets, secret, { wait: true });
    expect(done.state).toBe('idle');
    expect((await head(h, 'app:billing/database')).version).toBe(app.version + 1);
  });

  it('rotate with wait sleeps through the grace period and the acknowledgements', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret } = await scenario(h, provider);
    const resolver = resolverOf([provider]);
    const client = await createConfigClient({
      store: h.store,
      app: 'billing',
      environment: 'production',
      secrets: resolver,
      instance: 'billing-1',
    });
    cleanups.push(() => client.close());
    const before = (client.get('database') as { password: string }).password;
    // The real clock: a short grace period; the client acknowledges what it applies.
    const m = h.manager([provider], { clock: () => new Date(), waitPollMs: 20, resolver });
    await m.putPolicy(actors.secrets, { secret, intervalDays: 30, graceMs: 50 });
    const p = await m.rotate(actors.secrets, secret, { wait: true });
    expect(p.state).toBe('idle');
    const after = (await provider.read(secret.name)).value;
    await until(
      () => (client.get('database') as { password: string }).password === after,
      'the client reloaded',
      slowly,
    );
    expect(after).not.toBe(before);
    const acks = await h.store.listAcks?.(parseRef('app:billing/database'));
    expect(acks?.map((a) => [a.instance, a.version, a.status])).toEqual([
      ['billing-1', p.lastRun?.bumped[0]?.version, 'applied'],
    ]);
  });

  it('posts webhooks for started, promoted, completed; a dead or hanging webhook is reported, not fatal', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret, oldValue } = await scenario(h, provider);
    const good = await webhookReceiver();
    const hanging = await webhookReceiver({ hang: true });
    const dead = await webhookReceiver();
    const deadUrl = dead.url;
    await dead.close();
    cleanups.push(
      () => good.close(),
      () => hanging.close(),
    );
    const m = h.manager([provider], { webhooks: { timeoutMs: 200 } });
    const events = recordEvents(m);
    await m.putPolicy(actors.secrets, {
      secret,
      intervalDays: 30,
      graceMs: 0,
      notify: [good.url, hanging.url, deadUrl],
    });
    const p = await m.rotate(actors.secrets, secret);
    expect(p.state).toBe('idle');
    expect(good.bodies.map((b) => (b as { event: string }).event)).toEqual([
      'secret.rotation.started',
      'secret.rotation.promoted',
      'secret.rotation.completed',
    ]);
    expect(good.bodies[2]).toEqual({
      event: 'secret.rotation.completed',
      secret,
      runId: p.lastRun?.runId,
      version: p.lastRun?.version,
      previousVersion: p.lastRun?.previousVersion,
      at: expect.any(String),
    });
    const newValue = (await provider.read(secret.name)).value;
    for (const raw of good.raw) {
      expect(raw).not.toContain(newValue);
      expect(raw).not.toContain(oldValue);
    }
    const failures = events.filter((e) => e.type === 'notify-failed') as Array<{ url: string; error: string }>;
    expect(failures.filter((f) => f.url === hanging.url)).toHaveLength(3);
    expect(failures.filter((f) => f.url === deadUrl)).toHaveLength(3);
    expect(failures.find((f) => f.url === hanging.url)?.error).toBe('no answer within 200 ms');
  });

  it('enforces secrets:read, secrets:write and secrets:rotate', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret } = await scenario(h, provider);
    const m = h.manager([provider]);
    const denied = async (call: Promise<unknown>, permission: string) => {
      const e = await call.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isConfigError(e, 'ACCESS_DENIED')).toBe(true);
      expect((e as { permission: string }).permission).toBe(permission);
    };
    const input = { secret, intervalDays: 30 };
    await denied(m.putPolicy(actors.reader, input), 'secrets:write');
    await denied(m.putPolicy(actors.admin, input), 'secrets:write');
    await m.putPolicy(actors.secrets, input);
    await denied(m.getPolicy(actors.nobody, secret), 'secrets:read');
    await denied(m.listPolicies(actors.admin), 'secrets:read');
    await denied(m.rotate(actors.admin, secret), 'secrets:rotate');
    await denied(m.retry(actors.reader, secret), 'secrets:rotate');
    await denied(m.deletePolicy(actors.reader, secret), 'secrets:write');
    expect((await m.listPolicies(actors.secrets)).map((p) => p.secret)).toEqual([secret]);
    expect(provider.calls.write).toBe(0);
    // The scheduler acts as the manager's actor, which must hold secrets:rotate.
    const unprivileged = h.manager([provider], { actor: actors.admin });
    await denied(unprivileged.runDue(), 'secrets:rotate');
    expect(await m.deletePolicy(actors.secrets, secret)).toBe(true);
    expect(await m.getPolicy(actors.secrets, secret)).toBeUndefined();
  });

  it('validates policies with typed errors naming the field', async () => {
    const h = await harness('memory');
    const provider = local();
    const m = h.manager([provider]);
    const secret = { provider: 'local', name: 'x' };
    const bad: Array<[unknown, RegExp]> = [
      [{ secret, intervalDays: 30, cron: '* * * * *' }, /exactly one of intervalDays and cron/],
      [{ secret }, /exactly one of intervalDays and cron/],
      [{ secret, intervalDays: 0 }, /intervalDays/],
      [{ secret, intervalDays: 1.5 }, /intervalDays/],
      [{ secret, cron: '61 * * * *' }, /minute field/],
      [{ secret, cron: '0 0 30 2 *' }, /never matches/],
      [{ secret, cron: '* * *' }, /5 fields/],
      [{ secret, intervalDays: 1, graceMs: 1, gracePeriodDays: 1 }, /not both/],
      [{ secret, intervalDays: 1, graceMs: -1 }, /graceMs/],
      [{ secret, intervalDays: 1, gracePeriodDays: 400 }, /gracePeriodDays/],
      [{ secret, intervalDays: 1, notify: ['ftp://x'] }, /notify\[0\]/],
      [{ secret, intervalDays: 1, notify: ['http://user:pw@127.0.0.1/'] }, /credentials/],
      [{ secret, intervalDays: 1, generator: { type: 'password', length: 4 } }, /generator.length/],
      [{ secret, intervalDays: 1, generator: { type: 'password', symbols: 'ab' } }, /generator.symbols/],
      [
        {
          secret,
          intervalDays: 1,
          generator: { type: 'password', lower: false, upper: false, digits: false, symbols: false },
        },
        /no character class/,
      ],
      [{ secret, intervalDays: 1, generator: { type: 'handler', name: 'nope' } }, /not a registered handler/],
      [{ secret, intervalDays: 1, generator: { type: 'lambda' } }, /generator.type/],
      [{ secret: { provider: 'Bad', name: 'x' }, intervalDays: 1 }, /secret.provider/],
      [{ secret: { provider: 'aws', name: 'x' }, intervalDays: 1 }, /no secret provider is registered as "aws"/],
      [{ secret: { provider: 'local', name: '' }, intervalDays: 1 }, /secret.name/],
      [{ secret, intervalDays: 1, extra: true }, /unknown field "extra"/],
      [{ secret, intervalDays: 1, nextRotationAt: 'soon' }, /nextRotationAt/],
    ];
    for (const [input, message] of bad) {
      const e = await m.putPolicy(actors.secrets, input as never).catch((x: unknown) => x);
      expect(isConfigError(e, 'CONSTRAINT_VIOLATION'), inspect(input)).toBe(true);
      expect((e as Error).message).toMatch(message);
    }
    expect(await h.policies.list()).toEqual([]);
    expect(isConfigError(await m.rotate(actors.secrets, secret).catch((x) => x), 'NOT_FOUND')).toBe(true);
    expect(() => h.manager([provider], { retry: { maxAttempts: 0 } })).toThrow(/retry.maxAttempts/);
    expect(() => h.manager([provider], { actor: { id: '' } })).toThrow(/actor.id/);
    expect(() => h.manager([provider, provider])).toThrow(/given twice/);
  });

  it('close is idempotent and final: later calls reject CLOSED', async () => {
    const h = await harness('memory');
    const provider = local();
    const { secret } = await scenario(h, provider);
    const m = h.manager([provider]);
    await m.putPolicy(actors.secrets, { secret, intervalDays: 30 });
    await m.close();
    await m.close();
    expect(isConfigError(await m.rotate(actors.secrets, secret).catch((e) => e), 'CLOSED')).toBe(true);
    expect(isConfigError(await m.dueRotations().catch((e) => e), 'CLOSED')).toBe(true);
    expect(
      isConfigError(await m.putPolicy(actors.secrets, { secret, intervalDays: 1 }).catch((e) => e), 'CLOSED'),
    ).toBe(true);
    expect(() => m.registerHandler('x', { generate: () => 'x' })).toThrow(/closed/);
    // The provider is borrowed: still open.
    expect(isSecretError(await provider.read(secret.name).catch((e) => e))).toBe(false);
  });
});
