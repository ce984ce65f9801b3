/**
 * Signed versions. The change service signs every version it writes with its writer key; clients,
 * the agent and reconciliation verify every version against their trust root before serving or
 * copying it.
 *
 * The signature lives in `metadata.signature` (`{ alg: 'ed25519', keyId, sig }`), since it covers
 * the checksum and so cannot be part of it. It covers the text
 *
 *   "summit-version-sig-v1\n" + canonicalJson({ ref, version, checksum, createdBy, createdAt,
 *                                               deleted, approval })
 *
 * where `deleted` is the tombstone flag and `approval` what allowed the change:
 * `{ changeRequest, emergency, approvedBy }` from the metadata (`null` for a direct write). Every
 * other metadata field is informational and not covered.
 */
import { ConfigError, type ErrorContext } from '../errors/config-error.js';
import { canonicalJson, isPlainObject, type JsonObject, type JsonValue } from '../model/json.js';
import { refKey } from '../model/ref.js';
import { type ConfigVersion, computeChecksum, createVersion, type DocumentLimits } from '../model/version.js';
import type { Signer, TrustRoot } from './keys.js';

export const VERSION_SIGNATURE_PREFIX = 'summit-version-sig-v1\n';

/** Why a version does not verify; the drift code the agent reports. */
export type VersionTrustCode = 'UNSIGNED_VERSION' | 'FORGED_VERSION' | 'UNTRUSTED_KEY';

export interface VersionTrustFailure {
  readonly code: VersionTrustCode;
  readonly message: string;
}

/** The approval part of the signed text: what allowed the change. */
function approvalOf(metadata: JsonObject): JsonValue {
  const request = metadata.changeRequest;
  if (typeof request !== 'string') return null;
  const approvedBy = Array.isArray(metadata.approvedBy) ? metadata.approvedBy : [];
  return { changeRequest: request, emergency: metadata.emergency === true, approvedBy };
}

/** The exact text a version's signature covers (see the module comment). */
export function versionSigningText(doc: ConfigVersion): string {
  return (
    VERSION_SIGNATURE_PREFIX +
    canonicalJson({
      ref: { scope: doc.ref.scope, id: doc.ref.id },
      version: doc.version,
      checksum: doc.checksum,
      createdBy: doc.createdBy,
      createdAt: doc.createdAt,
      deleted: doc.metadata.deleted === true,
      approval: approvalOf(doc.metadata),
    })
  );
}

/** `doc` with `metadata.signature` by `signer` (any previous signature replaced). */
export function signVersion(doc: ConfigVersion, signer: Signer): ConfigVersion {
  const { signature: _old, ...metadata } = doc.metadata;
  const unsigned: ConfigVersion = { ...doc, metadata };
  const sig = signer.sign(versionSigningText(unsigned));
  return { ...unsigned, metadata: { ...metadata, signature: { alg: 'ed25519', keyId: signer.keyId, sig } } };
}

/** Checks `doc` against `trust`: undefined when it verifies, otherwise why not. */
export function checkVersionTrust(doc: ConfigVersion, trust: TrustRoot): VersionTrustFailure | undefined {
  const at = `${refKey(doc.ref)} v${doc.version}`;
  const s = doc.metadata.signature;
  if (s === undefined) return { code: 'UNSIGNED_VERSION', message: `${at} carries no signature` };
  if (!isPlainObject(s) || s.alg !== 'ed25519' || typeof s.keyId !== 'string' || typeof s.sig !== 'string') {
    return { code: 'FORGED_VERSION', message: `${at} carries a malformed signature` };
  }
  if (computeChecksum(doc) !== doc.checksum) {
    return { code: 'FORGED_VERSION', message: `${at}: the checksum does not match the content` };
  }
  const outcome = trust.check(s.keyId, versionSigningText(doc), s.sig, doc.createdAt);
  if (outcome === 'ok') return undefined;
  if (outcome === 'unknown-key')
    return { code: 'UNTRUSTED_KEY', message: `${at} is signed by ${s.keyId}, which is not trusted` };
  if (outcome === 'expired-key') {
    return { code: 'UNTRUSTED_KEY', message: `${at} is signed by ${s.keyId} after that key's notAfter` };
  }
  return { code: 'FORGED_VERSION', message: `${at}: the signature by ${s.keyId} does not verify (forged or altered)` };
}

/** `SIGNATURE_INVALID`: a version (or audit event, or approval) that does not verify; `reason` says why. */
export class SignatureInvalidError extends ConfigError<'SIGNATURE_INVALID'> {
  readonly reason: string;
  constructor(message: string, reason: string, options: ErrorContext = {}) {
    super('SIGNATURE_INVALID', message, options);
    this.name = 'SignatureInvalidError';
    this.reason = reason;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason };
  }
}

/** Throws `SIGNATURE_INVALID` (with the drift code as `reason`) unless `doc` verifies against `trust`. */
export function assertVersionTrusted(doc: ConfigVersion, trust: TrustRoot, backend?: string): ConfigVersion {
  const failure = checkVersionTrust(doc, trust);
  if (failure) {
    throw new SignatureInvalidError(failure.message, failure.code, {
      ref: refKey(doc.ref),
      version: doc.version,
      ...(backend !== undefined ? { backend } : {}),
    });
  }
  return doc;
}

/**
 * `base`'s content (and its tombstone flag) again as version `version`, signed by `signer`: how a
 * head that does not verify is replaced without rewriting history (`resignHeads`, drift repair).
 */
export function signedCopy(
  base: ConfigVersion,
  version: number,
  signer: Signer,
  fields: { createdBy: string; message: string; metadata?: JsonObject; createdAt?: Date },
  limits?: DocumentLimits,
): ConfigVersion {
  return signVersion(
    createVersion(
      {
        ref: base.ref,
        config: base.config,
        overrides: { ...base.overrides },
        rollout: base.rollout,
        metadata: { ...(base.metadata.deleted === true ? { deleted: true } : {}), ...fields.metadata },
        createdBy: fields.createdBy,
        message: fields.message,
        ...(fields.createdAt ? { createdAt: fields.createdAt } : {}),
      },
      version,
      limits,
    ),
    signer,
  );
}
