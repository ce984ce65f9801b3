/**
 * Diff and rollback through the service (fixture-driven), on memory and on the real PostgreSQL.
 */
import { type JsonObject, parseRef } from '@summit-config/core';
import { actors } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { closeShared, harness } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

interface Step {
  op: 'set' | 'delete' | 'rollback';
  config?: JsonObject;
  overrides?: Record<string, JsonObject>;
  rollout?: JsonObject;
  to?: number;
}
interface Case {
  name: string;
  steps: Step[];
  expect: {
    version: number;
    error?: string;
    config?: JsonObject;
    overrides?: Record<string, JsonObject>;
    rollout?: JsonObject;
    metadata?: JsonObject;
    message?: string;
  };
}
const fixture = readJson('diff-rollback.json') as {
  rollbacks: Case[];
};

const REF = 'app:billing/feature';

describe.each(['memory', 'postgres'] as const)('rollback (%s)', (backing) => {
  it.each(fixture.rollbacks)('$name', async ({ steps, expect: want }) => {
    const h = await harness(backing, { environments: [{ name: 'staging', production: false }] });
    try {
      const svc = h.service;
      let error: string | undefined;
      for (const step of steps) {
        const run =
          step.op === 'set'
            ? svc.set(actors.alice, {
                ref: REF,
                config: step.config ?? {},
                overrides: step.overrides,
                rollout: step.rollout,
              })
            : step.op === 'delete'
              ? svc.delete(actors.alice, REF)
              : svc.rollback(actors.alice, REF, step.to === undefined ? {} : { to: step.to });
        const code = await codeOf(run);
        if (code !== 'resolved') error = code;
      }
      const head = await svc.get(actors.reader, REF);
      expect(head?.version ?? 0).toBe(want.version);
      if (want.error) {
        expect(error).toBe(want.error);
        return;
      }
      expect(error).toBeUndefined();
      expect(head).toMatchObject({
        config: want.config,
        overrides: want.overrides,
        rollout: want.rollout ?? null,
        metadata: want.metadata,
        createdBy: 'alice',
      });
      if (want.message !== undefined) expect(head?.message).toBe(want.message);
      // History only moves forward: every earlier version is still there, unchanged.
      expect(await h.store.listVersions(parseRef(REF))).toEqual(Array.from({ length: want.version }, (_, i) => i + 1));
      const [event] = await svc.audit(actors.root, { action: 'config.rollback' });
      expect(event).toMatchObject({ ref: REF, version: want.version, actor: 'alice' });
    } finally {
      await h.close();
    }
  });

  it('diffs any two versions, from 0, and to the head by default', async () => {
    const h = await harness(backing, { environments: [{ name: 'staging', production: false }] });
    try {
      const svc = h.service;
      await svc.set(actors.alice, { ref: REF, config: { a: 1, b: [1, 2] } });
      await svc.set(actors.alice, { ref: REF, config: { a: 2, b: [1, 2] }, overrides: { staging: { a: 3 } } });
      await svc.delete(actors.alice, REF);
      expect((await svc.diff(actors.reader, REF, 1, 2)).patch).toEqual(
        expect.arrayContaining([
          { op: 'replace', path: '/config/a', value: 2 },
          { op: 'add', path: '/overrides/staging', value: { a: 3 } },
        ]),
      );
      const toHead = await svc.diff(actors.reader, REF, 2);
      expect(toHead).toMatchObject({ ref: REF, from: 2, to: 3 });
      expect(toHead.patch).toContainEqual({ op: 'replace', path: '/deleted', value: true });
      expect((await svc.diff(actors.reader, REF, 0, 1)).patch).toContainEqual({
        op: 'add',
        path: '/config/b',
        value: [1, 2],
      });
      expect((await svc.diff(actors.reader, REF, 2, 2)).patch).toEqual([]);
      expect(await codeOf(svc.diff(actors.reader, REF, 1, 9))).toBe('NOT_FOUND');
      expect(await codeOf(svc.diff(actors.reader, REF, -1, 1))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(svc.diff(actors.reader, REF, 1.5 as number, 2))).toBe('CONSTRAINT_VIOLATION');
      const history = await svc.history(actors.reader, REF);
      expect(history.map((v) => [v.version, v.deleted, v.createdBy])).toEqual([
        [3, true, 'alice'],
        [2, false, 'alice'],
        [1, false, 'alice'],
      ]);
      expect((await svc.history(actors.reader, REF, { limit: 1 })).map((v) => v.version)).toEqual([3]);
    } finally {
      await h.close();
    }
  });
});
