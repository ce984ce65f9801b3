/**
 * `createRemoteService(client)`: the change service's interface (`ConfigService`) over the config
 * server's API, for the CLI's remote mode. The actor argument is ignored: the server authenticates
 * the bearer token and checks RBAC for its principal. Results have the service's own shapes (a head's
 * `ref` is an object again), so every command prints the same as in direct mode.
 *
 * What only the stores' holder can do has no route and is refused with `CONSTRAINT_VIOLATION` naming
 * it (`applyDue`, `recordEvent`). The schema registry is a
 * read-only copy of the server's schemas: validation and defaults run here with the service's code.
 */
import type {
  ConfigService,
  ConfigVersion,
  DiffResult,
  Environment,
  Head,
  ImportSource,
  JsonObject,
  VersionSummary,
} from '@summit-config/core';
import { parseRef, SchemaRegistry } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import { type ApiClient, refPath } from './api.js';

/** The refusal of a method that needs the stores themselves. */
export function notRemote(what: string): never {
  throw errors.constraint(
    `${what} works on the stores directly, not through a config server: run it without --server (and without SUMMIT_SERVER) where the store credentials are`,
  );
}

const refText = (ref: string | { scope: string; id: string }) =>
  typeof ref === 'string' ? ref : `${ref.scope}/${ref.id}`;

function ifMatch(expected: number | undefined): Record<string, string> {
  return expected === undefined ? {} : { 'if-match': `"${expected}"` };
}

type Items<T> = { items: T[] };

const NDJSON = 'application/x-ndjson';

/** The lines of a streamed NDJSON body, each with its newline (as the service's export yields them). */
async function* ndjsonLines(response: Response): AsyncGenerator<string> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      yield rest.slice(0, nl + 1);
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}

