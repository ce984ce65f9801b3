/**
 * The KV version 2 engine of the Vault fake (`vault.ts`): secrets per namespace and mount, their
 * versions, check-and-set, custom_metadata (POST replaces, PATCH merges), soft delete, undelete,
 * destroy and max_versions (default 10), answered in Vault's shapes. Private to the fake.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type HttpContext, type HttpReply, jsonBody } from './http.js';

interface StoredVersion {
  readonly data: Record<string, unknown>;
  readonly createdTime: string;
  deletionTime: string;
  destroyed: boolean;
}

interface StoredSecret {
  readonly createdTime: string;
  updatedTime: string;
  currentVersion: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
  readonly versions: Map<number, StoredVersion>;
}

/** An answer other than 2xx: `{"errors": [...]}`, or `body` when given. */
export class VaultFault extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly body?: unknown,
  ) {
    super(errors.join('; '));
  }
}

export const denied = () => new VaultFault(403, ['permission denied']);
export const notFound = (body?: unknown) => new VaultFault(404, [], body);
export const invalid = (message: string) => new VaultFault(400, [message]);

/** Vault's response envelope around `data`. */
export function envelope(data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: 'kv',
    ...extra,
  };
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What the fake reports of one version. */
export interface KvVersionState {
  readonly version: number;
  readonly deleted: boolean;
  readonly destroyed: boolean;
}

export interface KvEngine {
  /** Answers a KV operation (`readData`, `writeData`, `readMetadata`, ...) on `path`. */
  handle(ctx: HttpContext, op: string, namespace: string, mount: string, path: string): HttpReply;
  versions(namespace: string, mount: string, path: string): KvVersionState[] | undefined;
  customMetadata(namespace: string, mount: string, path: string): Record<string, string> | undefined;
}

