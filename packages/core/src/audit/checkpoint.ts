/**
 * Taking a checkpoint of the audit trail: verify the whole trail first (a trail that does not verify
 * is never checkpointed), then sign its head and keep it in every anchor. `signedFrom` is carried
 * forward from the latest valid checkpoint; the first checkpoint of a trail that predates signing
 * adopts it (`adopt`: the events up to now are accepted unsigned), otherwise every event must be
 * signed (`signedFrom` 1).
 */
import { type ConfigError, errors, isConfigError } from '../errors/config-error.js';
import type { Signer, TrustRoot } from '../trust/keys.js';
import { SignatureInvalidError } from '../trust/versions.js';
import type { AuditCheckpoint } from './anchor.js';
import { signAuditCheckpoint } from './signing.js';
import type { AuditProblemCode, AuditVerifyResult } from './types.js';
import { type AuditTrailSource, readAnchors, verifyAuditTrail } from './verify.js';

/** What `checkpointAudit` did. */
export interface AuditCheckpointReport {
  /** The checkpoint written (signed). */
  readonly checkpoint: AuditCheckpoint;
  /** The anchors that hold it now. */
  readonly anchors: string[];
  /** Anchors the write failed on (the checkpoint is kept by the others). */
  readonly failed: Array<{ anchor: string; message: string }>;
  /** The verification that preceded it (ok). */
  readonly verified: AuditVerifyResult;
}

/** Problems of the chain itself (CHECKSUM_MISMATCH); the others are signature problems. */
const CHAIN_CODES: ReadonlySet<AuditProblemCode> = new Set([
  'AUDIT_CHAIN_BROKEN',
  'AUDIT_TAIL_DELETED',
  'AUDIT_REWRITTEN',
]);

/** The typed error of a trail that does not verify: CHECKSUM_MISMATCH or SIGNATURE_INVALID. */
export function auditTrailError(result: AuditVerifyResult, what = 'the audit trail does not verify'): ConfigError {
  const first = result.problems.find((p) => CHAIN_CODES.has(p.code)) ?? result.problems[0];
  const count = result.problems.length + (result.omittedProblems ?? 0);
  const message = `${what}: ${first ? `${first.code}${first.seq !== undefined ? ` at seq ${first.seq}` : ''}: ${first.message}` : (result.reason ?? 'unknown reason')}${count > 1 ? ` (and ${count - 1} more problem(s))` : ''}`;
  if (!first || CHAIN_CODES.has(first.code)) return errors.checksumMismatch(message);
  return new SignatureInvalidError(message, first.code);
}

export interface CheckpointSource extends Omit<AuditTrailSource, 'trust' | 'signedFrom'> {
  signer: Signer;
  trust: TrustRoot;
  now: () => Date;
  adopt: boolean;
}

export async function checkpointTrail(source: CheckpointSource): Promise<AuditCheckpointReport> {
  const { signer, trust, anchors, signal } = source;
  if (anchors.length === 0) {
    throw errors.constraint(
      'no audit anchors are configured (service option auditAnchors): a checkpoint would be kept nowhere',
    );
  }
  const readings = await readAnchors(anchors, trust, signal);
  let signedFrom: number | undefined;
  if (!readings.latest && source.adopt) {
    // Adoption: the events up to the current head are accepted as they are.
    const head = await lastSeq(source);
    signedFrom = head + 1;
  }
  const verified = await verifyAuditTrail({ ...source, trust, ...(signedFrom !== undefined ? { signedFrom } : {}) });
  if (!verified.ok) throw auditTrailError(verified, 'the audit trail does not verify, so it is not checkpointed');
  if (!verified.head) throw errors.constraint('the audit trail is empty: there is nothing to checkpoint');
  const checkpoint = signAuditCheckpoint(
    {
      seq: verified.head.seq,
      hash: verified.head.hash,
      at: source.now().toISOString(),
      signedFrom: verified.signedFrom ?? 1,
    },
    signer,
  );
  const written: string[] = [];
  const failed: Array<{ anchor: string; message: string }> = [];
  const errorsSeen: unknown[] = [];
  await Promise.all(
    anchors.map(async (anchor) => {
      try {
        await anchor.write(checkpoint, signal ? { signal } : {});
        written.push(anchor.name);
      } catch (error) {
        errorsSeen.push(error);
        failed.push({ anchor: anchor.name, message: (error as Error)?.message ?? String(error) });
      }
    }),
  );
  if (written.length === 0) {
    const first = errorsSeen[0];
    throw isConfigError(first) ? first : errors.unavailable('audit anchors', first);
  }
  return { checkpoint, anchors: written.sort(), failed, verified };
}

async function lastSeq(source: CheckpointSource): Promise<number> {
  let after = 0;
  for (;;) {
    const page = await source.readChain(after, 1000);
    if (page.length < 1000) return page.at(-1)?.seq ?? after;
    after = page.at(-1)?.seq ?? after;
  }
}
