/**
 * Drift detection and remediation (run by the leader):
 *
 * - **head-mismatch / missing**: the primary's head (Consul) and the record's head (PostgreSQL)
 *   disagree on a ref, or one lacks it. A difference is confirmed by a second consistent read a
 *   moment later, so a write landing between the two tiers is not reported.
 * - **checksum-mismatch**: a tier's head document does not verify against its checksum (reading it
 *   throws `CHECKSUM_MISMATCH`), e.g. after a raw `PUT` into Consul.
 * - **lagging-instance / rejected-instance**: an instance acknowledged a version more than
 *   `lagThreshold` versions behind a head older than `lagGraceMs`, or rejected what it was sent.
 *
 * Remediation (when enabled): a document that does not verify is rewritten from the other tier's
 * verified copy of the same version (`replace`, the stores' `repair` capability); head differences
 * are repaired by reconciliation (`store.reconcile()`, which copies missing versions and resolves
 * same-number conflicts by the design's rule). Instances are only reported: the agent cannot make
 * another process apply a version.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import type { FailoverStore, ReconcileReport } from '@summit-config/backends';
import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  checkVersionTrust,
  type Head,
  isConfigError,
  refKey,
  type Signer,
  type TrustRoot,
  type VersionTrustCode,
  type WriteFence,
} from '@summit-config/core';
import { delay, forEachConcurrently, signedCopy } from '@summit-config/core/internal';

export const DRIFT_KINDS = [
  'head-mismatch',
  'missing',
  'checksum-mismatch',
  'lagging-instance',
  'rejected-instance',
  'unsigned-version',
  'forged-version',
  'untrusted-key',
] as const;

/** The drift kind of a version that does not verify against the trust root. */
const TRUST_KINDS: Record<VersionTrustCode, DriftKind> = {
  UNSIGNED_VERSION: 'unsigned-version',
  FORGED_VERSION: 'forged-version',
  UNTRUSTED_KEY: 'untrusted-key',
};

export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface DriftFinding {
  readonly kind: DriftKind;
  /** `<scope>/<id>` */
  readonly ref: string;
  readonly message: string;
  /** `scan` (a drift run) or `read` (a read that hit a document that does not verify). */
  readonly source: 'scan' | 'read';
  /** The tier concerned (the one lacking the ref, or holding the bad document). */
  readonly tier?: string;
  readonly version?: number;
  /** Heads as each durable tier reported them (head-mismatch, missing). */
  readonly heads?: Readonly<Record<string, { version: number; checksum: string } | null>>;
  /** Lagging/rejected instances. */
  readonly instance?: string;
  readonly environment?: string;
  readonly ackVersion?: number;
  readonly headVersion?: number;
  readonly reason?: string;
  /** Set when remediation was attempted: whether it repaired the finding. */
  remediated?: boolean;
  /** What remediation did, or why it could not. */
  remediation?: string;
}

export interface DriftReport {
  readonly startedAt: string;
  readonly durationMs: number;
  /** Refs examined. */
  readonly examined: number;
  readonly findings: readonly DriftFinding[];
  /** Findings repaired by this run. */
  readonly remediated: number;
  /** The reconciliation run for head differences, when one ran. */
  readonly reconcile?: ReconcileReport;
}

export interface DriftOptions {
  /** The failover chain (acks, reconciliation). */
  store: FailoverStore;
  /** The primary durable tier (Consul). */
  primary: ConfigStore;
  /** The durable record beside it (PostgreSQL / PGlite); without it only checksums and acks are checked. */
  record: ConfigStore | undefined;
  lagThreshold: number;
  lagGraceMs: number;
  remediate: boolean;
  concurrency: number;
  signal?: AbortSignal;
  /** The leader's write fence, carried by every repair write. */
  fence?: WriteFence;
  /** Pause before re-reading heads that differ, ms. Default 250. */
  confirmDelayMs?: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Every head document must verify against these keys (`unsigned-version`, `forged-version`, `untrusted-key`). */
  trust?: TrustRoot;
  /** Signs the re-signed head that replaces a forged version the record does not hold (remediation). */
  signer?: Signer;
}

interface RefState {
  ref: ConfigRef;
  key: string;
  heads: Map<string, Head | undefined>;
  /** createdAt of the newest verified head document, ms. */
  headCreatedAt?: number;
}

async function forEach<T>(
  items: readonly T[],
  width: number,
  signal: AbortSignal | undefined,
  fn: (item: T) => Promise<void>,
) {
  // Each worker's request listens on the run's signal: `width` listeners at once are expected.
  if (signal) setMaxListeners(Math.max(getMaxListeners(signal), width * 2 + 10), signal);
  await forEachConcurrently(items, width, fn, signal);
}

const sameHead = (a: Head | undefined, b: Head | undefined) =>
  a !== undefined && b !== undefined && a.version === b.version && a.checksum === b.checksum;

const headJson = (h: Head | undefined) => (h ? { version: h.version, checksum: h.checksum } : null);

