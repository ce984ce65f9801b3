/**
 * The audit trail's hash chain. Every event's `hash` covers its own fields and the previous event's
 * hash, so altering, deleting or reordering a stored event breaks the chain at that event.
 *
 * The hashed text is deliberately simple, so that SQL (a PostgreSQL trigger) and TypeScript compute
 * the same bytes without canonical JSON:
 *
 *   hash = sha256_hex( "summit-audit-v1\n" || F(seq) || F(at) || F(actor) || F(action) || F(ref)
 *                      || F(version) || F(environment) || F(message) || F(changes) || F(source)
 *                      || F(requestId) || F(prevHash) )
 *
 *   F(NULL) = "-\n"
 *   F(x)    = <number of UTF-8 bytes of x, in decimal> ":" x "\n"
 *
 * `seq` and `version` are decimal integers; `at` is `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds,
 * JavaScript's `toISOString()`); `changes` is the JSON text exactly as stored (`JSON.stringify` of
 * the RFC 6902 patch when written by the change service); `prevHash` is NULL for the first event.
 * The length prefix makes the encoding unambiguous whatever the fields contain.
 */
import { sha256Hex } from '../model/json.js';
import type { AuditRecord, AuditVerifyResult } from './types.js';

export const AUDIT_HASH_PREFIX = 'summit-audit-v1\n';

/** F(x): `-\n` for NULL, else `<UTF-8 length>:x\n` (see the module comment). */
export function auditField(value: string | number | null): string {
  if (value === null) return '-\n';
  const text = String(value);
  return `${Buffer.byteLength(text, 'utf8')}:${text}\n`;
}

/** The event's own fields, F-encoded in chain order (shared by the hash and the signature). */
export function auditFieldsText(
  r: Pick<
    AuditRecord,
    'at' | 'actor' | 'action' | 'ref' | 'version' | 'environment' | 'message' | 'changes' | 'source' | 'requestId'
  >,
): string {
  return [r.at, r.actor, r.action, r.ref, r.version, r.environment, r.message, r.changes, r.source, r.requestId]
    .map(auditField)
    .join('');
}

/** The exact text that is hashed for `record` (see the module comment). */
export function auditHashText(record: Omit<AuditRecord, 'hash' | 'signature'>): string {
  return AUDIT_HASH_PREFIX + auditField(record.seq) + auditFieldsText(record) + auditField(record.prevHash);
}

/** SHA-256 (lower-case hex) of {@link auditHashText}. */
export function auditHash(record: Omit<AuditRecord, 'hash' | 'signature'>): string {
  return sha256Hex(auditHashText(record));
}

/**
 * Walks stored records in `seq` order and finds the first broken link. Feed it pages with `push`;
 * `result()` says whether the chain holds and, if not, which `seq` broke and why.
 */
export class AuditChainVerifier {
  #count = 0;
  #last: { seq: number; hash: string } | undefined;
  #broken: { seq: number; reason: string } | undefined;

  /** Checks the next record; returns false once the chain is broken (later records are not checked). */
  push(record: AuditRecord): boolean {
    if (this.#broken) return false;
    this.#count++;
    const expectedSeq = (this.#last?.seq ?? 0) + 1;
    if (record.seq !== expectedSeq) {
      this.#broken = {
        seq: record.seq,
        reason:
          record.seq > expectedSeq
            ? `events ${expectedSeq}..${record.seq - 1} are missing before seq ${record.seq}`
            : `seq ${record.seq} is out of order after seq ${expectedSeq - 1}`,
      };
      return false;
    }
    const expectedPrev = this.#last?.hash ?? null;
    if (record.prevHash !== expectedPrev) {
      this.#broken = {
        seq: record.seq,
        reason: `prevHash does not match the hash of seq ${expectedSeq - 1} (an event was removed, reordered or altered)`,
      };
      return false;
    }
    const actual = auditHash(record);
    if (record.hash !== actual) {
      this.#broken = { seq: record.seq, reason: 'the stored hash does not match the event content (altered)' };
      return false;
    }
    this.#last = { seq: record.seq, hash: record.hash };
    return true;
  }

  result(): AuditVerifyResult {
    const head = this.#last ? { seq: this.#last.seq, hash: this.#last.hash } : undefined;
    if (this.#broken) {
      const { seq, reason } = this.#broken;
      return {
        ok: false,
        checked: this.#count,
        head,
        brokenAt: seq,
        reason,
        problems: [{ code: 'AUDIT_CHAIN_BROKEN', seq, message: reason }],
      };
    }
    return { ok: true, checked: this.#count, head, problems: [] };
  }
}

/** Verifies a whole chain held in memory. */
export function verifyAuditChain(records: Iterable<AuditRecord>): AuditVerifyResult {
  const verifier = new AuditChainVerifier();
  for (const record of records) if (!verifier.push(record)) break;
  return verifier.result();
}
