import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  createVersion,
  errors,
  type Head,
  isConfigError,
  refKey,
  throwIfAborted,
  type WriteFence,
} from '@summit-config/core';

/** One version copied from one tier to another. */
export interface CopiedVersion {
  ref: string;
  version: number;
  from: string;
  to: string;
}

/**
 * Two tiers held different content under the same version number. The primary's content kept the
 * number; the other content was re-appended as a new version in every tier.
 */
export interface ReconcileConflict {
  ref: string;
  version: number;
  /** Checksum of the content that kept the number (the primary's, which Consul already served). */
  kept: string;
  /** The tier whose content was re-appended, its checksum, and the new version number it got. */
  from: string;
  checksum: string;
  reappendedAs: number;
}

export interface ReconcileReport {
  /** Refs where anything was copied or repaired. */
  refs: string[];
  copied: CopiedVersion[];
  conflicts: ReconcileConflict[];
  /** Refs that could not be fully repaired (e.g. the only copy of a version was pruned), with why. */
  incomplete: Array<{ ref: string; reason: string }>;
  /** Refs compared. */
  examined: number;
}

export interface ReconcileOptions {
  signal?: AbortSignal;
  /** Called once per conflict after it was repaired, e.g. to write an audit event. */
  onConflict?: (conflict: ReconcileConflict) => Promise<void> | void;
  /** Actor recorded on re-appended versions. Default `summit-reconciler`. */
  actor?: string;
  /** Refs repaired at the same time. Default 16. */
  concurrency?: number;
  /** The leader's write fence: every repair write carries it, so a deposed leader writes nothing. */
  fence?: WriteFence;
}

/**
 * Anti-entropy between durable tiers, highest priority first (`[consul, postgres]`). Idempotent:
 * a second run with no writes in between changes nothing.
 *
 * Per ref: versions one tier has and the other lacks are copied. The same version number with
 * different checksums is a conflict: the primary's content keeps its number in every tier, and the
 * other content is re-appended as the next version(s) in every tier. Nothing acknowledged is dropped.
 */
export async function reconcile(
  stores: readonly ConfigStore[],
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = { refs: [], copied: [], conflicts: [], incomplete: [], examined: 0 };
  const [primary, ...others] = stores;
  if (!primary) return report;
  for (const other of others) await reconcilePair(primary, other, report, options);
  report.refs = [...new Set(report.refs)].sort();
  return report;
}

async function reconcilePair(
  primary: ConfigStore,
  secondary: ConfigStore,
  report: ReconcileReport,
  options: ReconcileOptions,
): Promise<void> {
  const [pHeads, sHeads] = await Promise.all([
    primary.listHeads({}, { consistent: true, signal: options.signal }),
    secondary.listHeads({}, { consistent: true, signal: options.signal }),
  ]);
  const byKey = new Map<string, { ref: ConfigRef; p?: Head; s?: Head }>();
  for (const h of pHeads) byKey.set(refKey(h.ref), { ref: h.ref, p: h });
  for (const h of sHeads) {
    const entry = byKey.get(refKey(h.ref));
    if (entry) entry.s = h;
    else byKey.set(refKey(h.ref), { ref: h.ref, s: h });
  }
  report.examined += byKey.size;
  const work = [...byKey].filter(([, { p, s }]) => !(p && s && p.version === s.version && p.checksum === s.checksum));
  // Refs are independent: repair several at once (each ref's versions stay strictly in order).
  let next = 0;
  const worker = async () => {
    while (next < work.length) {
      const [key, { ref }] = work[next++] as (typeof work)[number];
      throwIfAborted(options.signal);
      try {
        await reconcileRef(ref, primary, secondary, report, options);
      } catch (error) {
        // A writer moved the head while we worked: the next run picks it up. Anything else is reported.
        if (!isConfigError(error, 'VERSION_CONFLICT')) throw error;
        report.incomplete.push({ ref: key, reason: 'a concurrent write moved the head; retry' });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, work.length) }, worker));
}

