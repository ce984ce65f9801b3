/**
 * Repair is crash-safe: the process repairing conflicts is killed with SIGKILL between two of its
 * write steps, again and again (each time one step further), then a last process finishes the job.
 * Nothing acknowledged is lost, and no content is re-appended twice.
 */
import { parseRef } from '@summit-config/core';
import { isPlainObject } from '@summit-config/core/internal';
import { expect, it } from 'vitest';
import { splitBrain } from './partition.js';
import { scenarios } from './scenario.js';

const refs = ['app:shop/a', 'app:shop/b', 'app:shop/c', 'global/d'];
const scenario = scenarios();

it('the reconciling process is SIGKILLed between repair steps: nothing lost, nothing re-appended twice', async () => {
  const s = scenario('kill-reconciler');
  const partition = await splitBrain(s, refs, 1, 2);
  s.defer(() => partition.close());
  const killedAt: number[] = [];
  for (const step of [1, 2, 3, 5, 8, 13]) {
    const reconciler = s.spawn({ id: `reconciler-${step}`, role: 'reconciler', refs, stepDelayMs: 20 });
    const stepsBefore = (line: string) => line.startsWith('step ');
    const reached = await reconciler
      .waitForLine(() => reconciler.lines.filter(stepsBefore).length >= step, 20_000)
      .then(() => true)
      .catch(() => false);
    if (!reached) break; // it finished before that many steps: nothing left to interrupt
    await reconciler.kill();
    killedAt.push(step);
  }
  expect(killedAt.length).toBeGreaterThan(2);
  const finisher = s.spawn({ id: 'finisher', role: 'reconciler', refs });
  await finisher.waitForLine((l) => l === 'reconciled');
  await finisher.stop();
  const convergeMs = await s.converged(refs, Date.now());
  const report = await s.report(refs, convergeMs);
  expect(report.lostWrites).toEqual([]);
  expect(report.storeMismatches).toEqual([]);
  expect(report.renumbered).toBe(refs.length * 2);
  // Each of B's contents was re-appended exactly once, whatever the kills.
  const { record } = s.stores();
  for (const ref of refs) {
    const origins: string[] = [];
    for (const v of await record.listVersions(parseRef(ref))) {
      const c = (await record.getVersion(parseRef(ref), v))?.metadata.conflict;
      if (isPlainObject(c)) origins.push(`${c.version}:${c.checksum}`);
    }
    expect(origins.length).toBe(2);
    expect(new Set(origins).size).toBe(2);
  }
}, 120_000);
