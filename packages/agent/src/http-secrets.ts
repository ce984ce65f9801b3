/**
 * The HTTP rules for an app served with `secrets: resolve`: its values only with a token or over the
 * Unix socket, never stored by a cache (`Cache-Control: no-store`), an entity tag that is a keyed
 * digest (nothing to test guesses against), and an explain answer that shows the references the
 * values came from, never the values.
 */
import { randomBytes } from 'node:crypto';
import type { Explain, JsonObject, JsonValue } from '@summit-config/core';

/** This process's key for the entity tags of resolved values (never leaves memory; `etagOf`'s `key`). */
export const SECRET_TAG_KEY = randomBytes(32);

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
