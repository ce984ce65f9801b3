/**
 * Signed audit events and signed checkpoints (docs/audit-trail.md).
 *
 * Every event the change service writes carries `signature` = `<keyId>:<base64 Ed25519 signature>`
 * of the text
 *
 *   "summit-audit-sig-v1\n" + F(at) + F(actor) + F(action) + F(ref) + F(version) + F(environment)
 *                           + F(message) + F(changes) + F(source) + F(requestId) [+ F(origin)]
 *
 * `F(origin)` is appended only for an event with an origin (its stored JSON text,
 * `auditOriginText`), so the signed text of every event without one is unchanged.
 *
 * with F() the length-prefixed encoding of the hash chain (chain.ts) and every field exactly as it is
 * stored (`at` in ISO-8601 with milliseconds, `changes` the stored JSON text). The signature covers
 * neither `seq` nor the hashes: it proves who wrote an event, the chain and the checkpoints prove
 * where it stands.
 *
 * A checkpoint signs `"summit-audit-checkpoint-v1\n" + seq + "\n" + hash + "\n" + at + "\n" +
 * signedFrom + "\n"`.
 */
import { errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';
import type { SignatureCheck, Signer, TrustRoot } from '../trust/keys.js';
import type { AuditCheckpoint } from './anchor.js';
import { auditField, auditFieldsText } from './chain.js';
import { auditOriginText } from './origin.js';
import type { AuditInput, AuditRecord } from './types.js';

export const AUDIT_SIGNATURE_PREFIX = 'summit-audit-sig-v1\n';
export const AUDIT_CHECKPOINT_PREFIX = 'summit-audit-checkpoint-v1\n';

/** The stored fields a signature covers. */
export type AuditSignedFields = Pick<
  AuditRecord,
  | 'at'
  | 'actor'
  | 'action'
  | 'ref'
  | 'version'
  | 'environment'
  | 'message'
  | 'changes'
  | 'source'
  | 'requestId'
  | 'origin'
>;

/** The exact text an event's signature covers (see the module comment). */
export function auditSigningText(record: AuditSignedFields): string {
  const origin = record.origin ?? null;
  return AUDIT_SIGNATURE_PREFIX + auditFieldsText(record) + (origin === null ? '' : auditField(origin));
}

/** The fields of `input` as the governance stores will keep them (memory and SQL agree). */
export function storedFieldsOf(input: AuditInput): AuditSignedFields {
  const at = new Date(input.at);
  if (Number.isNaN(at.getTime())) throw errors.constraint(`audit time ${JSON.stringify(input.at)} is not a date`);
  return {
    at: at.toISOString(),
    actor: input.actor,
    action: input.action,
    ref: input.ref ?? null,
    version: input.version ?? null,
    environment: input.environment ?? null,
    message: input.message,
    changes: JSON.stringify(input.changes ?? []),
    source: input.source ?? null,
    requestId: input.requestId ?? null,
    origin: auditOriginText(input.origin),
  };
}

/**
 * `input` with `signature` by `signer` (a previous signature replaced); `at` is normalised to
 * milliseconds first, so the signed text is what the stores keep. Without a signer, unchanged.
 */
export function signAuditInput(input: AuditInput, signer: Signer | undefined): AuditInput {
  if (!signer) return input;
  const { signature: _old, ...rest } = input;
  const normalised: AuditInput = { ...rest, at: storedFieldsOf(rest).at };
  return { ...normalised, signature: `${signer.keyId}:${signer.sign(auditSigningText(storedFieldsOf(normalised)))}` };
}

/** Splits `<keyId>:<sig>` (the key id itself contains `:`); undefined when malformed. */
export function parseAuditSignature(signature: string): { keyId: string; sig: string } | undefined {
  const i = signature.lastIndexOf(':');
  if (i <= 0 || i === signature.length - 1) return undefined;
  const sig = signature.slice(i + 1);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sig)) return undefined;
  return { keyId: signature.slice(0, i), sig };
}

/** Validates an input's `signature` field (stores call it before writing). */
export function checkAuditSignatureField(signature: unknown): void {
  if (signature === undefined) return;
  if (typeof signature !== 'string' || signature.length > 1024 || !parseAuditSignature(signature)) {
    throw errors.constraint('audit signature must be "<keyId>:<base64 signature>" of at most 1024 characters');
  }
}

/** Checks a stored event's signature; `'unsigned'` when it carries none, `'malformed'` when unreadable. */
export function checkAuditSignature(
  record: AuditSignedFields & { signature: string | null },
  trust: TrustRoot,
): SignatureCheck | 'unsigned' | 'malformed' {
  if (record.signature === null || record.signature === undefined) return 'unsigned';
  const parsed = parseAuditSignature(record.signature);
  if (!parsed) return 'malformed';
  return trust.check(parsed.keyId, auditSigningText(record), parsed.sig, record.at);
}

/** The exact text a checkpoint's signature covers. */
export function auditCheckpointText(c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'at' | 'signedFrom'>): string {
  return `${AUDIT_CHECKPOINT_PREFIX}${c.seq}\n${c.hash}\n${c.at}\n${c.signedFrom}\n`;
}

/** A checkpoint of `seq`/`hash`, signed by `signer`. */
export function signAuditCheckpoint(
  fields: Pick<AuditCheckpoint, 'seq' | 'hash' | 'at' | 'signedFrom'>,
  signer: Signer,
): AuditCheckpoint {
  const c = { seq: fields.seq, hash: fields.hash, at: fields.at, signedFrom: fields.signedFrom };
  return { ...c, keyId: signer.keyId, sig: signer.sign(auditCheckpointText(c)) };
}

/** Whether `value` has the shape of a checkpoint (read from an anchor: anything may be there). */
export function isAuditCheckpoint(value: unknown): value is AuditCheckpoint {
  if (!isPlainObject(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(v.seq) &&
    (v.seq as number) >= 1 &&
    typeof v.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(v.hash) &&
    typeof v.at === 'string' &&
    !Number.isNaN(Date.parse(v.at)) &&
    Number.isSafeInteger(v.signedFrom) &&
    (v.signedFrom as number) >= 1 &&
    typeof v.keyId === 'string' &&
    typeof v.sig === 'string'
  );
}

/** Checks a checkpoint read from an anchor: undefined when it verifies, otherwise why not. */
export function checkAuditCheckpoint(value: unknown, trust: TrustRoot): string | undefined {
  if (!isAuditCheckpoint(value)) return 'not a checkpoint (malformed)';
  const outcome = trust.check(value.keyId, auditCheckpointText(value), value.sig, value.at);
  if (outcome === 'ok') return undefined;
  if (outcome === 'unknown-key') return `signed by ${value.keyId}, which is not trusted`;
  if (outcome === 'expired-key') return `signed by ${value.keyId} after that key's notAfter`;
  return `the signature by ${value.keyId} does not verify (forged or altered)`;
}
