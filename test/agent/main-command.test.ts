/**
 * The README's main command, `npm start` (scripts/start.sh), on a bare machine: no CONSUL_HTTP_ADDR,
 * no DATABASE_URL. It installs, builds, seeds the demo configs into embedded PGlite, starts the agent,
 * which serves a resolved config, and the config server beside it: the admin token is written once
 * (mode 0600), the API answers with it, and a CLI run next to the main job goes through the server
 * instead of being refused for the busy directory. SIGTERM stops it cleanly with exit code 0.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '@summit-config/test-support/services';
import { describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);

describe('the main command on a bare machine', () => {
  it('starts the agent on the embedded default, serves a config, and stops cleanly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'summit-main-'));
    // Port 0: the agent binds a free port and logs the URL it bound ("agent listening").
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SUMMIT_DATA_DIR: join(dir, 'data'),
      SUMMIT_AGENT_PORT: '0',
      SUMMIT_SERVER_PORT: '0',
    };
    delete env.SUMMIT_SERVER;
    delete env.SUMMIT_TOKEN;
    delete env.CONSUL_HTTP_ADDR;
    delete env.DATABASE_URL;
    // start.sh ends with `exec node ... agent`, so the child becomes the agent itself.
    const child = spawn('sh', ['scripts/start.sh'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 150_000;
      let base = '';
      while (!base && Date.now() < deadline) {
        const line = output.split('\n').find((l) => l.includes('"msg":"agent listening"'));
        if (line) base = (JSON.parse(line) as { url: string }).url;
        else await new Promise((r) => setTimeout(r, 200));
      }
      expect(base, output.slice(-2000)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      let ready = false;
      while (!ready && Date.now() < deadline) {
        ready = await fetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await new Promise((r) => setTimeout(r, 500));
      }
      expect(ready, output.slice(-2000)).toBe(true);
      const res = await fetch(`${base}/v1/config/app:demo/database?environment=production-eu`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        host: 'db.eu.internal',
        port: 5432,
        pool: { min: 2, max: 50 },
        ssl: true,
        name: 'demo',
      });
      expect(res.headers.get('x-summit-source')).toBe('pglite');
      expect(output).toContain('seeded app:demo/database v1');

      // The config server: its URL is logged, the admin token is in the file beside the data directory.
      const serverLine = output.split('\n').find((l) => l.includes('"msg":"config server listening"'));
      expect(serverLine, output.slice(-2000)).toBeDefined();
      const api = (JSON.parse(serverLine as string) as { url: string }).url;
      const tokenFile = join(dir, 'admin-token');
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      const token = (await readFile(tokenFile, 'utf8')).trim();
      const listed = await fetch(`${api}/api/v1/configs?scope=app:demo`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(listed.status).toBe(200);
      const { items } = (await listed.json()) as { items: Array<{ ref: string }> };
      expect(items.map((h) => h.ref)).toContain('app:demo/database');
      expect((await fetch(`${api}/api/v1/configs`)).status).toBe(401);
      // The CLI beside the running main job goes through its server, as the admin token's owner.
      const cli = await execFileAsync(
        process.execPath,
        [join(repoRoot, 'packages/agent/bin/summit-config.js'), 'whoami', '--json'],
        {
          cwd: repoRoot,
          env,
        },
      );
      expect(JSON.parse(cli.stdout)).toMatchObject({ via: api, roles: expect.arrayContaining(['config-admin']) });
      const got = await execFileAsync(
        process.execPath,
        [join(repoRoot, 'packages/agent/bin/summit-config.js'), 'get', 'app:demo/database', '--json'],
        { cwd: repoRoot, env },
      );
      expect(JSON.parse(got.stdout)).toMatchObject({ ref: { scope: 'app:demo', id: 'database' }, version: 1 });
      const started = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(output).toContain('"msg":"agent stopped"');
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
    // The rendered file of the demo config was written too.
    expect(await readFile(join(repoRoot, '.summit', 'render', 'demo-database.env'), 'utf8')).toContain(
      'DATABASE_HOST=',
    );
  }, 200_000);
});
