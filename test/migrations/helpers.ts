/**
 * Helpers for the migration tests: a change service on one of three backings (memory, the real
 * PostgreSQL server, embedded PGlite; see @summit-config/test-support/service), a migration history on the
 * same storage, seeded documents, and a service wrapper that fails after N writes.
 */
import type { Actor, ConfigService, ConfigVersion, JsonObject } from '@summit-config/core';
import {
  loadMigrationFile,
  loadMigrations,
  type Migration,
  type MigrationHistory,
} from '@summit-config/core/migrations';
import { type Backing, storage } from '@summit-config/test-support/backings';
import { fixturePath } from '@summit-config/test-support/fixtures';
import { type Harness, type HarnessOptions, harness } from '@summit-config/test-support/service';

export { actors } from '@summit-config/test-support/builders';
export { codeOf } from '@summit-config/test-support/errors';
export { BACKINGS, type Backing, closeShared, ENVIRONMENTS } from '@summit-config/test-support/service';

export const FIXTURES = fixturePath('migrations/');

/** The fixture migrations: 0001 (YAML), 0002 (JSON, depends on 0001), 0003 (module, depends on 0002). */
export async function fixtureMigrations(): Promise<Migration[]> {
  return [
    ...(await loadMigrations(`${FIXTURES}basic`)),
    await loadMigrationFile(`${FIXTURES}modules/0003-double-pool.mjs`),
  ];
}

export interface MigrationHarness extends Harness {
  history: MigrationHistory;
  /** Another history on the same storage (another runner's view), closed with the harness. */
  newHistory(): MigrationHistory;
}

export async function migrationHarness(backing: Backing, options: HarnessOptions = {}): Promise<MigrationHarness> {
  const h = await harness(backing, options);
  const histories = await storage(backing, { schema: h.schema });
  const extra: MigrationHistory[] = [];
  const history = histories.history();
  const close = h.close;
  return Object.assign(h, {
    history,
    newHistory() {
      const another = histories.history();
      extra.push(another);
      return another;
    },
    async close() {
      for (const x of extra) await x.close();
      await history.close();
      await close();
    },
  });
}

/** Documents the fixture migrations select (app:* services/*\/database) and some they do not. */
export const SEED: Array<[string, JsonObject]> = [
  ['app:billing/services/billing/database', { host: 'db1', pool: 10 }],
  ['app:orders/services/orders/database', { host: 'db2', pool: 20, timeouts: { connectMs: 1000 } }],
  ['app:search/services/search/database', { host: 'db3', pool: 5 }],
  ['global/services/shared/database', { host: 'shared', pool: 1 }],
  ['app:billing/services/billing/cache', { pool: 3 }],
];
export const SELECTED = SEED.slice(0, 3).map(([ref]) => ref);

export async function seed(service: ConfigService, actor: Actor, docs = SEED): Promise<void> {
  for (const [ref, config] of docs) await service.set(actor, { ref, config });
}

/** Every version of every seeded ref, as `ref -> [version, checksum, message]`. */
export async function snapshot(service: ConfigService, actor: Actor): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const head of await service.list(actor)) {
    const key = `${head.ref.scope}/${head.ref.id}`;
    out[key] = (await service.history(actor, key)).map((v) => `${v.version}:${v.checksum}:${v.message}`);
  }
  return out;
}

export async function head(service: ConfigService, actor: Actor, ref: string): Promise<ConfigVersion> {
  const doc = await service.get(actor, ref);
  if (!doc) throw new Error(`${ref} has no head`);
  return doc;
}

/**
 * A service whose writes (`set`, or the methods named in `methods`) fail once `limit` of them went
 * through: with `after: true` the failing call writes first and then throws (the write happened,
 * the caller never learns of it), otherwise it throws before writing.
 */
export function failingAfter(
  service: ConfigService,
  limit: number,
  options: { after?: boolean; methods?: Array<'set' | 'rollback'> } = {},
): ConfigService {
  let writes = 0;
  const methods = new Set<string | symbol>(options.methods ?? ['set']);
  return new Proxy(service, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (!methods.has(prop)) return value.bind(target);
      return async (...args: unknown[]) => {
        if (writes >= limit && !options.after) throw new Error(`injected failure before write ${writes + 1}`);
        const written = await value.apply(target, args);
        writes++;
        if (writes > limit) throw new Error(`injected failure after write ${writes}`);
        return written;
      };
    },
  });
}
