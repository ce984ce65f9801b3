/**
 * 8 processes make 200 compare-and-set writes each on one ref, with both stores up. The record's row
 * lock orders them, so both stores receive the same 1 600 versions in the same order: no version is
 * acknowledged twice, nothing is renumbered, and nothing is left for repair afterwards.
 */
import { parseRef } from '@summit-config/core';
import { expect, it } from 'vitest';
import { ofKind, scenarios } from './scenario.js';

const ref = 'app:shop/counter';
const scenario = scenarios();

it('8 processes x 200 CAS writes on one ref: both stores hold the same 1 600 versions, nothing to repair', async () => {
  const s = scenario('cas-8x200');
  const writers = Array.from({ length: 8 }, (_, i) =>
    s.spawn({ id: `cas-${i}`, role: 'cas', refs: [ref], count: 200 }),
  );
  await Promise.all(writers.map((w) => w.ready));
  const done = Date.now();
  await Promise.all(writers.map((w) => w.child.exitCode === null && new Promise((r) => w.child.once('exit', r))));
  const { record, mirror } = s.stores();
  // Right after the last write, before any repair could run: nothing lags, nothing is provisional.
  const [lagging, marks] = await Promise.all([record.listLagging?.(), mirror.listProvisional?.()]);
  const convergeMs = await s.converged([ref], done);
  const report = await s.report([ref], convergeMs);
  expect(report.acknowledged).toBe(1600);
  expect(report.lostWrites).toEqual([]);
  expect(report.renumbered).toBe(0);
  expect(report.sameVersionTwice).toBe(0);
  expect(report.storeMismatches).toEqual([]);
  expect(lagging).toEqual([]);
  expect(marks).toEqual([]);
  expect((await record.getHead(parseRef(ref)))?.version).toBe(1600);
  expect((await mirror.getHead(parseRef(ref)))?.version).toBe(1600);
  expect(ofKind(s.records(), 'wfail')).toEqual([]);
}, 120_000);
