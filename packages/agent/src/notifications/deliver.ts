/**
 * Signed webhook delivery. Each POST carries
 *
 *   Summit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   Summit-Event-Id:  <seq>-<hash prefix>     (the receiver's idempotency key)
 *   Summit-Event-Type: <audit action>
 *
 * (the scheme of Stripe's and GitHub's webhooks: the timestamp inside the signature bounds replays).
 * A 2xx answer is delivered; 5xx, 408, 429, a timeout or a connection error is retried with
 * exponential backoff and full jitter; any other 4xx is final at once (the receiver refused it).
 */
import { createHmac } from 'node:crypto';
import { backoffDelay, delay } from '@summit-config/core/internal';
import type { WebhookConfig } from './config.js';

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'summit-signature';
/** The event id header (the receiver's idempotency key). */
export const EVENT_ID_HEADER = 'summit-event-id';
/** The audit action header. */
export const EVENT_TYPE_HEADER = 'summit-event-type';

/** `t=<t>,v1=<hex>` for `body` signed at `t` (unix seconds) with `secret`. Never throws. */
export function signatureOf(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** One attempt's outcome. */
export interface AttemptResult {
  readonly ok: boolean;
  /** Worth another attempt (5xx, 408, 429, timeout, connection error). */
  readonly retryable: boolean;
  readonly status?: number;
  /** Why it failed: the status or the error's code, never a response body. */
  readonly error?: string;
}

/** POSTs `body` once, signed now; never rejects (an abort of `signal` is a non-retryable failure). */
export async function postOnce(
  hook: Pick<WebhookConfig, 'url' | 'secret' | 'timeoutMs'>,
  body: string,
  headers: { eventId: string; eventType: string },
  signal?: AbortSignal,
): Promise<AttemptResult> {
  const t = Math.floor(Date.now() / 1000);
  const timeout = AbortSignal.timeout(hook.timeoutMs);
  try {
    const response = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'summit-agent-notifications/1',
        [SIGNATURE_HEADER]: signatureOf(hook.secret, t, body),
        [EVENT_ID_HEADER]: headers.eventId,
        [EVENT_TYPE_HEADER]: headers.eventType,
      },
      body,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) return { ok: true, retryable: false, status: response.status };
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    return { ok: false, retryable, status: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    if (signal?.aborted) return { ok: false, retryable: false, error: 'aborted' };
    if (timeout.aborted) return { ok: false, retryable: true, error: `timed out after ${hook.timeoutMs} ms` };
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, retryable: true, error: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

/** The outcome of a delivery (every attempt). */
export interface DeliveryResult {
  readonly ok: boolean;
  readonly attempts: number;
  readonly lastError?: string;
  /** The signal aborted (leadership lost, the agent stopping): neither delivered nor dead. */
  readonly aborted: boolean;
}

/**
 * Delivers `body` with up to `attempts` attempts (default the hook's `maxAttempts`), waiting a
 * random time up to `backoffMs * 2^n` (at most `maxBackoffMs`) between them. `onAttempt` is told of
 * each failed attempt that will be retried.
 */
export async function deliver(
  hook: WebhookConfig,
  body: string,
  headers: { eventId: string; eventType: string },
  options: { signal?: AbortSignal; attempts?: number; onRetry?: (result: AttemptResult) => void } = {},
): Promise<DeliveryResult> {
  const attempts = options.attempts ?? hook.maxAttempts;
  let last: AttemptResult | undefined;
  for (let n = 0; n < attempts; n++) {
    if (options.signal?.aborted) return { ok: false, attempts: n, aborted: true, lastError: last?.error };
    last = await postOnce(hook, body, headers, options.signal);
    if (last.ok) return { ok: true, attempts: n + 1, aborted: false };
    if (options.signal?.aborted) return { ok: false, attempts: n + 1, aborted: true, lastError: last.error };
    if (!last.retryable || n === attempts - 1)
      return { ok: false, attempts: n + 1, aborted: false, lastError: last.error };
    options.onRetry?.(last);
    try {
      await delay(Math.max(1, backoffDelay(n, hook.backoffMs, hook.maxBackoffMs)), options.signal);
    } catch {
      return { ok: false, attempts: n + 1, aborted: true, lastError: last.error };
    }
  }
  return { ok: false, attempts, aborted: false, lastError: last?.error };
}
