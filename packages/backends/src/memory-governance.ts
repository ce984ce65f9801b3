/**
 * Governance storage in this process's memory (tests, demos, the embedded default's companion): the
 * memory implementation of core's `GovernanceStore` contract (`@summit-config/backends/memory`).
 * Every method runs to completion synchronously inside its promise, so each update is atomic and
 * concurrent updates serialise; the audit chain is computed in TypeScript with the same formula as
 * the SQL trigger.
 */
import type {
  AuditQuery,
  ChangeRequest,
  Environment,
  GovernanceStore,
  JsonObject,
  RequestQuery,
  StoredPolicy,
} from '@summit-config/core';
import {
  type AuditInput,
  type AuditRecord,
  auditHash,
  auditOriginText,
  canonicalJson,
  checkAuditInput,
  checkAuditQuery,
  checkAuditSignatureField,
  errors,
  type GovernanceSnapshot,
  type GovernanceUpdate,
  Lifecycle,
  matchesAudit,
  normaliseAt,
  type StoredSchema,
} from '@summit-config/core/internal';

export interface MemoryGovernanceOptions {
  /** Name used in errors. Default `memory`. */
  name?: string;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

export function createMemoryGovernance(options: MemoryGovernanceOptions = {}): GovernanceStore {
  const name = options.name ?? 'memory';
  if (typeof name !== 'string' || name.length === 0) throw errors.constraint('memory governance option name');
  const lifecycle = new Lifecycle(`${name} governance`);
  const audit: AuditRecord[] = [];
  const requests = new Map<string, ChangeRequest>();
  const environments = new Map<string, Environment>();
  const schemas = new Map<string, StoredSchema>();
  const policies = new Map<string, StoredPolicy>();

  function append(input: AuditInput): AuditRecord {
    const checked = check(input);
    const last = audit.at(-1);
    const base: Omit<AuditRecord, 'hash' | 'signature'> = {
      seq: (last?.seq ?? 0) + 1,
      at: normaliseAt(checked.at),
      actor: checked.actor,
      action: checked.action,
      ref: checked.ref ?? null,
      version: checked.version ?? null,
      environment: checked.environment ?? null,
      message: checked.message,
      changes: JSON.stringify(checked.changes ?? []),
      source: checked.source ?? null,
      requestId: checked.requestId ?? null,
      prevHash: last?.hash ?? null,
    };
    const record: AuditRecord = Object.freeze({
      ...base,
      hash: auditHash(base),
      signature: checked.signature ?? null,
      origin: auditOriginText(checked.origin),
    });
    audit.push(record);
    return record;
  }

  function check(input: AuditInput): AuditInput {
    checkAuditInput(input);
    checkAuditSignatureField(input.signature);
    return input;
  }

  /** Validates an audit input before a state change, so that nothing is written when it is bad. */
  function precheck(input: AuditInput | undefined): void {
    if (input) check(input);
  }

  function emptyNow(): boolean {
    return environments.size === 0 && schemas.size === 0 && policies.size === 0 && requests.size === 0;
  }

  function schemaKey(id: string, version: number): string {
    return `${id}\u0000${version}`;
  }

  const governance: GovernanceStore = {
    name,

    async appendAudit(input) {
      lifecycle.assertOpen();
      return append(input);
    },

    async queryAudit(query: AuditQuery = {}) {
      lifecycle.assertOpen();
      const checked = checkAuditQuery(query);
      const out: AuditRecord[] = [];
      for (const r of audit) {
        if (!matchesAudit(r, query, checked)) continue;
        out.push(r);
        if (out.length >= checked.limit) break;
      }
      return out;
    },

    async readAuditChain(afterSeq, limit) {
      lifecycle.assertOpen();
      return audit.filter((r) => r.seq > afterSeq).slice(0, limit);
    },

    async createRequest(request, event) {
      lifecycle.assertOpen();
      if (requests.has(request.id)) throw errors.constraint(`change request ${request.id} already exists`);
      precheck(event);
      requests.set(request.id, clone(request));
      if (event) append(event);
    },

    async getRequest(id) {
      lifecycle.assertOpen();
      const found = requests.get(id);
      return found ? clone(found) : undefined;
    },

    async listRequests(query: RequestQuery = {}) {
      lifecycle.assertOpen();
      const statuses = query.status === undefined ? undefined : [query.status].flat();
      const limit = query.limit ?? 1000;
      return [...requests.values()]
        .filter(
          (r) =>
            (statuses === undefined || statuses.includes(r.status)) &&
            (query.ref === undefined || `${r.ref.scope}/${r.ref.id}` === query.ref) &&
            (query.requestedBy === undefined || r.requestedBy === query.requestedBy) &&
            (query.reviewPending === undefined || (r.review === 'pending') === query.reviewPending),
        )
        .sort((a, b) =>
          a.requestedAt < b.requestedAt
            ? -1
            : a.requestedAt > b.requestedAt
              ? 1
              : a.id < b.id
                ? -1
                : a.id > b.id
                  ? 1
                  : 0,
        )
        .slice(0, limit)
        .map(clone);
    },

    async updateRequest(id, update: (current: ChangeRequest) => GovernanceUpdate<ChangeRequest> | undefined) {
      lifecycle.assertOpen();
      const current = requests.get(id);
      if (!current) return undefined;
      const next = update(clone(current));
      if (!next) return clone(current);
      if (next.value.id !== id) throw errors.constraint('updateRequest may not change the request id');
      precheck(next.audit);
      requests.set(id, clone(next.value));
      if (next.audit) append(next.audit);
      return clone(next.value);
    },

    async listEnvironments() {
      lifecycle.assertOpen();
      return [...environments.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(clone);
    },

    async updateEnvironments(update) {
      lifecycle.assertOpen();
      const current = [...environments.values()].map(clone);
      const next = update(current);
      if (next) {
        precheck(next.audit);
        for (const env of next.value) environments.set(env.name, clone(env));
        if (next.audit) append(next.audit);
      }
      return governance.listEnvironments();
    },

    async loadSchemas(id) {
      lifecycle.assertOpen();
      return [...schemas.values()]
        .filter((s) => s.id === id)
        .sort((a, b) => a.version - b.version)
        .map((s) => ({ version: s.version, schema: clone(s.schema) }));
    },

    async saveSchema(id, version, schema: JsonObject, event) {
      lifecycle.assertOpen();
      const key = schemaKey(id, version);
      const existing = schemas.get(key);
      if (existing) {
        if (canonicalJson(existing.schema) === canonicalJson(schema)) return;
        throw errors.constraint(`schema ${id} v${version} already exists with other content`);
      }
      precheck(event);
      schemas.set(key, { id, version, schema: clone(schema) });
      if (event) append(event);
    },

    async listSchemas() {
      lifecycle.assertOpen();
      return [...schemas.values()]
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.version - b.version))
        .map(clone);
    },

    async getPolicy(policyName) {
      lifecycle.assertOpen();
      const found = policies.get(policyName);
      return found ? clone(found) : undefined;
    },

    async listPolicies() {
      lifecycle.assertOpen();
      return [...policies.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(clone);
    },

    async putPolicy(policy, event) {
      lifecycle.assertOpen();
      precheck(event);
      policies.set(policy.name, clone(policy));
      if (event) append(event);
    },

    async isEmpty() {
      lifecycle.assertOpen();
      return emptyNow();
    },

    async importSnapshot(snapshot: GovernanceSnapshot, event) {
      lifecycle.assertOpen();
      if (!emptyNow()) throw errors.constraint(`${name} governance storage is not empty`);
      precheck(event);
      for (const env of snapshot.environments) environments.set(env.name, clone(env));
      for (const s of snapshot.schemas) schemas.set(schemaKey(s.id, s.version), clone(s));
      for (const p of snapshot.policies) policies.set(p.name, clone(p));
      for (const r of snapshot.requests) requests.set(r.id, clone(r));
      if (event) append(event);
    },

    close() {
      return lifecycle.close(() => {});
    },

    [Symbol.asyncDispose]() {
      return governance.close();
    },
  };
  return governance;
}
