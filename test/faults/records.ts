/**
 * What every process of a fault scenario recorded, and the history checker over it (issue 13's
 * invariants, checked over the histories of every process and the stores' final state):
 *
 * - I1  after convergence every acknowledged write's content is in both stores, with identical
 *       (version, checksum) pairs wherever both hold a version;
 * - I2  an acknowledged (ref, version, checksum) is never renumbered, and no two writers are told
 *       they own one version, unless the scenario made a real partition (then each renumbering is
 *       reported to its writer's process);
 * - I3  no process reads a ref's version going backwards (reads and watch deliveries, across tier
 *       switches and restarts of the same logical process);
 * - I4  (scenario-specific) a store that came back empty serves nothing and takes no write while the
 *       record is unreachable: checked by the scenario from the records;
 * - I5  the stores converge without any new write, within 5 s of the faults ending;
 * - I6  nothing only one store held is pruned: covered by I1 with the default history limit;
 * - I7  repair is crash-safe: covered by I1 after a reconciler was killed between steps;
 * - I8  a Consul cluster without a leader is detected (breaker opens stay few): scenario-specific.
 */
import { readFileSync } from 'node:fs';
import type { ConfigStore, ConfigVersion } from '@summit-config/core';
import { parseRef } from '@summit-config/core';
import { isPlainObject } from '@summit-config/core/internal';

export type Role = 'writer' | 'cas' | 'service' | 'reader' | 'watcher' | 'client' | 'reconciler';

export interface WorkerConfig {
  /** Logical process id: stable across restarts of the same process (I3 spans them). */
  id: string;
  role: Role;
  out: string;
  consulAddr: string;
  databaseUrl: string;
  prefix: string;
  schema: string;
  refs: string[];
  historyLimit?: number;
  intervalMs?: number;
  count?: number;
  snapshotFile?: string;
  app?: string;
  stepDelayMs?: number;
}

export interface Entry {
  w: string;
  pid: number;
  seq: number;
  k: string;
  ref?: string;
  v?: number;
  c?: string;
  code?: string;
  src?: string;
  stale?: boolean;
  t?: number;
  t0?: number;
  t1?: number;
  type?: string;
  [more: string]: unknown;
}

export function readRecords(files: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) if (line.trim()) out.push(JSON.parse(line) as Entry);
  }
  return out;
}

export interface ScenarioReport {
  scenario: string;
  acknowledged: number;
  lost: number;
  renumbered: number;
  /** Two acknowledgements of one (ref, version) with different content. */
  sameVersionTwice: number;
  timeTravelReads: number;
  reads: number;
  failedReads: number;
  failedWrites: number;
  /** Failed writes and reads by error code (every failure is typed). */
  failures: Record<string, number>;
  maxReadLatencyMs: number;
  maxWriteLatencyMs: number;
  convergeMs: number | undefined;
  /** Renumberings reported to their writer's process through onEvent. */
  renumberedReported: number;
  /** Mismatched (version, checksum) pairs between the stores, and heads that differ. */
  storeMismatches: string[];
  lostWrites: string[];
  timeTravel: string[];
}

/** I3: per logical process and ref, the versions read or watched never go down. */
export function timeTravel(entries: readonly Entry[]): string[] {
  const bad: string[] = [];
  const byWorker = new Map<string, Entry[]>();
  for (const e of entries) {
    if ((e.k !== 'read' && e.k !== 'watch') || e.ref === undefined || e.v === undefined || e.v === 0) continue;
    const list = byWorker.get(e.w) ?? [];
    list.push(e);
    byWorker.set(e.w, list);
  }
  for (const [w, list] of byWorker) {
    // Across restarts: order by time first (a restarted process has a new pid and starts its seq at 0).
    list.sort((a, b) => (a.t1 ?? a.t ?? 0) - (b.t1 ?? b.t ?? 0) || (a.pid === b.pid ? a.seq - b.seq : 0));
    const highest = new Map<string, number>();
    for (const e of list) {
      const top = highest.get(e.ref as string) ?? 0;
      if ((e.v as number) < top) bad.push(`${w} read ${e.ref} v${e.v} after v${top} (${e.k}, ${e.src ?? ''})`);
      else highest.set(e.ref as string, e.v as number);
    }
  }
  return bad;
}

const conflictOf = (doc: ConfigVersion) => {
  const c = doc.metadata.conflict;
  return isPlainObject(c) && typeof c.checksum === 'string' && typeof c.version === 'number'
    ? { version: c.version, checksum: c.checksum }
    : undefined;
};

