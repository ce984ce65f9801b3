/**
 * The in-process checker of failover-faults.test.ts: every acknowledged write kept (at its version,
 * or re-appended after a conflict), versions gap-free in the record, the tiers agreeing, no read that
 * failed verification or reported an outage as a missing key. The real-process scenarios use the
 * fuller checker in records.ts.
 */
import { type ConfigRef, type ConfigStore, type ConfigVersion, isConfigError, refKey } from '@summit-config/core';
import { verifyVersion } from '@summit-config/core/internal';

export interface AckedWrite {
  key: string;
  version: number;
  checksum: string;
  config: unknown;
}

export class History {
  readonly acked: AckedWrite[] = [];
  readonly failedWrites: unknown[] = [];
  reads = 0;
  readonly failedReads: unknown[] = [];
  readonly missingReads: string[] = [];
  readonly unverifiedReads: string[] = [];
  /** Refs known to exist (written before the read started). */
  readonly known = new Set<string>();

  ackWrite(doc: ConfigVersion): void {
    this.acked.push({ key: refKey(doc.ref), version: doc.version, checksum: doc.checksum, config: doc.config });
    this.known.add(refKey(doc.ref));
  }

  recordRead(key: string, doc: ConfigVersion | undefined, error?: unknown): void {
    this.reads++;
    if (error !== undefined) {
      this.failedReads.push(error);
      return;
    }
    if (doc === undefined) {
      if (this.known.has(key)) this.missingReads.push(key);
      return;
    }
    try {
      verifyVersion(JSON.parse(JSON.stringify(doc)));
    } catch (e) {
      if (isConfigError(e, 'CHECKSUM_MISMATCH')) this.unverifiedReads.push(`${key}@${doc.version}`);
      else throw e;
    }
  }
}

export interface InvariantReport {
  lost: string[];
  gaps: string[];
  diverged: string[];
}

/**
 * Checks invariants 1, 2 and 4 against the durable tiers after the faults ended (3 and 5 are
 * recorded during the run by {@link History.recordRead}). An acknowledged write counts as kept when
 * its content is stored at its version, or was re-appended under a later version after a conflict.
 */
export async function checkInvariants(
  history: History,
  tiers: readonly ConfigStore[],
  refs: readonly ConfigRef[],
): Promise<InvariantReport> {
  const report: InvariantReport = { lost: [], gaps: [], diverged: [] };
  for (const ref of refs) {
    const key = refKey(ref);
    const heads = await Promise.all(tiers.map((t) => t.getHead(ref, { consistent: true })));
    const first = heads[0];
    if (heads.some((h) => h?.version !== first?.version || h?.checksum !== first?.checksum)) {
      report.diverged.push(`${key}: ${heads.map((h, i) => `${tiers[i]?.name}=v${h?.version}`).join(' ')}`);
    }
    // The tier that keeps every version is the record.
    const record = tiers.find((t) => t.capabilities.historyLimit === undefined) ?? tiers[0];
    if (!record) continue;
    const versions = await record.listVersions(ref);
    const head = first?.version ?? 0;
    const expected = Array.from({ length: head }, (_, i) => i + 1);
    if (JSON.stringify(versions) !== JSON.stringify(expected)) {
      report.gaps.push(`${key}: holds [${versions.join(',')}] for head v${head}`);
    }
    const stored = await Promise.all(versions.map((v) => record.getVersion(ref, v)));
    for (const write of history.acked.filter((w) => w.key === key)) {
      const atVersion = stored[write.version - 1];
      const kept =
        atVersion?.checksum === write.checksum ||
        stored.some(
          (d) =>
            d !== undefined &&
            d.version > write.version &&
            JSON.stringify(d.config) === JSON.stringify(write.config) &&
            typeof d.metadata.conflict === 'object',
        );
      if (!kept) report.lost.push(`${key}@${write.version}`);
    }
  }
  return report;
}
