/**
 * `summit-config migrate ...` and `summit-config template ...` in process (`runCli`, see
 * packages/agent/test/cli-harness.ts), on PostgreSQL: each command's session opens the schema of the
 * test's change service, which seeds and checks. Output (human and --json), exit codes (the CLI's
 * one table) with error codes, files written by `migrate create`.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMigrationFile, type MigrationPlan, type MigrationStatusEntry } from '@summit-config/core/migrations';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runIn } from '../../packages/agent/test/cli-harness.js';
import { actors, closeShared, FIXTURES, type MigrationHarness, migrationHarness, SELECTED, seed } from './helpers.js';

afterAll(closeShared);

interface Cli {
  run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Commands that opened a session (without a harness: tried to, and failed on the missing configuration). */
  opened: number;
}

/** The `--dir` every migrate and template command but `migrate rollback` takes (a later `--dir` wins). */
function withDir(args: string[], dirs: { migrations?: string; templates?: string }): string[] {
  const [group, command, ...rest] = args;
  const dir = group === 'migrate' ? dirs.migrations : group === 'template' ? dirs.templates : undefined;
  if (dir === undefined || command === undefined || (group === 'migrate' && command === 'rollback')) return args;
  return [group as string, command, '--dir', dir, ...rest];
}

/**
 * Runs command lines as `root` (every permission) on the harness's PostgreSQL schema; without a
 * harness, on a configuration file that does not exist, so a command that opens a session fails.
 */
function cli(h: MigrationHarness | undefined, dirs: { migrations?: string; templates?: string } = {}): Cli {
  const noSession = join(tmp, 'no-session-expected.yaml');
  const env: NodeJS.ProcessEnv = h
    ? {
        PATH: process.env.PATH,
        DATABASE_URL: process.env.DATABASE_URL, // the server the harness connected to
        SUMMIT_PG_SCHEMA: h.schema,
        SUMMIT_RBAC_FILE: rbacFile,
      }
    : { PATH: process.env.PATH, SUMMIT_AGENT_CONFIG: noSession };
  const state: Cli = {
    opened: 0,
    async run(...args) {
      const r = await runIn(env, withDir(args, dirs), { actor: actors.root.id });
      if (r.stderr.includes(noSession)) state.opened++;
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    },
  };
  return state;
}

let tmp: string;
let rbacFile: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'summit-cli-migrate-'));
  rbacFile = join(tmp, 'rbac.yaml');
  await writeFile(
    rbacFile,
    `roles:\n  superuser: ['*']\nbindings:\n  - users: [${actors.root.id}]\n    roles: [superuser]\n`,
  );
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('migrate create', () => {
  // Names of created migrations come from the clock.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-02-03T04:05:06.000Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('scaffolds a YAML or JSON migration that loads and changes nothing as written', async () => {
    const dir = join(tmp, 'created');
    const c = cli(undefined, { migrations: dir });
    const made = await c.run(
      'migrate',
      'create',
      'rename-pool',
      '--depends',
      '0001-a,0002-b',
      '--scope',
      'app:*',
      '--id',
      'services/*/database',
    );
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('created');
    const files = await readdir(dir);
    expect(files).toEqual(['20300203040506-rename-pool.yaml']);
    const m = await loadMigrationFile(join(dir, files[0] as string));
    expect(m).toMatchObject({
      name: '20300203040506-rename-pool',
      version: '20300203040506',
      dependencies: ['0001-a', '0002-b'],
      selector: { scopes: ['app:*'], ids: ['services/*/database'] },
    });
    expect(m.operations).toEqual([{ op: 'delete', path: '/replace-me' }]);
    expect(await readFile(join(dir, files[0] as string), 'utf8')).toContain('# Operations');
    const json = await c.run('migrate', 'create', 'other', '--format', 'json', '--environment', 'production', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ name: '20300203040506-other' });
    expect((await loadMigrationFile(JSON.parse(json.stdout).file)).selector.environment).toBe('production');
    expect(c.opened).toBe(0);
  });

  it('refuses a bad name, a bad selector and an existing file with exit 2', async () => {
    const dir = join(tmp, 'refused');
    const c = cli(undefined, { migrations: dir });
    const bad = await c.run('migrate', 'create', 'has space');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error CONSTRAINT_VIOLATION: /);
    const selector = await c.run('migrate', 'create', 'x', '--id', '../etc');
    expect(selector.code).toBe(2);
    expect(selector.stderr).toContain('CONSTRAINT_VIOLATION');
    expect((await c.run('migrate', 'create', 'twice')).code).toBe(0);
    const again = await c.run('migrate', 'create', 'twice', '--json');
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stderr).error.code).toBe('CONSTRAINT_VIOLATION');
  });
});

