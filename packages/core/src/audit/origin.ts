/**
 * The origin of an audited call (`AuditOrigin`, set by a server for the request it serves): its
 * check, and the JSON text the governance stores keep and the signature covers.
 */
import { errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';
import { AUDIT_ORIGIN_FIELDS, type AuditOrigin } from './types.js';

/** Longest origin field, in characters. */
export const MAX_ORIGIN_FIELD = 512;

/**
 * Validates an origin: an object of the known fields, each well-formed text of at most 512
 * characters without NUL. Throws `CONSTRAINT_VIOLATION` naming the field (`where` prefixes it).
 */
export function checkAuditOrigin(origin: unknown, where = 'audit origin'): AuditOrigin | undefined {
  if (origin === undefined) return undefined;
  if (!isPlainObject(origin)) throw errors.constraint(`${where} must be an object`);
  for (const [key, value] of Object.entries(origin)) {
    if (!(AUDIT_ORIGIN_FIELDS as readonly string[]).includes(key)) {
      throw errors.constraint(`${where} has an unknown field "${key}"`);
    }
    if (
      value !== undefined &&
      (typeof value !== 'string' ||
        value.length > MAX_ORIGIN_FIELD ||
        value.includes('\u0000') ||
        !value.isWellFormed())
    ) {
      throw errors.constraint(
        `${where}.${key} must be well-formed text of at most ${MAX_ORIGIN_FIELD} characters without NUL`,
      );
    }
  }
  return origin as AuditOrigin;
}

/** The stored JSON text of an origin: its fields in a fixed order, absent ones left out; null when empty. */
export function auditOriginText(origin: AuditOrigin | undefined): string | null {
  if (origin === undefined) return null;
  const out: Record<string, string> = {};
  for (const field of AUDIT_ORIGIN_FIELDS) {
    const value = origin[field];
    if (value !== undefined) out[field] = value;
  }
  return Object.keys(out).length === 0 ? null : JSON.stringify(out);
}