/** One drift run: detect, then remediate when asked. Throws when a tier cannot be listed. */
export async function detectDrift(options: DriftOptions): Promise<DriftReport> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const now = options.now ?? Date.now;
  const { primary, record, store, signal } = options;
  const tiers = record ? [primary, record] : [primary];
  const findings: DriftFinding[] = [];

  // 1. Heads of every durable tier, consistent.
  const lists = await Promise.all(tiers.map((t) => t.listHeads({}, { consistent: true, signal })));
  const refs = new Map<string, RefState>();
  tiers.forEach((tier, i) => {
    for (const head of lists[i] ?? []) {
      const key = refKey(head.ref);
      let state = refs.get(key);
      if (!state) {
        state = { ref: head.ref, key, heads: new Map(tiers.map((t) => [t.name, undefined])) };
        refs.set(key, state);
      }
      state.heads.set(tier.name, head);
    }
  });

  // 2. Head differences, confirmed by a second read.
  if (record) {
    const differing = [...refs.values()].filter((s) => !sameHead(s.heads.get(primary.name), s.heads.get(record.name)));
    if (differing.length > 0) {
      await delay(options.confirmDelayMs ?? 250, signal);
      await forEach(differing, options.concurrency, signal, async (s) => {
        const [p, r] = await Promise.all([
          primary.getHead(s.ref, { consistent: true, signal }),
          record.getHead(s.ref, { consistent: true, signal }),
        ]);
        s.heads.set(primary.name, p);
        s.heads.set(record.name, r);
        if (sameHead(p, r) || (!p && !r)) return;
        const heads = { [primary.name]: headJson(p), [record.name]: headJson(r) };
        if (!p || !r) {
          const lacking = p ? record.name : primary.name;
          findings.push({
            kind: 'missing',
            ref: s.key,
            source: 'scan',
            tier: lacking,
            heads,
            message: `${s.key}: ${lacking} lacks the ref (${p ? primary.name : record.name} is at v${(p ?? r)?.version})`,
          });
        } else {
          findings.push({
            kind: 'head-mismatch',
            ref: s.key,
            source: 'scan',
            heads,
            message: `${s.key}: ${primary.name} is at v${p.version} (${p.checksum.slice(0, 12)}…), ${record.name} at v${r.version} (${r.checksum.slice(0, 12)}…)`,
          });
        }
      });
    }
  }

  // 3. Every tier's head document must verify.
  const badDocs: Array<{ state: RefState; tier: ConfigStore; version: number }> = [];
  await forEach([...refs.values()], options.concurrency, signal, async (s) => {
    for (const tier of tiers) {
      const head = s.heads.get(tier.name);
      if (!head) continue;
      try {
        const doc = await tier.getVersion(s.ref, head.version, { consistent: true, signal });
        const untrusted = doc && options.trust ? checkVersionTrust(doc, options.trust) : undefined;
        if (untrusted) {
          badDocs.push({ state: s, tier, version: head.version });
          findings.push({
            kind: TRUST_KINDS[untrusted.code],
            ref: s.key,
            source: 'scan',
            tier: tier.name,
            version: head.version,
            reason: untrusted.code,
            message: `${untrusted.message} in ${tier.name}`,
          });
          return;
        }
        if (doc) noteCreated(s, doc);
      } catch (error) {
        if (!isConfigError(error, 'CHECKSUM_MISMATCH')) throw error;
        badDocs.push({ state: s, tier, version: head.version });
        findings.push({
          kind: 'checksum-mismatch',
          ref: s.key,
          source: 'scan',
          tier: tier.name,
          version: head.version,
          message: `${s.key} v${head.version} in ${tier.name}: ${error.message}`,
        });
      }
    }
  });

  // 4. Instances that lag or rejected.
  const lagThreshold = options.lagThreshold;
  await forEach([...refs.values()], options.concurrency, signal, async (s) => {
    const head = s.heads.get(primary.name) ?? (record ? s.heads.get(record.name) : undefined);
    if (!head) return;
    const acks = store.capabilities.appliedState && store.listAcks ? await store.listAcks(s.ref) : [];
    const headAge = s.headCreatedAt === undefined ? Number.POSITIVE_INFINITY : now() - s.headCreatedAt;
    const instanceOf = (ack: (typeof acks)[number]) => ({
      ref: s.key,
      source: 'scan' as const,
      instance: ack.instance,
      environment: ack.environment,
      ackVersion: ack.version,
      headVersion: head.version,
    });
    for (const ack of acks) {
      if (ack.status === 'rejected') {
        findings.push({
          ...instanceOf(ack),
          kind: 'rejected-instance',
          reason: ack.reason,
          message: `${s.key}: instance ${ack.instance} (${ack.environment}) rejected v${ack.version}${ack.reason ? `: ${ack.reason}` : ''}`,
        });
        continue;
      }
      const lag = head.version - ack.version;
      if (lag > lagThreshold && headAge >= options.lagGraceMs) {
        findings.push({
          ...instanceOf(ack),
          kind: 'lagging-instance',
          message: `${s.key}: instance ${ack.instance} (${ack.environment}) applied v${ack.version}, ${lag} behind the head v${head.version}`,
        });
      }
    }
  });

  // 5. Remediation.
  let reconcileReport: ReconcileReport | undefined;
  if (options.remediate) {
    for (const bad of badDocs) {
      const finding = findings.find(
        (f) => f.ref === bad.state.key && f.tier === bad.tier.name && f.version === bad.version && f.source === 'scan',
      ) as DriftFinding;
      const other = tiers.find((t) => t !== bad.tier);
      if (!other) {
        finding.remediated = false;
        finding.remediation = 'no other durable tier holds a copy to repair from';
        continue;
      }
      if (!bad.tier.capabilities.repair || !bad.tier.replace) {
        finding.remediated = false;
        finding.remediation = `${bad.tier.name} cannot repair versions (no "repair" capability)`;
        continue;
      }
      try {
        let good = await other.getVersion(bad.state.ref, bad.version, { consistent: true, signal });
        if (good && options.trust && checkVersionTrust(good, options.trust)) {
          finding.remediated = false;
          finding.remediation = `${other.name}'s v${bad.version} does not verify either`;
          continue;
        }
        if (!good && other === record && options.signer) {
          good = await resign(record, bad.state.ref, bad.version, bad.tier.name, options);
          if (good) finding.remediation = `re-signed the record's head as v${bad.version}`;
        }
        if (!good) {
          finding.remediated = false;
          finding.remediation = `${other.name} does not hold v${bad.version}`;
          continue;
        }
        await bad.tier.replace(good, {
          reason: `drift: v${bad.version} did not verify; rewritten from ${other.name}`,
          fence: options.fence,
        });
        // Proof: it reads back and verifies.
        const back = await bad.tier.getVersion(bad.state.ref, bad.version, { consistent: true, signal });
        finding.remediated = back?.checksum === good.checksum;
        finding.remediation = `${finding.remediation ? `${finding.remediation}; ` : ''}rewrote v${bad.version} in ${bad.tier.name} from ${other.name}`;
      } catch (error) {
        finding.remediated = false;
        finding.remediation = `repair failed: ${(error as Error).message}`;
      }
    }
    const headFindings = findings.filter((f) => f.kind === 'head-mismatch' || f.kind === 'missing');
    if (headFindings.length > 0 && record) {
      try {
        reconcileReport = await store.reconcile({ signal, fence: options.fence });
        for (const f of headFindings) {
          const s = refs.get(f.ref) as RefState;
          const [p, r] = await Promise.all([
            primary.getHead(s.ref, { consistent: true, signal }),
            record.getHead(s.ref, { consistent: true, signal }),
          ]);
          f.remediated = sameHead(p, r);
          f.remediation = f.remediated
            ? `reconciled: both tiers at v${p?.version}`
            : `reconciliation left ${primary.name} at v${p?.version ?? 0} and ${record.name} at v${r?.version ?? 0}${
                reconcileReport.incomplete.find((i) => i.ref === f.ref)
                  ? ` (${reconcileReport.incomplete.find((i) => i.ref === f.ref)?.reason})`
                  : ''
              }`;
        }
      } catch (error) {
        for (const f of headFindings) {
          f.remediated = false;
          f.remediation = `reconciliation failed: ${(error as Error).message}`;
        }
      }
    }
    for (const f of findings) {
      if (f.kind === 'lagging-instance' || f.kind === 'rejected-instance') {
        f.remediation = 'reported only: the instance must apply the head itself';
      }
    }
  }

  return {
    startedAt,
    durationMs: performance.now() - started,
    examined: refs.size,
    findings,
    remediated: findings.filter((f) => f.remediated === true).length,
    ...(reconcileReport ? { reconcile: reconcileReport } : {}),
  };
}

