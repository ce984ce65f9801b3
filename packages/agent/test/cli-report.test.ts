/**
 * `summit-config report` on the real Consul and PostgreSQL: changes by three people, a guarded
 * environment's request approved and another rejected, then the report's JSON checked against what
 * was done (changes per ref and per actor, today's count, the requests and their latencies as the
 * audit trail timed them), the human output's tables and chart, and bad input refused with exit 2.
 */
import type { AuditReport } from '@summit-config/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, type Harness, realHarness } from './cli-harness.js';

let h: Harness;
/** What the test did: one entry per new version, `[ref, actor]`. */
const done: Array<[string, string]> = [];

async function ok(args: string[], actor = 'alice'): Promise<CliResult> {
  const r = await h.run(args, { actor });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

async function set(ref: string, actor: string, value: object, env?: string): Promise<void> {
  await ok(['set', ref, '--json-value', JSON.stringify(value), ...(env ? ['--env', env] : [])], actor);
  done.push([ref, actor]);
}

beforeAll(async () => {
  h = await realHarness('report');
  for (let i = 1; i <= 3; i++) await set('global/db', 'alice', { pool: i });
  for (let i = 1; i <= 2; i++) await set('app:web/db', 'bob', { port: 6000 + i });
  await set('app:web/cache', 'carol', { ttl: 60 });
  await ok(['env', 'create', 'staging']);
  await set('app:web/cache', 'bob', { ttl: 30 }, 'staging');
  await ok(['env', 'create', 'production', '--production', '--required-approvals', '1']);
  const approved = (
    await ok(['propose', 'global/db', '--env', 'production', '--json-value', '{"pool":50}', '-q'], 'alice')
  ).stdout.trim();
  await ok(['approve', approved], 'bob');
  await ok(['apply', approved], 'alice');
  done.push(['global/db', 'alice']);
  const rejected = (
    await ok(['propose', 'app:web/db', '--env', 'production', '--json-value', '{"port":1}', '-q'], 'bob')
  ).stdout.trim();
  await ok(['reject', rejected, '--reason', 'no'], 'carol');
  await ok(['propose', 'app:web/cache', '--env', 'production', '--json-value', '{"ttl":1}', '-q'], 'carol');
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
});

/** Counts of `keys`, most first, ties by name. */
function counted(keys: readonly string[]): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

describe('summit-config report', () => {
  it('--json: the changes, refs, actors and approvals that were made, today zero-filled in the window', async () => {
    const report = (await ok(['report', '--json', '--top', '2'], 'rita')).json() as AuditReport;
    expect(Date.parse(report.until) - Date.parse(report.since)).toBe(30 * 86_400_000);
    expect(report.changes).toBe(done.length);
    expect(report.changesPerDay.length).toBeGreaterThanOrEqual(31);
    const today = new Date().toISOString().slice(0, 10);
    // The test ran today (or started just before midnight UTC: then yesterday and today).
    const recent = report.changesPerDay.filter((d) => d.changes > 0);
    expect(recent.every((d) => d.day <= today)).toBe(true);
    expect(recent.reduce((n, d) => n + d.changes, 0)).toBe(done.length);
    expect(report.changesPerDay.slice(0, -2).every((d) => d.changes === 0)).toBe(true);
    expect(report.topRefs.map((r) => [r.ref, r.changes])).toEqual(counted(done.map(([ref]) => ref)).slice(0, 2));
    expect(report.topActors.map((a) => [a.actor, a.changes])).toEqual(
      counted(done.map(([, actor]) => actor)).slice(0, 2),
    );
    // The latencies as the audit trail timed each request from its creation to its decision.
    const trail = (await ok(['audit', '--action', 'request.', '--json'])).json() as Array<{
      action: string;
      at: string;
      requestId: string;
    }>;
    const created = new Map(trail.filter((e) => e.action === 'request.create').map((e) => [e.requestId, e.at]));
    const latencies = trail
      .filter((e) => e.action === 'request.approve' || e.action === 'request.reject')
      .map((e) => Date.parse(e.at) - Date.parse(created.get(e.requestId) as string))
      .sort((a, b) => a - b);
    expect(latencies).toHaveLength(2);
    expect(report.approvals).toEqual({
      requests: 3,
      decided: 2,
      approvedFirst: 1,
      rejectedFirst: 1,
      undecided: 1,
      p50Ms: latencies[0],
      p95Ms: latencies[1],
      method: 'nearest-rank',
    });
    expect(report.rotations).toEqual({ succeeded: 0, failed: 0, successRate: null });
    expect(report.drift).toMatchObject({ incidents: 0, repaired: 0, meanTimeToRepairMs: null });
  });

  it('human output: aligned tables and a chart of changes per day in block characters', async () => {
    const json = (await ok(['report', '--json', '--since', '2d'])).json() as AuditReport;
    const text = (await ok(['report', '--since', '2d'])).stdout;
    expect(text).toMatch(/^Audit report \S+ \.\. \S+: \d+ event\(s\), \d+ change\(s\)/);
    const lines = text.split('\n');
    // The chart: one line per day of the window, the busiest day's bar 40 blocks wide.
    const chart = lines.filter((l) => /^\d{4}-\d\d-\d\d {2}/.test(l));
    expect(chart.map((l) => l.slice(0, 10))).toEqual(json.changesPerDay.map((d) => d.day));
    const busiest = Math.max(...json.changesPerDay.map((d) => d.changes));
    for (const [i, line] of chart.entries()) {
      const day = json.changesPerDay[i] as { changes: number };
      const bar = line.replace(/^\S+\s+\d+\s*/, '');
      expect(Number(line.split(/\s+/)[1])).toBe(day.changes);
      if (day.changes === busiest) expect(bar).toBe('█'.repeat(40));
      if (day.changes === 0) expect(bar).toBe('');
      expect(bar).toMatch(/^█*[▏▎▍▌▋▊▉]?$/);
    }
    // The tables: headers, then rows whose columns start where the headers' do.
    const at = lines.indexOf('Most-changed refs');
    expect(lines[at + 1]).toMatch(/^REF\s+CHANGES$/);
    const column = (lines[at + 1] as string).indexOf('CHANGES');
    for (const [ref, n] of counted(done.map(([r]) => r))) {
      const row = lines.find((l) => l.startsWith(`${ref} `)) as string;
      expect(row.slice(column).trim(), ref).toBe(String(n));
      expect(row.slice(0, column).trim()).toBe(ref);
    }
    expect(text).toContain('Approvals\nREQUESTS  DECIDED  APPROVED  REJECTED  UNDECIDED  P50');
    expect(text).toMatch(/\n3 +2 +1 +1 +1 +\S+/);
    expect(text).toContain('Secret rotations\nSUCCEEDED  FAILED  SUCCESS RATE\n0          0       -');
    expect(text).toContain(
      'Drift\nINCIDENTS  REPAIRED  UNREPAIRED  MEAN TIME TO REPAIR\n0          0         0           -',
    );
  });

  it('bad input exits 2 with CONSTRAINT_VIOLATION; without config:audit:read exit 3', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['--since=-5d'], /report since must be a duration/],
      [['--since', 'last week'], /report since must be a duration/],
      [['--until', 'tomorrow'], /report until must be a duration/],
      [['--top', '0'], /report top must be an integer from 1 to 1000/],
      [['--top', 'many'], /report top must be an integer/],
      [['--since', '2030-01-02', '--until', '2030-01-01'], /must be before until/],
    ];
    for (const [args, message] of bad) {
      const human = await h.run(['report', ...args]);
      expect({ args, code: human.code }).toEqual({ args, code: 2 });
      expect(human.stderr).toMatch(/^error CONSTRAINT_VIOLATION: /);
      expect(human.stdout).toBe('');
      const json = await h.run(['report', ...args, '--json']);
      expect(json.code).toBe(2);
      expect(json.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION', message: expect.stringMatching(message) });
    }
    // Refused before the stores are reached: with both stores unreachable, bad input is still exit 2
    // (and good input is exit 5, the stores being down).
    const down = { CONSUL_HTTP_ADDR: 'http://127.0.0.1:1', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    const early = await h.run(['report', '--top', '0'], { env: down });
    expect([early.code, early.stderr]).toEqual([2, expect.stringMatching(/^error CONSTRAINT_VIOLATION: report top/)]);
    const unreachable = await h.run(['report'], { env: down });
    expect(unreachable.code, unreachable.stderr).toBe(5);
    const denied = await h.run(['report'], { actor: 'zed' });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/ACCESS_DENIED/);
  });
});
