/**
 * A real 3-server Consul cluster (not dev mode: -bootstrap-expect=3, started by the services script),
 * with every process attached to a follower. The leader is SIGKILLed under load: while the cluster
 * has no leader the follower still answers /v1/status/leader with the dead one, but the chain's
 * health probe is a consistent KV read, so each process's breaker opens once (no flapping), writes
 * and reads go on through PostgreSQL, and the chain comes back to Consul after the election.
 */
import { clusterCtl, clusterNode } from '@summit-config/test-support/services';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectClean, ofKind, readerAndWatcher, Scenario, sleep } from './scenario.js';

const refs = ['app:shop/database', 'app:shop/features', 'global/limits'];
let scenario: Scenario | undefined;
beforeAll(async () => {
  await clusterCtl('down');
  await clusterCtl('up');
}, 120_000);
afterAll(async () => {
  await scenario?.close();
  await clusterCtl('down');
}, 60_000);

it('the leader of a 3-server cluster is SIGKILLed under load, clients on a follower: no flapping, nothing lost', async () => {
  const leader = Number(await clusterCtl('leader'));
  const follower = [1, 2, 3].find((n) => n !== leader) as number;
  scenario = new Scenario('consul-cluster', { consulAddr: clusterNode(follower) });
  const s = scenario;
  await s.init();
  const { writers, observers } = await s.startLoad(
    [
      { id: 'writer-a', role: 'writer', refs, intervalMs: 20 },
      { id: 'writer-b', role: 'service', refs: refs.slice(1), intervalMs: 20 },
    ],
    readerAndWatcher(refs),
  );
  await sleep(1_000);

  const killed = Number(await clusterCtl('kill-leader'));
  expect(killed).toBe(leader);
  const tKill = Date.now();
  await clusterCtl('wait'); // a new leader, and consistent reads through every live node
  const electedMs = Date.now() - tKill;
  await sleep(3_000);
  await clusterCtl('start', String(killed));
  await clusterCtl('wait');
  const back = Date.now();
  await sleep(500);
  const report = await s.finish(writers, observers, refs, back);
  const entries = s.records();
  process.stdout.write(`CLUSTER ${JSON.stringify({ electedMs })}\n`);
  expectClean(report);
  // I8: one breaker opening per process for the election, not a flapping breaker.
  const opens = new Map<string, number>();
  for (const e of entries) {
    if (e.k === 'event' && e.type === 'breaker' && e.to === 'open' && e.tier === 'consul') {
      opens.set(e.w, (opens.get(e.w) ?? 0) + 1);
    }
  }
  for (const [w, n] of opens) expect(n, `consul breaker opens in ${w}`).toBeLessThanOrEqual(2);
  // Writes went on during the election (through PostgreSQL).
  expect(
    ofKind(entries, 'ack').filter((a) => (a.t0 ?? 0) > tKill && (a.t1 ?? 0) < tKill + electedMs).length,
  ).toBeGreaterThan(0);
}, 120_000);
