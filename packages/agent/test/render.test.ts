import { readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDirs } from '@summit-config/test-support/temp';
import { until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';
import type { RenderConfig } from '../src/config.js';
import { type AgentEventMap, AgentEvents } from '../src/events.js';
import { createAgentMetrics } from '../src/metrics.js';
import { FileRenderer, writeFileAtomic } from '../src/render.js';

const tempDir = tempDirs();

async function setup(overrides: Partial<RenderConfig> = {}) {
  const dir = await tempDir('agent-render-');
  const config: RenderConfig = {
    app: 'billing',
    id: 'database',
    environment: 'prod',
    path: join(dir, 'out', 'db.json'),
    format: 'json',
    reloadCommand: `echo run >> "${join(dir, 'reloads.txt')}"`,
    debounceMs: 50,
    reloadTimeoutMs: 5000,
    mode: 0o600,
    envPrefix: '',
    ...overrides,
  };
  const events = new AgentEvents();
  const metrics = createAgentMetrics({ defaultMetrics: false });
  const reloads: AgentEventMap['reload'][] = [];
  const rendered: AgentEventMap['rendered'][] = [];
  events.on('reload', (e) => reloads.push(e));
  events.on('rendered', (e) => rendered.push(e));
  const renderer = new FileRenderer(config, { events, metrics });
  const count = async () =>
    (await readFile(join(dir, 'reloads.txt'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return { dir, config, renderer, reloads, rendered, count, metrics };
}

describe('writeFileAtomic', () => {
  it('replaces the file with its mode and leaves no temp file behind', async () => {
    const dir = await tempDir('agent-atomic-');
    const file = join(dir, 'a', 'b.txt');
    await writeFileAtomic(file, 'one', 0o640);
    await writeFileAtomic(file, 'two', 0o640);
    expect(await readFile(file, 'utf8')).toBe('two');
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    expect(await readdir(join(dir, 'a'))).toEqual(['b.txt']);
  });
});

describe('FileRenderer', () => {
  it('writes the resolved value, and runs the reload command once per burst of changes', async () => {
    // The quiet time is far above the time the burst takes to write, even on a busy machine.
    const t = await setup({ debounceMs: 400 });
    await t.renderer.update({ host: 'a', n: 0 });
    await until(async () => (await t.count()) === 1, 'the first reload');
    // A burst: each change lands well within the debounce window of the previous one.
    for (let n = 1; n <= 10; n++) void t.renderer.update({ host: 'a', n });
    await until(async () => (await t.count()) === 2, 'the burst reload');
    expect(JSON.parse(await readFile(t.config.path, 'utf8'))).toEqual({ host: 'a', n: 10 });
    // Quiet long enough for any extra run to have happened.
    await new Promise((r) => setTimeout(r, 300));
    expect(await t.count()).toBe(2);
    expect(t.reloads.every((r) => r.ok)).toBe(true);
    expect((await stat(t.config.path)).mode & 0o777).toBe(0o600);
    await t.renderer.close();
  });

  it('leaves a file that already holds the value alone (no write, no reload)', async () => {
    const t = await setup();
    await t.renderer.update({ host: 'a' });
    await until(async () => (await t.count()) === 1, 'the first reload');
    const again = new FileRenderer(t.config, { events: new AgentEvents(), metrics: t.metrics });
    await again.update({ host: 'a' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await t.count()).toBe(1);
    await again.close();
    await t.renderer.close();
  });

  it('reports a failing reload command, and a command that runs too long is killed', async () => {
    const failing = await setup({ reloadCommand: 'echo boom >&2; exit 3' });
    await failing.renderer.update({ a: 1 });
    await until(() => failing.reloads.length === 1, 'the failed reload');
    expect(failing.reloads[0]).toMatchObject({ ok: false, exitCode: 3, error: 'exited with 3: boom' });

    const slow = await setup({ reloadCommand: 'sleep 30', reloadTimeoutMs: 200 });
    await slow.renderer.update({ a: 1 });
    await until(() => slow.reloads.length === 1, 'the killed reload');
    expect(slow.reloads[0]).toMatchObject({ ok: false, error: 'timed out after 200 ms' });
    const text = await slow.metrics.registry.metrics();
    expect(text).toMatch(/summit_agent_reload_runs_total\{result="timeout"\} 1/);
    await failing.renderer.close();
    await slow.renderer.close();
  });

  it('reports a value that cannot be rendered and keeps the previous file', async () => {
    const envFile = join(tmpdir(), `agent-render-${process.pid}-${Date.now()}.env`);
    tempDir.track(envFile);
    const t = await setup({ format: 'env', path: envFile });
    const errors: AgentEventMap['error'][] = [];
    const events = new AgentEvents();
    events.on('error', (e) => errors.push(e));
    const renderer = new FileRenderer(t.config, { events, metrics: t.metrics });
    await renderer.update({ a: 1 });
    await renderer.update({ a: { b: 1 }, a_b: 2 });
    expect(errors[0]?.error.message).toMatch(/both become A_B/);
    expect(await readFile(t.config.path, 'utf8')).toBe('A=1\n');
    await renderer.close();
  });

  it('writes each rendered state whole: a reader never sees a partial file', async () => {
    const t = await setup({ reloadCommand: undefined });
    const big = (n: number) => ({ n, blob: 'x'.repeat(200_000 + n) });
    await t.renderer.update(big(0));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        const text = await readFile(t.config.path, 'utf8');
        const parsed = JSON.parse(text) as { n: number; blob: string };
        expect(parsed.blob.length).toBe(200_000 + parsed.n);
        reads++;
      }
    })();
    for (let n = 1; n <= 20; n++) await t.renderer.update(big(n));
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    await t.renderer.close();
  });
});
