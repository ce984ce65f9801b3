/**
 * `GET /api/v1/report` on the real PostgreSQL server: the scenario of test-support's
 * report-scenario made through the change service, then the route's report checked figure by figure
 * against the ledger and against core's `auditReport` called directly; bad input is a 400
 * `CONSTRAINT_VIOLATION` problem, a caller without `config:audit:read` a 403. Every response is
 * checked against the OpenAPI document by the harness.
 */
import { type AuditReport, auditReport } from '@summit-config/core';
import {
  expectedReport,
  REPORT_SINCE,
  REPORT_UNTIL,
  type ReportLedger,
  runReportScenario,
} from '@summit-config/test-support/report-scenario';
import { closeShared } from '@summit-config/test-support/service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auth,
  GUARDED_ENVIRONMENTS,
  json,
  ROOT,
  ROOT_ACTOR,
  type ServerHarness,
  serverHarness,
  TOKENS,
} from './support.js';

let s: ServerHarness;
let ledger: ReportLedger;

beforeAll(async () => {
  s = await serverHarness('postgres', {}, GUARDED_ENVIRONMENTS);
  const t = (name: string) => TOKENS[`${name}-secret`] as NonNullable<(typeof TOKENS)[string]>;
  ledger = await runReportScenario(
    s.h.service,
    s.h.clock,
    { admin: t('root'), writers: [t('root'), t('alice')], approvers: [t('bob'), t('carol')] },
    Number(process.env.REPORT_SEED ?? 42),
  );
}, 120_000);

afterAll(async () => {
  await s?.close();
  await closeShared();
});

const get = (query: string, headers = ROOT) => s.app.inject({ url: `/api/v1/report${query}`, headers });

describe('GET /api/v1/report', () => {
  it('answers the report of the window: every figure as the ledger says, the same as auditReport', async () => {
    const res = await get(`?since=${REPORT_SINCE}&until=${REPORT_UNTIL}&top=2`);
    expect(res.statusCode, res.body).toBe(200);
    const report = json<AuditReport>(res);
    const { since, until, events, approvals, ...rest } = report;
    const { method, ...latency } = approvals;
    expect([since, until, method]).toEqual([REPORT_SINCE, REPORT_UNTIL, 'nearest-rank']);
    expect({ ...rest, approvals: latency }).toEqual(expectedReport(ledger, 2));
    expect(report).toEqual(
      await auditReport(s.h.service, ROOT_ACTOR, { since: REPORT_SINCE, until: REPORT_UNTIL, top: 2 }),
    );
    expect(report.topActors.map((a) => a.actor).sort()).toEqual(
      [...new Set(expectedReport(ledger, 10).topActors.map((a) => a.actor))].sort(),
    );
    expect(events).toBeGreaterThan(report.changes);
  });

  it('a duration counts back from until; until defaults to now', async () => {
    const res = await get(`?since=2d&until=${REPORT_UNTIL}`);
    expect(res.statusCode, res.body).toBe(200);
    const report = json<AuditReport>(res);
    expect(report.since).toBe('2030-01-04T00:00:00.000Z');
    expect(report.changesPerDay.map((d) => d.changes)).toEqual(
      expectedReport(ledger, 10, report.since, REPORT_UNTIL).changesPerDay.map((d) => d.changes),
    );
    const now = json<AuditReport>(await get('?since=1h'));
    expect(Date.parse(now.until) - Date.parse(now.since)).toBe(3_600_000);
    expect(now.changes).toBe(0); // the scenario happened in 2030
  });

  it('bad input is a 400 CONSTRAINT_VIOLATION problem; no audit permission is a 403', async () => {
    const cases: Array<[string, RegExp]> = [
      ['?since=-5d', /report since must be a duration/],
      ['?since=yesterday', /report since must be a duration/],
      ['?until=later', /report until must be a duration/],
      ['?top=0', /report top must be an integer from 1 to 1000/],
      ['?top=abc', /report top must be an integer/],
      [`?since=${REPORT_UNTIL}&until=${REPORT_SINCE}`, /must be before until/],
      ['?colour=blue', /.+/],
    ];
    for (const [query, message] of cases) {
      const res = await get(query);
      expect({ query, status: res.statusCode }).toEqual({ query, status: 400 });
      expect(json(res)).toMatchObject({ code: 'CONSTRAINT_VIOLATION', detail: expect.stringMatching(message) });
    }
    const denied = await get('?since=1d', auth('reader-secret'));
    expect(denied.statusCode).toBe(403);
    expect(json(denied)).toMatchObject({ code: 'ACCESS_DENIED' });
  });
});
