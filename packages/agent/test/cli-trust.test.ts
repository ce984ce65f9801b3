/**
 * Writer keys from the CLI (issue 16): `trust keygen`, `trust show`, `trust resign`, keys bound to
 * the OS user who holds them, and the embedded default that generates its key on first start. On
 * the real Consul and PostgreSQL, and on the embedded PGlite.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgliteStore } from '@summit-config/backends/pglite';
import { appendNext, checkVersionTrust, createTrustRoot } from '@summit-config/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness, runIn } from './cli-harness.js';

const credential = (name: string) => `os-user:test-${name}@${hostname()}`;

let h: Harness;
const keys: Record<string, { file: string; publicKey: string; keyId: string }> = {};
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  h = await realHarness('trust');
  // Versions written before signing is turned on.
  for (const ref of ['app:billing/database', 'global/flags']) {
    const r = await h.run(['set', ref, '--json-value', '{"v":1}']);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  for (const name of ['alice', 'bob', 'carol', 'dev']) {
    const file = join(h.dir, `${name}.key`);
    const r = await h.run(['trust', 'keygen', '--out', file, '--json']);
    if (r.code !== 0) throw new Error(r.stderr);
    keys[name] = r.json();
  }
  const trustFile = join(h.dir, 'trust.yaml');
  await writeFile(
    trustFile,
    `keys:\n${Object.entries(keys)
      .map(([name, k]) => `  - publicKey: ${k.publicKey}\n    principal: "${credential(name)}"\n`)
      .join('')}`,
  );
  env = { ...h.env, SUMMIT_TRUST_FILE: trustFile };
});
afterAll(async () => {
  await h?.cleanup();
});

/** Runs as `name` with that person's own key. */
const as = (name: string, args: string[], key = name) =>
  runIn({ ...env, SUMMIT_SIGNING_KEY_FILE: keys[key]?.file }, args, { actor: name });

