/**
 * Ed25519 writer keys and the trust root (node:crypto only).
 *
 * A **signer** holds one private key and signs text; its `keyId` is the fingerprint of the public
 * key (`ed25519:` + the first 16 bytes of the SHA-256 of the SPKI DER, in hex), so an id can never
 * name another key. A **trust root** holds public keys (with optional principals and validity) and
 * lives outside the stores: in the client's or the agent's own configuration. Rotation is adding the
 * new key to every trust root, switching writers to it, and later removing the old key (versions it
 * signed then stop verifying, so re-sign heads first: `summit-config trust adopt`).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';

/** Signs text with one Ed25519 key. */
export interface Signer {
  readonly keyId: string;
  /** The principal this key belongs to (e.g. `os-user:1000@host`), when the key says so. */
  readonly principal?: string;
  /** The public key (base64 SPKI DER), when the signer knows it. */
  readonly publicKey?: string;
  /** Base64 Ed25519 signature of the UTF-8 bytes of `text`. */
  sign(text: string): string;
}

/** One trusted public key. */
export interface TrustedKey {
  /** The key's fingerprint (see the module comment). */
  readonly keyId: string;
  /** SPKI DER, base64. */
  readonly publicKey: string;
  /** Who holds the private key, when known. */
  readonly principal?: string;
  /** Signatures made after this time (ISO-8601) are not accepted: a retired key. */
  readonly notAfter?: string;
}

/** The outcome of checking one signature. */
export type SignatureCheck = 'ok' | 'unknown-key' | 'bad-signature' | 'expired-key';

/** The public keys a reader trusts. */
export interface TrustRoot {
  readonly keys: readonly TrustedKey[];
  /** Checks `signature` (base64) of `text` by `keyId`; `at` is when it claims to have been made. */
  check(keyId: string, text: string, signature: string, at?: string): SignatureCheck;
  /** The trusted key `keyId`, if any. */
  key(keyId: string): TrustedKey | undefined;
}

/** What a key entry in a configuration may look like (PEM or base64 SPKI DER). */
export interface TrustedKeyInput {
  publicKey: string;
  keyId?: string;
  principal?: string;
  notAfter?: string;
}

function publicKeyObject(input: string, what: string): KeyObject {
  const text = input.trim();
  try {
    const key = text.startsWith('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType} key`);
    return key;
  } catch (error) {
    throw errors.constraint(
      `${what} is not an Ed25519 public key (PEM or base64 SPKI DER): ${(error as Error).message}`,
    );
  }
}

function spkiBase64(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).toString('base64');
}

/** The key id (fingerprint) of a public key given as PEM or base64 SPKI DER. */
export function keyIdOf(publicKey: string): string {
  const der = publicKeyObject(publicKey, 'public key').export({ format: 'der', type: 'spki' });
  return `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 32)}`;
}

/** A new Ed25519 key pair: the private key as PKCS#8 PEM, the public key as base64 SPKI DER. */
export function generateSigningKey(): { privateKeyPem: string; publicKey: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = spkiBase64(publicKey);
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: pub,
    keyId: keyIdOf(pub),
  };
}

/** A signer from a PKCS#8 PEM private key. `CONSTRAINT_VIOLATION` when it is not an Ed25519 key. */
export function createSigner(
  privateKeyPem: string,
  options: { principal?: string } = {},
): Signer & { publicKey: string } {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw errors.constraint(`the signing key is not a PEM private key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw errors.constraint(`the signing key must be Ed25519, not ${key.asymmetricKeyType}`);
  }
  const publicKey = spkiBase64(createPublicKey(key));
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKey,
    ...(options.principal !== undefined ? { principal: options.principal } : {}),
    sign: (text) => sign(null, Buffer.from(text, 'utf8'), key).toString('base64'),
  };
}

/** Signatures a trust root remembers as verified (oldest forgotten first). */
const VERIFIED_MAX = 20_000;

/** Builds a trust root; every entry is checked (a bad one is named) and its id derived. */
export function createTrustRoot(inputs: readonly TrustedKeyInput[]): TrustRoot {
  if (!Array.isArray(inputs))
    throw errors.constraint('trust keys must be a list of { publicKey, principal?, notAfter? }');
  const byId = new Map<string, { entry: TrustedKey; object: KeyObject }>();
  const verified = new Set<string>();
  inputs.forEach((input: TrustedKeyInput, i) => {
    if (!isPlainObject(input) || typeof input.publicKey !== 'string') {
      throw errors.constraint(`trust key #${i + 1} needs a publicKey (PEM or base64 SPKI DER)`);
    }
    const object = publicKeyObject(input.publicKey, `trust key #${i + 1}`);
    const publicKey = spkiBase64(object);
    const keyId = keyIdOf(publicKey);
    if (input.keyId !== undefined && input.keyId !== keyId) {
      throw errors.constraint(`trust key #${i + 1}: keyId ${input.keyId} is not this key's fingerprint ${keyId}`);
    }
    if (
      input.notAfter !== undefined &&
      (typeof input.notAfter !== 'string' || Number.isNaN(Date.parse(input.notAfter)))
    ) {
      throw errors.constraint(`trust key #${i + 1}: notAfter must be an ISO-8601 time`);
    }
    if (input.principal !== undefined && (typeof input.principal !== 'string' || input.principal.length === 0)) {
      throw errors.constraint(`trust key #${i + 1}: principal must be a non-empty string`);
    }
    const entry: TrustedKey = {
      keyId,
      publicKey,
      ...(input.principal !== undefined ? { principal: input.principal } : {}),
      ...(input.notAfter !== undefined ? { notAfter: new Date(input.notAfter).toISOString() } : {}),
    };
    // The first entry of a key wins (a later duplicate, e.g. the signer's own key, adds nothing).
    if (!byId.has(keyId)) byId.set(keyId, { entry, object });
  });
  return {
    keys: [...byId.values()].map((k) => k.entry),
    key: (keyId) => byId.get(keyId)?.entry,
    check(keyId, text, signature, at) {
      const found = byId.get(keyId);
      if (!found) return 'unknown-key';
      if (found.entry.notAfter !== undefined && (at === undefined || Date.parse(at) > Date.parse(found.entry.notAfter)))
        return 'expired-key';
      // Every client of a process (the agent serves several) checks the same versions: a signature
      // verified once over exactly this text by this key is not verified again.
      const memo = `${keyId}\n${signature}\n${text}`;
      if (verified.has(memo)) return 'ok';
      let ok = false;
      try {
        ok = verify(null, Buffer.from(text, 'utf8'), found.object, Buffer.from(signature, 'base64'));
      } catch {
        ok = false;
      }
      if (!ok) return 'bad-signature';
      if (verified.size >= VERIFIED_MAX) verified.delete(verified.values().next().value as string);
      verified.add(memo);
      return 'ok';
    },
  };
}
