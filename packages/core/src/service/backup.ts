/**
 * Export and import of everything the service manages, as a streamable NDJSON file:
 *
 *   {"type":"header","format":"summit-config-export","formatVersion":1,"createdAt":"…","asOf":null,"source":"postgres"}
 *   {"type":"environment","environment":{…}}            every environment
 *   {"type":"schema","schema":{"id":…,"version":…,"schema":{…}}}   every schema version
 *   {"type":"policy","policy":{"name":…,"policy":{…},"updatedAt":…}}
 *   {"type":"version","version":{…ConfigVersion…}}      every version of every ref, 1..head, in order
 *   {"type":"request","request":{…ChangeRequest…}}      open requests (pending, approved, review pending)
 *   {"type":"trailer","records":N,"sha256":"…"}         N records; SHA-256 of every line before it
 *
 * Each line is one JSON value followed by `\n`; the trailer's hash covers the exact bytes of the
 * header and record lines (with their newlines), so a corrupted or truncated file is refused.
 *
 * Point in time (`asOf`): a ref's versions are exported up to the last one created at or before
 * `asOf` (a prefix, so history stays gap-free), and requests requested at or before it.
 * Environments, schemas and policies have no history and are exported as they are now.
 *
 * Import validates the whole file first (syntax, the trailer's count and hash, every version's
 * checksum, gap-free versions per ref, environment parents and cycles, schemas), and writes only
 * when everything is valid, into empty stores. Writes are: the governance part (environments,
 * schemas, policies, requests) in one atomic step, then every version with `store.append` of the
 * original document, ref after ref in file order. Each append is atomic, so a failure midway
 * leaves a known prefix: the `ImportError` reports exactly what was written, and running the import
 * again with `resume: true` skips what is already there (verified by checksum) and writes the rest.
 * The file is held in memory while it is validated.
 */
import { createHash } from 'node:crypto';
import type { ChangeRequest } from '../approvals/types.js';
import type { AuditCheckpoint } from '../audit/anchor.js';
import { isAuditCheckpoint } from '../audit/signing.js';
import { ConfigError, type ErrorCode, errors, isConfigError, messageOf } from '../errors/config-error.js';
import { validateEnvironments } from '../model/environment.js';
import { canonicalJson, isPlainObject, type JsonObject } from '../model/json.js';
import { parseId, parseRef, refKey } from '../model/ref.js';
import { type ConfigVersion, verifyVersion } from '../model/version.js';
import type { GovernanceSnapshot, GovernanceStore } from '../store/governance.js';
import {
  type BackupDeps,
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportHeader,
  type ExportOptions,
  type ExportRecord,
  type ExportTrailer,
  ImportError,
  type ImportOptions,
  type ImportProgress,
  type ImportReport,
  type ImportSource,
} from './backup-format.js';
import { checkImportTrust, signTrailer } from './backup-trust.js';
import { checkRequestShape } from './records.js';

export * from './backup-format.js';

