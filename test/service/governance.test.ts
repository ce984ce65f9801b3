/**
 * The SQL governance storage's own options and outages: BACKEND_UNAVAILABLE when the database cannot
 * be reached. The behaviour every governance storage shares (memory, PostgreSQL, PGlite) is the
 * contract suite's: test/contract/governance.test.ts.
 */
import { createPgliteGovernance } from '@summit-config/backends/pglite';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { codeOf } from '@summit-config/test-support/errors';
import { closeShared } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const event = { at: '2030-01-01T00:00:00Z', actor: 'alice', action: 'request.create', message: 'x' };

describe('SQL governance options and outages', () => {
  it('names the bad option', () => {
    expect(() => createPostgresGovernance({} as never)).toThrow(/connectionString/);
    expect(() => createPostgresGovernance({ connectionString: 'postgres://x', schema: '' })).toThrow(/schema/);
    expect(() => createPostgresGovernance({ connectionString: 'postgres://x', connectTimeoutMs: 0 })).toThrow(
      /connectTimeoutMs/,
    );
    expect(() => createPgliteGovernance({ dataDir: '' })).toThrow(/dataDir/);
  });

  it('fails fast with BACKEND_UNAVAILABLE when the database cannot be reached', async () => {
    // A port nothing listens on, on this machine only.
    const g = createPostgresGovernance({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectTimeoutMs: 1000,
    });
    try {
      expect(await codeOf(g.appendAudit(event))).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(g.listRequests())).toBe('BACKEND_UNAVAILABLE');
    } finally {
      await g.close();
    }
  });
});