/** An import source (text, bytes, or chunks of either) as one text. */
async function collect(source: ImportSource): Promise<string> {
  if (typeof source === 'string') return source;
  if (source instanceof Uint8Array) return new TextDecoder().decode(source);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of source as AsyncIterable<string | Uint8Array>) {
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/**
 * A schema registry whose versions come from the server (read-only): validation and defaults run
 * here with the same code as the service's, on the schemas the server holds.
 */
function remoteSchemas(api: ApiClient): SchemaRegistry {
  const fetchVersion = (id: string, version?: number) =>
    api.request<{ version: number; schema: JsonObject } | undefined>('GET', `/api/v1/schemas/${refPath(id)}`, {
      query: { version },
      absentOn: [404],
    });
  return new SchemaRegistry({
    persistence: {
      async load(id) {
        const latest = await fetchVersion(id);
        if (!latest) return [];
        const older = await Promise.all(Array.from({ length: latest.version - 1 }, (_, i) => fetchVersion(id, i + 1)));
        return [...older.filter((v) => v !== undefined), latest];
      },
      async save() {
        notRemote('registering a schema through the registry object');
      },
    },
  });
}

export function createRemoteService(api: ApiClient): ConfigService {
  const configPath = (ref: string | { scope: string; id: string }) => `/api/v1/configs/${refPath(ref)}`;
  const schemas = remoteSchemas(api);
  const service = {
    schemas,
    signerKeyId: undefined,

    async get(_actor, ref, options = {}) {
      return api.request<ConfigVersion | undefined>('GET', configPath(ref), {
        query: { version: options.version },
        absentOn: [404],
      });
    },
    async getVersion(_actor, ref, version) {
      return api.request<ConfigVersion>('GET', configPath(ref), { query: { version } });
    },
    async list(_actor, query = {}) {
      const { items } = await api.request<Items<{ ref: string; version: number; checksum: string }>>(
        'GET',
        '/api/v1/configs',
        { query: { scope: query.scope, prefix: query.prefix } },
      );
      return items.map((h): Head => ({ ...h, ref: parseRef(h.ref) }));
    },
    async history(_actor, ref, options = {}) {
      const found = await api.request<Items<VersionSummary> | undefined>('GET', `/api/v1/versions/${refPath(ref)}`, {
        query: { limit: options.limit },
        absentOn: [404],
      });
      return found?.items ?? [];
    },
    async diff(_actor, ref, from, to) {
      return api.request<DiffResult>('GET', `/api/v1/diffs/${refPath(ref)}`, { query: { from, to } });
    },

    async set(_actor, input, options = {}) {
      const { ref, ...body } = input;
      return api.request<ConfigVersion>('PUT', configPath(ref), {
        body: { ...body, ...(options.emergency !== undefined ? { emergency: options.emergency } : {}) },
        headers: ifMatch(options.expectedVersion),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    async delete(_actor, ref, options = {}) {
      return api.request<ConfigVersion>('DELETE', configPath(ref), {
        query: { message: options.message, emergency: options.emergency },
        headers: ifMatch(options.expectedVersion),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    async rollback(_actor, ref, options = {}) {
      const { to, message, emergency } = options;
      return api.request<ConfigVersion>('POST', `/api/v1/rollbacks/${refPath(ref)}`, {
        body: {
          ...(to !== undefined ? { to } : {}),
          ...(message !== undefined ? { message } : {}),
          ...(emergency !== undefined ? { emergency } : {}),
        },
        headers: ifMatch(options.expectedVersion),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },

    async propose(_actor, input) {
      const { ref, ...body } = input;
      const defined = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      return api.request('POST', '/api/v1/change-requests', { body: { ref: refText(ref), ...defined } });
    },
    async approve(_actor, id, options = {}) {
      return api.request('POST', `/api/v1/change-requests/${encodeURIComponent(id)}/approve`, {
        body: options.comment !== undefined ? { comment: options.comment } : {},
      });
    },
    async reject(_actor, id, options) {
      return api.request('POST', `/api/v1/change-requests/${encodeURIComponent(id)}/reject`, {
        body: { reason: options.reason },
      });
    },
    async cancel(_actor, id, options = {}) {
      return api.request('POST', `/api/v1/change-requests/${encodeURIComponent(id)}/cancel`, {
        body: options.reason !== undefined ? { reason: options.reason } : {},
      });
    },
    async apply(_actor, id) {
      return api.request('POST', `/api/v1/change-requests/${encodeURIComponent(id)}/apply`, { body: {} });
    },
    async applyDue() {
      return notRemote('applying due change requests');
    },
    async getRequest(_actor, id) {
      return api.request('GET', `/api/v1/change-requests/${encodeURIComponent(id)}`);
    },
    async listRequests(_actor, query = {}) {
      const status = query.status === undefined ? undefined : [query.status].flat();
      const { items } = await api.request<Items<never>>('GET', '/api/v1/change-requests', {
        query: {
          status,
          ref: query.ref,
          requestedBy: query.requestedBy,
          reviewPending: query.reviewPending,
          limit: query.limit,
        },
      });
      return items;
    },

    async createEnvironment(_actor, environment) {
      return api.request<Environment>('POST', '/api/v1/environments', { body: environment });
    },
    async updateEnvironment(_actor, environment) {
      return api.request<Environment>('PUT', `/api/v1/environments/${encodeURIComponent(environment.name)}`, {
        body: environment,
      });
    },
    async listEnvironments() {
      return (await api.request<Items<Environment>>('GET', '/api/v1/environments')).items;
    },

    async registerSchema(_actor, id, schema) {
      const { version } = await api.request<{ version: number }>('PUT', `/api/v1/schemas/${refPath(id)}`, {
        body: { schema },
      });
      return version;
    },
    async publishSchema(_actor, id, schema, options = {}) {
      return api.request('POST', `/api/v1/schemas/${refPath(id)}/publish`, {
        body: { schema, ...(options.force !== undefined ? { force: options.force } : {}) },
      });
    },
    async getSchema(_actor, id, version) {
      return api.request('GET', `/api/v1/schemas/${refPath(id)}`, { query: { version }, absentOn: [404] });
    },
    async listSchemas() {
      return (await api.request<Items<{ id: string; version: number; versions: number }>>('GET', '/api/v1/schemas'))
        .items;
    },
    async validateDocument(_actor, id, value, options = {}) {
      await schemas.load(id);
      return schemas.check(id, value, options.version === undefined ? {} : { version: options.version });
    },

    async putPolicy(_actor, name, policy: JsonObject) {
      return api.request('PUT', `/api/v1/policies/${encodeURIComponent(name)}`, { body: { policy } });
    },
    async getPolicy(_actor, name) {
      return api.request('GET', `/api/v1/policies/${encodeURIComponent(name)}`, { absentOn: [404] });
    },
    async listPolicies() {
      return (await api.request<Items<never>>('GET', '/api/v1/policies')).items;
    },

    async audit(_actor, query = {}) {
      const iso = (d: Date | string | undefined) => (d instanceof Date ? d.toISOString() : d);
      const { items } = await api.request<Items<never>>('GET', '/api/v1/audit', {
        query: { ...query, since: iso(query.since), until: iso(query.until) },
      });
      return items;
    },
    async verifyAudit() {
      return api.request('POST', '/api/v1/audit/verify', { body: {} });
    },
    async resignHeads(_actor, options = {}) {
      return api.request('POST', '/api/v1/resign', { body: { dryRun: options.dryRun === true } });
    },
    async checkpointAudit(_actor, options = {}) {
      return api.request('POST', '/api/v1/audit/checkpoint', {
        body: { adopt: options.adopt === true },
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    async recordEvent() {
      return notRemote('recording an audit event');
    },

    async exportAll(_actor, options = {}) {
      const asOf = options.asOf instanceof Date ? options.asOf.toISOString() : options.asOf;
      const response = await api.raw('GET', '/api/v1/export', {
        query: { asOf },
        accept: NDJSON,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return ndjsonLines(response);
    },
    async importAll(_actor, source, options = {}) {
      return api.request('POST', '/api/v1/import', {
        query: { resume: options.resume === true },
        bodyText: await collect(source),
        contentType: NDJSON,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    async close() {},
    async [Symbol.asyncDispose]() {},
  } satisfies ConfigService;
  return service;
}
