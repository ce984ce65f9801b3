/**
 * A recorded history for audit report tests (docs/reports.md): real calls through the change
 * service on a moving test clock, around a window of four UTC days (2030-01-02 .. 2030-01-06, the
 * third day without changes): changes by several actors (sets, a rollback, a delete, applied change
 * requests), change requests approved or rejected after known latencies (one decided before the
 * window opened, one decided after it closed, one cancelled, one left pending), rotation results and
 * drift found and repaired, recorded through the service's audit writer (`recordEvent`), and events
 * before and after the window. The ledger says what was done and when, for the test to compute the
 * report independently.
 */
import type { Actor, ConfigService, JsonObject } from '@summit-config/core';

/** Changes (new versions), one per write. */
export interface LedgerChange {
  readonly at: string;
  readonly ref: string;
  readonly actor: string;
}

/** A change request and its first decision, if any. */
export interface LedgerRequest {
  readonly createdAt: string;
  readonly decidedAt?: string;
  readonly decision?: 'approve' | 'reject';
}

export interface LedgerDrift {
  readonly action: 'drift.found' | 'drift.repaired';
  readonly at: string;
  readonly ref: string;
  readonly kind: string;
  readonly instance?: string;
}

export interface ReportLedger {
  readonly since: string;
  readonly until: string;
  readonly changes: LedgerChange[];
  readonly requests: LedgerRequest[];
  readonly rotations: Array<{ at: string; ok: boolean }>;
  readonly drift: LedgerDrift[];
}

/** The people of the scenario: the admin records rotation and drift events; writers propose, approvers decide. */
export interface ScenarioActors {
  readonly admin: Actor;
  readonly writers: readonly Actor[];
  readonly approvers: readonly Actor[];
}

/** The clock the service was created with. */
export interface MovableClock {
  now(): Date;
  advance(ms: number): void;
}

export const REPORT_SINCE = '2030-01-02T00:00:00.000Z';
export const REPORT_UNTIL = '2030-01-06T00:00:00.000Z';
const REFS = ['app:web/db', 'app:web/cache', 'global/limits', 'app:api/queue'] as const;
const MINUTE = 60_000;

/** A small seeded generator (mulberry32): the same seed, the same history. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The message of a drift event as the agent's drift job writes it (docs/audit-trail.md):
 * `<kind>: <finding>` when found (an instance's finding names `instance <id> (<environment>)`),
 * `<kind> repaired: <what remediation did>` when repaired.
 */
export function driftMessage(
  action: 'drift.found' | 'drift.repaired',
  kind: string,
  ref: string,
  instance?: string,
): string {
  if (action === 'drift.repaired') return `${kind} repaired: reconciled ${ref} from postgres`;
  return instance
    ? `${kind}: ${ref}: instance ${instance} (staging) applied v1, 2 behind the head v3`
    : `${kind}: ${ref}: consul is at v3 (0123456789ab…), postgres at v2 (ba9876543210…)`;
}

/**
 * Runs the scenario on `service` (over environments with `staging` open and `production-eu` needing
 * one approval, e.g. test-support's `ENVIRONMENTS`) and returns what was done. `seed` picks actors,
 * refs, gaps and latencies.
 */
