/**
 * `summit-config server` as a real process (`tsx --conditions=source`, so the sources are run): its
 * JSON log lines on stderr, the `config server listening` line's URL, its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '@summit-config/test-support/services';

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The exit code (null after a signal). */
  readonly exited: Promise<number | null>;
  /** The `config server listening` line, once logged; throws with the output when the process ends first. */
  listening(timeoutMs?: number): Promise<{ url: string; adminTokenCreated: boolean }>;
  output(): string;
}

export function startServerProcess(
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean },
): ServerProcess {
  const child = spawn(
    join(repoRoot, 'node_modules/.bin/tsx'),
    ['--conditions=source', join(repoRoot, 'packages/agent/src/cli.ts'), 'server', ...args],
    { cwd: options.cwd, env: options.env, stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached ?? false },
  );
  let text = '';
  child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => text,
    async listening(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const line = text.split('\n').find((l) => l.includes('"msg":"config server listening"'));
        if (line) return JSON.parse(line) as { url: string; adminTokenCreated: boolean };
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the server did not start:\n${text.slice(-3000)}`);
    },
  };
}
