/**
 * Runs the agent as a real process, the way an operator does:
 * `npx tsx --conditions=source packages/agent/src/cli.ts agent --config <file>`.
 *
 * The agent logs JSON lines on stderr; `agent listening` carries the bound port and the pid of the
 * node process that runs the agent (npx and tsx sit above it), which is the process signals go to.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@summit-config/test-support/services';

export type LogLine = Record<string, unknown> & { level?: string; msg?: string };

export interface AgentProcess {
  readonly label: string;
  readonly child: ChildProcess;
  /** The node process running the agent. */
  readonly pid: number;
  readonly port: number;
  readonly base: string;
  readonly logs: LogLine[];
  /** Everything the process wrote to stderr (for failure messages). */
  output(): string;
  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** The wrapper's exit (npx propagates the agent's exit code). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the agent's node process. */
  signal(signal: NodeJS.Signals): void;
  /** Resolves with the ms it took for the agent's node process to disappear, polling every 10 ms. */
  waitForPidExit(timeoutMs?: number): Promise<number>;
  /** Kills the whole process group (npx, tsx, node) with SIGKILL; safe to call twice. */
  kill(): void;
}

const running = new Set<AgentProcess>();
/** The temp directory holding each started agent's configuration file, whether it started or not. */
const configDirs = new Set<string>();

/**
 * SIGKILLs every agent process group still running and removes the agents' configuration
 * directories (call from afterEach/afterAll).
 */
export function killAllAgents(): void {
  for (const p of running) p.kill();
  running.clear();
  for (const dir of configDirs) rmSync(dir, { recursive: true, force: true });
  configDirs.clear();
}

export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface StartOptions {
  label: string;
  /** The YAML configuration, as an object. */
  config: Record<string, unknown>;
  /** Environment changes for the child: a value sets, `undefined` removes. */
  env?: Record<string, string | undefined>;
  /** How long to wait for `agent listening`. Default 60 s (a first PGlite start is slow). */
  startTimeoutMs?: number;
}

export async function startAgentProcess(options: StartOptions): Promise<AgentProcess> {
  const dir = await mkdtemp(join(tmpdir(), `summit-agent-${options.label}-`));
  configDirs.add(dir);
  const file = join(dir, 'agent.yaml');
  // JSON is YAML: the agent parses it with its YAML loader.
  await writeFile(file, JSON.stringify(options.config, null, 2));
  const env: NodeJS.ProcessEnv = { ...process.env, SUMMIT_LOG_LEVEL: 'debug' };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn('npx', ['tsx', '--conditions=source', 'packages/agent/src/cli.ts', 'agent', '--config', file], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let text = '';
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    text += chunk;
    partial += chunk;
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      nl = partial.indexOf('\n');
      if (!line.startsWith('{')) continue;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.match(parsed)) {
          waiters.delete(w);
          w.resolve(parsed);
        }
      }
    }
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  const waitForLog = (match: (l: LogLine) => boolean, what: string, timeoutMs = 30_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const entry = {
        match,
        resolve: (l: LogLine) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(entry);
        reject(new Error(`${options.label}: timed out waiting for ${what}; output:\n${text.slice(-4000)}`));
      }, timeoutMs);
      waiters.add(entry);
      void exited.then((e) => {
        if (!waiters.has(entry)) return;
        waiters.delete(entry);
        clearTimeout(timer);
        reject(
          new Error(`${options.label} exited (${e.code ?? e.signal}) before ${what}; output:\n${text.slice(-4000)}`),
        );
      });
    });
  };
  let killed = false;
  const kill = () => {
    if (killed || exitInfo) return;
    killed = true;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  let listening: LogLine;
  try {
    listening = await waitForLog(
      (l) => l.msg === 'agent listening',
      'agent listening',
      options.startTimeoutMs ?? 60_000,
    );
  } catch (error) {
    kill();
    throw error;
  }
  const pid = listening.pid as number;
  const port = listening.port as number;
  const proc: AgentProcess = {
    label: options.label,
    child,
    pid,
    port,
    base: `http://127.0.0.1:${port}`,
    logs,
    output: () => text,
    waitForLog,
    exited,
    signal: (s) => process.kill(pid, s),
    async waitForPidExit(timeoutMs = 10_000) {
      const t0 = performance.now();
      while (alive(pid)) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`${options.label}: pid ${pid} still alive`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return performance.now() - t0;
    },
    kill,
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
