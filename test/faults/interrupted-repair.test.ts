/**
 * A conflict repair is interrupted by an append: a process that reaches both stores writes the ref
 * while the repair is between preserving the mirror's content in the record and rewriting the
 * mirror. The pass ends incomplete, and still nothing acknowledged is lost: the record was never
 * rewritten, the mirror's content was copied before anything replaced it.
 */
import { createFailoverStore, reconcile } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, type ConfigStore, parseRef } from '@summit-config/core';
import { services } from '@summit-config/test-support/services';
import { afterEach, expect, it } from 'vitest';
import { splitBrain } from './partition.js';
import { ofKind, Scenario } from './scenario.js';

const ref = 'app:shop/contended';
let scenario: Scenario | undefined;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  await scenario?.close();
});

it('an append lands in the middle of a conflict repair: the pass ends incomplete, nothing is lost', async () => {
  scenario = new Scenario('interrupted-repair');
  const s = scenario;
  const partition = await splitBrain(s, [ref], 1, 2);
  closers.push(() => partition.close());
  const { consulAddr, databaseUrl } = services();
  const mirror = createConsulStore({ address: consulAddr, prefix: s.prefix });
  const record = createPostgresStore({ connectionString: databaseUrl, schema: s.schema });
  const writer = createFailoverStore({
    tiers: [
      createConsulStore({ address: consulAddr, prefix: s.prefix }),
      createPostgresStore({ connectionString: databaseUrl, schema: s.schema }),
    ],
    repairIntervalMs: 60_000,
  });
  closers.push(
    () => mirror.close(),
    () => record.close(),
    () => writer.close(),
  );
  // The repair's first rewrite of the mirror waits for another process's append of the same ref.
  let injected: Awaited<ReturnType<typeof appendNext>> | undefined;
  const interrupting: ConfigStore = new Proxy(mirror, {
    get(target, prop, receiver) {
      if (prop !== 'replace') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<NonNullable<ConfigStore['replace']>>) => {
        injected ??= await appendNext(writer, { ref, config: { injected: true }, createdBy: 'injector' });
        return target.replace?.(...args);
      };
    },
  });
  const report = await reconcile([interrupting, record]);
  expect(injected).toBeDefined();
  expect(report.incomplete).toEqual([expect.objectContaining({ ref, concurrent: true })]);

  // Any process converges it afterwards; the record kept every acknowledged content.
  const convergeMs = await s.converged([ref], Date.now());
  const final = await s.report([ref], convergeMs);
  expect(final.lostWrites).toEqual([]);
  expect(final.storeMismatches).toEqual([]);
  expect(final.renumbered).toBe(2); // B's two versions, written on the other side of the partition
  const versions = await Promise.all(
    (await record.listVersions(parseRef(ref))).map(async (v) => (await record.getVersion(parseRef(ref), v))?.config),
  );
  expect(versions).toContainEqual({ injected: true });
  expect(ofKind(s.records(), 'ack').length).toBe(3);
}, 120_000);