/**
 * I1 and I2 over the final state of both stores (read directly, not through a chain): every
 * acknowledged write is kept at its version or re-appended after a conflict; both stores agree.
 */
export async function checkStores(
  entries: readonly Entry[],
  stores: { record: ConfigStore; mirror: ConfigStore },
  refs: readonly string[],
): Promise<Pick<ScenarioReport, 'lost' | 'renumbered' | 'sameVersionTwice' | 'storeMismatches' | 'lostWrites'>> {
  const acks = entries.filter((e) => e.k === 'ack');
  const lostWrites: string[] = [];
  const storeMismatches: string[] = [];
  let renumbered = 0;
  const owners = new Map<string, Set<string>>();
  for (const a of acks) {
    const key = `${a.ref}@${a.v}`;
    const set = owners.get(key) ?? new Set<string>();
    set.add(a.c as string);
    owners.set(key, set);
  }
  const sameVersionTwice = [...owners.values()].filter((s) => s.size > 1).length;
  const allRefs = new Set([...refs, ...acks.map((a) => a.ref as string)]);
  for (const key of allRefs) {
    const ref = parseRef(key);
    const [rHead, mHead] = await Promise.all([
      stores.record.getHead(ref, { consistent: true }),
      stores.mirror.getHead(ref, { consistent: true }),
    ]);
    if (rHead?.version !== mHead?.version || rHead?.checksum !== mHead?.checksum) {
      storeMismatches.push(`${key}: record head v${rHead?.version ?? 0}, mirror head v${mHead?.version ?? 0}`);
    }
    const recordDocs = new Map<number, ConfigVersion>();
    for (let v = 1; v <= (rHead?.version ?? 0); v++) {
      const doc = await stores.record.getVersion(ref, v, { consistent: true });
      if (doc) recordDocs.set(v, doc);
      else storeMismatches.push(`${key}: the record lacks v${v} below its head`);
    }
    for (const v of await stores.mirror.listVersions(ref, { consistent: true })) {
      const m = await stores.mirror.getVersion(ref, v, { consistent: true });
      const r = recordDocs.get(v);
      if (m && r?.checksum !== m.checksum)
        storeMismatches.push(
          `${key} v${v}: mirror ${m.checksum.slice(0, 8)}, record ${r?.checksum.slice(0, 8) ?? 'none'}`,
        );
    }
    const reappended = new Set(
      [...recordDocs.values()]
        .map(conflictOf)
        .filter((c) => c !== undefined)
        .map((c) => `${c.version}:${c.checksum}`),
    );
    for (const a of acks.filter((x) => x.ref === key)) {
      if (recordDocs.get(a.v as number)?.checksum === a.c) continue;
      if (reappended.has(`${a.v}:${a.c}`)) renumbered++;
      else lostWrites.push(`${key}@${a.v} by ${a.w}`);
    }
  }
  return { lost: lostWrites.length, renumbered, sameVersionTwice, storeMismatches, lostWrites };
}

/** The figures of one scenario, from its records (the store checks are merged in by the caller). */
export function figures(
  entries: readonly Entry[],
): Omit<
  ScenarioReport,
  'scenario' | 'lost' | 'renumbered' | 'sameVersionTwice' | 'storeMismatches' | 'lostWrites' | 'convergeMs'
> {
  const reads = entries.filter((e) => e.k === 'read');
  const acks = entries.filter((e) => e.k === 'ack');
  const latency = (list: Entry[]) => Math.max(0, ...list.map((e) => (e.t1 ?? 0) - (e.t0 ?? 0)));
  const travel = timeTravel(entries);
  return {
    acknowledged: acks.length,
    timeTravelReads: travel.length,
    timeTravel: travel.slice(0, 20),
    reads: reads.length,
    failedReads: entries.filter((e) => e.k === 'rfail').length,
    failedWrites: entries.filter((e) => e.k === 'wfail').length,
    failures: countBy(entries.filter((e) => e.k === 'wfail' || e.k === 'rfail').map((e) => `${e.k}:${e.code}`)),
    maxReadLatencyMs: latency(reads),
    maxWriteLatencyMs: latency([...acks, ...entries.filter((e) => e.k === 'wfail')]),
    renumberedReported: entries.filter((e) => e.k === 'event' && e.type === 'renumbered').length,
  };
}

function countBy(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}
