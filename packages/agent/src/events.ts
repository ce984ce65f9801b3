/**
 * The agent's typed events. Listeners are isolated: one that throws is reported (as an `error`
 * event, never recursively) and the others still run. `on()` returns the remover and accepts an
 * `AbortSignal`.
 */
import type { FailoverEvent, ReconcileReport } from '@summit-config/backends';
import type { ConfigError } from '@summit-config/core';
import { ListenerSet, onAbort } from '@summit-config/core/internal';
import type { DriftFinding, DriftReport } from './drift.js';
import type { GitopsSyncEvent } from './gitops/sync.js';
import { toConfigError } from './util.js';

export interface AgentEventMap {
  /** One drift finding (from a drift run on the leader, or a read that hit a bad checksum on any replica). */
  drift: DriftFinding;
  /** A drift run finished (leader). */
  'drift-run': DriftReport;
  /** A reconciliation run finished (leader loop, or the failover store's own recovery). */
  reconciled: ReconcileReport;
  /** Leadership changed. `fencingToken` is set while leading. */
  leader: { leading: boolean; fencingToken: number | undefined; reason?: string };
  /** A failover-store event (breaker transitions, watch switches, unsynced writes). */
  store: FailoverEvent;
  /** A new version was applied by a served client. */
  applied: { app: string; environment: string; id: string; ref: string; version: number; propagationMs?: number };
  /** A rendered file was written (or left alone because it was already current). */
  rendered: { path: string; id: string; app: string; environment: string; written: boolean };
  /** A reload command finished. */
  reload: { path: string; command: string; ok: boolean; exitCode: number | null; durationMs: number; error?: string };
  /** A leader job run finished. */
  job: { name: string; ok: boolean; durationMs: number; error?: ConfigError };
  /** A problem the agent handled and keeps going after. */
  error: { where: string; error: ConfigError };
  /**
   * A served client refused a version (schema, signature or secret resolution): the last good value
   * stays, and the version is acknowledged `rejected`. `message` never holds a secret value.
   */
  rejected: { app: string; environment: string; ref: string | undefined; code: string; message: string };
  /** The gitops sync loop (leader): a commit applied, a force push blocked, a conflict, drift, a revert, a failure. */
  gitops: GitopsSyncEvent;
}

export type AgentEventName = keyof AgentEventMap;

export class AgentEvents {
  readonly #sets = new Map<AgentEventName, ListenerSet<unknown>>();

  /** Adds a listener; returns its idempotent remover. */
  on<K extends AgentEventName>(
    type: K,
    listener: (event: AgentEventMap[K]) => void,
    options: { signal?: AbortSignal } = {},
  ): () => void {
    let set = this.#sets.get(type);
    if (!set) {
      set = new ListenerSet<unknown>();
      this.#sets.set(type, set);
    }
    const remove = set.add(listener as (event: unknown) => void);
    const off = onAbort(options.signal, remove);
    return () => {
      remove();
      off();
    };
  }

  /** Resolves with the next event of `type` that satisfies `predicate`. */
  once<K extends AgentEventName>(
    type: K,
    predicate: (event: AgentEventMap[K]) => boolean = () => true,
    options: { signal?: AbortSignal } = {},
  ): Promise<AgentEventMap[K]> {
    return new Promise((resolve, reject) => {
      const off = this.on(type, (event) => {
        if (!predicate(event)) return;
        off();
        offAbort();
        resolve(event);
      });
      const offAbort = onAbort(options.signal, () => {
        off();
        reject(options.signal?.reason);
      });
    });
  }

  emit<K extends AgentEventName>(type: K, event: AgentEventMap[K]): void {
    this.#sets.get(type)?.emit(event, (error) => {
      if (type === 'error') return;
      this.emit('error', {
        where: `${type} listener`,
        error: toConfigError(error),
      });
    });
  }

  clear(): void {
    this.#sets.clear();
  }
}
