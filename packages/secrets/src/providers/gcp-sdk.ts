/**
 * The Google Secret Manager SDK's side of the `gcp` provider, without the SDK itself: its gRPC
 * status codes and how they read, the shapes of its timestamps, states and version names, the
 * bearer-token auth client its REST transport calls, and the abort race its calls need (they take
 * no signal).
 */
import { abortReason } from '@summit-config/core/internal';
import type { SecretVersionState } from '../contract.js';
import { type FailedCall, isNetworkError, type SecretErrorReason } from '../errors.js';
import { type SdkErrors, toIso } from '../provider-kit.js';

/** An access token, or a function giving the current one (called before every request). */
export type GcpAccessToken = string | (() => string | Promise<string>);

/** gRPC status codes. */
const CODE = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const REASONS: Record<number, SecretErrorReason> = {
  [CODE.INVALID_ARGUMENT]: 'invalid',
  [CODE.DEADLINE_EXCEEDED]: 'unavailable',
  [CODE.NOT_FOUND]: 'not-found',
  [CODE.ALREADY_EXISTS]: 'exists',
  [CODE.PERMISSION_DENIED]: 'denied',
  [CODE.RESOURCE_EXHAUSTED]: 'unavailable',
  [CODE.FAILED_PRECONDITION]: 'invalid',
  [CODE.ABORTED]: 'conflict',
  [CODE.INTERNAL]: 'unavailable',
  [CODE.UNAVAILABLE]: 'unavailable',
  [CODE.UNAUTHENTICATED]: 'denied',
};

/**
 * A minimal google-auth-library-compatible client that sends a fixed (or supplied) bearer token
 * and never contacts anything else: what gax's REST transport calls (`fetch`, `getRequestHeaders`).
 */
export function staticTokenAuth(token: GcpAccessToken): object {
  const get = async () => (typeof token === 'function' ? await token() : token);
  return {
    universeDomain: 'googleapis.com',
    async getRequestHeaders() {
      return new Headers({ authorization: `Bearer ${await get()}` });
    },
    async fetch(url: string | URL, init: NonNullable<Parameters<typeof fetch>[1]> = {}) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${await get()}`);
      return fetch(url, { method: init.method, headers, body: init.body ?? null, signal: init.signal });
    },
  };
}

export function timestamp(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'object' && 'seconds' in value) {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    return toIso(Number(seconds ?? 0) * 1000 + Math.floor(Number(nanos ?? 0) / 1e6));
  }
  return toIso(value);
}

export function stateOf(value: unknown): SecretVersionState {
  if (value === 'ENABLED' || value === 1) return 'enabled';
  if (value === 'DESTROYED' || value === 3) return 'destroyed';
  return 'disabled';
}

/** The version number at the end of a version resource name. */
export function versionId(resourceName: unknown): string {
  const s = String(resourceName ?? '');
  return s.slice(s.lastIndexOf('/') + 1);
}

/** What a GCP call knows: how FAILED_PRECONDITION reads in it (default `invalid`). */
export interface GcpCall extends FailedCall {
  failedPrecondition?: SecretErrorReason;
}

/** How an SDK failure reads: by its gRPC code, else by what the transport or the auth library said. */
export const SDK_ERRORS: SdkErrors<GcpCall> = {
  reason(error, ctx) {
    const code = (error as { code?: unknown })?.code;
    let reason: SecretErrorReason = typeof code === 'number' ? (REASONS[code] ?? 'failed') : 'failed';
    if (code === CODE.FAILED_PRECONDITION) reason = ctx.failedPrecondition ?? 'invalid';
    if (reason === 'failed' && isNetworkError(error)) reason = 'unavailable';
    // google-auth-library found no credentials (Application Default Credentials).
    if (
      reason === 'failed' &&
      /default credentials|credentials? (file|not found)/i.test(String((error as Error)?.message))
    ) {
      reason = 'denied';
    }
    // Fetch reports an unreachable host as "TypeError: fetch failed" with the socket error as cause.
    if (reason === 'failed' && error instanceof TypeError && /fetch failed/.test(error.message)) reason = 'unavailable';
    return reason;
  },
  refused(error) {
    const code = (error as { code?: unknown })?.code;
    return `Secret Manager refused the call (${typeof code === 'number' ? `code ${code}` : ((error as Error)?.name ?? 'error')})`;
  },
  revoked: 'the version is disabled or destroyed',
};

/** `work`, or at once the signal's reason when the call is aborted (the SDK does not take a signal). */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  let off = () => {};
  try {
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      off = () => signal.removeEventListener('abort', onAbort);
    });
    work.catch(() => {});
    return await Promise.race([work, aborted]);
  } finally {
    off();
  }
}