export async function runReportScenario(
  service: ConfigService,
  clock: MovableClock,
  who: ScenarioActors,
  seed: number,
): Promise<ReportLedger> {
  const rnd = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const ledger: ReportLedger = {
    since: REPORT_SINCE,
    until: REPORT_UNTIL,
    changes: [],
    requests: [],
    rotations: [],
    drift: [],
  };
  const at = () => clock.now().toISOString();
  const moveTo = (iso: string) => clock.advance(Date.parse(iso) - clock.now().getTime());
  const gap = (minMinutes: number, maxMinutes: number) =>
    clock.advance((minMinutes + Math.floor(rnd() * (maxMinutes - minMinutes + 1))) * MINUTE);
  /** The overrides each ref holds now (a staging change keeps production-eu's, and back). */
  const overrides = new Map<string, Record<string, JsonObject>>();
  let counter = 0;
  const changed = (ref: string, actor: Actor) => ledger.changes.push({ at: at(), ref, actor: actor.id });

  /** A change of the staging override only (no approval needed). */
  const setStaging = async (actor: Actor, ref: string) => {
    const next = { ...overrides.get(ref), staging: { n: ++counter } };
    await service.set(actor, { ref, config: { base: true }, overrides: next });
    overrides.set(ref, next);
    changed(ref, actor);
  };

  /** A request changing production-eu; decided after `latencyMinutes` (or not), applied when approved. */
  const request = async (ref: string, latencyMinutes: number | undefined, decision: 'approve' | 'reject') => {
    const writer = pick(who.writers);
    const approver = pick(who.approvers.filter((a) => a.id !== writer.id));
    const next = { ...overrides.get(ref), 'production-eu': { n: ++counter } };
    const created = await service.propose(writer, { ref, config: { base: true }, overrides: next, message: 'eu' });
    const createdAt = at();
    if (latencyMinutes === undefined) {
      ledger.requests.push({ createdAt });
      return { id: created.id, writer };
    }
    clock.advance(latencyMinutes * MINUTE);
    if (decision === 'approve') await service.approve(approver, created.id, { comment: 'ok' });
    else await service.reject(approver, created.id, { reason: 'not now' });
    ledger.requests.push({ createdAt, decidedAt: at(), decision });
    if (decision === 'approve') {
      clock.advance(MINUTE);
      await service.apply(writer, created.id);
      overrides.set(ref, next);
      changed(ref, writer);
    }
    return { id: created.id, writer };
  };

  const rotation = async (ok: boolean) => {
    await service.recordEvent(who.admin, {
      action: ok ? 'secret.rotation.succeeded' : 'secret.rotation.failed',
      message: `secret local/db-pass: rotation ${ok ? 'succeeded' : 'failed'}`,
      permission: 'secrets:rotate',
    });
    ledger.rotations.push({ at: at(), ok });
  };

  const drift = async (action: LedgerDrift['action'], ref: string, kind: string, instance?: string) => {
    await service.recordEvent(who.admin, {
      action,
      ref,
      ...(instance ? { environment: 'staging' } : {}),
      message: driftMessage(action, kind, ref, instance),
      permission: 'config:write',
    });
    ledger.drift.push({ action, at: at(), ref, kind, ...(instance ? { instance } : {}) });
  };

  // Before the window: every ref created (an emergency change: production is guarded), a rotation,
  // a drift found, and a request opened that is decided (and applied) once the window is open.
  moveTo('2030-01-01T08:00:00.000Z');
  for (const ref of REFS) {
    await service.set(who.admin, { ref, config: { base: true } }, { emergency: true });
    changed(ref, who.admin);
    gap(5, 30);
  }
  await rotation(true);
  await drift('drift.found', 'app:api/queue', 'missing');
  moveTo('2030-01-01T23:50:00.000Z');
  const early = pick(who.writers);
  const earlyOverrides = { 'production-eu': { n: 0 } };
  const earlyRequest = await service.propose(early, {
    ref: 'global/limits',
    config: { base: true },
    overrides: earlyOverrides,
  });
  const earlyAt = at();
  moveTo('2030-01-02T00:05:00.000Z');
  await service.approve(pick(who.approvers.filter((a) => a.id !== early.id)), earlyRequest.id);
  ledger.requests.push({ createdAt: earlyAt, decidedAt: at(), decision: 'approve' });
  await service.apply(early, earlyRequest.id);
  overrides.set('global/limits', earlyOverrides);
  changed('global/limits', early);

  // Days one and two: staging changes by every writer, requests, rotations, drift.
  moveTo('2030-01-02T00:30:00.000Z');
  const latencies = [3, 11, 17, 25, 42, 58, 75, 96, 130, 185];
  for (let i = latencies.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [latencies[i], latencies[j]] = [latencies[j] as number, latencies[i] as number];
  }
  for (let i = 0; i < 12; i++) {
    await setStaging(pick(who.writers), pick(REFS));
    gap(10, 70);
    if (i % 2 === 0) {
      await request(pick(REFS), latencies.pop(), rnd() < 0.6 ? 'approve' : 'reject');
      gap(5, 20);
    }
    if (i % 4 === 1) await rotation(rnd() < 0.7);
  }
  await drift('drift.found', 'app:web/db', 'head-mismatch');
  gap(4, 6);
  await drift('drift.found', 'app:web/db', 'head-mismatch'); // still open: the same incident
  clock.advance(20 * MINUTE);
  await drift('drift.repaired', 'app:web/db', 'head-mismatch');
  gap(1, 10);
  await drift('drift.found', 'app:web/cache', 'missing');
  await drift('drift.found', 'app:web/cache', 'lagging-instance', 'i-1');
  await drift('drift.found', 'app:web/cache', 'lagging-instance', 'i-2');
  gap(60, 120);
  await drift('drift.repaired', 'app:web/cache', 'missing');
  await drift('drift.repaired', 'app:api/queue', 'missing'); // found before the window
  await rotation(false);
  if (clock.now().getTime() >= Date.parse('2030-01-04T00:00:00.000Z')) {
    throw new Error('the scenario ran into its empty day: shorten the gaps');
  }

  // Day four (2030-01-04 has nothing): a rollback, a delete, more requests, an undecided one, a
  // cancelled one, one decided after the window.
  moveTo('2030-01-05T01:00:00.000Z');
  const rolled = pick(REFS.slice(0, 3));
  await setStaging(pick(who.writers), rolled);
  gap(5, 15);
  const afterFirst = overrides.get(rolled);
  await setStaging(pick(who.writers), rolled);
  gap(5, 15);
  const roller = pick(who.writers);
  const head = await service.get(roller, rolled);
  await service.rollback(roller, rolled, { to: (head?.version ?? 2) - 1, message: 'back' });
  overrides.set(rolled, afterFirst ?? {});
  changed(rolled, roller);
  gap(5, 15);
  await service.delete(who.admin, 'app:api/queue', { emergency: true, message: 'gone' });
  changed('app:api/queue', who.admin);
  gap(5, 15);
  for (const minutes of latencies.splice(0)) {
    await request(pick(REFS.slice(0, 3)), minutes, rnd() < 0.5 ? 'approve' : 'reject');
    gap(5, 20);
  }
  await drift('drift.found', 'global/limits', 'checksum-mismatch');
  await rotation(true);
  await request('app:web/db', undefined, 'approve'); // left pending
  gap(5, 15);
  const cancelled = await request('app:web/cache', undefined, 'approve');
  gap(5, 15);
  await service.cancel(cancelled.writer, cancelled.id, { reason: 'changed my mind' });
  moveTo('2030-01-05T23:50:00.000Z');
  const late = pick(who.writers);
  const lateRequest = await service.propose(late, {
    ref: 'global/limits',
    config: { base: true },
    overrides: { ...overrides.get('global/limits'), 'production-eu': { n: -1 } },
  });
  const lateAt = at();

  // After the window: its decision, a change, a rotation, a repair.
  moveTo('2030-01-06T00:10:00.000Z');
  await service.approve(pick(who.approvers.filter((a) => a.id !== late.id)), lateRequest.id);
  ledger.requests.push({ createdAt: lateAt, decidedAt: at(), decision: 'approve' });
  await setStaging(pick(who.writers), 'app:web/db');
  await rotation(false);
  await drift('drift.repaired', 'global/limits', 'checksum-mismatch');
  return ledger;
}

