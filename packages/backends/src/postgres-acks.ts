/**
 * Applied-state acknowledgements on the PostgreSQL store: one row per (ref, environment,
 * instance), replaced by the instance's next acknowledgement.
 */
import { type AppliedAck, type ConfigStore, refKey, type Scope } from '@summit-config/core';
import { errors, parseEnvironmentName } from '@summit-config/core/internal';
import { isIntegerIn } from './integers.js';
import type { OpContext, SqlStoreContext } from './postgres-context.js';
import { iso, MAX_VERSION } from './postgres-rows.js';

interface AckRow {
  scope: string;
  ref_id: string;
  environment: string;
  instance: string;
  version: number;
  checksum: string;
  status: 'applied' | 'rejected';
  reason: string | null;
  applied_at: Date | string;
}

export type AckMembers = Required<Pick<ConfigStore, 'ack' | 'ackMany' | 'listAcks'>>;

function ackOfRow(row: AckRow): AppliedAck {
  return Object.freeze({
    ref: Object.freeze({ scope: row.scope as Scope, id: row.ref_id }),
    environment: row.environment,
    instance: row.instance,
    version: row.version,
    checksum: row.checksum,
    status: row.status,
    ...(row.reason === null ? {} : { reason: row.reason }),
    at: iso(row.applied_at),
  });
}

/** One acknowledgement's row values, checked: config_id, scope, ref_id, environment, instance, ... */
type AckValues = [string, string, string, string, string, number, string, string, string | null, string];

function checkAck(
  ctx: SqlStoreContext,
  ack: AppliedAck,
): { values: AckValues; errCtx: OpContext & { backend: string } } {
  const ref = ctx.open(ack.ref);
  const key = refKey(ref);
  const environment = parseEnvironmentName(ack.environment);
  const errCtx = { ref: key, version: ack.version, backend: ctx.name };
  if (typeof ack.instance !== 'string' || ack.instance.length === 0 || ack.instance.length > 256) {
    throw errors.constraint('ack instance must be a string of 1-256 characters', errCtx);
  }
  if (!isIntegerIn(ack.version, 1, MAX_VERSION)) {
    throw errors.constraint('ack version must be a positive integer', errCtx);
  }
  if (typeof ack.checksum !== 'string' || ack.checksum.length > 64) {
    throw errors.constraint('ack checksum must be a string of at most 64 characters', errCtx);
  }
  if (ack.status !== 'applied' && ack.status !== 'rejected') {
    throw errors.constraint('ack status must be "applied" or "rejected"', errCtx);
  }
  if (ack.reason !== undefined && typeof ack.reason !== 'string') {
    throw errors.constraint('ack reason must be a string', errCtx);
  }
  if (typeof ack.at !== 'string' || Number.isNaN(Date.parse(ack.at))) {
    throw errors.constraint('ack at must be an ISO-8601 timestamp', errCtx);
  }
  const values: AckValues = [
    key,
    ref.scope,
    ref.id,
    environment,
    ack.instance,
    ack.version,
    ack.checksum,
    ack.status,
    ack.reason ?? null,
    ack.at,
  ];
  return { values, errCtx };
}

const UPSERT = `ON CONFLICT (config_id, environment, instance) DO UPDATE
  SET version = EXCLUDED.version, checksum = EXCLUDED.checksum, status = EXCLUDED.status,
      reason = EXCLUDED.reason, applied_at = EXCLUDED.applied_at`;

export function ackMembers(ctx: SqlStoreContext): AckMembers {
  const { client, op } = ctx;
  const acks = ctx.tables.acks;
  return {
    async ack(ack: AppliedAck) {
      const { values, errCtx } = checkAck(ctx, ack);
      await op(async () => {
        await client.query(
          `INSERT INTO ${acks}
             (config_id, scope, ref_id, environment, instance, version, checksum, status, reason, applied_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ${UPSERT}`,
          values,
        );
      }, errCtx);
    },

    async ackMany(items: readonly AppliedAck[]) {
      // Checked first (a malformed one writes nothing); one row per key, the last one winning (an
      // upsert may not touch a row twice in one statement).
      const rows = new Map<string, AckValues>();
      for (const ack of items) {
        const { values } = checkAck(ctx, ack);
        const id = JSON.stringify([values[0], values[3], values[4]]);
        rows.delete(id);
        rows.set(id, values);
      }
      if (rows.size === 0) return;
      const columns: unknown[][] = Array.from({ length: 10 }, () => []);
      for (const values of rows.values()) {
        for (const [i, v] of values.entries()) columns[i]?.push(v);
      }
      await op(async () => {
        await client.query(
          `INSERT INTO ${acks}
               (config_id, scope, ref_id, environment, instance, version, checksum, status, reason, applied_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                                  $7::text[], $8::text[], $9::text[], $10::timestamptz[])
             ${UPSERT}`,
          columns,
        );
      }, {});
    },

    async listAcks(refInput) {
      const key = refKey(ctx.open(refInput));
      return op(
        async () => {
          const { rows } = await client.query<AckRow>(
            `SELECT scope, ref_id, environment, instance, version, checksum, status, reason, applied_at
             FROM ${acks} WHERE config_id = $1 ORDER BY environment, instance`,
            [key],
          );
          return rows.map(ackOfRow);
        },
        { ref: key },
      );
    },
  };
}
