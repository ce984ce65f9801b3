/**
 * Failures of `summit-config` commands, in process: the exit code of the table, the error code on
 * stderr (a JSON error object with --json, `error CODE: message` without), and nothing written.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_LOCK_FILE } from '../src/embedded-lock.js';
import { type Harness, realHarness, runIn } from './cli-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await realHarness('errors');
  const setup = [
    ['set', 'app:billing/database', '--json-value', '{"pool":10}'],
    ['schema', 'register', 'limits', '--json-value', '{"type":"object","properties":{"max":{"type":"integer"}}}'],
    ['set', 'global/limits', '--json-value', '{"max":5}'],
  ];
  for (const args of setup) {
    const r = await h.run(args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
});
afterAll(async () => {
  await h?.cleanup();
});

describe('summit-config failures', () => {
  it('unknown refs, requests, schemas and policies: NOT_FOUND, exit 4', async () => {
    const get = await h.run(['get', 'app:billing/missing', '--json']);
    expect(get.code).toBe(4);
    expect(get.stdout).toBe('');
    expect(get.error()).toEqual({
      code: 'NOT_FOUND',
      message: 'app:billing/missing does not exist',
      ref: 'app:billing/missing',
    });
    const human = await h.run(['versions', 'global/missing']);
    expect(human.code).toBe(4);
    expect(human.stderr).toBe('error NOT_FOUND: global/missing does not exist\n');
    const resolved = await h.run(['get', 'missing', '--app', 'billing', '-e', 'staging', '--json']);
    expect(resolved.code).toBe(4);
    expect(resolved.error().code).toBe('ENVIRONMENT_NOT_FOUND');
    for (const args of [
      ['approve', 'no-such-request'],
      ['schema', 'validate', 'nothing', '--json-value', '{}'],
      ['secret', 'rotate', 'no-such-secret'],
      // migrate and template commands run in the same frame, through the same exit table
      ['template', 'list', '--dir', join(h.dir, 'no-templates')],
    ]) {
      const r = await h.run([...args, '--json']);
      expect([args, r.code, r.error().code]).toEqual([args, 4, 'NOT_FOUND']);
    }
  });

  it('access denied: a reader setting, a stranger reading, an admin without secrets:write; exit 3', async () => {
    const set = await h.run(['set', 'app:billing/database', '--json-value', '{"pool":1}', '--json'], {
      actor: 'rita',
    });
    expect(set.code).toBe(3);
    expect(set.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'config:write', actor: 'rita' });
    const stranger = await h.run(['get', 'app:billing/database', '--json'], { actor: 'mallory' });
    expect(stranger.code).toBe(3);
    expect(stranger.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'config:read', actor: 'mallory' });
    const secret = await h.run(['secret', 'create', 'x', '--generate', '--json'], { actor: 'bob' });
    expect(secret.code).toBe(3);
    expect(secret.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'secrets:write' });
    expect((await h.run(['versions', 'app:billing/database', '--json'])).json()).toHaveLength(1);
  });

  it('bad input: malformed refs, invalid JSON or YAML, non-objects, bad numbers; exit 2 and nothing written', async () => {
    const cases: Array<[string[], string, string | undefined, RegExp]> = [
      [['get', 'billing'], 'INVALID_CONFIG_REF', undefined, /<scope>\/<id>/],
      [['set', 'app:billing/../x', '--json-value', '{}'], 'INVALID_CONFIG_REF', undefined, /segment/],
      [['set', 'team:x/y', '--json-value', '{}'], 'INVALID_CONFIG_REF', undefined, /scope/],
      [['set', 'app:billing/database', '--json-value', '{bad'], 'CONSTRAINT_VIOLATION', undefined, /not valid JSON/],
      [['set', 'app:billing/database', '--json-value', '[1,2]'], 'CONSTRAINT_VIOLATION', undefined, /an array/],
      [['set', 'app:billing/database'], 'CONSTRAINT_VIOLATION', 'pool: [unclosed', /YAML/],
      [['set', 'app:billing/database'], 'CONSTRAINT_VIOLATION', '   ', /empty/],
      [['set', 'app:billing/database', '--file', '/nonexistent.json'], 'NOT_FOUND', undefined, /does not exist/],
      [['versions', 'app:billing/database', '--limit', 'ten'], 'CONSTRAINT_VIOLATION', undefined, /--limit/],
      [['audit', '--since', 'yesterday-ish'], 'CONSTRAINT_VIOLATION', undefined, /not a date/],
      [['get', 'app:billing/database', '--app', 'billing'], 'CONSTRAINT_VIOLATION', undefined, /--environment/],
    ];
    for (const [args, code, stdin, message] of cases) {
      const r = await h.run([...args, '--json'], stdin === undefined ? {} : { stdin });
      const error = r.error();
      expect([args, r.code, error.code]).toEqual([args, code === 'NOT_FOUND' ? 4 : 2, code]);
      expect(error.message).toMatch(message);
    }
    expect((await h.run(['versions', 'app:billing/database', '--json'])).json()).toHaveLength(1);
  });

  it('schema violations: SCHEMA_VALIDATION with JSON pointers, exit 2', async () => {
    const set = await h.run(['set', 'global/limits', '--json-value', '{"max":"lots"}', '--json']);
    expect(set.code).toBe(2);
    expect(set.error()).toMatchObject({
      code: 'SCHEMA_VALIDATION',
      issues: [expect.objectContaining({ pointer: '/max', keyword: 'type' })],
    });
    const validate = await h.run(['schema', 'validate', 'limits', '--json-value', '{"max":1.5}']);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toMatch(/^error SCHEMA_VALIDATION: .*\n {2}\/max: must be integer\n$/);
    expect((await h.run(['get', 'global/limits', '--json'])).json()).toMatchObject({ version: 1 });
  });

  it('a change touching a guarded environment: APPROVAL_REQUIRED, exit 3, with a hint to propose', async () => {
    expect((await h.run(['env', 'create', 'production', '--production'])).code).toBe(0);
    const r = await h.run(['set', 'app:billing/database', '--env', 'production', '--json-value', '{"pool":99}']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error APPROVAL_REQUIRED: app:billing\/database: the change touches guarded/);
    expect(r.stderr).toMatch(/hint: propose the change instead/);
    const json = await h.run(['rollback', 'global/limits', '--json']);
    expect(json.code).toBe(2); // nothing to roll back to: bad input beats the approval check
    const del = await h.run(['delete', 'global/limits', '--json']);
    expect(del.code).toBe(3);
    expect(del.error()).toMatchObject({ code: 'APPROVAL_REQUIRED', environments: ['production'] });
    const self = await h.run(['propose', 'app:billing/database', '--kind', 'delete', '--json']);
    const id = self.json().id as string;
    const selfApprove = await h.run(['approve', id, '--json']);
    expect(selfApprove.code).toBe(3);
    expect(selfApprove.error().message).toMatch(/no self-approval/);
    const early = await h.run(['apply', id, '--json']);
    expect(early.code).toBe(3);
    expect(early.error().code).toBe('INSUFFICIENT_APPROVERS');
  });

  it('usage errors exit 2 (USAGE as JSON with --json); --help exits 0 and documents the exit codes', async () => {
    const unknownOption = await h.run(['get', 'global/limits', '--nope', '--json']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.error()).toEqual({ code: 'USAGE', message: expect.stringMatching(/unknown option '--nope'/) });
    const missing = await h.run(['reject', 'some-id']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--reason <text>' not specified/);
    expect((await h.run(['no-such-command'])).code).toBe(2);
    expect((await h.run(['get'])).code).toBe(2);
    expect((await h.run([])).code).toBe(2);
    const help = await h.run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 {2}success/);
    expect(help.stdout).toMatch(/4 {2}not found \(NOT_FOUND, ENVIRONMENT_NOT_FOUND\)/);
    for (const command of [['set'], ['secret', 'rotate'], ['drift', 'report'], ['migrate', 'plan']]) {
      const r = await h.run([...command, '--help']);
      expect([command, r.code]).toEqual([command, 0]);
      expect(r.stdout).toMatch(/--json/);
      expect(r.stdout).toMatch(/Exit codes: 0 ok, 1 failure, 2 bad input/);
    }
  });

  it('real stores need an RBAC file (exit 2); unreachable stores are BACKEND_UNAVAILABLE (exit 5)', async () => {
    const noRbac = await h.run(['list', '--json'], { env: { SUMMIT_RBAC_FILE: undefined } });
    expect(noRbac.code).toBe(2);
    expect(noRbac.error().message).toMatch(/RBAC file is required/);
    const down = await h.run(['get', 'global/limits', '--json'], {
      env: { CONSUL_HTTP_ADDR: 'http://127.0.0.1:1', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/summit' },
    });
    expect(down.code).toBe(5);
    expect(down.error()).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    const badConfig = await h.run(['list', '--config', join(h.dir, 'missing.yaml'), '--json']);
    expect(badConfig.code).toBe(4);
  });
});

describe('the embedded default (PGlite in SUMMIT_DATA_DIR), in process', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'summit-cli-embedded-'));
    env = { PATH: process.env.PATH, SUMMIT_DATA_DIR: join(root, 'data') };
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('the OS user is config-admin; a directory claimed by a live process is refused (exit 5), a stale claim is not', async () => {
    const { userInfo } = await import('node:os');
    const me = userInfo().username;
    const set = await runIn(env, ['set', 'global/app', '--json-value', '{"a":1}', '--json'], { actor: me });
    expect(set.code, set.stderr).toBe(0);
    expect(set.json()).toMatchObject({ ref: 'global/app', version: 1, createdBy: me });
    const denied = await runIn(env, ['get', 'global/app', '--actor', 'someone-else', '--json'], { actor: me });
    expect(denied.code).toBe(3);

    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await writeFile(join(root, 'data', CLI_LOCK_FILE), `${sleeper.pid}\n`);
      const busy = await runIn(env, ['get', 'global/app', '--json'], { actor: me });
      expect(busy.code).toBe(5);
      expect(busy.error()).toMatchObject({
        code: 'BACKEND_UNAVAILABLE',
        dataDir: join(root, 'data'),
        holder: { pid: sleeper.pid, command: 'sleep 60' },
      });
      expect(busy.error().message).toMatch(/PGlite allows one process per data directory/);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    // The claim's process is gone; a postmaster.pid nobody holds is what a crash leaves behind.
    await writeFile(join(root, 'data', 'postmaster.pid'), '-42\n');
    const after = await runIn(env, ['get', 'global/app', '--json'], { actor: me });
    expect(after.code, after.stderr).toBe(0);
    expect(after.json()).toMatchObject({ version: 1, config: { a: 1 } });
  });
});
