/**
 * Verification of the whole audit trail (docs/audit-trail.md): the hash chain, the signature of every
 * event from `signedFrom` on (or, for the PostgreSQL store's own `append`/`replace` rows, a version
 * that verifies), and every valid checkpoint kept in the anchors (the event it names must still be
 * there, with the same hash). Pure over what it is given: the service supplies the chain, the
 * versions and the anchors.
 */
import { isConfigError } from '../errors/config-error.js';
import type { ConfigVersion } from '../model/version.js';
import type { TrustRoot } from '../trust/keys.js';
import { checkVersionTrust } from '../trust/versions.js';
import type { AuditAnchor, AuditCheckpoint } from './anchor.js';
import { AuditChainVerifier } from './chain.js';
import { checkAuditCheckpoint, checkAuditSignature } from './signing.js';
import type { AuditProblem, AuditRecord, AuditVerifyResult } from './types.js';

const PAGE = 1000;
const MAX_PROBLEMS = 1000;
/** Actions of the rows the PostgreSQL store writes itself (unsigned; justified by their version). */
const STORE_ACTIONS = new Set(['append', 'replace']);

export interface AuditTrailSource {
  /** Events with `seq > afterSeq`, in seq order, at most `limit`. */
  readChain(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** The config version a store row names (undefined when it does not exist). */
  version(ref: string, version: number): Promise<ConfigVersion | undefined>;
  /** The keys signatures and checkpoints must verify with; undefined: the chain alone is checked. */
  trust: TrustRoot | undefined;
  anchors: readonly AuditAnchor[];
  /** Overrides the `signedFrom` of the checkpoints (the adoption of an unsigned trail). */
  signedFrom?: number;
  signal?: AbortSignal;
}

export interface AnchorReadings {
  /** Valid checkpoints, each with the anchors that hold it. */
  valid: Array<{ checkpoint: AuditCheckpoint; anchors: string[] }>;
  /** The latest valid checkpoint. */
  latest: { checkpoint: AuditCheckpoint; anchors: string[] } | undefined;
  invalid: AuditProblem[];
  unreadable: string[];
}

/** Reads every anchor and sorts what they hold into valid and invalid checkpoints. */
export async function readAnchors(
  anchors: readonly AuditAnchor[],
  trust: TrustRoot,
  signal?: AbortSignal,
): Promise<AnchorReadings> {
  const valid = new Map<string, { checkpoint: AuditCheckpoint; anchors: string[] }>();
  const invalid: AuditProblem[] = [];
  const unreadable: string[] = [];
  await Promise.all(
    anchors.map(async (anchor) => {
      let read: AuditCheckpoint | undefined;
      try {
        read = await anchor.read(signal ? { signal } : {});
      } catch (error) {
        if (isConfigError(error) && error.code !== 'BACKEND_UNAVAILABLE' && error.code !== 'TIMEOUT') {
          invalid.push({ code: 'AUDIT_CHECKPOINT_INVALID', message: `anchor ${anchor.name}: ${error.message}` });
        } else unreadable.push(anchor.name);
        return;
      }
      if (read === undefined) return;
      const why = checkAuditCheckpoint(read, trust);
      if (why !== undefined) {
        const seq = Number.isSafeInteger((read as { seq?: unknown }).seq) ? read.seq : undefined;
        invalid.push({
          code: 'AUDIT_CHECKPOINT_INVALID',
          ...(seq !== undefined ? { seq } : {}),
          message: `the checkpoint in ${anchor.name} is invalid: ${why}`,
        });
        return;
      }
      const key = `${read.seq}:${read.hash}`;
      const entry = valid.get(key) ?? { checkpoint: read, anchors: [] };
      entry.anchors.push(anchor.name);
      if (read.signedFrom > entry.checkpoint.signedFrom) entry.checkpoint = read;
      valid.set(key, entry);
    }),
  );
  const list = [...valid.values()].sort((a, b) => a.checkpoint.seq - b.checkpoint.seq);
  for (const e of list) e.anchors.sort();
  unreadable.sort();
  return { valid: list, latest: list.at(-1), invalid, unreadable };
}

/** Verifies the trail; see the module comment. Never throws for what it finds: it reports problems. */
export async function verifyAuditTrail(source: AuditTrailSource): Promise<AuditVerifyResult> {
  const { trust } = source;
  const problems: AuditProblem[] = [];
  let omitted = 0;
  const report = (p: AuditProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
    else omitted++;
  };

  const anchors = trust ? await readAnchors(source.anchors, trust, source.signal) : undefined;
  for (const p of anchors?.invalid ?? []) report(p);
  const signedFrom = source.signedFrom ?? anchors?.latest?.checkpoint.signedFrom ?? 1;
  // The hash each valid checkpoint names, by seq (several anchors may name different seqs).
  const wanted = new Map<number, AuditCheckpoint[]>();
  for (const { checkpoint } of anchors?.valid ?? []) {
    wanted.set(checkpoint.seq, [...(wanted.get(checkpoint.seq) ?? []), checkpoint]);
  }

  const chain = new AuditChainVerifier();
  const signatures = new Set<string>();
  const appended = new Set<string>();
  let maxSeq = 0;
  let after = 0;
  for (;;) {
    source.signal?.throwIfAborted();
    const page = await source.readChain(after, PAGE);
    for (const record of page) {
      chain.push(record);
      maxSeq = Math.max(maxSeq, record.seq);
      for (const c of wanted.get(record.seq) ?? []) {
        if (record.hash !== c.hash) {
          report({
            code: 'AUDIT_REWRITTEN',
            seq: c.seq,
            message: `seq ${c.seq} has hash ${String(record.hash).slice(0, 16)}… but the checkpoint of ${c.at} names ${c.hash.slice(0, 16)}…: the trail was rewritten`,
          });
        }
      }
      if (trust && record.seq >= signedFrom) {
        const p = await eventProblem(record, trust, source, signatures, appended);
        if (p) report(p);
      }
    }
    if (page.length < PAGE) break;
    after = page.at(-1)?.seq ?? after;
  }
  for (const [seq, list] of wanted) {
    if (seq <= maxSeq) continue;
    const c = list[0] as AuditCheckpoint;
    report({
      code: 'AUDIT_TAIL_DELETED',
      seq,
      message: `the checkpoint of ${c.at} names seq ${seq}, but the trail ends at seq ${maxSeq}: events were deleted`,
    });
  }

  const base = chain.result();
  const all = [...base.problems, ...problems].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  const first = base.ok ? all[0] : undefined;
  const result: AuditVerifyResult = {
    ...base,
    ok: all.length === 0,
    problems: all,
    ...(first ? { brokenAt: first.seq, reason: `${first.code}: ${first.message}` } : {}),
    ...(omitted > 0 ? { omittedProblems: omitted } : {}),
    signatures: trust ? 'checked' : 'not-checked',
  };
  if (trust) result.signedFrom = signedFrom;
  if (anchors?.latest) result.checkpoint = { seq: anchors.latest.checkpoint.seq, anchors: anchors.latest.anchors };
  if (anchors && anchors.unreadable.length > 0) result.unreadableAnchors = anchors.unreadable;
  return result;
}

/** What is wrong with one event that must be signed (or justified by its version), if anything. */
async function eventProblem(
  record: AuditRecord,
  trust: TrustRoot,
  source: AuditTrailSource,
  signatures: Set<string>,
  appended: Set<string>,
): Promise<AuditProblem | undefined> {
  const seq = record.seq;
  if (record.signature === null && STORE_ACTIONS.has(record.action) && record.source === null) {
    return storeRowProblem(record, trust, source, appended);
  }
  const outcome = checkAuditSignature(record, trust);
  if (outcome === 'unsigned') {
    return {
      code: 'AUDIT_UNSIGNED_EVENT',
      seq,
      message: `seq ${seq} (${record.action} by ${record.actor}) carries no signature`,
    };
  }
  if (outcome !== 'ok') {
    return {
      code: 'AUDIT_FORGED_EVENT',
      seq,
      message: `seq ${seq} (${record.action} by ${record.actor}): signature ${outcome}`,
    };
  }
  const sig = record.signature as string;
  if (signatures.has(sig)) {
    return {
      code: 'AUDIT_FORGED_EVENT',
      seq,
      message: `seq ${seq} (${record.action}) replays the signature of an earlier event`,
    };
  }
  signatures.add(sig);
  return undefined;
}

/** A store row is justified by the version it names: it exists, verifies, and was created by the row's actor. */
async function storeRowProblem(
  record: AuditRecord,
  trust: TrustRoot,
  source: AuditTrailSource,
  appended: Set<string>,
): Promise<AuditProblem | undefined> {
  const seq = record.seq;
  const forged = (why: string): AuditProblem => ({
    code: 'AUDIT_FORGED_EVENT',
    seq,
    message: `seq ${seq} (${record.action} of ${record.ref ?? '?'} v${record.version ?? '?'} by ${record.actor}): ${why}`,
  });
  if (record.ref === null || record.version === null) return forged('names no version');
  let doc: ConfigVersion | undefined;
  try {
    doc = await source.version(record.ref, record.version);
  } catch (error) {
    if (isConfigError(error) && (error.code === 'INVALID_CONFIG_REF' || error.code === 'CHECKSUM_MISMATCH')) {
      return forged(error.message);
    }
    throw error;
  }
  if (!doc) return forged('the version does not exist in the store');
  const failure = checkVersionTrust(doc, trust);
  if (failure) return forged(`the version does not verify (${failure.code}: ${failure.message})`);
  if (doc.createdBy !== record.actor) return forged(`the version was created by ${doc.createdBy}`);
  if (record.action === 'append') {
    const key = `${record.ref}\u0000${record.version}`;
    if (appended.has(key)) return forged('a second append row for the same version (replayed)');
    appended.add(key);
  }
  return undefined;
}
