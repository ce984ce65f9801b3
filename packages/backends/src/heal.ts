/**
 * Repair between the record (PostgreSQL) and the mirror (Consul) of a failover chain: one ref at a
 * time (`healRef`), or a pass over the refs that need it (`healChain`). Idempotent and crash-safe.
 *
 * The rule: **the record keeps every version under its number and never rewrites one.** The mirror
 * is brought in line with it:
 *
 * 1. versions the mirror holds past the record's head (written while the record was unreachable)
 *    are copied into the record at their numbers;
 * 2. a mirror version whose number the record holds with other content (writes made on opposite
 *    sides of a partition) is a conflict: its content is first re-appended to the record as the next
 *    version (`metadata.conflict` names where it came from), and only then is the mirror's copy
 *    replaced by the record's, so a crash between any two steps loses nothing (a re-run finds the
 *    content already re-appended and does not append it twice);
 * 3. the record's versions the mirror lacks are copied to it (at most the mirror's history);
 * 4. last, the provisional marks are cleared and the record notes what the mirror holds.
 */
import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  checkVersionTrust,
  type Head,
  isConfigError,
  type ProvisionalVersion,
  refKey,
  type Signer,
  signVersion,
  type TrustRoot,
  type VersionTrustCode,
  type WriteFence,
} from '@summit-config/core';
import {
  createVersion,
  errors,
  forEachConcurrently,
  isPlainObject,
  throwIfAborted,
} from '@summit-config/core/internal';

/** One version copied from one tier to another. */
export interface CopiedVersion {
  ref: string;
  version: number;
  from: string;
  to: string;
}

/**
 * The mirror held other content than the record under one version number. The record's content kept
 * the number; the mirror's was re-appended to the record as a new version, then copied to the mirror.
 */
export interface ReconcileConflict {
  ref: string;
  version: number;
  /** Checksum of the content that kept the number (the record's). */
  kept: string;
  /** The tier whose content was re-appended (the mirror), its checksum, and its new version number. */
  from: string;
  checksum: string;
  reappendedAs: number;
}

export interface ReconcileReport {
  /** Refs where anything was copied or repaired. */
  refs: string[];
  copied: CopiedVersion[];
  conflicts: ReconcileConflict[];
  /**
   * Refs that could not be repaired in this pass, with why. `concurrent`: a writer moved a head
   * meanwhile (through both tiers, in the record's order), so a later pass finishes it.
   */
  incomplete: Array<{ ref: string; reason: string; concurrent?: boolean }>;
  /** Refs compared. */
  examined: number;
  /**
   * Mirror versions that do not verify against the trust root (unsigned, forged, or signed by an
   * untrusted key): never copied; replaced by the record's version of that number when it has one.
   */
  rejected: RejectedVersion[];
}

/** A version a tier holds that does not verify (see `checkVersionTrust`). */
export interface RejectedVersion {
  ref: string;
  version: number;
  tier: string;
  code: VersionTrustCode;
  message: string;
  /** The record's verified version replaced it on the mirror. */
  repaired: boolean;
}

export interface HealOptions {
  signal?: AbortSignal;
  /** Called once per conflict after its content was preserved in the record, e.g. to audit it. */
  onConflict?: (conflict: ReconcileConflict) => Promise<void> | void;
  /** Actor recorded on re-appended versions. Default `summit-reconciler`. */
  actor?: string;
  /** Refs repaired at the same time. Default 8. */
  concurrency?: number;
  /** The leader's write fence: every repair write carries it, so a deposed leader writes nothing. */
  fence?: WriteFence;
  /** The writers' public keys: a mirror version that does not verify is never copied (see `rejected`). */
  trust?: TrustRoot;
  /** Signs the versions repair writes under a new number (re-appended conflicts). */
  signer?: Signer;
}

/** The two durable roles of a chain. */
export interface ChainRoles {
  readonly record: ConfigStore;
  readonly mirror: ConfigStore;
}

export function emptyReport(): ReconcileReport {
  return { refs: [], copied: [], conflicts: [], incomplete: [], examined: 0, rejected: [] };
}

function need<K extends keyof ConfigStore>(store: ConfigStore, member: K): NonNullable<ConfigStore[K]> {
  const fn = store[member];
  if (typeof fn !== 'function') {
    throw errors.constraint(`${store.name} cannot take part in reconciliation: it lacks ${String(member)}()`);
  }
  return (fn as (...args: unknown[]) => unknown).bind(store) as NonNullable<ConfigStore[K]>;
}

/** Where a re-appended conflict came from: `metadata.conflict` of the re-appended version. */
function conflictOrigin(doc: ConfigVersion): { tier: string; version: number; checksum: string } | undefined {
  const c = doc.metadata.conflict;
  if (!isPlainObject(c) || typeof c.tier !== 'string' || typeof c.checksum !== 'string') return undefined;
  if (typeof c.version !== 'number') return undefined;
  return { tier: c.tier, version: c.version, checksum: c.checksum };
}

/**
 * Finds where the record keeps the mirror's content `checksum` of `version` (re-appended after a
 * conflict): the record's version number, or undefined. Scans the record's versions after `version`.
 */