/**
 * A forged version `version` the record does not hold (written straight into the primary above the
 * record's head): the record takes the same number with its head's content again, signed by this
 * process, so history only moves forward and the primary can be repaired from it. Undefined when
 * the record's head is not right below `version` (a later pass, or reconciliation, handles it).
 */
async function resign(
  record: ConfigStore,
  ref: ConfigRef,
  version: number,
  tier: string,
  options: DriftOptions,
): Promise<ConfigVersion | undefined> {
  const head = await record.getHead(ref, { consistent: true, signal: options.signal });
  if (!head || head.version !== version - 1 || !options.signer) return undefined;
  const base = await record.getVersion(ref, head.version, { consistent: true, signal: options.signal });
  if (!base) return undefined;
  const doc = signedCopy(base, version, options.signer, {
    createdBy: options.signer.principal ?? 'summit-agent',
    message: `repair: v${version} in ${tier} did not verify; v${head.version} re-signed in its place`,
  });
  await record.append(doc, { fence: options.fence, signal: options.signal });
  return doc;
}

function noteCreated(state: RefState, doc: ConfigVersion): void {
  const at = Date.parse(doc.createdAt);
  if (!Number.isNaN(at) && (state.headCreatedAt === undefined || at > state.headCreatedAt)) state.headCreatedAt = at;
}
