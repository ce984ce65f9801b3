import { refKey } from '../model/ref.js';
import type { Head } from '../model/version.js';
import type { HeadChange } from './config-store.js';

/** The frozen watch event for `head`. Every store emits through this, so events look alike. */
export function headChange(head: Head, initial: boolean): HeadChange {
  return Object.freeze({
    ref: head.ref,
    key: refKey(head.ref),
    version: head.version,
    checksum: head.checksum,
    initial,
  });
}

/** Orders heads by their `<scope>/<id>` key (the order `listHeads` returns). */
export function compareHeads(a: Head, b: Head): number {
  const ka = refKey(a.ref);
  const kb = refKey(b.ref);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
