/**
 * The README's demo walkthrough, line by line, on the embedded default a fresh `npm start` seeds:
 * every command runs as written (only `npx summit-config` is pointed at this checkout's CLI, the
 * binary npx finds at the repository root), in a fresh directory, and each exit code is the one the
 * README states (`# exit N`, 0 otherwise). A line marked `# ctrl-c` is stopped with SIGINT after a few
 * seconds and must exit 0.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@summit-config/test-support/services';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'summit-walkthrough-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Step {
  line: number;
  command: string;
  exit: number;
  interrupt: boolean;
}

/** The `<!-- walkthrough -->` block: one step per command line, with its expected exit code. */
export function walkthroughSteps(readme: string): Step[] {
  const m = /<!-- walkthrough -->\s*\n```sh\n([\s\S]*?)\n```/.exec(readme);
  if (!m) throw new Error('README.md has no <!-- walkthrough --> block');
  return (m[1] as string)
    .split('\n')
    .map((text, i) => ({ text: text.trim(), line: i + 1 }))
    .filter(({ text }) => text !== '' && !text.startsWith('#'))
    .map(({ text, line }) => {
      const c = /^(.*?)\s+#\s*(.*)$/.exec(text);
      const comment = c ? (c[2] as string) : '';
      const exit = /^exit (\d+)/.exec(comment);
      return {
        line,
        command: c ? (c[1] as string) : text,
        exit: exit ? Number(exit[1]) : 0,
        interrupt: comment.startsWith('ctrl-c'),
      };
    });
}

/** One sh script: each step checked right after it runs (variables carry over, as in a terminal). */
function script(steps: readonly Step[]): string {
  const lines = ['set -u', 'cli() { node "$SUMMIT_CLI" "$@"; }'];
  for (const s of steps) {
    const command = s.command.replaceAll('npx summit-config', 'cli');
    const check = `rc=$?; [ "$rc" -eq ${s.exit} ] || { echo "walkthrough line ${s.line}: exit $rc, expected ${s.exit}: ${s.command.replaceAll('"', '\\"').replaceAll('$', '\\$')}" >&2; exit 90; }`;
    if (s.interrupt) {
      lines.push(
        `${command.replace(/^cli /, 'node "$SUMMIT_CLI" ')} > step-${s.line}.out 2>&1 & pid=$!`,
        'sleep 4',
        'kill -INT "$pid"',
        'wait "$pid"',
        check,
      );
    } else lines.push(command, check);
  }
  return `${lines.join('\n')}\n`;
}

it('runs the README walkthrough on a freshly seeded embedded store, every exit code as stated', async () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const steps = walkthroughSteps(readme);
  expect(steps.length).toBeGreaterThan(15);
  expect(steps.some((s) => s.exit === 3)).toBe(true);
  // `npx summit-config` resolves at the repository root to the CLI this test runs.
  expect((await run('npx', ['summit-config', '--version'], { cwd: repoRoot })).stdout.trim()).toMatch(/^\d+\.\d+/);

  // What `npm start` leaves behind: the demo seeded into ./.summit/data of the working directory.
  symlinkSync(join(repoRoot, 'examples'), join(dir, 'examples'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SUMMIT_CLI: join(repoRoot, 'packages', 'agent', 'bin', 'summit-config.js'),
  };
  delete env.CONSUL_HTTP_ADDR;
  delete env.DATABASE_URL;
  delete env.SUMMIT_DATA_DIR;
  delete env.SUMMIT_RBAC_FILE;
  delete env.SUMMIT_ACTOR;
  await run(join(repoRoot, 'node_modules', '.bin', 'tsx'), ['examples/seed-demo.ts'], {
    cwd: dir,
    env,
    timeout: 60_000,
  });

  writeFileSync(join(dir, 'walkthrough.sh'), script(steps));
  const result = spawnSync('sh', ['walkthrough.sh'], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
  expect(result.stderr.split('\n').filter((l) => l.startsWith('walkthrough line'))).toEqual([]);
  expect(result.status).toBe(0);
  // The proposal waits for a second person (one OS user is one approver): production keeps its
  // seeded pool; the watch printed the heads; the backup restored.
  expect(result.stdout).toContain('"max": 50');
  expect(result.stdout).not.toContain('"max": 80');
  const watched = steps.find((s) => s.interrupt) as Step;
  expect(readFileSync(join(dir, `step-${watched.line}.out`), 'utf8')).toMatch(/app:demo\/database/);
  expect(result.stdout).toMatch(/imported \d+ version\(s\) of 3 ref\(s\), 3 environment\(s\)/);
}, 300_000);