/** The figures a report of the ledger's window must show, computed from the ledger alone. */
export interface ExpectedReport {
  changes: number;
  changesPerDay: Array<{ day: string; changes: number }>;
  topRefs: Array<{ ref: string; changes: number }>;
  topActors: Array<{ actor: string; changes: number }>;
  approvals: {
    requests: number;
    decided: number;
    approvedFirst: number;
    rejectedFirst: number;
    undecided: number;
    p50Ms: number | null;
    p95Ms: number | null;
  };
  rotations: { succeeded: number; failed: number; successRate: number | null };
  drift: {
    incidents: number;
    byKind: Array<{ kind: string; incidents: number }>;
    repaired: number;
    unrepaired: number;
    meanTimeToRepairMs: number | null;
    unmatchedRepairs: number;
  };
}

/** Sorted most first, then by name; the first `top`. */
function leaders(names: readonly string[], top: number): Array<[string, number]> {
  const counts: Record<string, number> = {};
  for (const n of names) counts[n] = (counts[n] ?? 0) + 1;
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)) // ties in code-point order
    .slice(0, top);
}

/** The report of `[since, until)` over what the ledger says was done (docs/reports.md's definitions). */
export function expectedReport(ledger: ReportLedger, top: number, since = ledger.since, until = ledger.until) {
  const inside = (iso: string | undefined) => iso !== undefined && iso >= since && iso < until;
  const changes = ledger.changes.filter((c) => inside(c.at));
  const days: string[] = [];
  for (let t = Date.parse(since.slice(0, 10)); t < Date.parse(until); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  const requests = ledger.requests.filter((r) => inside(r.createdAt));
  const decided = requests.filter((r) => inside(r.decidedAt));
  const latencies = decided
    .map((r) => Date.parse(r.decidedAt as string) - Date.parse(r.createdAt))
    .sort((a, b) => a - b);
  // Nearest rank: the smallest latency with at least p% of them at or below it.
  const percentile = (p: number) => latencies.find((_, i) => (i + 1) / latencies.length >= p / 100) ?? null;
  const rotations = ledger.rotations.filter((r) => inside(r.at));
  const succeeded = rotations.filter((r) => r.ok).length;
  // Drift incidents: per (ref, instance, kind), from the first finding to the next repair.
  const open = new Map<string, number>();
  const kinds: string[] = [];
  const repairs: number[] = [];
  let unmatched = 0;
  for (const d of ledger.drift.filter((x) => inside(x.at))) {
    const key = `${d.ref}|${d.instance ?? ''}|${d.kind}`;
    if (d.action === 'drift.found') {
      if (open.has(key)) continue;
      open.set(key, Date.parse(d.at));
      kinds.push(d.kind);
    } else if (open.has(key)) {
      repairs.push(Date.parse(d.at) - (open.get(key) as number));
      open.delete(key);
    } else unmatched++;
  }
  return {
    changes: changes.length,
    changesPerDay: days.map((day) => ({ day, changes: changes.filter((c) => c.at.startsWith(day)).length })),
    topRefs: leaders(
      changes.map((c) => c.ref),
      top,
    ).map(([ref, n]) => ({ ref, changes: n })),
    topActors: leaders(
      changes.map((c) => c.actor),
      top,
    ).map(([actor, n]) => ({ actor, changes: n })),
    approvals: {
      requests: requests.length,
      decided: decided.length,
      approvedFirst: decided.filter((r) => r.decision === 'approve').length,
      rejectedFirst: decided.filter((r) => r.decision === 'reject').length,
      undecided: requests.length - decided.length,
      p50Ms: percentile(50),
      p95Ms: percentile(95),
    },
    rotations: {
      succeeded,
      failed: rotations.length - succeeded,
      successRate: rotations.length === 0 ? null : succeeded / rotations.length,
    },
    drift: {
      incidents: kinds.length,
      byKind: leaders(kinds, kinds.length).map(([kind, n]) => ({ kind, incidents: n })),
      repaired: repairs.length,
      unrepaired: open.size,
      meanTimeToRepairMs: repairs.length === 0 ? null : repairs.reduce((a, b) => a + b, 0) / repairs.length,
      unmatchedRepairs: unmatched,
    },
  } satisfies ExpectedReport;
}
