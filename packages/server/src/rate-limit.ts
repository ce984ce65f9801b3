/**
 * The rate limit per authenticated principal: a token bucket in this process (so per replica), keyed
 * by the actor's credential, else its id. It runs after authentication, before the body is read; over
 * the limit is `429` (`RATE_LIMITED`) with `Retry-After` in whole seconds. The buckets are bounded:
 * a bucket that has refilled is the same as none and is evicted, and over `maxPrincipals` the least
 * recently seen principal's bucket is dropped.
 */
import type { Actor } from '@summit-config/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CheckedOptions, CheckedRateLimit } from './options.js';
import { problem } from './problems.js';
import { sendProblem } from './reply.js';
import { authOf } from './request-context.js';

interface Bucket {
  tokens: number;
  /** When `tokens` was computed (clock milliseconds). */
  at: number;
}

/** How often (in takes) full buckets are swept when the map is under its bound. */
const SWEEP_EVERY = 1024;

export interface TakeResult {
  allowed: boolean;
  /** When refused: whole seconds until one token is back (at least 1). */
  retryAfter: number;
}

export class TokenBuckets {
  readonly #limit: CheckedRateLimit;
  /** Insertion order is recency: a bucket is moved to the end when taken from. */
  readonly #buckets = new Map<string, Bucket>();
  #takes = 0;

  constructor(limit: CheckedRateLimit) {
    this.#limit = limit;
  }

  /** Principals with a bucket (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  take(key: string): TakeResult {
    const { perSecond, burst, clock } = this.#limit;
    const now = clock();
    const bucket = this.#buckets.get(key);
    let tokens = bucket ? this.#refilled(bucket, now) : burst;
    this.#buckets.delete(key);
    if (tokens >= 1) {
      tokens -= 1;
      this.#buckets.set(key, { tokens, at: now });
      this.#bound(now);
      return { allowed: true, retryAfter: 0 };
    }
    this.#buckets.set(key, { tokens, at: now });
    this.#bound(now);
    return { allowed: false, retryAfter: Math.max(1, Math.ceil((1 - tokens) / perSecond)) };
  }

  #refilled(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    return Math.min(this.#limit.burst, bucket.tokens + elapsed * this.#limit.perSecond);
  }

  #bound(now: number): void {
    this.#takes++;
    const over = this.#buckets.size > this.#limit.maxPrincipals;
    if (!over && this.#takes % SWEEP_EVERY !== 0) return;
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(bucket, now) >= this.#limit.burst) this.#buckets.delete(key);
    }
    // Still over: drop the least recently seen (the first in insertion order).
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= this.#limit.maxPrincipals) break;
      this.#buckets.delete(key);
    }
  }
}

/** The bucket key of an actor: its credential (`token:<id>`, an OIDC subject), else its id. */
export function principalOf(actor: Actor): string {
  return actor.credential !== undefined && actor.credential !== ''
    ? `credential:${actor.credential}`
    : `id:${actor.id}`;
}

/** The `onRequest` hook, after authentication: unauthenticated requests (not `/api/v1`) pass. */
export function rateLimitHook(options: CheckedOptions) {
  const limit = options.rateLimit;
  if (limit === false) return undefined;
  const buckets = new TokenBuckets(limit);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (reply.sent) return;
    const auth = authOf(request);
    if (auth === undefined) return;
    const { allowed, retryAfter } = buckets.take(principalOf(auth.actor));
    if (allowed) return;
    reply.header('Retry-After', String(retryAfter));
    await sendProblem(
      request,
      reply,
      problem(429, 'RATE_LIMITED', `too many requests for this principal; retry after ${retryAfter} s`),
    );
  };
}
