/**
 * Input checks every token store runs before it writes anything: bad input is `CONSTRAINT_VIOLATION`
 * naming the field. Also the record helpers the stores share (copies, expiry, last use).
 */

import { ConfigError } from '@summit-config/core';
import { isPlainObject } from '@summit-config/core/internal';
import { isTokenId } from './format.js';
import { type CreateTokenInput, LAST_USED_RESOLUTION_MS, type ListTokensFilter, type TokenRecord } from './types.js';

function constraint(message: string): ConfigError<'CONSTRAINT_VIOLATION'> {
  return new ConfigError('CONSTRAINT_VIOLATION', message);
}

/** A role name, as RBAC defines roles. */
const ROLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_ROLES = 64;
/** C0 and C1 control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: this pattern exists to refuse them
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** The last instant this package accepts as an expiry: timestamps PostgreSQL and `Date` both hold. */
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Whether `value` is an actor id: a well-formed string of 1-256 characters without NUL (as RBAC's `checkActor`). */
export function isActorId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 256 &&
    !value.includes('\u0000') &&
    value.isWellFormed()
  );
}

function checkActorId(value: unknown, field: string): string {
  if (!isActorId(value)) {
    throw constraint(`token ${field} must be an actor id: a well-formed string of 1-256 characters without NUL`);
  }
  return value;
}

/** A checked `create` input: `expiresAt` as epoch milliseconds. */
export interface CheckedCreate {
  name: string;
  owner: string;
  roles: string[];
  expiresAt: number | undefined;
}

const CREATE_FIELDS = new Set(['name', 'owner', 'roles', 'expiresAt']);

/** Checks a `create` input against the clock `now` (milliseconds). */
export function checkCreate(input: unknown, now: number): CheckedCreate {
  if (!isPlainObject(input)) throw constraint('token input must be an object { name, owner, roles, expiresAt? }');
  for (const key of Object.keys(input)) {
    if (!CREATE_FIELDS.has(key))
      throw constraint(`unknown token field "${key}" (expected name, owner, roles, expiresAt)`);
  }
  const { name, owner, roles, expiresAt } = input as Partial<CreateTokenInput>;
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > 128 ||
    !name.isWellFormed() ||
    CONTROL.test(name)
  ) {
    throw constraint('token name must be a well-formed string of 1-128 characters without control characters');
  }
  checkActorId(owner, 'owner');
  if (!Array.isArray(roles) || roles.length === 0 || roles.length > MAX_ROLES) {
    throw constraint(`token roles must be a list of 1-${MAX_ROLES} role names`);
  }
  roles.forEach((role: unknown, i) => {
    if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
      throw constraint(`token roles[${i}] must be a role name matching [A-Za-z0-9_.-]{1,128}`);
    }
  });
  return {
    name,
    owner: owner as string,
    roles: [...new Set(roles as string[])],
    expiresAt: checkExpiry(expiresAt, now),
  };
}

function checkExpiry(value: unknown, now: number): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'string' && value.length <= 64 && /^\d{4}-\d{2}-\d{2}T/.test(value)) ms = Date.parse(value);
  else throw constraint('token expiresAt must be a Date or an ISO 8601 date-time string');
  if (!Number.isFinite(ms) || ms > LATEST)
    throw constraint('token expiresAt is not a valid date before the year 10000');
  if (ms <= now) throw constraint('token expiresAt must be in the future');
  return ms;
}

/** Checks a `list` filter; returns the owner to filter by, if any. */
export function checkListFilter(filter: unknown): string | undefined {
  if (filter === undefined) return undefined;
  if (!isPlainObject(filter)) throw constraint('token list filter must be an object { owner? }');
  for (const key of Object.keys(filter)) {
    if (key !== 'owner') throw constraint(`unknown token list filter "${key}" (expected owner)`);
  }
  const { owner } = filter as ListTokensFilter;
  return owner === undefined ? undefined : checkActorId(owner, 'list filter owner');
}

/**
 * Checks an id argument: a non-string is `CONSTRAINT_VIOLATION`; returns whether it can be a token
 * id at all (a string that cannot is simply no token).
 */
export function checkIdArgument(id: unknown): boolean {
  if (typeof id !== 'string') throw constraint('token id must be a string');
  return isTokenId(id);
}

/** Checks `revoke`'s `by`. */
export function checkRevoker(by: unknown): string {
  return checkActorId(by, 'revokedBy');
}

/** `ms` as the ISO 8601 string records carry. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Whether `record` verifies at `now`: not revoked, not expired (expired from `expiresAt` on). */
export function isLive(record: TokenRecord, now: number): boolean {
  return record.revokedAt === undefined && (record.expiresAt === undefined || Date.parse(record.expiresAt) > now);
}

/** Whether `lastUsedAt` is due for a write at `now`. */
export function lastUseDue(record: TokenRecord, now: number): boolean {
  return record.lastUsedAt === undefined || now - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS;
}

/** A copy of a record, optional fields present only when set, roles copied. */
export function copyRecord(record: TokenRecord): TokenRecord {
  const out: {
    -readonly [K in keyof TokenRecord]: TokenRecord[K];
  } = {
    id: record.id,
    name: record.name,
    owner: record.owner,
    roles: [...record.roles],
    createdAt: record.createdAt,
  };
  if (record.expiresAt !== undefined) out.expiresAt = record.expiresAt;
  if (record.lastUsedAt !== undefined) out.lastUsedAt = record.lastUsedAt;
  if (record.revokedAt !== undefined) out.revokedAt = record.revokedAt;
  if (record.revokedBy !== undefined) out.revokedBy = record.revokedBy;
  return out;
}

/** Orders records oldest first, then by id. */
export function byCreation(a: TokenRecord, b: TokenRecord): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