async function reconcileRef(
  ref: ConfigRef,
  primary: ConfigStore,
  secondary: ConfigStore,
  report: ReconcileReport,
  options: ReconcileOptions,
): Promise<void> {
  const key = refKey(ref);
  const read = (store: ConfigStore, v: number) =>
    store.getVersion(ref, v, { consistent: true, signal: options.signal });
  const pHead = (await primary.getHead(ref, { consistent: true }))?.version ?? 0;
  const sHead = (await secondary.getHead(ref, { consistent: true }))?.version ?? 0;

  // The last version both tiers agree on, searching down from the lower head.
  let agreed = Math.min(pHead, sHead);
  const divergent: ConfigVersion[] = []; // the secondary's content that lost its number, oldest first
  while (agreed > 0) {
    const [pd, sd] = await Promise.all([read(primary, agreed), read(secondary, agreed)]);
    if (!pd || !sd) break; // pruned on one side: nothing older can be compared
    if (pd.checksum === sd.checksum) break;
    divergent.unshift(sd);
    agreed--;
  }
  // Versions only the secondary holds beyond the primary's head were never seen by the primary:
  // they are divergent content too when the two tiers disagree below them, and plain copies otherwise.
  const secondaryOnly: ConfigVersion[] = [];
  for (let v = pHead + 1; v <= sHead; v++) {
    const d = await read(secondary, v);
    if (d) secondaryOnly.push(d);
  }
  const hasConflict = divergent.length > 0;

  if (!hasConflict && pHead >= sHead) {
    // Primary ahead: copy its newer versions to the secondary.
    await copyRange(ref, primary, secondary, sHead + 1, pHead, report, options.fence);
    return;
  }
  if (!hasConflict && sHead > pHead) {
    // Secondary ahead (writes that landed there alone): copy them to the primary, in order.
    for (const d of secondaryOnly) {
      await primary.append(d, { fence: options.fence });
      report.copied.push({ ref: key, version: d.version, from: secondary.name, to: primary.name });
    }
    if (secondaryOnly.length > 0) report.refs.push(key);
    if (secondaryOnly.length < sHead - pHead)
      report.incomplete.push({ ref: key, reason: 'versions missing on the secondary' });
    return;
  }

  // Conflict: the primary's content keeps its numbers in both tiers; the secondary's divergent
  // content (and anything it holds beyond the primary's head) is re-appended after the primary's head.
  report.refs.push(key);
  const losers = [...divergent, ...secondaryOnly];
  for (let v = agreed + 1; v <= pHead; v++) {
    const pd = await read(primary, v);
    if (!pd)
      throw errors.notFound(`${key} v${v} missing on ${primary.name} during reconciliation`, { ref: key, version: v });
    await putVersion(secondary, pd, sHead, `reconcile: ${primary.name} content keeps v${v}`, options.fence);
    report.copied.push({ ref: key, version: v, from: primary.name, to: secondary.name });
  }
  let next = pHead + 1;
  for (const loser of losers) {
    const doc = createVersion(
      {
        ref,
        config: loser.config,
        overrides: { ...loser.overrides },
        rollout: loser.rollout,
        metadata: {
          ...loser.metadata,
          conflict: { tier: secondary.name, version: loser.version, checksum: loser.checksum },
        },
        createdBy: options.actor ?? 'summit-reconciler',
        message:
          `conflict: ${secondary.name} v${loser.version} by ${loser.createdBy} re-appended: ${loser.message}`.slice(
            0,
            4096,
          ),
      },
      next,
    );
    await primary.append(doc, { fence: options.fence });
    await putVersion(secondary, doc, sHead, `reconcile: re-appended conflicting v${loser.version}`, options.fence);
    const conflict: ReconcileConflict = {
      ref: key,
      version: loser.version,
      kept: (await read(primary, loser.version))?.checksum ?? '',
      from: secondary.name,
      checksum: loser.checksum,
      reappendedAs: next,
    };
    report.conflicts.push(conflict);
    await options.onConflict?.(conflict);
    next++;
  }
}

/** Writes `doc` into `store` at its number: replaces a version the store holds, appends otherwise. */
async function putVersion(
  store: ConfigStore,
  doc: ConfigVersion,
  storeHead: number,
  reason: string,
  fence: WriteFence | undefined,
): Promise<void> {
  if (doc.version <= storeHead) {
    if (!store.replace) {
      throw errors.constraint(`${store.name} cannot repair versions (no "repair" capability)`, {
        ref: refKey(doc.ref),
      });
    }
    await store.replace(doc, { reason, fence });
  } else {
    await store.append(doc, { fence });
  }
}

async function copyRange(
  ref: ConfigRef,
  from: ConfigStore,
  to: ConfigStore,
  first: number,
  last: number,
  report: ReconcileReport,
  fence: WriteFence | undefined,
): Promise<void> {
  const key = refKey(ref);
  for (let v = first; v <= last; v++) {
    const d = await from.getVersion(ref, v, { consistent: true });
    if (!d) {
      report.incomplete.push({
        ref: key,
        reason: `${from.name} no longer holds v${v} (pruned); ${to.name} stays at v${v - 1}`,
      });
      return;
    }
    await to.append(d, { fence });
    report.copied.push({ ref: key, version: v, from: from.name, to: to.name });
    report.refs.push(key);
  }
}
