/**
 * The HTTP rules for an app served with `secrets: resolve`: its values only with a token or over the
 * Unix socket, never stored by a cache (`Cache-Control: no-store`), an entity tag that is a keyed
 * digest (nothing to test guesses against), and an explain answer that shows the references the
 * values came from, never the values.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Explain, JsonObject, JsonValue, ResolveDetails } from '@summit-config/core';
import { canonicalJson } from '@summit-config/core/internal';

/** This process's key for the entity tags of resolved values (never leaves memory). */
const TAG_KEY = randomBytes(32);

/**
 * `details` with its value replaced by a keyed digest of it: an entity tag made from this changes
 * whenever the value does, and reveals nothing of it. Undefined values stay undefined.
 */
export function maskedDetails(details: ResolveDetails): ResolveDetails {
  if (details.value === undefined) return details;
  const digest = createHmac('sha256', TAG_KEY).update(canonicalJson(details.value)).digest('base64url');
  return { ...details, value: { digest } };
}

/** Unescapes one JSON pointer segment (`~1` is `/`, `~0` is `~`). */
function unescapeSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The value as the layers hold it, rebuilt from `explain` (every leaf's pointer and stored value):
 * secret references stay references. For an app that resolves secrets this is what explain shows
 * in place of the resolved value. Arrays and empty objects are leaves in `explain`, so they come
 * back whole.
 */
export function layeredValue(explain: Explain | undefined): JsonObject {
  const root: JsonObject = {};
  for (const [pointer, entry] of Object.entries(explain ?? {})) {
    if (pointer === '') continue;
    const path = pointer.slice(1).split('/').map(unescapeSegment);
    let node: JsonObject = root;
    for (const segment of path.slice(0, -1)) {
      const next = node[segment];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) {
        node[segment] = {};
      }
      node = node[segment] as JsonObject;
    }
    node[path.at(-1) as string] = entry.value as JsonValue;
  }
  return root;
}
