/**
 * `audit verify` with a signing key on the real Consul and PostgreSQL: a clean trail is ok with its
 * signatures checked; a row forged with SQL (the trigger chains it, so the chain alone holds) makes it
 * exit 1, print the problem's code and fail with SIGNATURE_INVALID; an altered row is CHECKSUM_MISMATCH.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness, runIn } from './cli-harness.js';

let h: Harness;
let env: NodeJS.ProcessEnv;

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: h.env.DATABASE_URL as string });
  await client.connect();
  const t = `"${h.schema}".config_audit`;
  try {
    await client.query(`ALTER TABLE ${t} DISABLE TRIGGER config_audit_append_only`);
    await client.query(text.replaceAll('$T', t));
    await client.query(`ALTER TABLE ${t} ENABLE TRIGGER config_audit_append_only`);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  h = await realHarness('audit');
  const file = join(h.dir, 'writer.key');
  const keygen = await h.run(['trust', 'keygen', '--out', file, '--json']);
  if (keygen.code !== 0) throw new Error(keygen.stderr);
  env = { ...h.env, SUMMIT_SIGNING_KEY_FILE: file };
});
afterAll(async () => {
  await h?.cleanup();
});

const run = (args: string[]) => runIn(env, args, { actor: 'alice' });

describe('audit verify (signed trail)', () => {
  it('a trail the service signed verifies with its signatures checked', async () => {
    for (const v of [1, 2]) {
      const r = await run(['set', 'app:billing/database', '--json-value', JSON.stringify({ v })]);
      expect(r.code, r.stderr).toBe(0);
    }
    const events = (await run(['audit', '--json'])).json() as Array<{ action: string; signature: string | null }>;
    expect(events.filter((e) => e.action !== 'append').every((e) => typeof e.signature === 'string')).toBe(true);
    const verified = await run(['audit', 'verify', '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.json()).toMatchObject({ ok: true, problems: [], signatures: 'checked' });
    const text = await run(['audit', 'verify']);
    expect(text.stdout).toMatch(/audit trail ok: \d+ event\(s\).*signatures checked from seq 1/);
  });

  it('a forged INSERT exits 1 naming AUDIT_UNSIGNED_EVENT (SIGNATURE_INVALID)', async () => {
    await sql(
      `INSERT INTO $T (actor, action, message, changes, source) VALUES ('mallory', 'config.set', 'x', '[]', 'cli')`,
    );
    const r = await run(['audit', 'verify']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/AUDIT_UNSIGNED_EVENT seq \d+/);
    const json = await run(['audit', 'verify', '--json']);
    expect(json.code).toBe(1);
    expect(json.json().problems.map((p: { code: string }) => p.code)).toEqual(['AUDIT_UNSIGNED_EVENT']);
    expect(json.error()).toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('an altered row is CHECKSUM_MISMATCH, listed with the other problems', async () => {
    await sql(`UPDATE $T SET message = 'changed' WHERE seq = 2`);
    const r = await run(['audit', 'verify', '--json']);
    expect(r.code).toBe(1);
    const codes = r.json().problems.map((p: { code: string }) => p.code);
    expect(codes).toContain('AUDIT_CHAIN_BROKEN');
    expect(r.error()).toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });
});