export async function findReappended(
  record: ConfigStore,
  ref: ConfigRef,
  origin: { tier: string; version: number; checksum: string },
  signal?: AbortSignal,
): Promise<number | undefined> {
  const head = (await record.getHead(ref, { consistent: true, signal }))?.version ?? 0;
  for (let v = origin.version + 1; v <= head; v++) {
    const doc = await record.getVersion(ref, v, { consistent: true, signal });
    const o = doc && conflictOrigin(doc);
    if (o && o.tier === origin.tier && o.version === origin.version && o.checksum === origin.checksum) return v;
  }
  return undefined;
}

/**
 * Brings the mirror's copy of `ref` in line with the record (see the file comment). `provisional`:
 * the ref's provisional versions on the mirror. Rejects `VERSION_CONFLICT` when a writer moved a head
 * meanwhile (a later pass repairs it), `BACKEND_UNAVAILABLE` when a tier cannot be reached.
 */
export async function healRef(
  roles: ChainRoles,
  ref: ConfigRef,
  provisional: readonly number[],
  report: ReconcileReport,
  options: HealOptions = {},
): Promise<void> {
  const { record, mirror } = roles;
  const key = refKey(ref);
  const { signal, fence } = options;
  const fromRecord = (v: number) => record.getVersion(ref, v, { consistent: true, signal });
  const fromMirror = (v: number) => mirror.getVersion(ref, v, { consistent: true, signal });
  const [rHeadDoc, mHeadDoc] = await Promise.all([
    record.getHead(ref, { consistent: true, signal }),
    mirror.getHead(ref, { consistent: true, signal }),
  ]);
  const rHead = rHeadDoc?.version ?? 0;
  const mHead = mHeadDoc?.version ?? 0;

  // The mirror's versions to examine: its provisional ones, those past the record's head, and any
  // run below where the two disagree (content written behind the chain's back, or before marks).
  const examine = new Set(provisional);
  for (let v = rHead + 1; v <= mHead; v++) examine.add(v);
  for (let v = Math.min(rHead, mHead); v > 0; v--) {
    const [m, r] = await Promise.all([fromMirror(v), fromRecord(v)]);
    if (!m || !r || m.checksum === r.checksum) break;
    examine.add(v);
  }

  const copies: ConfigVersion[] = [];
  const losers: ConfigVersion[] = [];
  const forged: Array<{ entry: RejectedVersion; record: ConfigVersion | undefined }> = [];
  for (const v of [...examine].sort((a, b) => a - b)) {
    throwIfAborted(signal);
    const m = v <= mHead ? await fromMirror(v) : undefined;
    if (!m) continue;
    const r = v <= rHead ? await fromRecord(v) : undefined;
    const failure = options.trust && checkVersionTrust(m, options.trust);
    if (failure) {
      // Never copied, never re-appended: the record's own version of the number (if any) replaces it.
      const entry: RejectedVersion = { ref: key, version: v, tier: mirror.name, ...failure, repaired: false };
      forged.push({ entry, record: r });
      report.rejected.push(entry);
      continue;
    }
    if (r?.checksum === m.checksum) continue;
    // Copied at its own number only while the run stays contiguous above the record's head and no
    // conflict came before it; anything else keeps its content under a new number.
    if (!r && losers.length === 0 && v === rHead + copies.length + 1) copies.push(m);
    else losers.push(m);
  }

  let top = rHead;
  if (copies.length > 0) {
    for (const doc of copies) {
      await record.append(doc, { fence, signal });
      top = doc.version;
      report.copied.push({ ref: key, version: doc.version, from: mirror.name, to: record.name });
    }
  }

  if (losers.length > 0) {
    // 2a. Preserve every loser in the record first.
    for (const loser of losers) {
      const origin = { tier: mirror.name, version: loser.version, checksum: loser.checksum };
      let at = await findReappended(record, ref, origin, signal);
      if (at === undefined) {
        at = top + 1;
        const built = createVersion(
          {
            ref,
            config: loser.config,
            overrides: { ...loser.overrides },
            rollout: loser.rollout,
            metadata: { ...loser.metadata, conflict: origin },
            createdBy: options.actor ?? 'summit-reconciler',
            message:
              `conflict: ${mirror.name} v${loser.version} by ${loser.createdBy} re-appended: ${loser.message}`.slice(
                0,
                4096,
              ),
          },
          at,
        );
        const doc = options.signer ? signVersion(built, options.signer) : built;
        await record.append(doc, { fence, signal });
        const kept = (await fromRecord(loser.version))?.checksum ?? '';
        const conflict: ReconcileConflict = {
          ref: key,
          version: loser.version,
          kept,
          from: mirror.name,
          checksum: loser.checksum,
          reappendedAs: at,
        };
        report.conflicts.push(conflict);
        await options.onConflict?.(conflict);
      }
      top = Math.max(top, at);
    }
    top = Math.max(top, (await record.getHead(ref, { consistent: true, signal }))?.version ?? 0);
    // 2b. Only now replace the mirror's copies of those numbers with the record's content.
    const replace = need(mirror, 'replace');
    for (const loser of losers) {
      if (loser.version > mHead) continue;
      const kept = await fromRecord(loser.version);
      if (!kept) continue;
      await replace(kept, { reason: `reconcile: ${record.name} content keeps v${loser.version}`, fence });
      report.copied.push({ ref: key, version: loser.version, from: record.name, to: mirror.name });
    }
  }

  // 2c. Forged mirror versions the record holds a verified version of: the record's replaces them.
  for (const f of forged) {
    if (!f.record || (options.trust && checkVersionTrust(f.record, options.trust))) continue;
    const { version } = f.entry;
    await need(mirror, 'replace')(f.record, { reason: `repair: ${mirror.name} v${version} does not verify`, fence });
    f.entry.repaired = true;
    report.copied.push({ ref: key, version, from: record.name, to: mirror.name });
  }

  // 3. The record's versions the mirror lacks (the latest `historyLimit` of them).
  if (top > mHead) {
    const limit = mirror.capabilities.historyLimit;
    const first = Math.max(mHead + 1, limit === undefined ? 1 : top - limit + 1);
    const run: ConfigVersion[] = [];
    for (let v = first; v <= top; v++) {
      const doc = await fromRecord(v);
      if (!doc) throw errors.unavailable(record.name, new Error(`${key} v${v} vanished from the record`));
      run.push(doc);
    }
    await need(mirror, 'extend')(ref, run, { expectedHead: mHead, fence, signal });
    for (const doc of run) report.copied.push({ ref: key, version: doc.version, from: record.name, to: mirror.name });
  }

  // 4. Marks last: a crash before this only repeats the (idempotent) work above.
  if (provisional.length > 0) {
    await need(mirror, 'clearProvisional')(
      provisional.map((version) => ({ ref, version })),
      { fence },
    );
  }
  if (top > 0) await need(record, 'markMirrored')(ref, top);
  if (copies.length > 0 || losers.length > 0 || forged.length > 0 || top > mHead) report.refs.push(key);
}

