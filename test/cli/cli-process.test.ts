/**
 * `summit-config` as real processes, the way an operator runs it:
 * `npx tsx --conditions=source packages/agent/src/cli.ts <command> ...`. The command matrix runs
 * in process (packages/agent/test/cli-*.test.ts); these prove the binary: exit statuses, stdout and
 * stderr, stdin, a streaming `watch` stopped by SIGTERM, and the embedded directory held by a
 * running agent.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@summit-config/test-support/services';
import { afterAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness, runIn } from '../../packages/agent/test/cli-harness.js';
import { killAllAgents, startAgentProcess } from '../agent/agent-process.js';

interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout lines so far, parsed as JSON. */
  lines(): Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const spawned = new Set<ChildProcess>();

function cli(args: string[], env: NodeJS.ProcessEnv, stdin?: string): CliProcess {
  const child = spawn('npx', ['tsx', '--conditions=source', 'packages/agent/src/cli.ts', ...args], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  spawned.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  child.stdin?.end(stdin ?? '');
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      spawned.delete(child);
      resolve(code);
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err.replace(/^npm warn .*\n/gm, ''),
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
  };
}

async function finished(p: CliProcess) {
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** The node process running the CLI under npx -> sh -> tsx: the deepest descendant running cli.ts. */
async function cliPid(root: number): Promise<number | undefined> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(Number(entry), ppid);
  }
  let found: number | undefined;
  let frontier = [root];
  while (frontier.length > 0) {
    const next = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([pid]) => pid);
    for (const pid of next) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes('cli.ts')) found = pid;
    }
    frontier = next;
  }
  return found;
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function embeddedEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SUMMIT_DATA_DIR: dataDir };
  for (const key of ['CONSUL_HTTP_ADDR', 'DATABASE_URL', 'SUMMIT_ACTOR', 'SUMMIT_RBAC_FILE', 'SUMMIT_AGENT_CONFIG']) {
    delete env[key];
  }
  return env;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const child of spawned) {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  killAllAgents();
  for (const c of cleanups) await c();
});

describe('summit-config processes', () => {
  it('embedded default (no Consul, no PostgreSQL): set from stdin then get; a missing ref exits 4 with the code', async () => {
    const root = await mkdtemp(join(tmpdir(), 'summit-cli-proc-embedded-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const env = embeddedEnv(join(root, 'data'));

    const set = await finished(cli(['set', 'app:demo/greeting', '--json'], env, 'text: hello\ncount: 3\n'));
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ ref: 'app:demo/greeting', version: 1 });

    const get = await finished(cli(['get', 'app:demo/greeting', '--json'], env));
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ version: 1, config: { text: 'hello', count: 3 } });

    const missing = await finished(cli(['get', 'app:demo/missing', '--json'], env));
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe('');
    expect(JSON.parse(missing.stderr.trim())).toEqual({
      error: { code: 'NOT_FOUND', message: 'app:demo/missing does not exist', ref: 'app:demo/missing' },
    });
  }, 120_000);

  it('watch --json streams the change a concurrent set process makes, and exits 0 on SIGTERM', async () => {
    const h: Harness = await realHarness('proc_watch');
    cleanups.push(() => h.cleanup());
    const seeded = await runIn(h.env, ['set', 'global/flags', '--json-value', '{"beta":false}', '--json']);
    expect(seeded.code, seeded.stderr).toBe(0);
    const env = { ...process.env, ...h.env, SUMMIT_ACTOR: 'alice' };

    const watch = cli(['watch', '--json', '--initial', '--scope', 'global'], env);
    await until(() => watch.lines().some((l) => l.initial === true && l.ref === 'global/flags'), 'the initial head');
    const set = await finished(
      cli(['set', 'global/flags', '--json-value', '{"beta":true}', '-m', 'beta on', '--json'], env),
    );
    expect(set.code, set.stderr).toBe(0);
    const written = JSON.parse(set.stdout) as { version: number; checksum: string };
    await until(() => watch.lines().some((l) => l.type === 'change'), 'the change');
    expect(watch.lines()).toEqual([
      {
        type: 'head',
        initial: true,
        ref: 'global/flags',
        version: 1,
        checksum: JSON.parse(seeded.stdout).checksum,
      },
      {
        type: 'change',
        ref: 'global/flags',
        version: 2,
        checksum: written.checksum,
        createdAt: expect.any(String),
        createdBy: 'alice',
        message: 'beta on',
      },
    ]);
    const pid = await cliPid(watch.child.pid as number);
    expect(pid).toBeDefined();
    process.kill(pid as number, 'SIGTERM');
    expect(await watch.exited).toBe(0);
    expect(watch.stderr()).toBe('');
  }, 120_000);

  it('a running agent holds the embedded directory: the CLI says so and exits 5; once the agent stops it works', async () => {
    const root = await mkdtemp(join(tmpdir(), 'summit-cli-proc-agent-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const dataDir = join(root, 'data');
    const agent = await startAgentProcess({
      label: 'cli-holder',
      config: { http: { port: 0 }, snapshotDir: join(root, 'snapshots'), drift: { enabled: false } },
      env: { CONSUL_HTTP_ADDR: undefined, DATABASE_URL: undefined, SUMMIT_DATA_DIR: dataDir },
    });
    // PGlite opens on first use: the readiness probe pings the store.
    expect((await fetch(`${agent.base}/readyz`)).status).toBe(200);

    const busy = await finished(cli(['list', '--json'], embeddedEnv(dataDir)));
    expect(busy.code).toBe(5);
    const error = (JSON.parse(busy.stderr.trim()) as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      dataDir,
      holder: { pid: agent.pid, command: expect.stringMatching(/^summit-config agent --config /) },
    });
    expect(error.message).toMatch(/is open in the summit-config agent \(pid \d+/);
    expect(error.message).toMatch(/Stop the agent/);

    agent.signal('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    const after = await finished(cli(['list', '--json'], embeddedEnv(dataDir)));
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual([]);
  }, 180_000);
});