describe('migrate plan / apply / status / rollback', () => {
  let h: MigrationHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function setup() {
    h = await migrationHarness('postgres');
    await seed(h.service, actors.root);
    return cli(h, { migrations: `${FIXTURES}basic` });
  }

  it('plan prints a readable diff (and JSON), writes nothing', async () => {
    const c = await setup();
    const plan = await c.run('migrate', 'plan');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('0001-add-timeouts (version 1, data) [run 1]');
    expect(plan.stdout).toContain(`~ ${SELECTED[0]} @v1: update`);
    expect(plan.stdout).toContain('+ /config/timeouts: {"connectMs":5000}');
    expect(plan.stdout).toContain(`= ${SELECTED[1]} @v1: unchanged`);
    expect(plan.stdout).toContain('- /config/pool');
    expect(plan.stdout).toMatch(/2 migration\(s\): 5 update\(s\), 0 change request\(s\), 1 unchanged/);
    const json = await c.run('migrate', 'plan', '--json', '--only', '0001-add-timeouts');
    const parsed = JSON.parse(json.stdout) as MigrationPlan;
    expect(parsed.migrations.map((m) => m.name)).toEqual(['0001-add-timeouts']);
    expect((await h?.service.get(actors.root, SELECTED[0] as string))?.version).toBe(1);
  });

  it('apply reports progress and results; status and rollback follow', async () => {
    const c = await setup();
    const applied = await c.run('migrate', 'apply');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(
      '0001-add-timeouts: applied (run 1): 2 version(s) written, 0 change request(s) opened',
    );
    expect(applied.stdout).toContain('0002-rename-pool: applied (run 1): 3 version(s) written');
    expect(applied.stderr).toContain(`apply 0002-rename-pool [1/3] ${SELECTED[0]}: applied`);
    expect((await c.run('migrate', 'apply')).stdout).toContain('Nothing to apply');

    const status = await c.run('migrate', 'status');
    expect(status.stdout).toMatch(/NAME\s+VERSION\s+STATE/);
    expect(status.stdout).toMatch(/0002-rename-pool\s+2\s+applied\s+1\s+3/);
    const statusJson = JSON.parse((await c.run('migrate', 'status', '--json')).stdout) as MigrationStatusEntry[];
    expect(statusJson.map((s) => s.state)).toEqual(['applied', 'applied']);

    const refused = await c.run('migrate', 'rollback', '0001-add-timeouts');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('error CONSTRAINT_VIOLATION');
    const rolled = await c.run('migrate', 'rollback', '0002-rename-pool');
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain(`${SELECTED[0]}: rolled_back as v4`);
    expect((await c.run('migrate', 'rollback', '0002-rename-pool')).stdout).toContain('already rolled back');
    const unknown = await c.run('migrate', 'rollback', 'nope', '--json');
    expect(unknown.code).toBe(4); // NOT_FOUND: not found in the CLI's exit table
    expect(JSON.parse(unknown.stderr).error.code).toBe('NOT_FOUND');
  });

  it('a refused plan exits 2 and apply writes nothing; a missing or malformed directory is a typed error', async () => {
    const c = await setup();
    await h?.service.registerSchema(actors.root, 'services/search/database', {
      type: 'object',
      required: ['pool'],
      properties: { pool: { type: 'integer' } },
    });
    const plan = await c.run('migrate', 'plan');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('REFUSED');
    expect(plan.stdout).toContain(`! ${SELECTED[2]}`);
    expect(plan.stderr).toContain('PLAN_REFUSED');
    const apply = await c.run('migrate', 'apply');
    expect(apply.code).toBe(2);
    expect(apply.stderr).toMatch(/^error SCHEMA_VALIDATION: migration plan refused/);
    expect((await h?.service.get(actors.root, SELECTED[0] as string))?.version).toBe(1);

    const missing = await c.run('migrate', 'status', '--dir', join(tmp, 'nothing-here'));
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('error NOT_FOUND');
    const broken = join(tmp, 'broken');
    await rm(broken, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(broken);
    await writeFile(join(broken, '0001-x.yaml'), 'version: 1\nselector: { id: x }\noperations: [{ op: explode }]\n');
    const bad = await c.run('migrate', 'plan', '--dir', broken, '--json');
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr).error).toMatchObject({ code: 'CONSTRAINT_VIOLATION', pointer: '/operations/0/op' });
  });
});

