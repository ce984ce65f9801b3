import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type AuditInput,
  type AuditRecord,
  auditHash,
  auditHashText,
  createMemoryGovernance,
  isConfigError,
  verifyAuditChain,
} from '../src/index.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/audit-hash-vectors.json', import.meta.url), 'utf8'),
) as { vectors: Array<{ name: string; record: Omit<AuditRecord, 'hash'>; hash: string }> };

function input(n: number, extra: Partial<AuditInput> = {}): AuditInput {
  return {
    at: `2030-01-01T00:00:0${n % 10}.123Z`,
    actor: `user-${n}`,
    action: 'config.set',
    ref: 'app:billing/db',
    version: n,
    message: `change ${n}`,
    changes: [{ op: 'replace', path: '/config/n', value: n }],
    source: 'api',
    ...extra,
  };
}

async function chainOf(n: number): Promise<AuditRecord[]> {
  const g = createMemoryGovernance();
  for (let i = 1; i <= n; i++) await g.appendAudit(input(i));
  return g.readAuditChain(0, 1000);
}

describe('audit hash chain', () => {
  it.each(fixture.vectors)('hashes $name as the independent implementation does', ({ record, hash }) => {
    expect(auditHash(record)).toBe(hash);
    expect(auditHashText(record).startsWith('summit-audit-v1\n')).toBe(true);
  });

  it('chains events in memory: seq 1, 2, 3 ..., each prevHash the previous hash', async () => {
    const records = await chainOf(5);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0]?.prevHash).toBeNull();
    for (let i = 1; i < records.length; i++) expect(records[i]?.prevHash).toBe(records[i - 1]?.hash);
    for (const r of records) expect(r.hash).toBe(auditHash(r));
    expect(verifyAuditChain(records)).toEqual({
      ok: true,
      checked: 5,
      head: { seq: 5, hash: records[4]?.hash },
    });
  });

  it('names the first broken link: altered, removed, reordered, re-hashed', async () => {
    const records = await chainOf(6);
    const altered = records.map((r) => (r.seq === 3 ? { ...r, message: 'changed later' } : r));
    expect(verifyAuditChain(altered)).toMatchObject({
      ok: false,
      brokenAt: 3,
      reason: expect.stringMatching(/altered/),
    });

    const removed = records.filter((r) => r.seq !== 4);
    expect(verifyAuditChain(removed)).toMatchObject({
      ok: false,
      brokenAt: 5,
      reason: expect.stringMatching(/4..4 are missing/),
    });

    const swapped = records.map((r) =>
      r.seq === 2 ? { ...records[2], seq: 2 } : r.seq === 3 ? { ...records[1], seq: 3 } : r,
    ) as AuditRecord[];
    expect(verifyAuditChain(swapped)).toMatchObject({ ok: false, brokenAt: 2 });

    // An attacker who knows the formula re-hashes the row they changed: the next link breaks.
    const rehashed = records.map((r) => {
      if (r.seq !== 3) return r;
      const forged = { ...r, actor: 'mallory' };
      return { ...forged, hash: auditHash(forged) };
    });
    expect(verifyAuditChain(rehashed)).toMatchObject({
      ok: false,
      brokenAt: 4,
      reason: expect.stringMatching(/prevHash/),
    });

    const outOfOrder = [records[0], records[2], records[1]] as AuditRecord[];
    expect(verifyAuditChain(outOfOrder)).toMatchObject({ ok: false, brokenAt: 3 });
  });

  it('refuses bad audit inputs with CONSTRAINT_VIOLATION and writes nothing', async () => {
    const g = createMemoryGovernance();
    const bad: Array<Partial<AuditInput>> = [
      { at: 'yesterday' },
      { actor: '' },
      { action: 'Config Set' },
      { action: "x'; drop" },
      { message: 'a\u0000b' },
      { message: '\ud800' },
      { version: 0 },
      { source: 'web' as never },
      { changes: 'replace' as never },
      { changes: [{ op: 'add', path: '/x', value: Number.NaN }] },
    ];
    for (const patch of bad) {
      try {
        await g.appendAudit(input(1, patch));
        expect.unreachable(JSON.stringify(patch));
      } catch (error) {
        expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      }
    }
    expect(await g.readAuditChain(0, 100)).toEqual([]);
  });

  it('queries by ref, actor, action prefix, request and time, oldest first', async () => {
    const g = createMemoryGovernance();
    await g.appendAudit(input(1));
    await g.appendAudit(input(2, { action: 'request.create', requestId: 'r1', ref: 'global/x' }));
    await g.appendAudit(input(3, { action: 'request.approve', requestId: 'r1', ref: 'global/x', actor: 'bob' }));
    expect((await g.queryAudit({ ref: 'global/x' })).map((r) => r.seq)).toEqual([2, 3]);
    expect((await g.queryAudit({ action: 'request.' })).map((r) => r.seq)).toEqual([2, 3]);
    expect((await g.queryAudit({ action: 'request' })).map((r) => r.seq)).toEqual([]);
    expect((await g.queryAudit({ actor: 'bob' })).map((r) => r.seq)).toEqual([3]);
    expect((await g.queryAudit({ requestId: 'r1', afterSeq: 2 })).map((r) => r.seq)).toEqual([3]);
    expect(
      (await g.queryAudit({ since: '2030-01-01T00:00:02.000Z', until: '2030-01-01T00:00:03.000Z' })).map((r) => r.seq),
    ).toEqual([2]);
    expect((await g.queryAudit({ limit: 1 })).map((r) => r.seq)).toEqual([1]);
    await expect(g.queryAudit({ limit: 0 })).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    await g.close();
    await expect(g.queryAudit()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
