/**
 * Audit reports (docs/reports.md) over a history made with real calls through the change service on
 * the real PostgreSQL server (test-support's report scenario: changes by several actors across four
 * UTC days, requests approved and rejected after known latencies, rotation results, drift found and
 * repaired, events before and after the window). Every figure of `auditReport` is checked against
 * the figure computed from what the scenario did; bad input is `CONSTRAINT_VIOLATION` before anything
 * is read; an actor without `config:audit:read` is refused.
 */
import { type AuditReport, auditReport, computeAuditReport } from '@summit-config/core';
import { actors } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import {
  expectedReport,
  REPORT_SINCE,
  REPORT_UNTIL,
  type ReportLedger,
  runReportScenario,
} from '@summit-config/test-support/report-scenario';
import { closeShared, ENVIRONMENTS, type Harness, harness } from '@summit-config/test-support/service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SEED = Number(process.env.REPORT_SEED ?? 20_260_105);
const WHO = {
  admin: actors.root,
  writers: [actors.alice, actors.bob, actors.carol],
  approvers: [actors.alice, actors.bob, actors.carol],
};

let h: Harness;
let ledger: ReportLedger;

beforeAll(async () => {
  h = await harness('postgres', { environments: ENVIRONMENTS });
  ledger = await runReportScenario(h.service, h.clock, WHO, SEED);
}, 120_000);

afterAll(async () => {
  await h?.close();
  await closeShared();
});

/** The report without the fields the ledger does not predict (the window's bounds, the events read, the method). */
function figures(report: AuditReport) {
  const { since, until, events, approvals, ...rest } = report;
  const { method, ...latency } = approvals;
  expect(method).toBe('nearest-rank');
  return { ...rest, approvals: latency };
}

