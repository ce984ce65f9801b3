import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonPatchOperation } from '../src/index.js';
import { applyJsonPatch, contentView, diffViews } from '../src/service/diff.js';

interface Side {
  config: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject | null;
  deleted?: boolean;
}
const fixture = readJson('diff-rollback.json') as {
  diffs: Array<{ name: string; from: Side | null; to: Side | null; patch: JsonPatchOperation[] }>;
};

function view(side: Side | null) {
  if (side === null) return contentView(undefined);
  return contentView({
    config: side.config,
    overrides: side.overrides ?? {},
    rollout: side.rollout ?? null,
    metadata: side.deleted ? { deleted: true } : {},
  });
}

const sorted = (ops: readonly JsonPatchOperation[]) => ops.map((o) => JSON.stringify(o)).sort();

describe('diff between versions (RFC 6902)', () => {
  it.each(fixture.diffs)('$name', ({ from, to, patch }) => {
    const a = view(from);
    const b = view(to);
    const actual = diffViews(a, b);
    expect(sorted(actual)).toEqual(sorted(patch));
    // The patch really turns one into the other, and the inputs are left alone.
    expect(applyJsonPatch(a as never, actual)).toEqual(b);
    expect(view(from)).toEqual(a);
  });

  it('reads version 0 as an empty tombstone', () => {
    expect(contentView(undefined)).toEqual({ config: {}, overrides: {}, rollout: null, deleted: true });
  });

  it('refuses a patch that does not apply', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }])).toThrow();
  });
});
