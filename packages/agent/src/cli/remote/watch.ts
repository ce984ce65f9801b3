/**
 * Head changes from the config server's `GET /api/v1/watch` (Server-Sent Events), for the CLI's
 * `watch` in remote mode. A dropped stream is resumed with `Last-Event-ID`; when the server answers
 * `reset` (heads changed while away, or another replica's view), its snapshot is compared with what
 * this watch knew and every head that moved is reported as a change, so nothing is missed.
 */
import { isConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { ApiClient } from './api.js';

export interface RemoteHeadChange {
  /** `<scope>/<id>` */
  ref: string;
  version: number;
  checksum: string;
  deleted?: boolean;
  /** A head of the first snapshot (asked for with `initial`). */
  initial?: boolean;
}

export interface RemoteWatchOptions {
  scope?: string;
  /** Report the current heads first (`initial: true`). */
  initial: boolean;
  signal: AbortSignal;
  onChange(change: RemoteHeadChange): void;
  onError(error: import('@summit-config/core').ConfigError): void;
  /** Wait before reconnecting, ms. Default 1000. */
  retryMs?: number;
}

interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/** Splits a text/event-stream body into events (comments skipped). */
async function* events(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0 || event !== 'message') yield { id, event, data: data.join('\n') };
    }
  }
}

/** Follows the server's watch until `signal` aborts. Resolves then. */
export async function watchRemote(api: ApiClient, options: RemoteWatchOptions): Promise<void> {
  const known = new Map<string, number>();
  let lastId: string | undefined;
  let first = true;
  const { signal } = options;
  while (!signal.aborted) {
    try {
      const response = await api.raw('GET', '/api/v1/watch', {
        // Always a snapshot at first (printed only with `initial`): it is what a later reset is compared with.
        query: { scope: options.scope, snapshot: first || lastId !== undefined },
        accept: 'text/event-stream',
        headers: lastId !== undefined ? { 'last-event-id': lastId } : {},
        signal,
      });
      if (!response.body) throw errors.unavailable(`the config server ${api.url}`, new Error('no event stream'));
      let inSnapshot = false;
      for await (const e of events(response.body as unknown as AsyncIterable<Uint8Array>)) {
        if (e.id !== undefined) lastId = e.id;
        if (e.event === 'reset') inSnapshot = true;
        else if (e.event === 'ready') {
          inSnapshot = false;
          first = false;
        } else if (e.event === 'change') {
          const c = JSON.parse(e.data) as RemoteHeadChange & { snapshot?: boolean };
          const change: RemoteHeadChange = {
            ref: c.ref,
            version: c.version,
            checksum: c.checksum,
            ...(c.deleted ? { deleted: true } : {}),
          };
          if (c.snapshot && first) {
            known.set(c.ref, c.version);
            if (options.initial) options.onChange({ ...change, initial: true });
          } else if (c.snapshot || inSnapshot) {
            // A snapshot after a reset: report the heads that moved while this watch was away.
            if (known.get(c.ref) !== c.version) options.onChange(change);
            known.set(c.ref, c.version);
          } else {
            known.set(c.ref, c.version);
            options.onChange(change);
          }
        }
      }
      if (signal.aborted) return;
    } catch (error) {
      if (signal.aborted) return;
      options.onError(isConfigError(error) ? error : errors.unavailable(`the config server ${api.url}`, error));
    }
    // The stream ended (the server's maximum, a restart, a dropped connection): resume.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.retryMs ?? 1000);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}
