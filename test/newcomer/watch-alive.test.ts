/**
 * `summit-config watch` on the embedded store stays up until it is stopped. Before the fix it exited
 * by itself with code 13 (Node's "unsettled top-level await": nothing kept the event loop alive)
 * 7-11 s after start, in about 7 runs of 11. Twenty watches, each on its own embedded directory, must
 * all still run 30 s after they started watching, then stop with exit 0 on SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@summit-config/test-support/services';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'summit-watch-alive-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('20 watches on embedded stores each stay up for 30 s, then exit 0 on SIGTERM', async () => {
  const cli = join(repoRoot, 'packages', 'agent', 'bin', 'summit-config.js');
  const bare: NodeJS.ProcessEnv = { ...process.env };
  delete bare.CONSUL_HTTP_ADDR;
  delete bare.DATABASE_URL;
  // One embedded directory made once (PGlite's initdb is the slow part), copied for each watch.
  const template = join(dir, 'template');
  await promisify(execFile)(process.execPath, [cli, 'env', 'list'], { env: { ...bare, SUMMIT_DATA_DIR: template } });
  const runs = Array.from({ length: 20 }, (_, i) => {
    cpSync(template, join(dir, `data-${i}`), { recursive: true });
    const env: NodeJS.ProcessEnv = { ...bare, SUMMIT_DATA_DIR: join(dir, `data-${i}`) };
    const child = spawn(process.execPath, [cli, 'watch'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The command notes on stderr when it watches.
    const watching = new Promise<void>((resolve) => {
      const check = () => (stderr.includes('watching') ? resolve() : undefined);
      child.stderr?.on('data', check);
    });
    return { child, exited, watching, stderr: () => stderr };
  });
  // Each must outlive 30 s from the moment it watches.
  const alive = await Promise.all(
    runs.map(async (r) => {
      const started = await Promise.race([r.watching.then(() => 'watching' as const), r.exited]);
      if (started !== 'watching') return `exited ${started} before watching: ${r.stderr().slice(-300)}`;
      const since = Date.now();
      const early = await Promise.race([
        r.exited,
        new Promise<'alive'>((res) => setTimeout(() => res('alive'), 30_000)),
      ]);
      return early === 'alive' ? 'alive' : `exited ${early} after ${Date.now() - since} ms: ${r.stderr().slice(-300)}`;
    }),
  );
  expect(alive).toEqual(runs.map(() => 'alive'));
  for (const r of runs) r.child.kill('SIGTERM');
  expect(await Promise.all(runs.map((r) => r.exited))).toEqual(runs.map(() => 0));
}, 180_000);
