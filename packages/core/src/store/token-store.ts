/**
 * The API token storage contract (`TokenStore`): what the config server's token authenticator
 * (`packages/server/src/tokens/authenticator.ts`) runs on. Like every persistence contract it lives
 * here; the implementations (memory and SQL over the one SQL seam) live in `packages/server/src/tokens`,
 * and each runs the suite in `@summit-config/test-support/contract/token-store-contract`.
 *
 * A token is `sct_<id>_<secret>` (`format.ts`): the `id` is public (lists, the audit trail, the
 * actor's credential `token:<id>`); the whole token is shown once, by `create`, and only its SHA-256
 * is stored. Every method validates its input first: bad input is `CONSTRAINT_VIOLATION` and nothing
 * is written. A store that cannot reach its storage throws `BACKEND_UNAVAILABLE` (never "unknown
 * token"); a closed store rejects every call with `CLOSED`.
 */

/** One API token as stored and listed: never its secret, never its hash. Times are ISO 8601 (UTC, ms). */
export interface TokenRecord {
  /** The public id: 12 characters of lowercase base32 (`a-z`, `2-7`), the `<id>` of `sct_<id>_<secret>`. */
  readonly id: string;
  /** What the token is for, 1-128 characters. */
  readonly name: string;
  /** The actor id the token acts as (recorded in versions and the audit trail). */
  readonly owner: string;
  /** The roles the token's actor holds (RBAC role names), at least one. */
  readonly roles: readonly string[];
  readonly createdAt: string;
  /** From this instant on the token no longer verifies. Omitted: it never expires. */
  readonly expiresAt?: string;
  /**
   * When the token last verified, to within {@link LAST_USED_RESOLUTION_MS} (it is written at most
   * once per that interval per token, so reads stay cheap). Omitted: never used.
   */
  readonly lastUsedAt?: string;
  /** When the token was revoked; from then on it never verifies. */
  readonly revokedAt?: string;
  /** The actor id that revoked it (set together with `revokedAt`). */
  readonly revokedBy?: string;
}

/** What `create` takes. Unknown fields are refused (`CONSTRAINT_VIOLATION` naming the field). */
export interface CreateTokenInput {
  /** What the token is for: 1-128 characters, no control characters. */
  name: string;
  /** The actor id the token acts as: 1-256 characters, well-formed, no NUL (as an RBAC actor id). */
  owner: string;
  /** Role names (`[A-Za-z0-9_.-]{1,128}`), 1-64 of them; duplicates are dropped, order kept. */
  roles: readonly string[];
  /** A `Date` or an ISO 8601 string, strictly in the future by the store's clock. Omitted: never expires. */
  expiresAt?: Date | string;
}

/** What `create` returns: the secret, once, and the stored record. */
export interface CreatedToken {
  /** The whole token, `sct_<id>_<secret>`: shown to its holder once, never stored, never retrievable again. */
  readonly token: string;
  readonly record: TokenRecord;
}

/** What `list` takes. */
export interface ListTokensFilter {
  /** Only tokens of this owner (an actor id). Omitted: every token. */
  owner?: string;
}

/** What the stores report about themselves. */
export interface TokenStoreCapabilities {
  /** Tokens survive a restart and are shared by every process on the same storage (SQL: yes; memory: no). */
  readonly durable: boolean;
}

/** API tokens: create, list, get, revoke, verify. */
export interface TokenStore {
  /** The storage, for errors and logs: `memory`, `postgres` or `pglite`. */
  readonly name: string;
  readonly capabilities: TokenStoreCapabilities;

  /**
   * Creates a token. Returns the token (its secret, shown once) and its record; only the token's
   * SHA-256 is stored. Bad input: `CONSTRAINT_VIOLATION`, nothing written.
   */
  create(input: CreateTokenInput): Promise<CreatedToken>;

  /**
   * Every token (revoked and expired ones included), oldest first (then by id); with `owner`, only
   * that owner's. Records only: never a secret or a hash.
   */
  list(filter?: ListTokensFilter): Promise<TokenRecord[]>;

  /** The token with this id, or `undefined` when there is none (a string that is no token id included). */
  get(id: string): Promise<TokenRecord | undefined>;

  /**
   * Revokes the token with this id, as actor `by`: from the store's next `verify` on, in every
   * process on the same storage, it no longer verifies. Returns the record. Revoking a revoked token
   * changes nothing (the first `revokedAt` and `revokedBy` stay) and returns it. No such token:
   * `NOT_FOUND`; `by` not an actor id: `CONSTRAINT_VIOLATION`.
   */
  revoke(id: string, by: string): Promise<TokenRecord>;

  /**
   * The record of the token `token` (the whole `sct_<id>_<secret>`) when it exists, is not revoked
   * and has not expired; `undefined` otherwise (a malformed token included). Reads the storage on
   * every call (no cache), compares hashes in constant time, and records `lastUsedAt` when the last
   * record of it is older than {@link LAST_USED_RESOLUTION_MS}; the record returned carries it.
   */
  verify(token: string): Promise<TokenRecord | undefined>;

  /** Releases the store (not a database it was given). Idempotent; later calls reject with `CLOSED`. */
  close(): Promise<void>;
}

/** Options every token store takes. */
export interface TokenStoreCommonOptions {
  /**
   * The clock, in milliseconds since the epoch: creation, expiry, revocation and last-use times.
   * Default `Date.now`. Replicas compare expiry with their own clocks.
   */
  now?: () => number;
}

/** How often at most `lastUsedAt` is written per token, in milliseconds: one minute. */
export const LAST_USED_RESOLUTION_MS = 60_000;
