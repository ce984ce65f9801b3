/**
 * The audit hash formula against independent vectors. How a governance storage chains, refuses and
 * queries events (memory, PostgreSQL, PGlite alike) is the governance contract suite's
 * (`@summit-config/test-support/contract/governance-contract`, run by test/contract/governance.test.ts).
 */
import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { auditHashText } from '../src/audit/chain.js';
import { type AuditRecord, auditHash } from '../src/internal.js';

const fixture = readJson('audit-hash-vectors.json') as {
  vectors: Array<{ name: string; record: Omit<AuditRecord, 'hash'>; hash: string }>;
};

describe('audit hash chain', () => {
  it.each(fixture.vectors)('hashes $name as the independent implementation does', ({ record, hash }) => {
    expect(auditHash(record)).toBe(hash);
    expect(auditHashText(record).startsWith('summit-audit-v1\n')).toBe(true);
  });
});
