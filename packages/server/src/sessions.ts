/**
 * The web console's sessions (issue 19). Signing in to the console means giving the server an API
 * credential once (`POST /api/v1/session` with `Authorization: Bearer <token>`); the browser then
 * holds only an HttpOnly cookie with a random session id, and the server keeps the session.
 *
 * What is kept, and where: a {@link SessionStore} maps SHA-256(session id) to a record whose
 * credential is sealed (AES-256-GCM) under a key derived (HKDF-SHA256) from the session id itself.
 * The store therefore holds neither the session id nor a usable credential: only a request carrying
 * the cookie can unseal its session. Every request made with the cookie runs the server's
 * authenticators on the unsealed credential, so revoking or expiring the API token ends its console
 * sessions at the next request. The CSRF token is derived from the session id (HMAC-SHA256), so it
 * is tied to the session and needs no storage; the console sends it in `X-CSRF-Token` on every
 * state-changing request. Signing out deletes the record: the cookie no longer works anywhere.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { errors } from '@summit-config/core/internal';

/** What a session store keeps of one session. Nothing in it opens the session without the cookie. */
export interface SessionRecord {
  /** SHA-256 of the session id, hex: the key. */
  readonly idHash: string;
  /** The credential (`Authorization` header value), sealed under a key derived from the session id (base64). */
  readonly sealed: string;
  /** The principal that signed in (for listing and the audit of sign-out; not trusted for access). */
  readonly principal: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds; the session is unknown from then on. */
  readonly expiresAt: number;
  /**
   * Epoch milliseconds: the last request seen with the session (at most a touch interval old, see
   * {@link SessionManager.idleTimeoutMs}). A record without it was last seen at `createdAt`.
   */
  readonly lastSeenAt?: number;
}

/**
 * Where sessions live. The default, {@link createMemorySessionStore}, is per process: behind a load
 * balancer with several replicas, give every replica one shared store, `createSqlSessionStore`
 * (`sessions-sql.ts`) over the token store's database (docs/console.md).
 */
export interface SessionStore {
  /** Keeps a new session. Fails (`BACKEND_UNAVAILABLE`, ...) rather than dropping it silently. */
  put(record: SessionRecord): Promise<void>;
  /** The session with this id hash, `undefined` when unknown or expired. */
  get(idHash: string): Promise<SessionRecord | undefined>;
  /** Ends a session; `true` when one was removed. Idempotent. */
  delete(idHash: string): Promise<boolean>;
  /** Records a request seen with the session at `at` (epoch ms): the idle timeout counts from it. */
  touch(idHash: string, at: number): Promise<void>;
}

export interface MemorySessionStoreOptions {
  /** Most sessions kept; over it expired sessions go first, then the oldest. Default 10 000. */
  maxSessions?: number;
  /** The clock, epoch milliseconds (default `Date.now`), for tests. */
  clock?: () => number;
}

export const DEFAULT_MAX_SESSIONS = 10_000;
/** A console session lasts 8 hours from sign-in (the API token's own expiry still applies). */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** A console session ends after 30 minutes without a request. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;

/** Sessions in this process's memory: lost on restart, not shared between replicas. */
export function createMemorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  const max = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  if (!Number.isSafeInteger(max) || max < 1) {
    throw errors.constraint('memory session store option maxSessions must be a positive integer');
  }
  const clock = options.clock ?? Date.now;
  // Insertion order is creation order: the first entry is the oldest.
  const sessions = new Map<string, SessionRecord>();
  const sweep = (now: number) => {
    for (const [key, s] of sessions) if (s.expiresAt <= now) sessions.delete(key);
  };
  return {
    async put(record) {
      const now = clock();
      if (sessions.size >= max) sweep(now);
      while (sessions.size >= max) {
        const oldest = sessions.keys().next().value as string;
        sessions.delete(oldest);
      }
      sessions.set(record.idHash, record);
    },
    async get(idHash) {
      const s = sessions.get(idHash);
      if (s === undefined) return undefined;
      if (s.expiresAt <= clock()) {
        sessions.delete(idHash);
        return undefined;
      }
      return s;
    },
    async delete(idHash) {
      return sessions.delete(idHash);
    },
    async touch(idHash, at) {
      const s = sessions.get(idHash);
      if (s !== undefined) sessions.set(idHash, { ...s, lastSeenAt: Math.max(at, s.lastSeenAt ?? s.createdAt) });
    },
  };
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const HKDF_INFO = 'summit-config console session v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function idBytes(sessionId: string): Buffer {
  return Buffer.from(sessionId, 'base64url');
}

export function sessionIdHash(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex');
}

