/**
 * File rendering: a resolved config written as JSON, YAML or `.env`, atomically (a temp file in the
 * same directory, fsync, rename, fsync of the directory), so a reader sees the old file or the new
 * one, never half of one. After a burst of changes (`debounceMs` quiet), the reload command runs
 * once, through `/bin/sh -c`, with a timeout (the whole process group is killed when it expires).
 * Failures are reported (events, metrics, log lines); they never stop the agent.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { JsonObject } from '@summit-config/core';
import type { RenderConfig } from './config.js';
import type { AgentEvents } from './events.js';
import { renderConfig } from './format.js';
import type { AgentMetrics } from './metrics.js';
import { type AgentLogger, toConfigError } from './util.js';

/**
 * Writes `content` to `path` atomically: temp file in the same directory (mode `mode`), fsync,
 * rename over the target, fsync of the directory. The temp file is removed on failure.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  // The rename itself is durable only once the directory is synced (best effort: not every
  // platform lets a directory be opened).
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // ignore
  }
}

/** The permission bits of `path`; undefined when it cannot be read. */
async function modeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (st) => st.mode & 0o7777,
    () => undefined,
  );
}

export interface RendererDeps {
  events: AgentEvents;
  metrics: AgentMetrics;
  logger?: AgentLogger;
}

/** One rendered file and its reload command. */
export class FileRenderer {
  readonly config: RenderConfig;
  readonly #deps: RendererDeps;
  /** What the file holds, as far as this renderer knows (read from disk before the first write). */
  #current: string | undefined;
  #loadedCurrent = false;
  #latest: JsonObject | undefined;
  #hasLatest = false;
  #writing: Promise<void> | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  #closed = false;
  /** Reload commands run so far (for status). */
  reloads = 0;

  constructor(config: RenderConfig, deps: RendererDeps) {
    this.config = config;
    this.#deps = deps;
  }

  /**
   * Renders `value` (the resolved config) into the file when it differs from what the file holds.
   * Bursts coalesce: while a write runs, only the newest value is written next. Never rejects.
   */
  update(value: JsonObject): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#latest = value;
    this.#hasLatest = true;
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#hasLatest && !this.#closed) {
      const value = this.#latest as JsonObject;
      this.#hasLatest = false;
      const { path, id, app, environment } = this.config;
      try {
        const content = renderConfig(value, this.config.format, this.config.envPrefix);
        if (!this.#loadedCurrent) {
          this.#current = await readFile(path, 'utf8').catch(() => undefined);
          this.#loadedCurrent = true;
        }
        // Unchanged content is left alone, unless the file's mode is not the configured one (a
        // file made readable by others is rewritten at its mode, atomically).
        const changed = content !== this.#current;
        if (!changed && (await modeOf(path)) === this.config.mode) {
          this.#deps.events.emit('rendered', { path, id, app, environment, written: false });
          continue;
        }
        await writeFileAtomic(path, content, this.config.mode);
        this.#current = content;
        this.#deps.metrics.renderWrites.inc({ result: 'ok' });
        this.#deps.logger?.info?.({ path, id, app, environment }, 'rendered');
        this.#deps.events.emit('rendered', { path, id, app, environment, written: true });
        // A mode repaired alone is no change for the service: no reload.
        if (changed) this.#scheduleReload();
      } catch (error) {
        const e = toConfigError(error);
        this.#deps.metrics.renderWrites.inc({ result: 'failed' });
        this.#deps.logger?.error?.({ path, err: e.toJSON() }, 'render failed');
        this.#deps.events.emit('error', { where: `render ${path}`, error: e });
      }
    }
  }

  #scheduleReload(): void {
    if (!this.config.reloadCommand || this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (this.#reloading) this.#reloadAgain = true;
      else this.#startReload();
    }, this.config.debounceMs);
  }

  #startReload(): void {
    this.#reloading = this.#runReload().finally(() => {
      this.#reloading = undefined;
      if (this.#reloadAgain && !this.#closed) {
        this.#reloadAgain = false;
        this.#startReload();
      }
    });
  }

  /** Runs the reload command once; reports the outcome; never rejects. */
  #runReload(): Promise<void> {
    const command = this.config.reloadCommand as string;
    const { path, id, app, environment } = this.config;
    const started = performance.now();
    this.reloads++;
    return new Promise<void>((resolve) => {
      let stderr = '';
      let timedOut = false;
      let settled = false;
      const child = spawn('/bin/sh', ['-c', command], {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          SUMMIT_RENDER_PATH: path,
          SUMMIT_RENDER_ID: id,
          SUMMIT_RENDER_APP: app,
          SUMMIT_RENDER_ENVIRONMENT: environment,
        },
      });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (stderr.length < 4096) stderr += chunk.slice(0, 4096 - stderr.length);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, this.config.reloadTimeoutMs);
      timer.unref();
      const finish = (exitCode: number | null, error?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const ok = !timedOut && exitCode === 0 && error === undefined;
        const durationMs = performance.now() - started;
        const detail =
          error ??
          (timedOut
            ? `timed out after ${this.config.reloadTimeoutMs} ms`
            : exitCode === 0
              ? undefined
              : `exited with ${exitCode}${stderr ? `: ${stderr.trim()}` : ''}`);
        this.#deps.metrics.reloads.inc({ result: ok ? 'ok' : timedOut ? 'timeout' : 'failed' });
        if (ok) this.#deps.logger?.info?.({ path, command, durationMs }, 'reload command ran');
        else this.#deps.logger?.warn?.({ path, command, exitCode, error: detail }, 'reload command failed');
        this.#deps.events.emit('reload', {
          path,
          command,
          ok,
          exitCode,
          durationMs,
          ...(detail ? { error: detail } : {}),
        });
        resolve();
      };
      child.on('error', (error) => finish(null, error.message));
      child.on('close', (code, signal) =>
        finish(code ?? null, signal && !timedOut ? `killed by ${signal}` : undefined),
      );
    });
  }

  /** Stops: no new writes or reloads; a reload under way is left to finish on its own. */
  async close(graceMs = 200): Promise<void> {
    this.#closed = true;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = undefined;
    const pending = [this.#writing, this.#reloading].filter((p) => p !== undefined);
    if (pending.length > 0) {
      await Promise.race([Promise.allSettled(pending), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
  }
}
