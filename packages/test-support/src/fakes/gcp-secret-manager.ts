/**
 * A fake of Google Secret Manager's REST surface (v1), as `@google-cloud/secret-manager` calls it in
 * fallback (`rest`) mode: JSON bodies, `$alt=json;enum-encoding=int` (states as numbers when asked),
 * `google.rpc.Status` error bodies `{ error: { code, message, status } }` with the matching HTTP status.
 *
 *   POST   /v1/projects/{p}/secrets?secretId=S                  createSecret
 *   GET    /v1/projects/{p}/secrets/{s}                         getSecret
 *   PATCH  /v1/projects/{p}/secrets/{s}?updateMask=...          updateSecret (versionAliases, labels, annotations; etag checked)
 *   DELETE /v1/projects/{p}/secrets/{s}                         deleteSecret
 *   POST   /v1/projects/{p}/secrets/{s}:addVersion              addSecretVersion (payload.data base64)
 *   GET    /v1/projects/{p}/secrets/{s}/versions                listSecretVersions (newest first, pageSize/pageToken)
 *   GET    /v1/projects/{p}/secrets/{s}/versions/{v}            getSecretVersion
 *   GET    /v1/projects/{p}/secrets/{s}/versions/{v}:access     accessSecretVersion ({v} = number, `latest` or an alias)
 *   POST   /v1/projects/{p}/secrets/{s}/versions/{v}:disable    disableSecretVersion (also :enable, :destroy)
 *
 * Rules modelled: versions are ENABLED, DISABLED or DESTROYED; accessing a non-enabled version is
 * 400 FAILED_PRECONDITION; a destroyed version cannot be enabled, disabled or aliased; a version
 * that an alias points to cannot be destroyed; a stale etag is 400 FAILED_PRECONDITION; unknown
 * secrets, versions and aliases are 404 NOT_FOUND; an existing secret is 409 ALREADY_EXISTS;
 * a request without `Authorization: Bearer <token>` (or with another token) is 401 UNAUTHENTICATED.
 * Resource names in replies use the project number, as the service does.
 */
import { randomBytes } from 'node:crypto';
import { type HttpReply, jsonBody, type RunningFake, startFake } from './http.js';

export interface GcpFakeOptions {
  /** The project id accepted in paths (besides the number). Default `summit-test`. */
  projectId?: string;
  /** The project number used in returned names. Default `123456789012`. */
  projectNumber?: string;
  /** Only this bearer token is accepted. Default: any. */
  token?: string;
}

type State = 'ENABLED' | 'DISABLED' | 'DESTROYED';
const STATE_NUMBERS: Record<State, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

interface Version {
  readonly number: number;
  readonly createTime: string;
  state: State;
  data: Buffer | undefined;
  etag: string;
  destroyTime?: string;
}

interface Secret {
  readonly id: string;
  readonly createTime: string;
  etag: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  aliases: Map<string, number>;
  readonly versions: Map<number, Version>;
  next: number;
}

class RpcError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

export interface GcpFake extends RunningFake {
  readonly projectId: string;
  readonly projectNumber: string;
  /** Aliases of a secret as the fake holds them (alias -> version number). */
  aliases(secret: string): Record<string, number> | undefined;
  /** States of a secret's versions (number -> state). */
  states(secret: string): Record<number, State> | undefined;
}

const etag = () => `"${randomBytes(6).toString('hex')}"`;
const nowIso = () => new Date().toISOString();