describe('template commands', () => {
  let h: MigrationHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  const templates = `${FIXTURES}templates`;

  it('list shows templates and their parameters (required marked)', async () => {
    const c = cli(undefined, { templates });
    const out = await c.run('template', 'list');
    expect(out.stdout).toMatch(/service-database\s+2\s+service\*,host\*,port,pool,tls\s+a PostgreSQL connection/);
    const json = JSON.parse((await c.run('template', 'list', '--json')).stdout) as Array<{ name: string }>;
    expect(json.map((t) => t.name)).toEqual(['feature-flags', 'service-database']);
    expect(c.opened).toBe(0);
  });

  it('render takes --param values (JSON when they parse) and a params file; bad parameters exit 2', async () => {
    const c = cli(undefined, { templates });
    const file = join(tmp, 'params.yaml');
    await writeFile(file, 'service: billing\nhost: from-file\n');
    const out = await c.run(
      'template',
      'render',
      'service-database',
      '--params-file',
      file,
      '-p',
      'host=db.internal',
      '-p',
      'port=6000',
      '-p',
      'tls.enabled=false',
    );
    expect(out.code).toBe(0);
    const doc = JSON.parse(out.stdout);
    expect(doc.config).toMatchObject({ host: 'db.internal', port: 6000, tls: { enabled: false } });
    const yaml = await c.run(
      'template',
      'render',
      'service-database',
      '-p',
      'service=x',
      '-p',
      'host=h',
      '--format',
      'yaml',
    );
    expect(yaml.stdout).toContain('url: postgres://h:5432/x');
    const bad = await c.run('template', 'render', 'service-database', '-p', 'port=banana');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error SCHEMA_VALIDATION: /);
    const unknown = await c.run('template', 'render', 'nope');
    expect(unknown.code).toBe(4); // NOT_FOUND
    expect(unknown.stderr).toContain('NOT_FOUND');
    expect(c.opened).toBe(0);
  });

  it('render --ref validates against the service schema; apply creates the config through the service', async () => {
    h = await migrationHarness('postgres');
    const c = cli(h, { templates });
    await h.service.registerSchema(actors.root, 'db', {
      type: 'object',
      properties: { poolSize: { type: 'integer', maximum: 30 } },
    });
    await h.service.createEnvironment(actors.root, { name: 'production', production: false });
    const args = ['-p', 'service=billing', '-p', 'host=h'];
    const refused = await c.run('template', 'render', 'service-database', ...args, '--ref', 'app:billing/db');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('@production');
    const fine = await c.run('template', 'apply', 'service-database', 'app:billing/other', ...args, '--json');
    expect(fine.code).toBe(0);
    expect(JSON.parse(fine.stdout)).toMatchObject({ kind: 'written', version: 1 });
    const doc = await h.service.get(actors.root, 'app:billing/other');
    expect(doc?.metadata.template).toMatchObject({ name: 'service-database', version: '2' });
    expect(doc?.message).toBe('from template service-database@2');
    const again = await c.run('template', 'apply', 'service-database', 'app:billing/other', ...args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('VERSION_CONFLICT');
  });
});