describe(`audit report (seed ${SEED})`, () => {
  it('every figure matches what was done in the window', async () => {
    const report = await auditReport(h.service, actors.root, { since: REPORT_SINCE, until: REPORT_UNTIL, top: 3 });
    expect(report.since).toBe(REPORT_SINCE);
    expect(report.until).toBe(REPORT_UNTIL);
    expect(figures(report)).toEqual(expectedReport(ledger, 3));
    // Sanity of the scenario itself: the figures are not trivially zero.
    expect(report.changesPerDay.map((d) => d.day)).toEqual(['2030-01-02', '2030-01-03', '2030-01-04', '2030-01-05']);
    expect(report.changesPerDay[2]?.changes).toBe(0);
    expect(report.changes).toBeGreaterThan(15);
    expect(report.approvals.decided).toBe(10);
    expect(report.approvals.undecided).toBe(3);
    expect(report.drift).toMatchObject({ incidents: 5, repaired: 2, unrepaired: 3, unmatchedRepairs: 1 });
    expect(report.drift.byKind).toEqual([
      { kind: 'lagging-instance', incidents: 2 },
      { kind: 'checksum-mismatch', incidents: 1 },
      { kind: 'head-mismatch', incidents: 1 },
      { kind: 'missing', incidents: 1 },
    ]);
    expect(new Set(report.topActors.map((a) => a.actor)).size).toBe(report.topActors.length);
    // The events read are those of the audit trail in the window.
    const trail = await h.service.audit(actors.root, { since: REPORT_SINCE, until: REPORT_UNTIL, limit: 10_000 });
    expect(report.events).toBe(trail.length);
  });

  it('the figures of other windows and sizes match too (a window inside a day, the whole history)', async () => {
    const windows: Array<[string, string, number]> = [
      ['2030-01-02T06:00:00.000Z', '2030-01-03T06:00:00.000Z', 1],
      ['2030-01-05T00:00:00.000Z', '2030-01-05T12:00:00.000Z', 10],
      ['2030-01-01T00:00:00.000Z', '2030-01-07T00:00:00.000Z', 1000],
    ];
    for (const [since, until, top] of windows) {
      const report = await auditReport(h.service, actors.root, { since, until, top });
      expect(figures(report), `${since} .. ${until}`).toEqual(expectedReport(ledger, top, since, until));
    }
  });

  it('durations count back from until, and until from now', async () => {
    const now = new Date('2030-01-06T00:00:00.000Z');
    const report = await auditReport(h.service, actors.root, { since: '4d', now, top: 3 });
    expect([report.since, report.until]).toEqual([REPORT_SINCE, REPORT_UNTIL]);
    expect(figures(report)).toEqual(expectedReport(ledger, 3));
    const shifted = await auditReport(h.service, actors.root, { since: '48h', until: '1d', now });
    expect([shifted.since, shifted.until]).toEqual(['2030-01-03T00:00:00.000Z', '2030-01-05T00:00:00.000Z']);
    expect(figures(shifted)).toEqual(expectedReport(ledger, 10, shifted.since, shifted.until));
  });

  it('the pure computation over the trail gives the same report', async () => {
    const trail = await h.service.audit(actors.root, { limit: 10_000 });
    const pure = computeAuditReport(trail, { since: new Date(REPORT_SINCE), until: new Date(REPORT_UNTIL), top: 3 });
    expect(pure).toEqual(
      await auditReport(h.service, actors.root, { since: REPORT_SINCE, until: REPORT_UNTIL, top: 3 }),
    );
  });

  it('bad input is CONSTRAINT_VIOLATION naming the option, and nothing is written', async () => {
    const before = (await h.service.audit(actors.root, { limit: 10_000 })).length;
    const bad: Array<[Parameters<typeof auditReport>[2], RegExp]> = [
      [{ since: '-5d' }, /report since must be a duration/],
      [{ since: 'yesterday' }, /report since must be a duration/],
      [{ since: '30x' }, /report since/],
      [{ until: 'soon' }, /report until must be a duration/],
      [{ since: '0d' }, /must be before until/],
      [{ since: REPORT_UNTIL, until: REPORT_SINCE }, /must be before until/],
      [{ since: '4000d' }, /at most 3660 days/],
      [{ top: 0 }, /report top must be an integer from 1 to 1000/],
      [{ top: 1001 }, /report top/],
      [{ top: 2.5 }, /report top/],
      [{ since: new Date(Number.NaN) }, /report since is not a valid date/],
    ];
    for (const [options, message] of bad) {
      const error = await auditReport(h.service, actors.root, options).catch((e: unknown) => e);
      expect(error, JSON.stringify(options)).toMatchObject({
        code: 'CONSTRAINT_VIOLATION',
        message: expect.stringMatching(message),
      });
    }
    expect(() => computeAuditReport([], { since: new Date(REPORT_UNTIL), until: new Date(REPORT_SINCE) })).toThrow(
      /must be before until/,
    );
    expect(await codeOf(auditReport(h.service, actors.nobody, { since: '1d' }))).toBe('ACCESS_DENIED');
    expect((await h.service.audit(actors.root, { limit: 10_000 })).length).toBe(before);
  });
});

describe('audit report over more than one page of the trail', () => {
  it('reads every page (10 000 events each) of the window; an aborted signal stops it with its reason', async () => {
    const m = await harness('memory', { environments: ENVIRONMENTS });
    try {
      m.clock.advance(3_600_000);
      const total = 10_250;
      let succeeded = 0;
      for (let i = 0; i < total; i++) {
        const ok = i % 5 !== 0;
        if (ok) succeeded++;
        await m.service.recordEvent(actors.root, {
          action: ok ? 'secret.rotation.succeeded' : 'secret.rotation.failed',
          message: `run ${i}`,
          permission: 'secrets:rotate',
        });
      }
      const options = { since: '2030-01-01T00:00:00.000Z', until: '2030-01-02T00:00:00.000Z' };
      const report = await auditReport(m.service, actors.root, options);
      expect(report.events).toBe(total);
      expect(report.rotations).toEqual({ succeeded, failed: total - succeeded, successRate: succeeded / total });
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await expect(auditReport(m.service, actors.root, { ...options, signal: controller.signal })).rejects.toThrow(
        'stop',
      );
    } finally {
      await m.close();
    }
  }, 120_000);
});
