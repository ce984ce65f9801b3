/**
 * The CLI's rough edges a newcomer met, each pinned: `--version`, `--help | head -1` without an EPIPE
 * trace, export into a missing directory as a typed error, control characters escaped in tables,
 * seed 002's `--env` spelling, `schema list`, `secret keygen` and the missing-key hint, and the
 * embedded administrator restoring a backup.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness, runIn } from './cli-harness.js';

const cli = join(import.meta.dirname, '..', 'bin', 'summit-config.js');
let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await realHarness('newcomer');
  dir = await mkdtemp(join(tmpdir(), 'summit-cli-newcomer-'));
});
afterAll(async () => {
  await h?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('summit-config for a newcomer', () => {
  it('prints its version', async () => {
    const r = await h.run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('stops quietly when the reader of its output goes away (`--help | head -1`)', () => {
    for (let i = 0; i < 5; i++) {
      const r = spawnSync('sh', ['-c', `node ${JSON.stringify(cli)} --help | head -1`], { encoding: 'utf8' });
      expect(r.stdout).toBe('Usage: summit-config [options] [command]\n');
      expect(r.stderr).toBe('');
    }
  });

  it('refuses an export into a missing directory with NOT_FOUND, before reading anything', async () => {
    const file = join(dir, 'no-such-dir', 'backup.ndjson');
    const r = await h.run(['export', file, '--json']);
    expect(r.code).toBe(4);
    expect(r.error()).toMatchObject({ code: 'NOT_FOUND' });
    expect(r.error().message).toContain('does not exist');
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });

  it('escapes control characters and ANSI sequences of stored text in tables', async () => {
    const message = 'red \u001b[31mALERT\u001b[0m\nsecond line \u202eevil';
    expect((await h.run(['set', 'global/escapes', '--json-value', '{"a":1}', '-m', message])).code).toBe(0);
    for (const args of [
      ['versions', 'global/escapes'],
      ['audit', 'global/escapes'],
    ]) {
      const r = await h.run(args);
      expect(r.code).toBe(0);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is that no raw ESC reaches the output
      expect(r.stdout).not.toMatch(/[\u001b\u202e]/);
      expect(r.stdout).toContain('red \\x1b[31mALERT\\x1b[0m\\nsecond line \\u202eevil');
    }
  });

  it('accepts --env as the spelling of -e, --environment (seed 002)', async () => {
    await h.run(['env', 'create', 'staging']);
    expect((await h.run(['set', 'app:billing/pool', '--json-value', '{"size":3}'])).code).toBe(0);
    const short = await h.run(['get', 'app:billing/pool', '-e', 'staging', '--json']);
    const long = await h.run(['get', 'app:billing/pool', '--env', 'staging', '--json']);
    expect(long.code).toBe(0);
    expect(long.json()).toEqual(short.json());
    expect((await h.run(['explain', 'app:billing/pool', '--env', 'staging'])).code).toBe(0);
    const missing = await h.run(['explain', 'app:billing/pool', '--json']);
    expect([missing.code, missing.error().code]).toEqual([2, 'MISSING_REQUIRED']);
  });

  it('lists schemas', async () => {
    const schema = '{"type":"object","properties":{"max":{"type":"integer"}}}';
    await h.run(['schema', 'register', 'limits', '--json-value', schema]);
    await h.run(['schema', 'register', 'limits', '--json-value', schema.replace('integer', 'number')]);
    const r = await h.run(['schema', 'list', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toEqual([{ id: 'limits', version: 2, versions: 2 }]);
  });

  it('generates a master key, and points to it when none is set', async () => {
    const key = await h.run(['secret', 'keygen']);
    expect(key.code).toBe(0);
    expect(Buffer.from(key.stdout.trim(), 'base64')).toHaveLength(32);
    const r = await h.run(['secret', 'create', 'db-pass', 'x', '--json'], {
      env: { SUMMIT_MASTER_KEY: undefined, SUMMIT_MASTER_KEY_FILE: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.error().code).toBe('MISSING_REQUIRED');
    expect(r.error().message).toContain('summit-config secret keygen');
  });

  it('lets the embedded administrator restore a backup', async () => {
    const embedded: NodeJS.ProcessEnv = { ...process.env, SUMMIT_DATA_DIR: join(dir, 'source') };
    delete embedded.CONSUL_HTTP_ADDR;
    delete embedded.DATABASE_URL;
    delete embedded.SUMMIT_RBAC_FILE;
    const asOs = { env: { SUMMIT_ACTOR: undefined } };
    expect((await runIn(embedded, ['set', 'global/x', '--json-value', '{"a":1}'], asOs)).code).toBe(0);
    const backup = join(dir, 'backup.ndjson');
    expect((await runIn(embedded, ['export', backup], asOs)).code).toBe(0);
    const restored = { ...embedded, SUMMIT_DATA_DIR: join(dir, 'restored') };
    const r = await runIn(restored, ['import', backup, '--json'], asOs);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await runIn(restored, ['get', 'global/x', '--raw', '--json'], asOs)).json()).toMatchObject({ version: 1 });
  });
});
