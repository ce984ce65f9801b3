/**
 * The schema registry the agent's clients validate with and take defaults from: every schema the
 * governance storage holds (the same versions the change service checks writes against), read before
 * the clients start and again every `refreshMs`, so the agent serves what an application's client
 * with that registry serves. The registry answers the clients synchronously from memory.
 */
import { type GovernanceStore, SchemaRegistry } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { AgentEvents } from './events.js';
import { type AgentLogger, toConfigError } from './util.js';

export interface ServedSchemasOptions {
  /** Where schemas are kept; undefined (Consul alone) leaves the registry empty. */
  governance: Pick<GovernanceStore, 'listSchemas'> | undefined;
  events: AgentEvents;
  logger?: AgentLogger;
  /** Between reads of the stored schemas, ms; 0 reads them only at start. Default 30 000. */
  refreshMs?: number;
}

/** The registry and its refresh loop. */
export interface ServedSchemas {
  /** The registry the served clients are given. */
  readonly registry: SchemaRegistry;
  /**
   * Resolves once the stored schemas were read (or the first read failed: the failure is
   * reported, the registry stays as it is and the next refresh tries again). Never rejects.
   */
  ready(): Promise<void>;
  /** Reads the stored schemas now; adds versions newer than the registry's. Rejects with the storage's error. */
  refresh(): Promise<number>;
  /** Stops the refresh loop. Idempotent. */
  close(): void;
}

/** Creates the registry and starts reading the stored schemas (in the background). */
export function createServedSchemas(options: ServedSchemasOptions): ServedSchemas {
  const refreshMs = options.refreshMs ?? 30_000;
  if (!Number.isInteger(refreshMs) || refreshMs < 0) {
    throw errors.constraint(`served schemas option refreshMs must be a non-negative integer, got ${String(refreshMs)}`);
  }
  const registry = new SchemaRegistry();
  const { governance, events, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function report(error: unknown, what = 'schemas'): void {
    const e = toConfigError(error);
    logger?.warn?.({ err: e.toJSON() }, `${what} not read: ${e.message}`);
    events.emit('error', { where: what, error: e });
  }

  async function refresh(): Promise<number> {
    if (!governance) return 0;
    const stored = await governance.listSchemas();
    stored.sort((a, b) => (a.id === b.id ? a.version - b.version : a.id < b.id ? -1 : 1));
    let added = 0;
    for (const s of stored) {
      // Versions go in in order, so the registry's numbers follow the storage's.
      if ((registry.latestVersion(s.id) ?? 0) >= s.version) continue;
      try {
        await registry.register(s.id, s.schema);
        added++;
      } catch (error) {
        // One schema that no longer compiles must not hide the others.
        report(error, `schema ${s.id} v${s.version}`);
      }
    }
    if (added > 0) logger?.info?.({ added, schemas: new Set(stored.map((s) => s.id)).size }, 'schemas loaded');
    return added;
  }

  const schedule = () => {
    if (closed || refreshMs === 0 || !governance) return;
    timer = setTimeout(() => {
      void refresh()
        .catch((error: unknown) => report(error))
        .finally(schedule);
    }, refreshMs);
    timer.unref();
  };

  if (!governance) logger?.info?.({}, 'no schemas: no PostgreSQL or embedded store holds them');
  const first = refresh().then(
    () => undefined,
    (error: unknown) => report(error),
  );
  void first.finally(schedule);

  return {
    registry,
    ready: () => first,
    refresh,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
