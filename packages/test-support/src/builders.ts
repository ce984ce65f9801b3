/** Builders of the values tests pass around: actors, migration records, master keys. */
import { randomBytes } from 'node:crypto';
import type { Actor, JsonObject } from '@summit-config/core';
import type { MigrationRecord, MigrationRefRecord } from '@summit-config/core/migrations';

/**
 * The people and processes of the service tests (the roles are the built-in ones unless a test's
 * RBAC says otherwise; `root` gets its role from a binding).
 */
export const actors = {
  root: { id: 'root' } as Actor,
  alice: { id: 'alice', roles: ['config-admin'] } as Actor,
  bob: { id: 'bob', roles: ['config-admin'] } as Actor,
  carol: { id: 'carol', roles: ['config-admin'] } as Actor,
  dave: { id: 'dave', roles: ['sre'] } as Actor,
  reader: { id: 'rita', roles: ['config-reader'] } as Actor,
  secrets: { id: 'sam', roles: ['secrets-admin'] } as Actor,
  agent: { id: 'agent', roles: ['agent'] } as Actor,
  nobody: { id: 'nobody', roles: [] } as Actor,
};

/** A migration's record (`m1`, run 1, running since 2030-01-01), with `over` on top. */
export function migrationRecord(over: Partial<MigrationRecord> = {}): MigrationRecord {
  return {
    name: 'm1',
    version: '1',
    checksum: 'a'.repeat(64),
    kind: 'data',
    description: '',
    dependencies: [],
    status: 'running',
    run: 1,
    appliedBy: 'root',
    startedAt: '2030-01-01T00:00:00.000Z',
    ...over,
  };
}

/** The record of one ref `m1` run 1 applied (version 1 to 2), with `over` on top. */
export function migrationRefRecord(over: Partial<MigrationRefRecord> = {}): MigrationRefRecord {
  return {
    migration: 'm1',
    run: 1,
    ref: 'global/x',
    state: 'applied',
    beforeVersion: 1,
    beforeChecksum: 'b'.repeat(64),
    beforeContent: 'c'.repeat(64),
    afterVersion: 2,
    recordedAt: '2030-01-01T00:00:00.000Z',
    ...over,
  };
}

/** A random master key as base64, hex and bytes. */
export function masterKey(): { base64: string; hex: string; bytes: Buffer } {
  const bytes = randomBytes(32);
  return { base64: bytes.toString('base64'), hex: bytes.toString('hex'), bytes };
}

/**
 * A boolean flag (`on`/`off`, default `off`) that is on for members of `group` (rule `<group>`),
 * then for `bps` basis points of the rest (rule `ramp`).
 */
export function groupThenRampFlag(
  group: string,
  bps: number,
): {
  variants: { on: boolean; off: boolean };
  defaultVariant: string;
  rules: Array<{ id: string; when?: { groups: string[] }; variant: string; bps?: number }>;
} {
  return {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    rules: [
      { id: group, when: { groups: [group] }, variant: 'on' },
      { id: 'ramp', variant: 'on', bps },
    ],
  };
}

/** A 50/50 split between two variants. */
export function evenSplit(a: string, b: string): Array<{ variant: string; weight: number }> {
  return [
    { variant: a, weight: 5000 },
    { variant: b, weight: 5000 },
  ];
}

/** An A/B rollout rule `id` over `[name, weight, patch]` variants (patch default `{}`). */
export function abRule(
  id: string,
  variants: Array<[name: string, weight: number, patch?: JsonObject]>,
): { id: string; strategy: 'ab'; variants: Array<{ name: string; weight: number; patch: JsonObject }> } {
  return { id, strategy: 'ab', variants: variants.map(([name, weight, patch = {}]) => ({ name, weight, patch })) };
}
