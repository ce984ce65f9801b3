/**
 * What makes a backup trustworthy. An export written by a service with a writer key carries:
 *
 * - its versions, each with its own signature (`metadata.signature`);
 * - its open change requests, each approval signed by its approver;
 * - the latest audit checkpoints of the anchors (`{ type: 'checkpoint' }` records);
 * - a signed trailer: `signature = "<keyId>:<base64>"` over
 *   `"summit-export-v1\n" + records + "\n" + sha256 + "\n"`, so a self-consistent file (counts and
 *   SHA-256 recomputed) made without a trusted key is refused.
 *
 * An import by a service with a trust root checks all of it before anything is written, and
 * refuses (`SIGNATURE_INVALID`, `reason` saying what) a file that is unsigned, forged, or holds one
 * version, approval or checkpoint that does not verify.
 */
import type { ChangeRequest } from '../approvals/types.js';
import type { AuditCheckpoint } from '../audit/anchor.js';
import { checkAuditCheckpoint } from '../audit/signing.js';
import { refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { checkDecision } from '../trust/approvals.js';
import type { Signer, TrustRoot } from '../trust/keys.js';
import { checkVersionTrust, SignatureInvalidError } from '../trust/versions.js';

export const EXPORT_SIGNATURE_PREFIX = 'summit-export-v1\n';

function trailerText(records: number, sha256: string): string {
  return `${EXPORT_SIGNATURE_PREFIX}${records}\n${sha256}\n`;
}

/** The trailer's signature by `signer`. */
export function signTrailer(records: number, sha256: string, signer: Signer): string {
  return `${signer.keyId}:${signer.sign(trailerText(records, sha256))}`;
}

/** What parsing a file collected, for the trust checks. */
export interface ParsedTrust {
  trailer: { records: number; sha256: string; signature?: unknown };
  versions: Iterable<ConfigVersion>;
  requests: readonly ChangeRequest[];
  checkpoints: readonly AuditCheckpoint[];
}

function refuse(message: string, reason: string, ctx: { ref?: string; version?: number } = {}): never {
  throw new SignatureInvalidError(`import file: ${message}`, reason, ctx);
}

/** Throws `SIGNATURE_INVALID` unless everything in the file verifies against `trust`. */
export function checkImportTrust(parsed: ParsedTrust, trust: TrustRoot): void {
  const { signature } = parsed.trailer;
  if (typeof signature !== 'string') {
    refuse(
      'the trailer carries no signature: only a backup signed by a trusted writer key is imported',
      'UNSIGNED_BACKUP',
    );
  }
  const cut = signature.lastIndexOf(':');
  const keyId = cut > 0 ? signature.slice(0, cut) : '';
  const outcome = trust.check(
    keyId,
    trailerText(parsed.trailer.records, parsed.trailer.sha256),
    signature.slice(cut + 1),
  );
  if (outcome === 'unknown-key')
    refuse(`the trailer is signed by ${keyId || '?'}, which is not trusted`, 'UNTRUSTED_KEY');
  if (outcome !== 'ok') refuse('the trailer signature does not verify (forged or altered)', 'FORGED_BACKUP');
  for (const doc of parsed.versions) {
    const failure = checkVersionTrust(doc, trust);
    if (failure) refuse(failure.message, failure.code, { ref: refKey(doc.ref), version: doc.version });
  }
  for (const request of parsed.requests) {
    for (const d of request.approvals) {
      const why = checkDecision(request, d, trust);
      if (why) refuse(`change request ${request.id}: ${why}`, 'FORGED_APPROVAL', { ref: refKey(request.ref) });
    }
  }
  for (const checkpoint of parsed.checkpoints) {
    const why = checkAuditCheckpoint(checkpoint, trust);
    if (why) refuse(`audit checkpoint seq ${checkpoint.seq}: ${why}`, 'FORGED_CHECKPOINT');
  }
}
