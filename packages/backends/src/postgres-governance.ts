/**
 * The change service's governance storage (audit trail, change requests, environments, schemas,
 * policies) in PostgreSQL, written against the SQL seam, so it runs on `pg` and on PGlite. It shares
 * the store's schema and migrations: the store's own audit rows and the service's events form one
 * hash chain, built by the `config_audit` trigger of migration 3.
 *
 * Atomicity: every state change and its audit event are one transaction. Read-modify-write updates
 * (`updateRequest`, `updateEnvironments`) lock what they change first (`SELECT ... FOR UPDATE`, a
 * table lock for environments), so concurrent approvals of one request run one after the other and
 * each sees the other's result.
 */
import type {
  AuditQuery,
  ChangeRequest,
  ConfigError,
  Environment,
  GovernanceStore,
  JsonObject,
  RequestQuery,
  StoredPolicy,
} from '@summit-config/core';
import {
  type AuditInput,
  type AuditRecord,
  auditOriginText,
  canonicalJson,
  checkAuditInput as checkAuditFields,
  checkAuditQuery,
  checkAuditSignatureField,
  checkRequestShape,
  errors,
  type GovernanceSnapshot,
  Lifecycle,
  type StoredSchema,
} from '@summit-config/core/internal';
import { type MigrationResult, migrate } from './postgres-migrations.js';
import {
  escapeLike,
  mapSqlError,
  quoteIdent,
  type SqlClient,
  type SqlPoolStats,
  type SqlQueryable,
  sqlState,
} from './sql-client.js';

export interface SqlGovernanceConfig {
  /** `postgres`, `pglite`, ... (used in errors). */
  name: string;
  client: SqlClient;
  schema: string;
  /** Close the client on `close()` (false when it is borrowed). */
  ownsClient: boolean;
}

/** The governance storage, plus its migrations. */
export interface SqlGovernance extends GovernanceStore {
  readonly schema: string;
  /** Applies pending migrations now (otherwise the first call does). */
  migrate(): Promise<MigrationResult>;
  /** The connection pool's counts now, for metrics; undefined on PGlite (no pool). Never throws. */
  poolStats(): SqlPoolStats | undefined;
}

interface AuditRow {
  seq_text: string;
  at: string;
  actor: string;
  action: string;
  config_id: string | null;
  version: number | null;
  environment: string | null;
  message: string | null;
  changes: string | null;
  source: string | null;
  request_id: string | null;
  prev_hash: string | null;
  hash: string | null;
  signature: string | null;
  origin: string | null;
}

interface EnvironmentRow {
  name: string;
  parent: string | null;
  production: boolean;
  approval_policy: unknown;
}

const AUDIT_COLUMNS = `seq::text AS seq_text,
  to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at,
  actor, action, config_id, version, environment, message, changes::text AS changes, source, request_id,
  prev_hash, hash, signature, origin`;

function recordOf(row: AuditRow): AuditRecord {
  return Object.freeze({
    seq: Number(row.seq_text),
    at: row.at,
    actor: row.actor,
    action: row.action,
    ref: row.config_id,
    version: row.version,
    environment: row.environment,
    message: row.message,
    changes: row.changes,
    source: row.source,
    requestId: row.request_id,
    prevHash: row.prev_hash,
    hash: row.hash,
    signature: row.signature ?? null,
    origin: row.origin ?? null,
  });
}

/** The shared checks of an audit input, and its signature's shape (the signature is not hashed). */
function checkAuditInput(input: AuditInput): AuditInput {
  checkAuditFields(input);
  checkAuditSignatureField(input.signature);
  return input;
}