export async function startGcpSecretManager(options: GcpFakeOptions = {}): Promise<GcpFake> {
  const projectId = options.projectId ?? 'summit-test';
  const projectNumber = options.projectNumber ?? '123456789012';
  const secrets = new Map<string, Secret>();

  const secretName = (s: Secret) => `projects/${projectNumber}/secrets/${s.id}`;
  const versionName = (s: Secret, v: Version) => `${secretName(s)}/versions/${v.number}`;

  function project(p: string): void {
    if (p !== projectId && p !== projectNumber) {
      throw new RpcError(403, 'PERMISSION_DENIED', `Permission denied on resource project ${p}.`);
    }
  }

  function secretOf(p: string, id: string): Secret {
    project(p);
    const secret = secrets.get(id);
    if (!secret)
      throw new RpcError(
        404,
        'NOT_FOUND',
        `Secret [projects/${projectNumber}/secrets/${id}] not found or has no versions.`,
      );
    return secret;
  }

  function versionOf(secret: Secret, ref: string): Version {
    let number: number | undefined;
    if (ref === 'latest') number = Math.max(0, ...secret.versions.keys());
    else if (/^[1-9][0-9]*$/.test(ref)) number = Number(ref);
    else number = secret.aliases.get(ref);
    const version = number === undefined ? undefined : secret.versions.get(number);
    if (!version) {
      throw new RpcError(404, 'NOT_FOUND', `Secret Version [${secretName(secret)}/versions/${ref}] not found.`);
    }
    return version;
  }

  function secretJson(s: Secret) {
    return {
      name: secretName(s),
      replication: { automatic: {} },
      createTime: s.createTime,
      labels: s.labels,
      annotations: s.annotations,
      etag: s.etag,
      versionAliases: Object.fromEntries([...s.aliases].map(([k, v]) => [k, String(v)])),
    };
  }

  function versionJson(s: Secret, v: Version, intEnums: boolean) {
    return {
      name: versionName(s, v),
      createTime: v.createTime,
      ...(v.destroyTime ? { destroyTime: v.destroyTime } : {}),
      state: intEnums ? STATE_NUMBERS[v.state] : v.state,
      etag: v.etag,
      replicationStatus: { automatic: {} },
      clientSpecifiedPayloadChecksum: false,
    };
  }

  function checkVersionEtag(v: Version, body: Record<string, unknown>): void {
    if (typeof body.etag === 'string' && body.etag !== '' && body.etag !== v.etag) {
      throw new RpcError(
        400,
        'FAILED_PRECONDITION',
        'The etag provided in the request does not match the current etag.',
      );
    }
  }

  const SECRET_RE = /^\/v1\/projects\/([^/]+)\/secrets(?:\/([^/:]+))?(?::(addVersion))?$/;
  const VERSIONS_RE =
    /^\/v1\/projects\/([^/]+)\/secrets\/([^/:]+)\/versions(?:\/([^/:]+)(?::(access|disable|enable|destroy))?)?$/;

  function identify(method: string, path: string): string {
    const v = VERSIONS_RE.exec(path);
    if (v) {
      if (!v[3]) return 'listSecretVersions';
      if (!v[4]) return 'getSecretVersion';
      return `${v[4]}SecretVersion`;
    }
    const s = SECRET_RE.exec(path);
    if (s) {
      if (s[3]) return 'addSecretVersion';
      if (!s[2]) return method === 'POST' ? 'createSecret' : 'listSecrets';
      return method === 'PATCH' ? 'updateSecret' : method === 'DELETE' ? 'deleteSecret' : 'getSecret';
    }
    return 'unknown';
  }

  function handle(method: string, path: string, url: URL, body: Record<string, unknown>, intEnums: boolean): unknown {
    const v = VERSIONS_RE.exec(path);
    if (v) {
      const [, p, id, ref, action] = v as unknown as [string, string, string, string | undefined, string | undefined];
      const secret = secretOf(p, decodeURIComponent(id));
      if (ref === undefined) {
        if (method !== 'GET') throw new RpcError(405, 'UNIMPLEMENTED', 'Method not allowed');
        const all = [...secret.versions.values()].sort((a, b) => b.number - a.number);
        const size = Number(url.searchParams.get('pageSize') ?? '0') || 25;
        const start = Number(url.searchParams.get('pageToken') || '0');
        const page = all.slice(start, start + size);
        return {
          versions: page.map((x) => versionJson(secret, x, intEnums)),
          ...(start + size < all.length ? { nextPageToken: String(start + size) } : {}),
          totalSize: all.length,
        };
      }
      const version = versionOf(secret, decodeURIComponent(ref));
      switch (action) {
        case undefined:
          return versionJson(secret, version, intEnums);
        case 'access':
          if (version.state !== 'ENABLED' || !version.data) {
            throw new RpcError(
              400,
              'FAILED_PRECONDITION',
              `Secret Version [${versionName(secret, version)}] is in ${version.state} state.`,
            );
          }
          return { name: versionName(secret, version), payload: { data: version.data.toString('base64') } };
        case 'disable':
        case 'enable':
          checkVersionEtag(version, body);
          if (version.state === 'DESTROYED') {
            throw new RpcError(
              400,
              'FAILED_PRECONDITION',
              `Secret Version [${versionName(secret, version)}] is in DESTROYED state.`,
            );
          }
          version.state = action === 'disable' ? 'DISABLED' : 'ENABLED';
          version.etag = etag();
          return versionJson(secret, version, intEnums);
        case 'destroy': {
          checkVersionEtag(version, body);
          const aliased = [...secret.aliases].filter(([, n]) => n === version.number).map(([a]) => a);
          if (aliased.length > 0) {
            throw new RpcError(
              400,
              'FAILED_PRECONDITION',
              `Secret Version [${versionName(secret, version)}] has aliases ${aliased.join(', ')} and cannot be destroyed.`,
            );
          }
          if (version.state !== 'DESTROYED') {
            version.state = 'DESTROYED';
            version.data = undefined;
            version.destroyTime = nowIso();
          }
          version.etag = etag();
          return versionJson(secret, version, intEnums);
        }
      }
    }
    const s = SECRET_RE.exec(path);
    if (s) {
      const [, p, rawId, addVersion] = s as unknown as [string, string, string | undefined, string | undefined];
      if (rawId === undefined) {
        project(p);
        if (method === 'POST') {
          const id = url.searchParams.get('secretId') ?? '';
          if (!/^[A-Za-z0-9_-]{1,255}$/.test(id)) throw new RpcError(400, 'INVALID_ARGUMENT', 'Secret ID is invalid.');
          if (secrets.has(id))
            throw new RpcError(
              409,
              'ALREADY_EXISTS',
              `Secret [projects/${projectNumber}/secrets/${id}] already exists.`,
            );
          const replication = (body as { replication?: unknown }).replication;
          if (!replication) throw new RpcError(400, 'INVALID_ARGUMENT', 'Secret.replication is required.');
          const secret: Secret = {
            id,
            createTime: nowIso(),
            etag: etag(),
            labels: (body.labels as Record<string, string>) ?? {},
            annotations: (body.annotations as Record<string, string>) ?? {},
            aliases: new Map(),
            versions: new Map(),
            next: 1,
          };
          secrets.set(id, secret);
          return secretJson(secret);
        }
        return { secrets: [...secrets.values()].map(secretJson), totalSize: secrets.size };
      }
      const secret = secretOf(p, decodeURIComponent(rawId));
      if (addVersion) {
        const data = (body.payload as { data?: unknown } | undefined)?.data;
        if (typeof data !== 'string') throw new RpcError(400, 'INVALID_ARGUMENT', 'SecretPayload.data is required.');
        const bytes = Buffer.from(data, 'base64');
        if (bytes.length > 65_536) throw new RpcError(400, 'INVALID_ARGUMENT', 'SecretPayload.data is too large.');
        const version: Version = {
          number: secret.next++,
          createTime: nowIso(),
          state: 'ENABLED',
          data: bytes,
          etag: etag(),
        };
        secret.versions.set(version.number, version);
        return versionJson(secret, version, intEnums);
      }
      if (method === 'GET') return secretJson(secret);
      if (method === 'DELETE') {
        secrets.delete(secret.id);
        return {};
      }
      if (method === 'PATCH') {
        if (typeof body.etag === 'string' && body.etag !== '' && body.etag !== secret.etag) {
          throw new RpcError(
            400,
            'FAILED_PRECONDITION',
            'The etag provided in the request does not match the current etag.',
          );
        }
        const mask = (url.searchParams.get('updateMask') ?? '').split(',').filter(Boolean);
        if (mask.length === 0) throw new RpcError(400, 'INVALID_ARGUMENT', 'update_mask is required.');
        for (const field of mask) {
          if (field === 'versionAliases' || field === 'version_aliases') {
            const raw = (body.versionAliases as Record<string, string | number> | undefined) ?? {};
            const next = new Map<string, number>();
            for (const [alias, value] of Object.entries(raw)) {
              if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,62}$/.test(alias) || alias === 'latest') {
                throw new RpcError(400, 'INVALID_ARGUMENT', `Invalid version alias ${alias}.`);
              }
              const version = secret.versions.get(Number(value));
              if (!version)
                throw new RpcError(400, 'INVALID_ARGUMENT', `Version ${value} of alias ${alias} does not exist.`);
              if (version.state === 'DESTROYED') {
                throw new RpcError(
                  400,
                  'FAILED_PRECONDITION',
                  `Cannot assign alias ${alias} to destroyed version ${value}.`,
                );
              }
              next.set(alias, Number(value));
            }
            secret.aliases = next;
          } else if (field === 'labels') {
            secret.labels = (body.labels as Record<string, string>) ?? {};
          } else if (field === 'annotations') {
            secret.annotations = (body.annotations as Record<string, string>) ?? {};
          } else {
            throw new RpcError(400, 'INVALID_ARGUMENT', `Unsupported update_mask path ${field}.`);
          }
        }
        secret.etag = etag();
        return secretJson(secret);
      }
    }
    throw new RpcError(404, 'NOT_FOUND', `No route for ${method} ${path}`);
  }

  const fake = await startFake(
    ({ req, url }) => identify(req.method ?? 'GET', url.pathname),
    ({ req, url, body }): HttpReply => {
      try {
        const auth = req.headers.authorization;
        if (!auth?.startsWith('Bearer ') || (options.token !== undefined && auth !== `Bearer ${options.token}`)) {
          throw new RpcError(
            401,
            'UNAUTHENTICATED',
            'Request had invalid authentication credentials. Expected OAuth 2 access token.',
          );
        }
        const intEnums = (url.searchParams.get('$alt') ?? '').includes('enum-encoding=int');
        const parsed = jsonBody(body, () => new RpcError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
        return { status: 200, body: handle(req.method ?? 'GET', url.pathname, url, parsed, intEnums) };
      } catch (error) {
        if (error instanceof RpcError) {
          return {
            status: error.httpStatus,
            body: { error: { code: error.httpStatus, message: error.message, status: error.status } },
          };
        }
        throw error;
      }
    },
  );

  return {
    ...fake,
    projectId,
    projectNumber,
    aliases(id) {
      const secret = secrets.get(id);
      return secret && Object.fromEntries(secret.aliases);
    },
    states(id) {
      const secret = secrets.get(id);
      return secret && Object.fromEntries([...secret.versions.values()].map((v) => [v.number, v.state]));
    },
  };
}

/** A google.rpc error body, for `fake.fail({ status, body: gcpError(...) })`. */
export function gcpError(httpStatus: number, status: string, message: string): unknown {
  return { error: { code: httpStatus, message, status } };
}
