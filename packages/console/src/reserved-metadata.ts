/**
 * Metadata keys the change service writes itself (a write that sends one is refused), so the editor
 * does not offer them. The list is core's `RESERVED_METADATA` (the console cannot bundle core, which
 * needs Node): `packages/server/test/console/schema-check.test.ts` checks that the two agree.
 */
export const RESERVED_METADATA: ReadonlySet<string> = new Set([
  'deleted',
  'changeRequest',
  'emergency',
  'rollbackOf',
  'restoredFrom',
  'unsynced',
  'signature',
  'approvedBy',
  'conflict',
  'resignOf',
]);
