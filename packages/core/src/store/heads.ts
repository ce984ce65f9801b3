import { refKey } from '../model/ref.js';
import type { ConfigVersion, Head } from '../model/version.js';
import type { HeadChange } from './config-store.js';

/**
 * The frozen watch event for `head`, with its verified `document` when the store has it at hand.
 * Every store emits through this, so events look alike.
 */
export function headChange(head: Head, initial: boolean, document?: ConfigVersion): HeadChange {
  const base = { ref: head.ref, key: refKey(head.ref), version: head.version, checksum: head.checksum, initial };
  return Object.freeze(document === undefined ? base : { ...base, document });
}

/** Orders heads by their `<scope>/<id>` key (the order `listHeads` returns). */
export function compareHeads(a: Head, b: Head): number {
  const ka = refKey(a.ref);
  const kb = refKey(b.ref);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
