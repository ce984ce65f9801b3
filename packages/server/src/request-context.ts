/**
 * What a route knows of its request beyond the HTTP message: the authenticated principal (set by
 * the authentication hook), the options every service call carries, and the conditional headers
 * (`If-Match` in, `ETag` out).
 */
import type { Actor, CallOptions, ConfigVersion } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyRequest } from 'fastify';
import type { AuthResult } from './auth.js';

const authenticated = new WeakMap<FastifyRequest, AuthResult>();

export function setAuth(request: FastifyRequest, auth: AuthResult): void {
  authenticated.set(request, auth);
}

export function authOf(request: FastifyRequest): AuthResult | undefined {
  return authenticated.get(request);
}

/** The authenticated actor; every `/api/v1` route runs after the authentication hook set it. */
export function actorOf(request: FastifyRequest): Actor {
  const auth = authenticated.get(request);
  if (!auth) throw new Error('unauthenticated request reached a route');
  return auth.actor;
}

/** The options of every service call made for this request: the audit source is the API. */
export function callOptions(_request: FastifyRequest): CallOptions {
  return { source: 'api' };
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
