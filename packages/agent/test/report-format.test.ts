/**
 * The human text of `summit-config report`: bars in eighths of a block, durations for people, and
 * the whole text of a computed report (sections, the chart's rows, the aligned tables).
 */
import { computeAuditReport } from '@summit-config/core';
import { describe, expect, it } from 'vitest';
import { bar, CHART_WIDTH, duration, percent, reportText } from '../src/cli/report-format.js';

describe('report text', () => {
  it('bars: the busiest is full width, others in eighths, any change at least one eighth, none empty', () => {
    expect(bar(14, 14)).toBe('█'.repeat(CHART_WIDTH));
    expect(bar(6, 14)).toBe(`${'█'.repeat(17)}▏`); // 6/14 * 320 eighths = 137.1 -> 137
    expect(bar(8, 14)).toBe(`${'█'.repeat(22)}▉`); // 182.9 -> 183
    expect(bar(1, 1000)).toBe('▏');
    expect(bar(0, 5)).toBe('');
    expect(bar(3, 0)).toBe('');
    for (let v = 1; v <= 50; v++) {
      const b = bar(v, 50);
      const eighths = [...b].reduce((n, c) => n + ('▏▎▍▌▋▊▉█'.indexOf(c) + 1), 0);
      expect(eighths).toBe(Math.round((v / 50) * CHART_WIDTH * 8));
    }
  });

  it('durations and rates', () => {
    expect([0, 850, 1000, 42_400, 303_000, 7_500_000, 273_600_000].map(duration)).toEqual([
      '0ms',
      '850ms',
      '1s',
      '42s',
      '5m 03s',
      '2h 05m',
      '3d 04h',
    ]);
    expect(duration(null)).toBe('-');
    expect([percent(0.6), percent(1), percent(0), percent(null)]).toEqual(['60.0%', '100.0%', '0.0%', '-']);
  });

  it('the whole text: the chart row per day and the tables aligned under their headers', () => {
    const ev = (at: string, action: string, ref: string, actor: string, seq: number) => ({
      seq,
      at,
      actor,
      action,
      ref,
      message: '',
      changes: [],
      prevHash: null,
      hash: null,
      signature: null,
    });
    const report = computeAuditReport(
      [
        ev('2030-03-01T01:00:00.000Z', 'config.set', 'app:billing/database', 'alice', 1),
        ev('2030-03-01T02:00:00.000Z', 'config.set', 'app:billing/database', 'alice', 2),
        ev('2030-03-03T02:00:00.000Z', 'config.set', 'global/x', 'bartholomew', 3),
      ],
      { since: new Date('2030-03-01T00:00:00.000Z'), until: new Date('2030-03-04T00:00:00.000Z') },
    );
    expect(reportText(report)).toBe(
      [
        'Audit report 2030-03-01T00:00:00.000Z .. 2030-03-04T00:00:00.000Z: 3 event(s), 3 change(s)',
        '',
        'Changes per day (UTC)',
        'DAY         CHANGES',
        `2030-03-01        2  ${'█'.repeat(40)}`,
        '2030-03-02        0',
        `2030-03-03        1  ${'█'.repeat(20)}`,
        '',
        'Most-changed refs',
        'REF                   CHANGES',
        'app:billing/database  2',
        'global/x              1',
        '',
        'Changes by actor',
        'ACTOR        CHANGES',
        'alice        2',
        'bartholomew  1',
        '',
        'Approvals',
        'REQUESTS  DECIDED  APPROVED  REJECTED  UNDECIDED  P50  P95',
        '0         0        0         0         0          -    -',
        '',
        'Secret rotations',
        'SUCCEEDED  FAILED  SUCCESS RATE',
        '0          0       -',
        '',
        'Drift',
        'INCIDENTS  REPAIRED  UNREPAIRED  MEAN TIME TO REPAIR',
        '0          0         0           -',
      ].join('\n'),
    );
  });
});
