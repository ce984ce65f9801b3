/**
 * Webhook notifications of rotations: a JSON POST to each URL of a policy's `notify`, with a
 * timeout. A failed delivery is reported (an event and a log line), never fatal to the rotation.
 * The payload is built from ids only: it never contains a secret value.
 */
import type { RotationErrorInfo, RotationEvent, SecretId } from './types.js';

/** The events that are posted to webhooks. */
export const NOTIFIED_EVENTS = ['started', 'promoted', 'completed', 'failed'] as const;
export type NotifiedEvent = (typeof NOTIFIED_EVENTS)[number];

/** The JSON body of a webhook POST. */
export interface RotationNotification {
  /** `secret.rotation.started`, `.promoted`, `.completed`, `.failed`. */
  readonly event: `secret.rotation.${NotifiedEvent}`;
  readonly secret: SecretId;
  readonly runId: string;
  /** The new version id (promoted, completed). */
  readonly version?: string;
  readonly previousVersion?: string;
  readonly reason?: 'scheduled' | 'manual';
  readonly error?: RotationErrorInfo;
  /** ISO-8601 UTC. */
  readonly at: string;
}

export interface WebhookOptions {
  /** Per request, in milliseconds. Default 5 000. */
  timeoutMs?: number;
  /** Extra headers (e.g. a shared-secret signature header of your own). */
  headers?: Record<string, string>;
  /** The fetch implementation. Default the global `fetch`. */
  fetch?: typeof fetch;
}

export interface WebhookResult {
  readonly url: string;
  readonly ok: boolean;
  /** The HTTP status, when one came back. */
  readonly status?: number;
  /** Why it failed (no response body, which could echo anything). */
  readonly error?: string;
}

/** The notification for `event`, or `undefined` for events that are not posted. */
export function notificationOf(event: RotationEvent): RotationNotification | undefined {
  const base = { secret: event.secret, at: event.at };
  switch (event.type) {
    case 'started':
      return { ...base, event: 'secret.rotation.started', runId: event.runId, reason: event.reason };
    case 'promoted':
    case 'completed':
      return {
        ...base,
        event: `secret.rotation.${event.type}`,
        runId: event.runId,
        version: event.version,
        ...(event.previousVersion === undefined ? {} : { previousVersion: event.previousVersion }),
      };
    case 'failed':
      return { ...base, event: 'secret.rotation.failed', runId: event.runId, error: event.error };
    default:
      return undefined;
  }
}

/** POSTs `payload` to every URL at once; resolves with one result per URL (never rejects). */
export async function postWebhooks(
  urls: readonly string[],
  payload: RotationNotification,
  options: WebhookOptions = {},
): Promise<WebhookResult[]> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const body = JSON.stringify(payload);
  return Promise.all(
    urls.map(async (url): Promise<WebhookResult> => {
      try {
        const response = await doFetch(url, {
          method: 'POST',
          headers: {
            ...options.headers,
            'content-type': 'application/json',
            'user-agent': 'summit-config-rotation',
          },
          body,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'manual',
        });
        // The body is not read into anything; drain it so the connection is reused.
        await response.arrayBuffer().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) return { url, ok: true, status: response.status };
        return { url, ok: false, status: response.status, error: `HTTP ${response.status}` };
      } catch (error) {
        const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
        const why =
          e?.name === 'TimeoutError'
            ? `no answer within ${timeoutMs} ms`
            : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error)).slice(0, 200);
        return { url, ok: false, error: why };
      }
    }),
  );
}
