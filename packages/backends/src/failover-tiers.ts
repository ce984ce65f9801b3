/**
 * The tiers of a failover chain, their roles and their circuit breakers.
 *
 * Roles: the durable **record** (`capabilities.record`, PostgreSQL), at most one durable **mirror**
 * beside it (`capabilities.mirror`, Consul), one non-durable **cache** (`capabilities.cache`), or a
 * single durable tier in **plain** mode (the embedded PGlite, Consul alone, PostgreSQL alone).
 */
import { type ConfigStore, isConfigError, type TierFailure } from '@summit-config/core';
import { BackendUnavailableError, errors } from '@summit-config/core/internal';

/**
 * Breaker state of one tier. `syncing`: it answers again but has not caught up with the record (or
 * was not verified yet): it takes ordered writes but serves no reads.
 */
export type BreakerState = 'closed' | 'open' | 'syncing';

export type TierRole = 'record' | 'mirror' | 'plain' | 'cache';

export interface Tier {
  readonly store: ConfigStore;
  readonly durable: boolean;
  readonly role: TierRole;
  state: BreakerState;
  failures: number;
  lastError: unknown;
  since: number;
  /** The recovery running for this tier, if any. */
  recovering: Promise<void> | undefined;
}

export const isOutage = (error: unknown) =>
  isConfigError(error, 'BACKEND_UNAVAILABLE') || isConfigError(error, 'TIMEOUT');

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Sorts the tiers into roles; refuses a combination the write protocol cannot order. */
export function assignRoles(stores: readonly ConfigStore[], initial: BreakerState): Tier[] {
  const durable = stores.filter((s) => s.capabilities.durable);
  const records = durable.filter((s) => s.capabilities.record);
  if (records.length > 1) {
    throw errors.constraint(
      `failover option tiers: at most one record tier, got ${records.map((s) => s.name).join(', ')}`,
    );
  }
  const record = durable.length > 1 ? records[0] : undefined;
  if (durable.length > 1) {
    if (!record) {
      throw errors.constraint(
        'failover option tiers: two durable tiers need one record (PostgreSQL) to order writes and one mirror (Consul)',
      );
    }
    const others = durable.filter((s) => s !== record);
    if (others.length > 1 || !others[0]?.capabilities.mirror) {
      throw errors.constraint(
        `failover option tiers: beside the record ${record.name}, exactly one mirror tier (capabilities.mirror) is supported`,
      );
    }
  }
  return stores.map((store) => {
    const role: TierRole = !store.capabilities.durable
      ? 'cache'
      : record === undefined
        ? 'plain'
        : store === record
          ? 'record'
          : 'mirror';
    return {
      store,
      durable: store.capabilities.durable,
      role,
      state: role === 'record' || role === 'mirror' ? initial : 'closed',
      failures: 0,
      lastError: undefined,
      since: Date.now(),
      recovering: undefined,
    };
  });
}

/** Breaker bookkeeping; `onChange` runs after every state change (the watch follows it). */
export class Breakers {
  readonly #threshold: number;
  readonly #onChange: (tier: Tier, from: BreakerState, to: BreakerState, error?: unknown) => void;

  constructor(
    threshold: number,
    onChange: (tier: Tier, from: BreakerState, to: BreakerState, error?: unknown) => void,
  ) {
    this.#threshold = threshold;
    this.#onChange = onChange;
  }

  set(tier: Tier, to: BreakerState, error?: unknown): void {
    if (tier.state === to) return;
    const from = tier.state;
    tier.state = to;
    tier.since = Date.now();
    this.#onChange(tier, from, to, error);
  }

  failure(tier: Tier, error: unknown): void {
    tier.failures++;
    tier.lastError = error;
    if (tier.state !== 'open' && tier.failures >= this.#threshold) this.set(tier, 'open', error);
  }

  success(tier: Tier): void {
    tier.failures = 0;
  }
}

/** A tier's failure for an aggregate error: its last error, or why its breaker keeps it out. */
export function failureOf(tier: Tier, why?: string): TierFailure {
  return { backend: tier.store.name, error: tier.lastError ?? new Error(why ?? `breaker ${tier.state}`) };
}

export function unavailable(message: string, failures: TierFailure[], ctx?: { ref?: string; version?: number }) {
  return new BackendUnavailableError(
    `${message}: ${failures.map((f) => `${f.backend}: ${errorText(f.error)}`).join('; ')}`,
    failures,
    ctx,
  );
}
