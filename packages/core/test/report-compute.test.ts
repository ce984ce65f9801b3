/**
 * `computeAuditReport` on hand-written trails whose answers are worked out in the comments: the
 * window's bounds (start in, end out), UTC days, nearest-rank percentiles, first decisions, ties,
 * drift keys, and the options it refuses.
 */
import { type AuditEvent, computeAuditReport } from '@summit-config/core';
import { describe, expect, it } from 'vitest';

let seq = 0;
function ev(at: string, action: string, over: Partial<AuditEvent> = {}): AuditEvent {
  seq++;
  return {
    seq,
    at,
    actor: 'alice',
    action,
    message: '',
    changes: [],
    prevHash: null,
    hash: null,
    signature: null,
    ...over,
  };
}

const window = (since: string, until: string, top?: number) => ({
  since: new Date(since),
  until: new Date(until),
  ...(top !== undefined ? { top } : {}),
});

describe('computeAuditReport', () => {
  it('counts changes inside [since, until) by UTC day, zero-filled, and ignores the store rows and other actions', () => {
    const events = [
      ev('2030-03-01T00:00:00.000Z', 'config.set', { ref: 'global/a' }), // on the start: in
      ev('2030-03-01T23:59:59.999Z', 'config.delete', { ref: 'global/a' }),
      ev('2030-03-03T12:00:00.000Z', 'request.apply', { ref: 'global/b', actor: 'bob' }),
      ev('2030-03-03T12:00:00.000Z', 'append', { ref: 'global/b', actor: 'bob' }), // the store's own row
      ev('2030-03-03T13:00:00.000Z', 'config.rollback', { ref: 'global/b', actor: 'bob' }),
      ev('2030-03-03T14:00:00.000Z', 'environment.create'),
      ev('2030-03-04T00:00:00.000Z', 'config.set', { ref: 'global/c' }), // on the end: out
      ev('2030-02-28T23:59:59.999Z', 'config.set', { ref: 'global/c' }), // before: out
    ];
    const report = computeAuditReport(events, window('2030-03-01T00:00:00.000Z', '2030-03-04T00:00:00.000Z'));
    expect(report.events).toBe(6);
    expect(report.changes).toBe(4);
    expect(report.changesPerDay).toEqual([
      { day: '2030-03-01', changes: 2 },
      { day: '2030-03-02', changes: 0 },
      { day: '2030-03-03', changes: 2 },
    ]);
    // A tie (2 and 2): by name in code-point order.
    expect(report.topRefs).toEqual([
      { ref: 'global/a', changes: 2 },
      { ref: 'global/b', changes: 2 },
    ]);
    expect(report.topActors).toEqual([
      { actor: 'alice', changes: 2 },
      { actor: 'bob', changes: 2 },
    ]);
  });

  it('a window that starts and ends inside days lists each day it touches', () => {
    const report = computeAuditReport([], window('2030-03-01T18:00:00.000Z', '2030-03-03T06:00:00.000Z'));
    expect(report.changesPerDay.map((d) => d.day)).toEqual(['2030-03-01', '2030-03-02', '2030-03-03']);
    const short = computeAuditReport([], window('2030-03-01T18:00:00.000Z', '2030-03-01T18:00:00.001Z'));
    expect(short.changesPerDay).toEqual([{ day: '2030-03-01', changes: 0 }]);
  });

  it('approval latency: the first decision of each request, nearest-rank p50 and p95', () => {
    const minutes = [7, 1, 9, 3, 5, 2, 10, 4, 8, 6]; // sorted: 1..10
    const events: AuditEvent[] = [];
    minutes.forEach((m, i) => {
      const created = Date.parse('2030-03-01T00:00:00.000Z') + i * 3_600_000;
      events.push(ev(new Date(created).toISOString(), 'request.create', { requestId: `r${i}` }));
      const decision = i % 3 === 0 ? 'request.reject' : 'request.approve';
      events.push(ev(new Date(created + m * 60_000).toISOString(), decision, { requestId: `r${i}` }));
      // A second decision later does not change the latency.
      events.push(ev(new Date(created + (m + 30) * 60_000).toISOString(), 'request.approve', { requestId: `r${i}` }));
    });
    // Undecided: one pending, one decided only after the window; one created before it is left out.
    events.push(ev('2030-03-01T20:00:00.000Z', 'request.create', { requestId: 'pending' }));
    events.push(ev('2030-03-01T23:00:00.000Z', 'request.create', { requestId: 'late' }));
    events.push(ev('2030-03-02T00:30:00.000Z', 'request.approve', { requestId: 'late' }));
    events.push(ev('2030-02-28T23:00:00.000Z', 'request.create', { requestId: 'early' }));
    events.push(ev('2030-03-01T00:30:00.000Z', 'request.approve', { requestId: 'early' }));
    // An emergency change's review is not a request decision.
    events.push(ev('2030-03-01T01:00:00.000Z', 'review.approve', { requestId: 'r1' }));
    const report = computeAuditReport(events, window('2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z'));
    expect(report.approvals).toEqual({
      requests: 12,
      decided: 10,
      approvedFirst: 6, // r1 r2 r4 r5 r7 r8
      rejectedFirst: 4, // r0 r3 r6 r9
      undecided: 2,
      p50Ms: 5 * 60_000, // rank ceil(0.5 * 10) = 5
      p95Ms: 10 * 60_000, // rank ceil(0.95 * 10) = 10
      method: 'nearest-rank',
    });
    const one = computeAuditReport(events.slice(0, 3), window('2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z'));
    expect([one.approvals.p50Ms, one.approvals.p95Ms]).toEqual([7 * 60_000, 7 * 60_000]);
    const none = computeAuditReport([], window('2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z'));
    expect([none.approvals.p50Ms, none.approvals.p95Ms, none.rotations.successRate]).toEqual([null, null, null]);
  });

  it('rotation success rate and drift incidents, keyed by ref, environment, instance and kind', () => {
    const drift = (at: string, action: string, ref: string, message: string, environment?: string) =>
      ev(at, action, { ref, message, ...(environment ? { environment } : {}) });
    const events = [
      ev('2030-03-01T01:00:00.000Z', 'secret.rotation.succeeded'),
      ev('2030-03-01T02:00:00.000Z', 'secret.rotation.succeeded'),
      ev('2030-03-01T03:00:00.000Z', 'secret.rotation.succeeded'),
      ev('2030-03-01T04:00:00.000Z', 'secret.rotation.failed'),
      ev('2030-03-01T05:00:00.000Z', 'secret.rotate'), // a start by hand, not a result
      drift('2030-03-01T01:00:00.000Z', 'drift.found', 'global/a', 'head-mismatch: global/a: consul is at v2'),
      drift('2030-03-01T01:10:00.000Z', 'drift.found', 'global/a', 'head-mismatch: global/a: consul is at v3'), // same incident
      drift('2030-03-01T01:30:00.000Z', 'drift.repaired', 'global/a', 'head-mismatch repaired: reconciled'), // 30 min
      drift('2030-03-01T02:00:00.000Z', 'drift.found', 'global/a', 'head-mismatch: again'), // a new incident
      drift('2030-03-01T03:30:00.000Z', 'drift.repaired', 'global/a', 'head-mismatch repaired: reconciled'), // 90 min
      drift(
        '2030-03-01T01:00:00.000Z',
        'drift.found',
        'global/b',
        'lagging-instance: global/b: instance web-1 (prod) applied v1',
        'prod',
      ),
      drift(
        '2030-03-01T01:00:00.000Z',
        'drift.found',
        'global/b',
        'lagging-instance: global/b: instance web-2 (prod) applied v1',
        'prod',
      ),
      drift(
        '2030-03-01T01:00:00.000Z',
        'drift.found',
        'global/b',
        'lagging-instance: global/b: instance web-1 (dev) applied v1',
        'dev',
      ),
      drift('2030-03-01T06:00:00.000Z', 'drift.repaired', 'global/c', 'missing repaired: copied'), // found earlier
      drift('2030-03-01T07:00:00.000Z', 'drift.found', 'global/d', 'no kind here'),
    ];
    const report = computeAuditReport(events, window('2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z', 1));
    expect(report.rotations).toEqual({ succeeded: 3, failed: 1, successRate: 0.75 });
    expect(report.drift).toEqual({
      incidents: 6,
      // Every kind, whatever `top` (1 here).
      byKind: [
        { kind: 'lagging-instance', incidents: 3 },
        { kind: 'head-mismatch', incidents: 2 },
        { kind: 'unknown', incidents: 1 },
      ],
      repaired: 2,
      unrepaired: 4,
      meanTimeToRepairMs: 60 * 60_000, // (30 + 90) / 2 minutes
      unmatchedRepairs: 1,
    });
    expect(report.topRefs).toEqual([]);
  });

  it('refuses a window that is not two dates in order, too long a window, and a top out of 1-1000', () => {
    const ok = window('2030-03-01T00:00:00.000Z', '2030-03-02T00:00:00.000Z');
    const cases: Array<[unknown, RegExp]> = [
      [{ ...ok, since: new Date(Number.NaN) }, /report since must be a valid Date/],
      [{ ...ok, until: '2030-03-02' }, /report until must be a valid Date/],
      [{ since: ok.until, until: ok.since }, /must be before until/],
      [{ since: ok.since, until: ok.since }, /must be before until/],
      [{ since: new Date('2000-01-01'), until: new Date('2030-01-01') }, /at most 3660 days/],
      [{ ...ok, top: 0 }, /report top must be an integer from 1 to 1000, not 0/],
      [{ ...ok, top: 1.5 }, /report top/],
      [{ ...ok, top: '3' }, /report top/],
      [null, /report options must be an object/],
    ];
    for (const [options, message] of cases) {
      expect(() => computeAuditReport([], options as never), String(message)).toThrow(
        expect.objectContaining({ code: 'CONSTRAINT_VIOLATION', message: expect.stringMatching(message) }),
      );
    }
    expect(computeAuditReport([], { ...ok, top: 1000 }).topRefs).toEqual([]);
  });
});