function parseTime(value: Date | string, what: string): number {
  const t = value instanceof Date ? value.getTime() : Date.parse(value);
  if (typeof value !== 'string' && !(value instanceof Date)) throw errors.constraint(`${what} must be a date`);
  if (Number.isNaN(t)) throw errors.constraint(`${what} is not a valid date`);
  return t;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

/** The export as lines (each ending in `\n`). Reads lazily; nothing is held beyond one document. */
export async function* exportLines(deps: BackupDeps, options: ExportOptions = {}): AsyncGenerator<string> {
  const asOf = options.asOf === undefined ? undefined : parseTime(options.asOf, 'export asOf');
  const hash = createHash('sha256');
  let records = 0;
  const line = (value: object): string => {
    const text = `${JSON.stringify(value)}\n`;
    hash.update(text, 'utf8');
    return text;
  };
  const record = (value: ExportRecord): string => {
    records++;
    return line(value);
  };
  const header: ExportHeader = {
    type: 'header',
    format: EXPORT_FORMAT,
    formatVersion: EXPORT_FORMAT_VERSION,
    createdAt: deps.now().toISOString(),
    asOf: asOf === undefined ? null : new Date(asOf).toISOString(),
    source: deps.store.name,
  };
  yield line(header);
  for (const environment of await deps.governance.listEnvironments())
    yield record({ type: 'environment', environment });
  for (const schema of await deps.governance.listSchemas()) yield record({ type: 'schema', schema });
  for (const policy of await deps.governance.listPolicies()) yield record({ type: 'policy', policy });
  for (const head of await deps.store.listHeads()) {
    throwIfAborted(options.signal);
    const key = refKey(head.ref);
    for (let v = 1; v <= head.version; v++) {
      const doc = await deps.store.getVersion(head.ref, v, { signal: options.signal });
      if (!doc) {
        const limit = deps.store.capabilities.historyLimit;
        throw errors.constraint(
          `${deps.store.name} does not hold ${key} v${v}${limit === undefined ? '' : ` (it keeps the last ${limit} versions)`}: export from a store that keeps every version`,
          { ref: key, version: v, backend: deps.store.name },
        );
      }
      if (asOf !== undefined && Date.parse(doc.createdAt) > asOf) break;
      yield record({ type: 'version', version: doc });
    }
  }
  const open = await deps.governance.listRequests({ status: ['pending', 'approved'] });
  const reviews = await deps.governance.listRequests({ reviewPending: true });
  const seen = new Set<string>();
  for (const request of [...open, ...reviews]) {
    if (seen.has(request.id)) continue;
    seen.add(request.id);
    if (asOf !== undefined && Date.parse(request.requestedAt) > asOf) continue;
    yield record({ type: 'request', request });
  }
  for (const checkpoint of (await deps.checkpoints?.()) ?? []) yield record({ type: 'checkpoint', checkpoint });
  const sha256 = hash.digest('hex');
  const trailer: ExportTrailer = {
    type: 'trailer',
    records,
    sha256,
    ...(deps.signer ? { signature: signTrailer(records, sha256, deps.signer) } : {}),
  };
  yield `${JSON.stringify(trailer)}\n`;
}

// ------------------------------------------------------------------ import

async function* chunksOf(source: ImportSource): AsyncGenerator<string> {
  if (typeof source === 'string') {
    yield source;
    return;
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (chunk: string | Uint8Array, stream: boolean): string => {
    if (typeof chunk === 'string') return chunk;
    if (!(chunk instanceof Uint8Array)) throw errors.constraint('import chunks must be strings or bytes');
    try {
      return decoder.decode(chunk, { stream });
    } catch (error) {
      throw errors.constraint(`import file is not valid UTF-8: ${messageOf(error)}`);
    }
  };
  if (source instanceof Uint8Array) {
    yield decode(source, false);
    return;
  }
  if (source === null || typeof source !== 'object')
    throw errors.constraint('import source must be text, bytes or a stream');
  if (Symbol.asyncIterator in source) {
    for await (const chunk of source as AsyncIterable<string | Uint8Array>) yield decode(chunk, true);
  } else if (Symbol.iterator in source) {
    for (const chunk of source as Iterable<string | Uint8Array>) yield decode(chunk, true);
  } else {
    throw errors.constraint('import source must be text, bytes or a stream');
  }
  const rest = decode(new Uint8Array(), false);
  if (rest) yield rest;
}

interface ParsedFile {
  header: ExportHeader;
  sha256: string;
  snapshot: GovernanceSnapshot;
  /** Versions grouped by ref, in file order, each gap-free from 1. */
  refs: Array<{ key: string; versions: ConfigVersion[] }>;
}

function bad(line: number, message: string): ConfigError {
  return errors.constraint(`import file line ${line}: ${message}`);
}

/** Reads and validates the whole file; throws before anything is written. */
async function parseFile(deps: BackupDeps, source: ImportSource, signal?: AbortSignal): Promise<ParsedFile> {
  const hash = createHash('sha256');
  let header: ExportHeader | undefined;
  let trailer: { trailer: ExportTrailer; line: number } | undefined;
  let lineNo = 0;
  let records = 0;
  let afterTrailer = false;
  const snapshot: GovernanceSnapshot = { environments: [], schemas: [], policies: [], requests: [] };
  const refs = new Map<string, ConfigVersion[]>();
  const schemaVersions = new Map<string, number>();
  const names = { policies: new Set<string>(), requests: new Set<string>() };
  const checkpoints: AuditCheckpoint[] = [];

  const handle = (text: string): void => {
    lineNo++;
    if (afterTrailer) {
      throw bad(lineNo, 'content after the trailer line');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw bad(lineNo, text.length === 0 ? 'empty line' : 'not valid JSON (corrupted or truncated file)');
    }
    if (!isPlainObject(value) || typeof value.type !== 'string')
      throw bad(lineNo, 'each line must be an object with a type');
    if (lineNo === 1) {
      if (value.type !== 'header' || value.format !== EXPORT_FORMAT) throw bad(1, `not a ${EXPORT_FORMAT} file`);
      if (value.formatVersion !== EXPORT_FORMAT_VERSION) {
        throw bad(
          1,
          `format version ${String(value.formatVersion)} is not supported (expected ${EXPORT_FORMAT_VERSION})`,
        );
      }
      header = value as unknown as ExportHeader;
      hash.update(`${text}\n`, 'utf8');
      return;
    }
    if (value.type === 'trailer') {
      trailer = { trailer: value as unknown as ExportTrailer, line: lineNo };
      afterTrailer = true;
      return;
    }
    hash.update(`${text}\n`, 'utf8');
    records++;
    const where = `import file line ${lineNo}`;
    try {
      switch (value.type) {
        case 'environment':
          snapshot.environments.push(deps.checkEnvironment(value.environment, where));
          return;
        case 'schema': {
          const s = value.schema;
          if (!isPlainObject(s) || !isPlainObject(s.schema))
            throw bad(lineNo, 'a schema record needs { id, version, schema }');
          const id = parseId(s.id);
          const expected = (schemaVersions.get(id) ?? 0) + 1;
          if (s.version !== expected)
            throw bad(lineNo, `schema ${id}: expected version ${expected}, found ${String(s.version)}`);
          deps.checkSchema(s.schema, id);
          schemaVersions.set(id, expected);
          snapshot.schemas.push({ id, version: expected, schema: s.schema as JsonObject });
          return;
        }
        case 'policy': {
          const p = value.policy;
          if (
            !isPlainObject(p) ||
            typeof p.name !== 'string' ||
            !isPlainObject(p.policy) ||
            typeof p.updatedAt !== 'string'
          ) {
            throw bad(lineNo, 'a policy record needs { name, policy, updatedAt }');
          }
          if (names.policies.has(p.name)) throw bad(lineNo, `policy "${p.name}" appears twice`);
          names.policies.add(p.name);
          snapshot.policies.push({ name: p.name, policy: p.policy as JsonObject, updatedAt: p.updatedAt });
          return;
        }
        case 'version': {
          // Re-verified: a changed document no longer matches its checksum (CHECKSUM_MISMATCH).
          const doc = verifyVersion(value.version, deps.limits, 'import');
          const key = refKey(doc.ref);
          const list = refs.get(key) ?? [];
          const expected = list.length + 1;
          if (doc.version !== expected) throw bad(lineNo, `${key}: expected version ${expected}, found ${doc.version}`);
          list.push(doc);
          refs.set(key, list);
          return;
        }
        case 'request': {
          checkRequestShape(value.request, where);
          const r = value.request as unknown as ChangeRequest;
          parseRef(r.ref);
          if (names.requests.has(r.id)) throw bad(lineNo, `request ${r.id} appears twice`);
          names.requests.add(r.id);
          snapshot.requests.push(r);
          return;
        }
        case 'checkpoint':
          if (!isAuditCheckpoint(value.checkpoint))
            throw bad(lineNo, 'a checkpoint record needs { seq, hash, at, signedFrom, keyId, sig }');
          checkpoints.push(value.checkpoint);
          return;
        default:
          throw bad(lineNo, `unknown record type ${JSON.stringify(value.type)}`);
      }
    } catch (error) {
      if (isConfigError(error) && !error.message.startsWith('import file line')) {
        // Keep the code (CHECKSUM_MISMATCH, SCHEMA_VALIDATION, ...) and say where.
        const located = new ConfigError(error.code, `import file line ${lineNo}: ${error.message}`, {
          ref: error.ref,
          version: error.version,
          cause: error,
        });
        throw located;
      }
      throw error;
    }
  };

  let pending = '';
  for await (const chunk of chunksOf(source)) {
    throwIfAborted(signal);
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      handle(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
  }
  if (pending.length > 0) handle(pending);
  if (!header) throw errors.constraint('import file is empty');
  if (!trailer) throw errors.constraint(`import file is truncated: no trailer line after line ${lineNo}`);
  const t = trailer.trailer;
  if (t.records !== records) {
    throw errors.constraint(
      `import file line ${trailer.line}: trailer counts ${String(t.records)} records, found ${records}`,
    );
  }
  const digest = hash.digest('hex');
  if (t.sha256 !== digest) {
    throw errors.checksumMismatch(
      `import file: trailer SHA-256 ${String(t.sha256).slice(0, 12)}… does not match the content ${digest.slice(0, 12)}…`,
    );
  }
  if (deps.trust) {
    checkImportTrust(
      { trailer: t, versions: [...refs.values()].flat(), requests: snapshot.requests, checkpoints },
      deps.trust,
    );
  }
  validateEnvironments(snapshot.environments);
  for (const r of snapshot.requests) {
    const key = refKey(parseRef(r.ref));
    const held = refs.get(key)?.length ?? 0;
    if (r.baseVersion > held)
      throw errors.constraint(
        `import file: request ${r.id} is based on ${key} v${r.baseVersion}, which the file does not hold`,
      );
  }
  return {
    header,
    sha256: digest,
    snapshot,
    refs: [...refs.entries()].map(([key, versions]) => ({ key, versions })),
  };
}

function sameSnapshot(a: GovernanceSnapshot, b: GovernanceSnapshot): boolean {
  const norm = (s: GovernanceSnapshot) =>
    canonicalJson({
      environments: [...s.environments].sort((x, y) => (x.name < y.name ? -1 : 1)),
      schemas: [...s.schemas].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : x.version - y.version)),
      policies: [...s.policies].sort((x, y) => (x.name < y.name ? -1 : 1)),
      requests: [...s.requests].sort((x, y) => (x.id < y.id ? -1 : 1)),
    });
  return norm(a) === norm(b);
}

async function currentSnapshot(governance: GovernanceStore, ids: readonly string[]): Promise<GovernanceSnapshot> {
  const requests: ChangeRequest[] = [];
  for (const id of ids) {
    const r = await governance.getRequest(id);
    if (r) requests.push(r);
  }
  return {
    environments: await governance.listEnvironments(),
    schemas: await governance.listSchemas(),
    policies: await governance.listPolicies(),
    requests,
  };
}

/** Validates the whole file, then writes it (see the module comment for the guarantees). */
export async function importRecords(
  deps: BackupDeps,
  source: ImportSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  const resume = options.resume ?? false;
  if (typeof resume !== 'boolean') throw errors.constraint('import option resume must be a boolean');
  const file = await parseFile(deps, source, options.signal);
  const { store, governance } = deps;
  const { snapshot } = file;
  const totalVersions = file.refs.reduce((n, r) => n + r.versions.length, 0);

  if (!resume) {
    const heads = await store.listHeads();
    if (heads.length > 0) {
      throw errors.constraint(
        `import needs an empty store: ${store.name} holds ${heads.length} ref(s) (use resume to continue an interrupted import)`,
      );
    }
    if (!(await governance.isEmpty())) {
      throw errors.constraint(
        `import needs empty governance storage: ${governance.name} holds environments, schemas, policies or requests`,
      );
    }
  }

  const progress: ImportProgress = {
    governance: false,
    environments: 0,
    schemas: 0,
    policies: 0,
    requests: 0,
    versions: 0,
    skippedVersions: 0,
    refs: {},
  };
  const fail = (error: unknown, what: string): ImportError => {
    const code: ErrorCode = isConfigError(error) ? error.code : 'BACKEND_UNAVAILABLE';
    const written = `${progress.governance ? 'the governance records' : 'no governance records'} and ${progress.versions} of ${totalVersions} versions`;
    return new ImportError(
      code,
      `import stopped while ${what}: ${messageOf(error)}; written so far: ${written} (run it again with resume: true to finish)`,
      progress,
      error,
    );
  };
  const counts = `${snapshot.environments.length} environments, ${snapshot.schemas.length} schema versions, ${snapshot.policies.length} policies, ${snapshot.requests.length} requests, ${totalVersions} versions of ${file.refs.length} refs`;

  // 1. The governance part, in one atomic step.
  try {
    if (await governance.isEmpty()) {
      await governance.importSnapshot(
        snapshot,
        deps.auditFor('import', `import of ${file.sha256} (${counts}) started`),
      );
    } else if (
      sameSnapshot(
        await currentSnapshot(
          governance,
          snapshot.requests.map((r) => r.id),
        ),
        snapshot,
      )
    ) {
      await governance.appendAudit(deps.auditFor('import.resume', `import of ${file.sha256} resumed`));
    } else {
      throw errors.constraint(
        `${governance.name} governance storage holds other environments, schemas, policies or requests than the file`,
      );
    }
  } catch (error) {
    throw fail(error, 'writing environments, schemas, policies and requests');
  }
  progress.governance = true;
  progress.environments = snapshot.environments.length;
  progress.schemas = snapshot.schemas.length;
  progress.policies = snapshot.policies.length;
  progress.requests = snapshot.requests.length;

  // 2. Every version, in order, with the original documents.
  for (const { key, versions } of file.refs) {
    const ref = parseRef(key);
    let present = 0;
    try {
      if (resume) present = (await store.getHead(ref, { consistent: true }))?.version ?? 0;
      if (present > versions.length) {
        throw errors.constraint(`${key}: ${store.name} holds v${present}, beyond the file's v${versions.length}`);
      }
      for (const doc of versions) {
        throwIfAborted(options.signal);
        if (doc.version <= present) {
          const existing = await store.getVersion(ref, doc.version, { consistent: true });
          if (existing?.checksum !== doc.checksum) {
            throw errors.constraint(`${key} v${doc.version} is already stored with other content`, {
              ref: key,
              version: doc.version,
            });
          }
          progress.skippedVersions++;
        } else {
          await store.append(doc, { signal: options.signal });
          progress.versions++;
        }
        progress.refs[key] = doc.version;
      }
    } catch (error) {
      throw fail(error, `writing ${key}`);
    }
  }

  try {
    await governance.appendAudit(deps.auditFor('import.complete', `import of ${file.sha256} complete (${counts})`));
  } catch (error) {
    throw fail(error, 'recording the end of the import (every record is written)');
  }
  return { ...progress, header: file.header, sha256: file.sha256 };
}