function environmentOf(row: EnvironmentRow): Environment {
  const env: Environment = { name: row.name, production: row.production };
  if (row.parent !== null) env.parent = row.parent;
  if (row.approval_policy !== null && row.approval_policy !== undefined) {
    env.approvalPolicy = row.approval_policy as Environment['approvalPolicy'];
  }
  return env;
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

export function createSqlGovernance(config: SqlGovernanceConfig): SqlGovernance {
  const { client, name } = config;
  const lifecycle = new Lifecycle(`${name} governance`);
  const s = quoteIdent(config.schema, 'schema');
  const t = {
    audit: `${s}.config_audit`,
    requests: `${s}.approval_workflows`,
    environments: `${s}.governance_environments`,
    schemas: `${s}.governance_schemas`,
    policies: `${s}.governance_policies`,
  };

  let ready: Promise<MigrationResult> | undefined;
  function ensureReady(): Promise<MigrationResult> {
    ready ??= migrate(client, config.schema).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  }

  function fail(error: unknown): ConfigError {
    if (lifecycle.closed) return errors.closed(`${name} governance`);
    return mapSqlError(error, name);
  }

  async function op<T>(work: () => Promise<T>): Promise<T> {
    lifecycle.assertOpen();
    try {
      await ensureReady();
      return await work();
    } catch (error) {
      throw fail(error);
    }
  }

  async function insertAudit(q: SqlQueryable, input: AuditInput): Promise<AuditRecord> {
    const { rows } = await q.query<AuditRow>(
      `INSERT INTO ${t.audit} ("timestamp", actor, action, config_id, version, environment, message, changes, source,
                               request_id, signature, origin)
       VALUES ($1::timestamptz, $2, $3, $4, $5, $6, $7, $8::json, $9, $10, $11, $12)
       RETURNING ${AUDIT_COLUMNS}`,
      [
        input.at,
        input.actor,
        input.action,
        input.ref ?? null,
        input.version ?? null,
        input.environment ?? null,
        input.message,
        json(input.changes ?? []),
        input.source ?? null,
        input.requestId ?? null,
        input.signature ?? null,
        auditOriginText(input.origin),
      ],
      { prepare: true },
    );
    const row = rows[0];
    if (!row) throw errors.unavailable(name, new Error('audit insert returned no row'));
    return recordOf(row);
  }

  function requestParams(r: ChangeRequest): unknown[] {
    const approvers = [...new Set(r.requirements.flatMap((q) => q.approvers))];
    return [
      r.id,
      `${r.ref.scope}/${r.ref.id}`,
      r.environments[0] ?? null,
      r.baseVersion,
      json(r.proposed),
      r.requestedBy,
      r.requestedAt,
      approvers,
      json(r.approvals),
      r.requiredApprovals,
      r.status,
      r.emergency,
      r.applyAt ?? null,
      r.expiresAt,
      json(r),
      r.review ?? null,
      r.updatedAt,
    ];
  }

  async function insertRequest(q: SqlQueryable, r: ChangeRequest): Promise<void> {
    try {
      await q.query(
        `INSERT INTO ${t.requests} (change_id, config_id, environment, base_version, proposed_version, requested_by,
           requested_at, approvers, approvals, required_approvals, status, emergency, apply_at, expires_at, document,
           review, updated_at)
         VALUES ($1, $2, $3, $4, $5::json, $6, $7::timestamptz, $8::text[], $9::json, $10, $11, $12, $13::timestamptz,
                 $14::timestamptz, $15::json, $16, $17::timestamptz)`,
        requestParams(r),
      );
    } catch (error) {
      if (sqlState(error) === '23505')
        throw errors.constraint(`change request ${r.id} already exists`, { cause: error });
      throw error;
    }
  }

  function requestOf(raw: unknown, id: string): ChangeRequest {
    checkRequestShape(raw, `stored change request ${id}`);
    return raw as ChangeRequest;
  }

  async function lockTables(q: SqlQueryable, ...tables: string[]): Promise<void> {
    // SHARE ROW EXCLUSIVE conflicts with itself and with writers, not with plain readers.
    for (const table of tables) await q.query(`LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`);
  }

  async function emptyNow(q: SqlQueryable): Promise<boolean> {
    const { rows } = await q.query<{ used: boolean }>(
      `SELECT (EXISTS (SELECT 1 FROM ${t.environments}) OR EXISTS (SELECT 1 FROM ${t.schemas})
            OR EXISTS (SELECT 1 FROM ${t.policies}) OR EXISTS (SELECT 1 FROM ${t.requests})) AS used`,
    );
    return rows[0]?.used === false;
  }

  async function upsertEnvironment(q: SqlQueryable, env: Environment): Promise<void> {
    await q.query(
      `INSERT INTO ${t.environments} (name, parent, production, approval_policy, updated_at)
       VALUES ($1, $2, $3, $4::json, now())
       ON CONFLICT (name) DO UPDATE SET parent = EXCLUDED.parent, production = EXCLUDED.production,
         approval_policy = EXCLUDED.approval_policy, updated_at = now()`,
      [
        env.name,
        env.parent ?? null,
        env.production,
        env.approvalPolicy === undefined ? null : json(env.approvalPolicy),
      ],
    );
  }

  async function upsertPolicy(q: SqlQueryable, p: StoredPolicy): Promise<void> {
    await q.query(
      `INSERT INTO ${t.policies} (name, policy, updated_at) VALUES ($1, $2::json, $3::timestamptz)
       ON CONFLICT (name) DO UPDATE SET policy = EXCLUDED.policy, updated_at = EXCLUDED.updated_at`,
      [p.name, json(p.policy), p.updatedAt],
    );
  }

  async function listEnvironmentsIn(q: SqlQueryable): Promise<Environment[]> {
    const { rows } = await q.query<EnvironmentRow>(
      `SELECT name, parent, production, approval_policy FROM ${t.environments} ORDER BY name`,
      [],
      { prepare: true },
    );
    return rows.map(environmentOf);
  }

  const governance: SqlGovernance = {
    name,
    schema: config.schema,

    poolStats() {
      return client.poolStats?.();
    },

    async appendAudit(input) {
      checkAuditInput(input);
      return op(() => insertAudit(client, input));
    },

    async queryAudit(query: AuditQuery = {}) {
      lifecycle.assertOpen();
      const q = checkAuditQuery(query);
      const action = query.action;
      const prefix = action?.endsWith('.') ? `${escapeLike(action)}%` : null;
      return op(async () => {
        const { rows } = await client.query<AuditRow>(
          `SELECT ${AUDIT_COLUMNS} FROM ${t.audit}
           WHERE seq > $1
             AND ($2::text IS NULL OR config_id = $2)
             AND ($3::text IS NULL OR actor = $3)
             AND ($4::text IS NULL OR action = $4)
             AND ($5::text IS NULL OR action LIKE $5 ESCAPE '\\')
             AND ($6::text IS NULL OR request_id = $6)
             AND ($7::timestamptz IS NULL OR "timestamp" >= $7)
             AND ($8::timestamptz IS NULL OR "timestamp" < $8)
           ORDER BY seq LIMIT $9`,
          [
            q.afterSeq,
            query.ref ?? null,
            query.actor ?? null,
            prefix === null ? (action ?? null) : null,
            prefix,
            query.requestId ?? null,
            q.since ?? null,
            q.until ?? null,
            q.limit,
          ],
        );
        return rows.map(recordOf);
      });
    },

    async readAuditChain(afterSeq, limit) {
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0 || !Number.isSafeInteger(limit) || limit < 1) {
        throw errors.constraint('readAuditChain needs afterSeq >= 0 and limit >= 1');
      }
      return op(async () => {
        const { rows } = await client.query<AuditRow>(
          `SELECT ${AUDIT_COLUMNS} FROM ${t.audit} WHERE seq > $1 ORDER BY seq LIMIT $2`,
          [afterSeq, limit],
        );
        return rows.map(recordOf);
      });
    },

    async createRequest(request, audit) {
      checkRequestShape(request, `change request ${request?.id}`);
      if (audit) checkAuditInput(audit);
      await op(() =>
        client.transaction(async (tx) => {
          await insertRequest(tx, request);
          if (audit) await insertAudit(tx, audit);
        }),
      );
    },

    async getRequest(id) {
      return op(async () => {
        const { rows } = await client.query<{ document: unknown }>(
          `SELECT document FROM ${t.requests} WHERE change_id = $1`,
          [id],
        );
        return rows[0] ? requestOf(rows[0].document, id) : undefined;
      });
    },

    async listRequests(query: RequestQuery = {}) {
      const statuses = query.status === undefined ? null : [query.status].flat();
      const limit = query.limit ?? 1000;
      if (!Number.isSafeInteger(limit) || limit < 1) throw errors.constraint('listRequests limit must be >= 1');
      return op(async () => {
        const { rows } = await client.query<{ change_id: string; document: unknown }>(
          `SELECT change_id, document FROM ${t.requests}
           WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))
             AND ($2::text IS NULL OR config_id = $2)
             AND ($3::text IS NULL OR requested_by = $3)
             AND ($4::boolean IS NULL OR (review IS NOT DISTINCT FROM 'pending') = $4)
           ORDER BY requested_at, change_id LIMIT $5`,
          [statuses, query.ref ?? null, query.requestedBy ?? null, query.reviewPending ?? null, limit],
        );
        return rows.map((r) => requestOf(r.document, r.change_id));
      });
    },

    async updateRequest(id, update) {
      return op(() =>
        client.transaction(async (tx) => {
          const { rows } = await tx.query<{ document: unknown }>(
            `SELECT document FROM ${t.requests} WHERE change_id = $1 FOR UPDATE`,
            [id],
          );
          if (!rows[0]) return undefined;
          const current = requestOf(rows[0].document, id);
          const next = update(structuredClone(current));
          if (!next) return current;
          if (next.value.id !== id) throw errors.constraint('updateRequest may not change the request id');
          checkRequestShape(next.value, `change request ${id}`);
          if (next.audit) checkAuditInput(next.audit);
          await tx.query(
            `UPDATE ${t.requests} SET config_id = $2, environment = $3, base_version = $4, proposed_version = $5::json,
               requested_by = $6, requested_at = $7::timestamptz, approvers = $8::text[], approvals = $9::json,
               required_approvals = $10, status = $11, emergency = $12, apply_at = $13::timestamptz,
               expires_at = $14::timestamptz, document = $15::json, review = $16, updated_at = $17::timestamptz
             WHERE change_id = $1`,
            requestParams(next.value),
          );
          if (next.audit) await insertAudit(tx, next.audit);
          return structuredClone(next.value);
        }),
      );
    },

    async listEnvironments() {
      return op(() => listEnvironmentsIn(client));
    },

    async updateEnvironments(update) {
      return op(() =>
        client.transaction(async (tx) => {
          await lockTables(tx, t.environments);
          const next = update(await listEnvironmentsIn(tx));
          if (next) {
            if (next.audit) checkAuditInput(next.audit);
            for (const env of next.value) await upsertEnvironment(tx, env);
            if (next.audit) await insertAudit(tx, next.audit);
          }
          return listEnvironmentsIn(tx);
        }),
      );
    },

    async loadSchemas(id) {
      return op(async () => {
        const { rows } = await client.query<{ version: number; schema: JsonObject }>(
          `SELECT version, schema FROM ${t.schemas} WHERE schema_id = $1 ORDER BY version`,
          [id],
        );
        return rows.map((r) => ({ version: r.version, schema: r.schema }));
      });
    },

    async saveSchema(id, version, schema, audit) {
      if (audit) checkAuditInput(audit);
      await op(() =>
        client.transaction(async (tx) => {
          const inserted = await tx.query(
            `INSERT INTO ${t.schemas} (schema_id, version, schema) VALUES ($1, $2, $3::json)
             ON CONFLICT (schema_id, version) DO NOTHING RETURNING version`,
            [id, version, json(schema)],
          );
          if (inserted.rows.length === 0) {
            const { rows } = await tx.query<{ schema: unknown }>(
              `SELECT schema FROM ${t.schemas} WHERE schema_id = $1 AND version = $2`,
              [id, version],
            );
            if (canonicalJson(rows[0]?.schema) === canonicalJson(schema)) return;
            throw errors.constraint(`schema ${id} v${version} already exists with other content`);
          }
          if (audit) await insertAudit(tx, audit);
        }),
      );
    },

    async listSchemas() {
      return op(async () => {
        const { rows } = await client.query<{ schema_id: string; version: number; schema: JsonObject }>(
          `SELECT schema_id, version, schema FROM ${t.schemas} ORDER BY schema_id, version`,
        );
        return rows.map((r): StoredSchema => ({ id: r.schema_id, version: r.version, schema: r.schema }));
      });
    },

    async getPolicy(policyName) {
      return op(async () => {
        const { rows } = await client.query<{ name: string; policy: JsonObject; updated_at: Date | string }>(
          `SELECT name, policy, updated_at FROM ${t.policies} WHERE name = $1`,
          [policyName],
        );
        const row = rows[0];
        return row
          ? { name: row.name, policy: row.policy, updatedAt: new Date(row.updated_at).toISOString() }
          : undefined;
      });
    },

    async listPolicies() {
      return op(async () => {
        const { rows } = await client.query<{ name: string; policy: JsonObject; updated_at: Date | string }>(
          `SELECT name, policy, updated_at FROM ${t.policies} ORDER BY name`,
        );
        return rows.map((row) => ({
          name: row.name,
          policy: row.policy,
          updatedAt: new Date(row.updated_at).toISOString(),
        }));
      });
    },

    async putPolicy(policy, audit) {
      if (audit) checkAuditInput(audit);
      await op(() =>
        client.transaction(async (tx) => {
          await upsertPolicy(tx, policy);
          if (audit) await insertAudit(tx, audit);
        }),
      );
    },

    async isEmpty() {
      return op(() => emptyNow(client));
    },

    async importSnapshot(snapshot: GovernanceSnapshot, audit) {
      if (audit) checkAuditInput(audit);
      for (const r of snapshot.requests) checkRequestShape(r, `change request ${r.id}`);
      await op(() =>
        client.transaction(async (tx) => {
          await lockTables(tx, t.environments, t.schemas, t.policies, t.requests);
          if (!(await emptyNow(tx))) throw errors.constraint(`${name} governance storage is not empty`);
          for (const env of snapshot.environments) await upsertEnvironment(tx, env);
          for (const sch of snapshot.schemas) {
            await tx.query(`INSERT INTO ${t.schemas} (schema_id, version, schema) VALUES ($1, $2, $3::json)`, [
              sch.id,
              sch.version,
              json(sch.schema),
            ]);
          }
          for (const p of snapshot.policies) await upsertPolicy(tx, p);
          for (const r of snapshot.requests) await insertRequest(tx, r);
          if (audit) await insertAudit(tx, audit);
        }),
      );
    },

    migrate() {
      return op(() => ensureReady());
    },

    close() {
      return lifecycle.close(async () => {
        if (config.ownsClient) await client.close();
      });
    },

    [Symbol.asyncDispose]() {
      return governance.close();
    },
  };
  return governance;
}
