/**
 * A migration history in this process's memory (tests, demos, one process): the memory
 * implementation of core's `MigrationHistory` contract (`@summit-config/backends/memory`). Runners
 * exclude each other with an in-process lock; `save()` is a compare-and-set on `(status, run)`.
 */
import { ConfigError } from '@summit-config/core';
import { checkMigrationRecord, checkRefRecord, createLocalLock, errors, Lifecycle } from '@summit-config/core/internal';
import type { MigrationHistory, MigrationRecord, MigrationRefRecord } from '@summit-config/core/migrations';

export interface MemoryMigrationHistoryOptions {
  /** Name used in errors. Default `memory`. */
  name?: string;
}

/** A migration history in memory (tests, demos, one process). */
export function createMemoryMigrationHistory(options: MemoryMigrationHistoryOptions = {}): MigrationHistory {
  const name = options.name ?? 'memory';
  const lifecycle = new Lifecycle(`${name} migration history`);
  const lock = createLocalLock(`${name} migration lock`);
  const records = new Map<string, MigrationRecord>();
  const refs = new Map<string, MigrationRefRecord>();

  const history: MigrationHistory = {
    name,
    async acquire(opts) {
      lifecycle.assertOpen();
      return lock.acquire(opts);
    },
    async list() {
      lifecycle.assertOpen();
      return [...records.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => structuredClone(r));
    },
    async get(migration) {
      lifecycle.assertOpen();
      const found = records.get(migration);
      return found ? structuredClone(found) : undefined;
    },
    async save(record, expected) {
      lifecycle.assertOpen();
      const checked = checkMigrationRecord(record);
      const current = records.get(checked.name);
      const matches =
        expected === undefined
          ? current === undefined
          : current !== undefined && current.status === expected.status && current.run === expected.run;
      if (!matches) {
        throw new ConfigError(
          'CONFLICTING_CHANGE',
          `migration ${checked.name}: the history changed underneath (found ${current ? `${current.status} run ${current.run}` : 'nothing'}, expected ${expected ? `${expected.status} run ${expected.run}` : 'nothing'})`,
        );
      }
      records.set(checked.name, checked);
    },
    async listRefs(migration, run) {
      lifecycle.assertOpen();
      return [...refs.values()]
        .filter((r) => r.migration === migration && r.run === run)
        .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0))
        .map((r) => structuredClone(r));
    },
    async saveRef(record) {
      lifecycle.assertOpen();
      const checked = checkRefRecord(record);
      if (!records.has(checked.migration)) {
        throw errors.constraint(`migration ${checked.migration} has no record; save it before its refs`);
      }
      refs.set(`${checked.migration}\u0000${checked.run}\u0000${checked.ref}`, checked);
    },
    close() {
      return lifecycle.close(() => {});
    },
    [Symbol.asyncDispose]() {
      return history.close();
    },
  };
  return history;
}
