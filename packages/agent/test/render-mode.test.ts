/** A rendered file whose mode drifted from the configured one is rewritten at its mode. */
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import type { RenderConfig } from '../src/config.js';
import { type AgentEventMap, AgentEvents } from '../src/events.js';
import { renderConfig } from '../src/format.js';
import { createAgentMetrics } from '../src/metrics.js';
import { FileRenderer } from '../src/render.js';

const tempDir = tempDirs();

describe('rendered file mode', () => {
  it('rewrites an unchanged file that others could read at the configured 0600; one at its mode is left alone', async () => {
    const dir = await tempDir('agent-render-mode-');
    const path = join(dir, 'db.env');
    const value = { password: 'not-a-secret-here', port: 5432 };
    const config: RenderConfig = {
      app: 'billing',
      id: 'database',
      environment: 'prod',
      path,
      format: 'env',
      reloadCommand: undefined,
      debounceMs: 0,
      reloadTimeoutMs: 5000,
      mode: 0o600,
      envPrefix: 'DB_',
    };
    // The same content the renderer would write, left world-readable.
    const content = renderConfig(value, 'env', 'DB_');
    await writeFile(path, content);
    await chmod(path, 0o644);
    const events = new AgentEvents();
    const rendered: AgentEventMap['rendered'][] = [];
    events.on('rendered', (e) => rendered.push(e));
    const renderer = new FileRenderer(config, { events, metrics: createAgentMetrics({ defaultMetrics: false }) });
    await renderer.update(value);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe(content);
    expect(rendered.map((r) => r.written)).toEqual([true]);
    // Unchanged and at its mode: nothing written.
    await renderer.update({ ...value });
    expect(rendered.map((r) => r.written)).toEqual([true, false]);
    await renderer.close();
  });
});