describe('writer keys from the CLI (real Consul and PostgreSQL)', () => {
  it('keygen writes a 0600 PKCS#8 key it never overwrites; a key readable by others is refused', async () => {
    const k = keys.alice as (typeof keys)[string];
    expect((await stat(k.file)).mode & 0o777).toBe(0o600);
    expect(await readFile(k.file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(k.keyId).toMatch(/^ed25519:[0-9a-f]{32}$/);
    const again = await h.run(['trust', 'keygen', '--out', k.file, '--json']);
    expect(again.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(again.error().message).toMatch(/never overwritten/);

    const loose = join(h.dir, 'loose.key');
    await writeFile(loose, await readFile(k.file, 'utf8'));
    await chmod(loose, 0o644);
    const r = await runIn({ ...env, SUMMIT_SIGNING_KEY_FILE: loose }, ['get', 'global/flags', '--json']);
    expect(r.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(r.error().message).toMatch(/mode 0644.*chmod 600/);
  });

  it('trust show names the signing key and every trusted key with its principal', async () => {
    const r = await as('alice', ['trust', 'show', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const shown = r.json();
    expect(shown.signingKey).toMatchObject({ keyId: keys.alice?.keyId, principal: credential('alice') });
    expect(shown.verification).toBe('required');
    expect(shown.trusted.map((k: { principal: string }) => k.principal).sort()).toEqual(
      ['alice', 'bob', 'carol', 'dev'].map(credential).sort(),
    );
  });

  it('a key bound to another OS user is refused: approvals need each person their own key', async () => {
    const r = await as('mallory', ['get', 'global/flags', '--json'], 'bob');
    expect(r.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(r.error().message).toContain(`belongs to ${credential('bob')}`);

    // The proper path: alice proposes, bob and carol approve with their keys, alice applies.
    const env2 = await as('alice', ['env', 'create', 'production', '--production', '--required-approvals', '2']);
    expect(env2.code, env2.stderr).toBe(0);
    const proposed = await as('alice', [
      'propose',
      'app:billing/database',
      '--env',
      'production',
      '--json-value',
      '{"v":2}',
      '--json',
    ]);
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposed.json().id as string;
    expect((await as('bob', ['approve', id, '--json'])).code).toBe(0);
    expect((await as('carol', ['approve', id, '--json'])).code).toBe(0);
    const applied = await as('alice', ['apply', id, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    const version = applied.json().appliedVersion as number;
    const got = (await as('alice', ['get', 'app:billing/database', '--version', String(version), '--json'])).json();
    const trust = createTrustRoot(Object.values(keys).map((k) => ({ publicKey: k.publicKey })));
    expect(got.metadata.approvedBy).toEqual([credential('bob'), credential('carol')]);
    expect(checkVersionTrust(got, trust)).toBeUndefined();
    expect(got.metadata.signature.keyId).toBe(keys.alice?.keyId);
  });

  it('trust resign signs the heads written before signing (dry run first), once', async () => {
    const dry = await as('alice', ['trust', 'resign', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().resigned.map((r: { ref: string }) => r.ref)).toEqual(['global/flags']);
    const done = await as('alice', ['trust', 'resign']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/re-signed global\/flags v1 -> v2 \(UNSIGNED_VERSION\)/);
    const again = await as('alice', ['trust', 'resign', '--json']);
    expect(again.json().resigned).toEqual([]);
    // Without a signing key it is refused, naming what is missing.
    const none = await runIn(env, ['trust', 'resign', '--json'], { actor: 'alice' });
    expect(none.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(none.error().message).toMatch(/signing key/);
  });
});

describe('the embedded default', () => {
  it('on its first start signs what the directory held before (heads re-signed, audit trail adopted)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'summit-embedded-adopt-'));
    try {
      const dataDir = join(dir, 'data');
      // Written by an earlier version, without any key.
      const old = createPgliteStore({ dataDir });
      await appendNext(old, { ref: 'app:demo/db', config: { pool: 1 }, createdBy: 'before' });
      await old.close();
      const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, SUMMIT_DATA_DIR: dataDir };
      const shown = await runIn(e, ['trust', 'show', '--json']);
      expect(shown.code, shown.stderr).toBe(0);
      const trust = createTrustRoot([{ publicKey: shown.json().signingKey.publicKey }]);
      const head = (await runIn(e, ['get', 'app:demo/db', '--version', '2', '--json'])).json();
      expect(head.config).toEqual({ pool: 1 });
      expect(checkVersionTrust(head, trust)).toBeUndefined();
      const verified = await runIn(e, ['audit', 'verify', '--json']);
      expect(verified.code, verified.stderr).toBe(0);
      expect(verified.json()).toMatchObject({ ok: true, signatures: 'checked' });
      expect(verified.json().checkpoint.anchors).toEqual([`file:${join(dir, 'audit-checkpoint.json')}`]);
      const checkpoint = await runIn(e, ['audit', 'checkpoint', '--json']);
      expect(checkpoint.code, checkpoint.stderr).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('generates its writer key (mode 0600) on first start, keeps it, and signs every version with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'summit-embedded-trust-'));
    try {
      const e: NodeJS.ProcessEnv = { PATH: process.env.PATH, SUMMIT_DATA_DIR: join(dir, 'data') };
      const first = await runIn(e, ['trust', 'show', '--json']);
      expect(first.code, first.stderr).toBe(0);
      const keyFile = join(dir, 'signing.key');
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      const keyId = first.json().signingKey.keyId as string;
      expect(first.json().verification).toBe('required');
      expect(first.json().checkpointFile).toBe(join(dir, 'audit-checkpoint.json'));
      const set = await runIn(e, ['set', 'app:demo/db', '--json-value', '{"pool":5}']);
      expect(set.code, set.stderr).toBe(0);
      const second = await runIn(e, ['trust', 'show', '--json']);
      expect(second.json().signingKey.keyId).toBe(keyId);
      const got = (await runIn(e, ['get', 'app:demo/db', '--version', '1', '--json'])).json();
      expect(got.metadata.signature.keyId).toBe(keyId);
      expect(
        checkVersionTrust(got, createTrustRoot([{ publicKey: second.json().signingKey.publicKey }])),
      ).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
