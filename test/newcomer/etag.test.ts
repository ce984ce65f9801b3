/**
 * The agent's entity tags stand for exactly one body: the same config in production and in
 * production-eu (different values), its explain view, and two rollout contexts that land in
 * different variants all get different ETags, so an If-None-Match from one never earns a 304 on the
 * other. Run as a newcomer would: the demo seeded, the agent of `npm start` on a free port.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@summit-config/test-support/services';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'summit-etag-'));
let agent: ReturnType<typeof spawn> | undefined;
let base = '';

beforeAll(async () => {
  symlinkSync(join(repoRoot, 'examples'), join(dir, 'examples'));
  const env: NodeJS.ProcessEnv = { ...process.env, SUMMIT_AGENT_PORT: '0', SUMMIT_SERVER_PORT: '0' };
  delete env.CONSUL_HTTP_ADDR;
  delete env.DATABASE_URL;
  delete env.SUMMIT_DATA_DIR;
  await run(join(repoRoot, 'node_modules', '.bin', 'tsx'), ['examples/seed-demo.ts'], {
    cwd: dir,
    env,
    timeout: 60_000,
  });
  const cli = join(repoRoot, 'packages', 'agent', 'bin', 'summit-config.js');
  agent = spawn(process.execPath, [cli, 'agent', '--config', 'examples/agent.yaml'], { cwd: dir, env });
  let output = '';
  agent.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  const deadline = Date.now() + 60_000;
  while (!base && Date.now() < deadline) {
    const line = output.split('\n').find((l) => l.includes('"msg":"agent listening"'));
    if (line) base = (JSON.parse(line) as { url: string }).url;
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (!base) throw new Error(`the agent did not start: ${output.slice(-2000)}`);
  while (
    !(await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await new Promise((r) => setTimeout(r, 100));
}, 90_000);

afterAll(() => {
  agent?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, ifNoneMatch?: string) {
  const res = await fetch(`${base}${path}`, ifNoneMatch ? { headers: { 'If-None-Match': ifNoneMatch } } : {});
  return { status: res.status, etag: res.headers.get('etag') as string, body: await res.text() };
}

it('gives every distinct body its own ETag: environment, explain and rollout context', async () => {
  const prod = await get('/v1/config/app:demo/database?environment=production');
  const eu = await get('/v1/config/app:demo/database?environment=production-eu', prod.etag);
  expect(prod.status).toBe(200);
  expect(eu.status).toBe(200); // not 304: another environment, another value
  expect(eu.body).not.toBe(prod.body);
  expect(eu.etag).not.toBe(prod.etag);
  expect((await get('/v1/config/app:demo/database?environment=production-eu', eu.etag)).status).toBe(304);

  const explain = await get('/v1/config/app:demo/database?environment=production-eu&explain=1', eu.etag);
  expect(explain.status).toBe(200);
  expect(explain.etag).not.toBe(eu.etag);

  // The checkout rollout sends 25% of users to the new flow: find one user in each variant.
  const byFlow = new Map<string, { etag: string; user: string }>();
  for (let i = 0; i < 200 && byFlow.size < 2; i++) {
    const r = await get(`/v1/config/app:demo/checkout?ctx.userId=user-${i}`);
    const flow = (JSON.parse(r.body) as { flow: string }).flow;
    if (!byFlow.has(flow)) byFlow.set(flow, { etag: r.etag, user: `user-${i}` });
  }
  const [classic, next] = [byFlow.get('classic'), byFlow.get('new')];
  expect(classic && next).toBeTruthy();
  expect(classic?.etag).not.toBe(next?.etag);
  const cross = await get(`/v1/config/app:demo/checkout?ctx.userId=${next?.user}`, classic?.etag);
  expect(cross.status).toBe(200);
  expect((await get(`/v1/config/app:demo/checkout?ctx.userId=${next?.user}`, next?.etag)).status).toBe(304);
}, 60_000);