function sealingKey(sessionId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', idBytes(sessionId), Buffer.alloc(0), HKDF_INFO, 32));
}

function seal(sessionId: string, credential: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(sessionId), iv);
  const body = Buffer.concat([cipher.update(credential, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

function unseal(sessionId: string, sealed: string): string | undefined {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(sessionId), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The CSRF token of a session: HMAC-SHA256 of a fixed label under the session id, base64url. */
export function csrfTokenOf(sessionId: string): string {
  return createHmac('sha256', idBytes(sessionId)).update('csrf').digest('base64url');
}

export interface OpenSession {
  readonly id: string;
  /** The `Authorization` header value the session stands for. */
  readonly credential: string;
  readonly csrfToken: string;
  readonly expiresAt: number;
  /** The principal that signed in. */
  readonly principal: string;
}

/** Sessions over a store: creating, opening (cookie value to credential) and ending them. */
export interface SessionManager {
  /** The cookie's name: `__Host-summit_session` when the cookie is `Secure`, else `summit_session`. */
  readonly cookieName: string;
  readonly secure: boolean;
  readonly ttlMs: number;
  /**
   * A session with no request for this long ends (ms). A request refreshes it when the last one
   * recorded is older than a twentieth of it (or a minute), so a busy session costs no write per
   * request and the idle time is exact to that margin.
   */
  readonly idleTimeoutMs: number;
  create(credential: string, principal: string): Promise<OpenSession>;
  /**
   * The session of a cookie value, or `undefined` (malformed, unknown, expired, idle for
   * `idleTimeoutMs`, not unsealable). An idle session is deleted.
   */
  open(sessionId: string): Promise<OpenSession | undefined>;
  end(sessionId: string): Promise<boolean>;
  /** Whether a CSRF token given with a request is the session's (constant time). */
  csrfMatches(session: OpenSession, given: string | undefined): boolean;
}

export function createSessionManager(options: {
  store: SessionStore;
  ttlMs: number;
  idleTimeoutMs?: number;
  secure: boolean;
  clock?: () => number;
}): SessionManager {
  const { store, ttlMs, secure } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_SESSION_IDLE_MS;
  const touchAfterMs = Math.min(60_000, Math.floor(idleTimeoutMs / 20));
  const clock = options.clock ?? Date.now;
  return {
    cookieName: secure ? '__Host-summit_session' : 'summit_session',
    secure,
    ttlMs,
    idleTimeoutMs,
    async create(credential, principal) {
      const id = randomBytes(32).toString('base64url');
      const now = clock();
      const expiresAt = now + ttlMs;
      await store.put({
        idHash: sessionIdHash(id),
        sealed: seal(id, credential),
        principal,
        createdAt: now,
        expiresAt,
        lastSeenAt: now,
      });
      return { id, credential, csrfToken: csrfTokenOf(id), expiresAt, principal };
    },
    async open(id) {
      if (!SESSION_ID.test(id)) return undefined;
      const idHash = sessionIdHash(id);
      const record = await store.get(idHash);
      const now = clock();
      if (record === undefined || record.expiresAt <= now) return undefined;
      const credential = unseal(id, record.sealed);
      if (credential === undefined) return undefined;
      const lastSeenAt = record.lastSeenAt ?? record.createdAt;
      if (now - lastSeenAt >= idleTimeoutMs) {
        await store.delete(idHash);
        return undefined;
      }
      if (now - lastSeenAt >= touchAfterMs) await store.touch(idHash, now);
      return { id, credential, csrfToken: csrfTokenOf(id), expiresAt: record.expiresAt, principal: record.principal };
    },
    async end(id) {
      if (!SESSION_ID.test(id)) return false;
      return store.delete(sessionIdHash(id));
    },
    csrfMatches(session, given) {
      if (given === undefined) return false;
      const a = Buffer.from(session.csrfToken);
      const b = Buffer.from(given);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

/** The value of one cookie in a `Cookie` header (the first of that name), or `undefined`. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` value of a session (or of its removal when `value` is empty). */
export function sessionCookie(manager: SessionManager, value: string, maxAgeSec: number): string {
  const parts = [`${manager.cookieName}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSec}`];
  if (manager.secure) parts.push('Secure');
  return parts.join('; ');
}

const opened = new WeakMap<object, OpenSession>();

/** Set by the authentication hook when a request was authenticated by its session cookie. */
export function setSessionOf(request: object, session: OpenSession): void {
  opened.set(request, session);
}

/** The session a request was authenticated by, if it was authenticated by one. */
export function sessionOf(request: object): OpenSession | undefined {
  return opened.get(request);
}