export function createKvEngine(): KvEngine {
  /** `<namespace>\0<mount>\0<path>` -> secret. */
  const store = new Map<string, StoredSecret>();
  let clock = Date.now();
  const now = () => {
    clock = Math.max(Date.now(), clock + 1);
    return new Date(clock).toISOString();
  };
  const key = (namespace: string, mount: string, path: string) => `${namespace}\0${mount}\0${path}`;

  function versionMetadata(s: StoredSecret, n: number, v: StoredVersion): Record<string, unknown> {
    return {
      version: n,
      created_time: v.createdTime,
      deletion_time: v.deletionTime,
      destroyed: v.destroyed,
      custom_metadata: s.customMetadata,
    };
  }

  const isDeleted = (v: StoredVersion) => v.deletionTime !== '' && Date.parse(v.deletionTime) <= Date.now();

  function checkCustomMetadata(cm: Record<string, unknown>): Record<string, string> {
    const entries = Object.entries(cm);
    if (entries.length > 64) {
      throw invalid('custom_metadata validation failed: payload must contain at most 64 keys');
    }
    const problems: string[] = [];
    for (const [k, v] of entries) {
      if (k.length > 128) problems.push(`length of key "${k}" is ${k.length} but max is 128`);
      if (typeof v !== 'string') problems.push(`value for key "${k}" is not a string`);
      else if (v.length > 512) problems.push(`length of value for key "${k}" is ${v.length} but max is 512`);
    }
    if (problems.length > 0) throw invalid(`custom_metadata validation failed: ${problems.join(', ')}`);
    return Object.fromEntries(entries) as Record<string, string>;
  }

  function versionsArg(body: Record<string, unknown>): number[] {
    const raw = body.versions;
    if (!Array.isArray(raw) || raw.length === 0) throw invalid('no version number provided');
    return raw.map((v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw invalid('error parsing version');
      return n;
    });
  }

  function kv(ctx: HttpContext, op: string, namespace: string, mount: string, path: string): HttpReply {
    const k = key(namespace, mount, path);
    const secret = store.get(k);
    const body = () => jsonBody(ctx.body, () => invalid('failed to parse JSON input'));
    switch (op) {
      case 'readData': {
        if (!secret) throw notFound();
        const asked = Number(ctx.url.searchParams.get('version') ?? '0');
        if (!Number.isSafeInteger(asked) || asked < 0) throw invalid('error parsing version');
        const n = asked > 0 ? asked : secret.currentVersion;
        const v = secret.versions.get(n);
        if (!v) throw notFound();
        const metadata = versionMetadata(secret, n, v);
        if (isDeleted(v) || v.destroyed) {
          return { status: 404, body: envelope({ data: null, metadata }) };
        }
        return { status: 200, body: envelope({ data: structuredClone(v.data), metadata }) };
      }
      case 'writeData': {
        const b = body();
        if (b.data === null || typeof b.data !== 'object' || Array.isArray(b.data)) throw invalid('no data provided');
        const opts = (b.options ?? {}) as Record<string, unknown>;
        const current = secret?.currentVersion ?? 0;
        if (opts.cas !== undefined) {
          const cas = Number(opts.cas);
          if (!Number.isSafeInteger(cas)) throw invalid('error parsing check-and-set parameter');
          if (cas !== current) throw invalid('check-and-set parameter did not match the current version');
        } else if (secret?.casRequired) {
          throw invalid('check-and-set parameter required for this call');
        }
        const created = now();
        const s: StoredSecret = secret ?? {
          createdTime: created,
          updatedTime: created,
          currentVersion: 0,
          maxVersions: 0,
          casRequired: false,
          customMetadata: null,
          versions: new Map(),
        };
        s.currentVersion = current + 1;
        s.updatedTime = created;
        const v: StoredVersion = {
          data: structuredClone(b.data as Record<string, unknown>),
          createdTime: created,
          deletionTime: '',
          destroyed: false,
        };
        s.versions.set(s.currentVersion, v);
        const max = s.maxVersions > 0 ? s.maxVersions : 10;
        for (const n of [...s.versions.keys()]) if (n <= s.currentVersion - max) s.versions.delete(n);
        store.set(k, s);
        const { version, created_time, deletion_time, destroyed, custom_metadata } = versionMetadata(
          s,
          s.currentVersion,
          v,
        );
        return { status: 200, body: envelope({ version, created_time, deletion_time, destroyed, custom_metadata }) };
      }
      case 'deleteLatest': {
        const v = secret?.versions.get(secret.currentVersion);
        if (v && v.deletionTime === '') v.deletionTime = now();
        return { status: 204 };
      }
      case 'readMetadata': {
        if (!secret) throw notFound();
        const versions: Record<string, unknown> = {};
        for (const [n, v] of secret.versions) {
          versions[String(n)] = { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed };
        }
        return {
          status: 200,
          body: envelope({
            cas_required: secret.casRequired,
            created_time: secret.createdTime,
            current_version: secret.currentVersion,
            custom_metadata: secret.customMetadata,
            delete_version_after: '0s',
            max_versions: secret.maxVersions,
            oldest_version: Math.min(...secret.versions.keys(), secret.currentVersion),
            updated_time: secret.updatedTime,
            versions,
          }),
        };
      }
      case 'writeMetadata':
      case 'patchMetadata': {
        const type = header(ctx.req, 'content-type') ?? '';
        if (op === 'patchMetadata' && !type.startsWith('application/merge-patch+json')) {
          throw new VaultFault(415, [
            `PATCH requires Content-Type of application/merge-patch+json, provided ${type || 'none'}`,
          ]);
        }
        const b = body();
        if (op === 'patchMetadata' && !secret) throw notFound();
        const created = now();
        const s: StoredSecret = secret ?? {
          createdTime: created,
          updatedTime: created,
          currentVersion: 0,
          maxVersions: 0,
          casRequired: false,
          customMetadata: null,
          versions: new Map(),
        };
        if (b.max_versions !== undefined) s.maxVersions = Number(b.max_versions);
        if (b.cas_required !== undefined) s.casRequired = b.cas_required === true;
        if (b.custom_metadata !== undefined) {
          const cm = b.custom_metadata;
          if (cm !== null && (typeof cm !== 'object' || Array.isArray(cm))) {
            throw invalid('custom_metadata validation failed: not a map');
          }
          if (op === 'writeMetadata') {
            s.customMetadata = cm === null ? null : checkCustomMetadata(cm as Record<string, unknown>);
          } else {
            // JSON merge patch (RFC 7386): null removes a key.
            const merged: Record<string, unknown> = { ...(s.customMetadata ?? {}) };
            for (const [ck, cv] of Object.entries((cm ?? {}) as Record<string, unknown>)) {
              if (cv === null) delete merged[ck];
              else merged[ck] = cv;
            }
            s.customMetadata = checkCustomMetadata(merged);
          }
        }
        s.updatedTime = created;
        store.set(k, s);
        return { status: 204 };
      }
      case 'deleteMetadata':
        store.delete(k);
        return { status: 204 };
      case 'listMetadata': {
        const prefix = path.endsWith('/') ? path : `${path}/`;
        const keys = new Set<string>();
        for (const stored of store.keys()) {
          const [ns, mt, p] = stored.split('\0') as [string, string, string];
          if (ns !== namespace || mt !== mount || !p.startsWith(prefix)) continue;
          const rest = p.slice(prefix.length);
          const slash = rest.indexOf('/');
          keys.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
        }
        if (keys.size === 0) throw notFound();
        return { status: 200, body: envelope({ keys: [...keys].sort() }) };
      }
      case 'deleteVersions':
      case 'undeleteVersions':
      case 'destroyVersions': {
        const versions = versionsArg(body());
        if (!secret) return { status: 204 };
        for (const n of versions) {
          const v = secret.versions.get(n);
          if (!v) continue;
          if (op === 'deleteVersions' && v.deletionTime === '') v.deletionTime = now();
          if (op === 'undeleteVersions' && !v.destroyed) v.deletionTime = '';
          if (op === 'destroyVersions') v.destroyed = true;
        }
        secret.updatedTime = now();
        return { status: 204 };
      }
      default:
        throw new VaultFault(405, ['unsupported operation']);
    }
  }

  return {
    handle: kv,
    versions(namespace, mount, path) {
      const s = store.get(key(namespace, mount, path));
      if (!s) return undefined;
      return [...s.versions.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([version, v]) => ({ version, deleted: isDeleted(v), destroyed: v.destroyed }));
    },
    customMetadata(namespace, mount, path) {
      const s = store.get(key(namespace, mount, path));
      return s ? { ...(s.customMetadata ?? {}) } : undefined;
    },
  };
}
