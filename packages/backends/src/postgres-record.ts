/**
 * The PostgreSQL store as the failover chain's record: `beginAppend` (an append held open until
 * the chain knows whether the mirror took the version), the refs the mirror lags behind on
 * (`listLagging`, `markMirrored`), and the chain's epoch.
 */
import {
  type ConfigError,
  type ConfigStore,
  type ConfigVersion,
  type Head,
  type PendingAppend,
  refKey,
} from '@summit-config/core';
import { errors, headOf } from '@summit-config/core/internal';
import { listLimit } from './integers.js';
import type { SqlStoreContext } from './postgres-context.js';
import { checkDocument, type HeadRow, headOfRow, versionParams } from './postgres-rows.js';
import { beginSql, commitSql } from './postgres-sql.js';
import { notifyPayload } from './postgres-watch.js';
import type { SqlQueryable } from './sql-client.js';

/** The statements every write runs: prepared once per connection where the driver can. */
const PREPARED = { prepare: true } as const;
const LAST = { prepare: true, last: true } as const;
/** A `beginAppend` not settled within this long rolls back by itself. */
const HOLD_LIMIT_MS = 30_000;
/** Thrown inside a held transaction to roll it back (a ConfigError, so the connection is kept). */
const ROLLED_BACK = errors.constraint('append rolled back by its caller');

export type RecordMembers = Required<
  Pick<ConfigStore, 'beginAppend' | 'listLagging' | 'markMirrored' | 'readEpoch' | 'writeEpoch'>
>;

/** VERSION_CONFLICT of an append whose expected head (version - 1) was not the head. */
export async function conflictOf(
  ctx: SqlStoreContext,
  q: SqlQueryable,
  key: string,
  version: number,
): Promise<ConfigError> {
  const current = await q.query<{ version: number }>(`SELECT version FROM ${ctx.tables.heads} WHERE config_id = $1`, [
    key,
  ]);
  return errors.versionConflict(`${key}: expected head v${version - 1}, found v${current.rows[0]?.version ?? 0}`, {
    ref: key,
    version,
    backend: ctx.name,
  });
}

/**
 * The record members of a store. `channel`: the store's NOTIFY channel; `noteWrite`: a write
 * through this store committed (see the head feed).
 */
export function recordMembers(ctx: SqlStoreContext, channel: string, noteWrite: (head: Head) => void): RecordMembers {
  const { client, name, lifecycle, op, fail } = ctx;
  const t = ctx.tables;
  const commit = commitSql(t);

  /**
   * Runs `beginAppend`'s transaction: the first statement, then waits (holding the ref's row lock)
   * for the caller's commit or rollback. Resolves once the version is inserted; a version conflict
   * rolls back at once and rejects.
   */
  function holdAppend(
    verified: ConfigVersion,
    key: string,
    opCtx: { ref: string; version: number },
  ): Promise<PendingAppend> {
    const { ref, version } = verified;
    return new Promise<PendingAppend>((resolveBegin, rejectBegin) => {
      let begun = false;
      let decide: (d: { commit: boolean; mirrored: boolean }) => void = () => {};
      const decision = new Promise<{ commit: boolean; mirrored: boolean }>((resolve) => {
        decide = resolve;
      });
      // A caller that never settles cannot hold the row for ever.
      const guard = setTimeout(() => decide({ commit: false, mirrored: false }), HOLD_LIMIT_MS);
      guard.unref();
      const done = client.transaction(async (tx) => {
        const { rows } = await tx.query<{ written: number }>(
          beginSql(t, version === 1),
          [...versionParams(verified), channel, notifyPayload(ref, version)],
          PREPARED,
        );
        if (rows[0]?.written !== 1) throw await conflictOf(ctx, tx, key, version);
        begun = true;
        resolveBegin(pending);
        const d = await decision;
        if (!d.commit) throw ROLLED_BACK;
        // The commit statement takes the audit chain's lock: COMMIT follows it at once.
        await tx.query(commit, [key, version, d.mirrored, verified.createdBy, verified.message], LAST);
      });
      done.then(
        () => clearTimeout(guard),
        (error: unknown) => {
          clearTimeout(guard);
          if (!begun) rejectBegin(error);
        },
      );
      const pending: PendingAppend = {
        doc: verified,
        async commit({ mirrored }) {
          decide({ commit: true, mirrored });
          try {
            await done;
          } catch (error) {
            throw fail(error === ROLLED_BACK ? errors.unavailable(name, new Error('held too long')) : error, opCtx);
          }
          noteWrite(headOf(verified));
        },
        async rollback() {
          decide({ commit: false, mirrored: false });
          await done.catch(() => {});
        },
      };
    });
  }

  async function readEpochValue(): Promise<string | undefined> {
    const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${t.meta} WHERE key = 'epoch'`);
    return rows[0]?.value;
  }

  return {
    async beginAppend(doc, options = {}) {
      lifecycle.assertOpen();
      const verified = checkDocument(doc, ctx.limits, name);
      const { ref, version } = verified;
      const key = refKey(ref);
      const opCtx = { ref: key, version };
      return op(() => holdAppend(verified, key, opCtx), opCtx, options.signal);
    },

    async listLagging(options = {}) {
      lifecycle.assertOpen();
      const limit = listLimit(options.limit, 'listLagging');
      return op(
        async () => {
          const { rows } = await client.query<HeadRow & { mirror_version: number }>(
            `SELECT config_id, scope, ref_id, version, checksum, mirror_version FROM ${t.heads}
             WHERE mirror_version < version ORDER BY config_id LIMIT $1`,
            [limit],
          );
          return rows.map((row) =>
            Object.freeze({ ref: headOfRow(row).ref, version: row.version, mirrored: row.mirror_version }),
          );
        },
        {},
        options.signal,
      );
    },

    async markMirrored(refInput, version) {
      const key = refKey(ctx.open(refInput));
      await op(
        async () => {
          await client.query(
            `UPDATE ${t.heads} SET mirror_version = LEAST(version, $2) WHERE config_id = $1 AND mirror_version < $2`,
            [key, version],
          );
        },
        { ref: key, version },
      );
    },

    async readEpoch(options = {}) {
      lifecycle.assertOpen();
      return op(readEpochValue, {}, options.signal);
    },

    async writeEpoch(value, expected) {
      lifecycle.assertOpen();
      if (typeof value !== 'string' || value.length === 0) throw errors.constraint('epoch must be a non-empty string');
      return op(async () => {
        if (expected === undefined) {
          await client.query(`INSERT INTO ${t.meta} (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING`, [
            value,
          ]);
        } else {
          await client.query(`UPDATE ${t.meta} SET value = $1, updated_at = now() WHERE key = 'epoch' AND value = $2`, [
            value,
            expected,
          ]);
        }
        return (await readEpochValue()) as string;
      });
    },
  };
}
