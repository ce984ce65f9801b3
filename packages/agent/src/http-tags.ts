/** Long-poll waits and entity tags of the agent's HTTP API. */
import { createHmac } from 'node:crypto';
import type { ResolveDetails } from '@summit-config/core';
import { canonicalJson, errors, sha256Hex } from '@summit-config/core/internal';

/** Parses a wait like `30s`, `500ms`, `2m`, or bare seconds. Throws `CONSTRAINT_VIOLATION`. */
export function parseWait(text: string): number {
  const m = /^(\d{1,9})(ms|s|m)?$/.exec(text.trim());
  if (!m) throw errors.constraint(`wait must look like 30s, 500ms or 2m, got ${JSON.stringify(text.slice(0, 40))}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

/**
 * The entity tag of a response: a digest of everything that shapes its body, so that one tag never
 * stands for two bodies: the representation (`value` or `explain`), the app, the environment, the
 * ref, the documents' checksums, the rollout outcome for the request's context, and the value itself.
 */
export function etagOf(
  details: ResolveDetails,
  shape: { kind: 'value' | 'explain'; app: string; environment: string; ref: string },
  /**
   * Digest under this key (HMAC-SHA256) instead of plain SHA-256: for values that must not be
   * guessable from their tag (resolved secrets). The tag is then this process's own.
   */
  key?: Buffer,
): string {
  const parts = [
    shape.kind,
    shape.app,
    shape.environment,
    shape.ref,
    details.checksum,
    details.ruleId ?? '',
    details.variant ?? '',
    details.value === undefined ? '' : canonicalJson(details.value),
  ];
  const text = parts.join('\u0000');
  const digest = key ? createHmac('sha256', key).update(text).digest('hex') : sha256Hex(text);
  return `"${digest.slice(0, 40)}"`;
}

export function normaliseTag(tag: string): string {
  const t = tag.trim().replace(/^W\//, '');
  return t.startsWith('"') ? t : `"${t}"`;
}

export function tagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => normaliseTag(t) === etag);
}
