/**
 * What a route knows of its request beyond the HTTP message: the authenticated principal (set by
 * the authentication hook), the options every service call carries, and the conditional headers
 * (`If-Match` in, `ETag` out).
 */
import type { Actor, CallOptions, ConfigVersion } from '@summit-config/core';
import { type AuditOrigin, errors } from '@summit-config/core/internal';
import type { FastifyRequest } from 'fastify';
import type { AuthResult } from './auth.js';

const authenticated = new WeakMap<FastifyRequest, AuthResult>();

export function setAuth(request: FastifyRequest, auth: AuthResult): void {
  authenticated.set(request, auth);
}

export function authOf(request: FastifyRequest): AuthResult | undefined {
  return authenticated.get(request);
}

/** Longest origin field the audit trail keeps (core's `MAX_ORIGIN_FIELD`); longer values are cut. */
const ORIGIN_FIELD_MAX = 512;

function originText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Well-formed, without NUL, at most the field limit: a hostile header is recorded, not refused.
  const clean = value.replaceAll('\u0000', '');
  return (clean.length > ORIGIN_FIELD_MAX ? clean.slice(0, ORIGIN_FIELD_MAX) : clean).toWellFormed();
}

/** Where a request came from, as the audit trail records it. */
export function originOf(request: FastifyRequest, auth: AuthResult): AuditOrigin {
  const userAgent = request.headers['user-agent'];
  const origin: { -readonly [K in keyof AuditOrigin]: AuditOrigin[K] } = {
    method: auth.method,
    remoteAddress: originText(request.ip),
    requestId: originText(request.id),
  };
  if (auth.tokenId !== undefined) origin.tokenId = originText(auth.tokenId);
  if (typeof userAgent === 'string') origin.userAgent = originText(userAgent);
  return origin;
}

const actors = new WeakMap<FastifyRequest, Actor>();

/**
 * The authenticated actor, with the request's origin (method, token id, remote address, user agent,
 * request id) that the change service records in the audit trail. Every `/api/v1` route runs after
 * the authentication hook set it.
 */
export function actorOf(request: FastifyRequest): Actor {
  const kept = actors.get(request);
  if (kept) return kept;
  const auth = authenticated.get(request);
  if (!auth) throw new Error('unauthenticated request reached a route');
  const actor: Actor = { ...auth.actor, origin: originOf(request, auth) };
  actors.set(request, actor);
  return actor;
}

/** The options of every service call made for this request: the audit source is the API. */
export function callOptions(_request: FastifyRequest): CallOptions {
  return { source: 'api' };
}

const signals = new WeakMap<FastifyRequest, AbortSignal>();

/** Set by the request timeout (`limits.ts`): aborted when the handler runs past `requestTimeoutMs`. */
export function setSignal(request: FastifyRequest, signal: AbortSignal): void {
  signals.set(request, signal);
}

/**
 * The options of a service call that accepts an `AbortSignal` (`set`, `delete`, `rollback`): the
 * call options and the request's timeout signal.
 */
export function writeCallOptions(request: FastifyRequest): CallOptions & { signal?: AbortSignal } {
  const signal = signals.get(request);
  return signal === undefined ? callOptions(request) : { ...callOptions(request), signal };
}

/** The `ETag` of a version: its number and checksum (a strong validator). */
export function etagOf(doc: Pick<ConfigVersion, 'version' | 'checksum'>): string {
  return `"${doc.version}:${doc.checksum}"`;
}

/**
 * `If-Match` as the expected head version: `"<version>"` or an `ETag` this server gave
 * (`"<version>:<checksum>"`); `"0"` means the ref must not exist yet. Absent: undefined. Anything
 * else (a list, `*`, a weak tag) is `CONSTRAINT_VIOLATION`.
 */
export function expectedVersionOf(request: FastifyRequest): number | undefined {
  const raw = request.headers['if-match'];
  if (raw === undefined) return undefined;
  const m = /^\s*"(\d{1,15})(?::[0-9a-f]{64})?"\s*$/.exec(Array.isArray(raw) ? raw.join(',') : raw);
  if (!m) throw errors.constraint('If-Match must be one strong tag: "<version>" or an ETag this server gave');
  return Number(m[1]);
}

export function hasIfMatch(request: FastifyRequest): boolean {
  return request.headers['if-match'] !== undefined;
}
