/**
 * The token format, `sct_<id>_<secret>`, and its hash:
 *
 * - `id`: 12 characters of lowercase RFC 4648 base32 (`a-z`, `2-7`; 60 random bits), public: the
 *   lookup key, shown in lists and the audit trail;
 * - `secret`: 32 random bytes, base64url without padding (43 characters);
 * - stored: the SHA-256 of the whole token, in hex. A presented token is hashed and compared with
 *   the stored hash by `timingSafeEqual`, never with `===`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What every API token starts with (and what the authenticator recognises as its own). */
export const TOKEN_PREFIX = 'sct_';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const ID_PATTERN = /^[a-z2-7]{12}$/;
const TOKEN_PATTERN = /^sct_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
/** `sct_` + id + `_` + secret. */
export const TOKEN_LENGTH = TOKEN_PREFIX.length + ID_LENGTH + 1 + 43;

/** A new random token id. */
export function newTokenId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  // One random byte per character, 5 bits of each (32 divides 256: no bias).
  for (const byte of bytes) id += BASE32[byte & 31];
  return id;
}

/** A new token with id `id`: `sct_<id>_<32 random bytes, base64url>`. */
export function newToken(id: string): string {
  return `${TOKEN_PREFIX}${id}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/** Whether `value` has the shape of a token id. */
export function isTokenId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** The id of a well-formed token, or `undefined` when `token` is not one. */
export function parseToken(token: unknown): { id: string } | undefined {
  if (typeof token !== 'string' || token.length !== TOKEN_LENGTH) return undefined;
  const match = TOKEN_PATTERN.exec(token);
  return match ? { id: match[1] as string } : undefined;
}

/** The stored form of a token: the SHA-256 of the whole token, lowercase hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const HEX_HASH = /^[0-9a-f]{64}$/;
/** Compared against when a stored hash is missing or damaged, so that every check does the same work. */
const NO_HASH = Buffer.alloc(32);

/**
 * Whether `token` hashes to `storedHash` (hex), compared in constant time (`timingSafeEqual` on the
 * two 32-byte digests). `storedHash` undefined (no such id) or damaged: false, after the same work.
 */
export function tokenMatches(token: string, storedHash: string | undefined): boolean {
  const presented = createHash('sha256').update(token, 'utf8').digest();
  const valid = storedHash !== undefined && HEX_HASH.test(storedHash);
  const stored = valid ? Buffer.from(storedHash, 'hex') : NO_HASH;
  return timingSafeEqual(presented, stored) && valid;
}