/** Groups provisional marks by ref key. */
function byRef(items: readonly ProvisionalVersion[]): Map<string, { ref: ConfigRef; versions: number[] }> {
  const out = new Map<string, { ref: ConfigRef; versions: number[] }>();
  for (const item of items) {
    const key = refKey(item.ref);
    const entry = out.get(key) ?? { ref: item.ref, versions: [] };
    entry.versions.push(item.version);
    out.set(key, entry);
  }
  return out;
}

/**
 * One repair pass: the refs the record lists as lagging, those with provisional marks on the mirror,
 * and with `full`, every ref whose heads differ between the two (the leader's anti-entropy, and the
 * rebuild of a mirror that came back empty). Refs that could not be repaired are `incomplete`.
 */
export async function healChain(
  roles: ChainRoles,
  options: HealOptions & { full?: boolean } = {},
): Promise<ReconcileReport> {
  const { record, mirror } = roles;
  const report = emptyReport();
  const [marks, lagging] = await Promise.all([
    need(mirror, 'listProvisional')({ signal: options.signal }),
    need(record, 'listLagging')({ limit: 10_000, signal: options.signal }),
  ]);
  const work = byRef(marks);
  for (const lag of lagging) if (!work.has(refKey(lag.ref))) work.set(refKey(lag.ref), { ref: lag.ref, versions: [] });
  if (options.full) {
    const [rHeads, mHeads] = await Promise.all([
      record.listHeads({}, { consistent: true, signal: options.signal }),
      mirror.listHeads({}, { consistent: true, signal: options.signal }),
    ]);
    const mirrorHeads = new Map<string, Head>(mHeads.map((h) => [refKey(h.ref), h]));
    for (const h of rHeads) {
      const key = refKey(h.ref);
      const m = mirrorHeads.get(key);
      mirrorHeads.delete(key);
      if (!(m && m.version === h.version && m.checksum === h.checksum) && !work.has(key))
        work.set(key, { ref: h.ref, versions: [] });
    }
    for (const [key, m] of mirrorHeads) if (!work.has(key)) work.set(key, { ref: m.ref, versions: [] });
    report.examined = new Set([...rHeads.map((h) => refKey(h.ref)), ...mHeads.map((h) => refKey(h.ref))]).size;
  } else report.examined = work.size;

  await forEachConcurrently(
    [...work],
    options.concurrency ?? 8,
    async ([key, { ref, versions }]) => {
      try {
        await healRef(roles, ref, versions, report, options);
      } catch (error) {
        if (isConfigError(error, 'CONFLICTING_CHANGE')) throw error; // fenced out: stop the whole pass
        if (!isConfigError(error)) throw error;
        report.incomplete.push(
          isConfigError(error, 'VERSION_CONFLICT')
            ? { ref: key, reason: 'a concurrent write moved the head; retry', concurrent: true }
            : { ref: key, reason: error.message },
        );
      }
    },
    options.signal,
  );
  report.refs = [...new Set(report.refs)].sort();
  return report;
}
