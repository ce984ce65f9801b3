/**
 * A fake of HashiCorp Vault's HTTP API (`/v1/...`, JSON), as far as the `vault` secret provider
 * uses it:
 * - the KV version 2 secrets engine on the mounts given (default `secret`): `data/<path>` (read
 *   the latest or `?version=N`, write with `options.cas`), `metadata/<path>` (read, `POST` settings
 *   and `custom_metadata`, `PATCH` as a JSON merge patch where `null` removes a key, `DELETE`, and
 *   `LIST`), `delete/`, `undelete/` and `destroy/<path>` with `{"versions": [...]}`;
 * - token auth (`X-Vault-Token`): the root token, and AppRole logins
 *   (`POST /v1/auth/approle/login` with `role_id` and `secret_id`) issuing tokens that expire after
 *   `tokenTtlSeconds`; `GET /v1/auth/token/lookup-self`;
 * - namespaces (`X-Vault-Namespace`): every namespace has its own mounts' data, and a token issued
 *   by a login in a namespace is valid only there (the root token everywhere).
 *
 * Answers have Vault's shapes: `{"request_id", "lease_id", "renewable", "lease_duration", "data",
 * "wrap_info", "warnings", "auth"}`; a read is `{"data": {"data": {...}, "metadata": {"version",
 * "created_time", "deletion_time", "destroyed", "custom_metadata"}}}`; errors are
 * `{"errors": [...]}`: 403 `permission denied` for a missing, unknown or expired token, 404 with
 * `errors: []` for a missing secret or version, 404 with the version's metadata (and `data: null`)
 * for a deleted or destroyed version, 400 `check-and-set parameter did not match the current
 * version` for a lost check-and-set, 400 for bad input (custom_metadata limits: 64 keys, keys of
 * at most 128 characters, values of at most 512).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type HttpContext, type HttpReply, jsonBody, type RunningFake, startFake } from './http.js';
import { createKvEngine, denied, envelope, header, invalid, type KvVersionState, VaultFault } from './vault-kv.js';

export interface VaultFakeOptions {
  /** The root token: valid in every namespace, never expires. Default a random `hvs.` token. */
  rootToken?: string;
  /** The AppRole credentials `auth/approle/login` accepts. Default: none (every login refused). */
  appRole?: { roleId: string; secretId: string };
  /** Lifetime of the tokens AppRole logins issue, in seconds. Default 3600. */
  tokenTtlSeconds?: number;
  /** KV version 2 mounts. Default `['secret']`. */
  mounts?: readonly string[];
  /** Namespaces besides the root one (`''`). Requests naming another namespace are refused. Default none. */
  namespaces?: readonly string[];
}

interface IssuedToken {
  readonly namespace: string;
  expiresAt: number;
}

/** One request as the Vault API saw it (in addition to {@link RunningFake.requests}). */
export interface VaultCall {
  readonly op: string;
  readonly method: string;
  /** The `X-Vault-Namespace` header, `''` when absent. */
  readonly namespace: string;
  /** The `X-Vault-Token` header, when sent. */
  readonly token: string | undefined;
  /** The secret path (after the mount), for KV operations. */
  readonly path: string | undefined;
  status: number;
}

/** What the fake holds of one version, for assertions. */
export type VaultVersionState = KvVersionState;

export interface VaultFake extends RunningFake {
  readonly rootToken: string;
  /** Every API call, with the namespace and token headers it carried. */
  readonly calls: VaultCall[];
  /** The calls of one operation (`readData`, `writeData`, `login`, ...). */
  ops(op: string): VaultCall[];
  /** A secret's versions as stored, oldest first; `undefined` when it does not exist. */
  versions(path: string, where?: { namespace?: string; mount?: string }): VaultVersionState[] | undefined;
  /** A secret's custom_metadata as stored. */
  customMetadata(path: string, where?: { namespace?: string; mount?: string }): Record<string, string> | undefined;
  /** Makes every token issued by a login expire now (the root token stays valid). */
  expireTokens(): void;
  /** Whether `token` is unknown or expired. */
  tokenExpired(token: string): boolean;
  /**
   * Holds the next `count` requests of `op` until all of them have arrived, then answers them in
   * arrival order: concurrent callers all see the same state (e.g. the same current version).
   */
  barrier(op: string, count: number): void;
  /** Holds the next request of `op` until the returned function is called. */
  hold(op: string): () => void;
}

const KV_OPS: Record<string, string> = {
  data: 'Data',
  metadata: 'Metadata',
  delete: 'Delete',
  undelete: 'Undelete',
  destroy: 'Destroy',
};

/** `ns1/` and `/ns1` are the same namespace as `ns1`. */
const normaliseNamespace = (ns: string | undefined) => (ns ?? '').replace(/^\/+|\/+$/g, '');

export async function startVaultServer(options: VaultFakeOptions = {}): Promise<VaultFake> {
  const rootToken = options.rootToken ?? `hvs.${randomBytes(12).toString('base64url')}`;
  const ttl = options.tokenTtlSeconds ?? 3600;
  const mounts = new Set(options.mounts ?? ['secret']);
  const namespaces = new Set(['', ...(options.namespaces ?? []).map(normaliseNamespace)]);
  const tokens = new Map<string, IssuedToken>();
  const engine = createKvEngine();
  const calls: VaultCall[] = [];

  function identify({ req, url }: { req: IncomingMessage; url: URL }): string {
    const p = url.pathname;
    if (p === '/v1/auth/approle/login') return 'login';
    if (p === '/v1/auth/token/lookup-self') return 'lookupSelf';
    const m = /^\/v1\/([^/]+)\/(data|metadata|delete|undelete|destroy)\/(.+)$/.exec(p);
    if (!m) return 'unknown';
    const method = req.method ?? 'GET';
    const kind = KV_OPS[m[2] as string] as string;
    if (kind === 'Data') return method === 'GET' ? 'readData' : method === 'DELETE' ? 'deleteLatest' : 'writeData';
    if (kind === 'Metadata') {
      if (method === 'LIST' || (method === 'GET' && url.searchParams.get('list') === 'true')) return 'listMetadata';
      if (method === 'GET') return 'readMetadata';
      if (method === 'PATCH') return 'patchMetadata';
      if (method === 'DELETE') return 'deleteMetadata';
      return 'writeMetadata';
    }
    return `${kind.toLowerCase()}Versions`;
  }

  /** The namespace of the request, checked to exist, and its token checked to be valid there. */
  function authorise(req: IncomingMessage, namespace: string): void {
    if (!namespaces.has(namespace)) throw denied();
    const token = header(req, 'x-vault-token');
    if (token === undefined || token.length === 0) throw denied();
    if (token === rootToken) return;
    const issued = tokens.get(token);
    if (!issued || issued.expiresAt <= Date.now() || issued.namespace !== namespace) throw denied();
  }

  function login(ctx: HttpContext, namespace: string): HttpReply {
    if (!namespaces.has(namespace)) throw denied();
    const body = jsonBody(ctx.body, () => invalid('failed to parse JSON input'));
    const role = options.appRole;
    if (typeof body.role_id !== 'string' || body.role_id.length === 0) throw invalid('missing role_id');
    if (!role || body.role_id !== role.roleId || body.secret_id !== role.secretId) {
      throw invalid('invalid role or secret ID');
    }
    const token = `hvs.${randomBytes(18).toString('base64url')}`;
    tokens.set(token, { namespace, expiresAt: Date.now() + ttl * 1000 });
    return {
      status: 200,
      body: envelope(null, {
        auth: {
          client_token: token,
          accessor: randomBytes(12).toString('base64url'),
          policies: ['default', 'summit'],
          token_policies: ['default', 'summit'],
          metadata: { role_name: 'summit' },
          lease_duration: ttl,
          renewable: true,
          entity_id: randomUUID(),
          token_type: 'service',
          orphan: true,
        },
        mount_type: undefined,
      }),
    };
  }

  const barriers: Array<{ op: string; count: number; waiting: Array<() => void> }> = [];

  const holds: Array<{ op: string; released: Promise<void> }> = [];

  /** Resolves when the request may be handled (at once unless a barrier or a hold keeps its operation). */
  async function pass(op: string): Promise<void> {
    const held = holds.findIndex((h) => h.op === op);
    if (held >= 0) await holds.splice(held, 1)[0]?.released;
    await gate(op);
  }

  function gate(op: string): Promise<void> | undefined {
    const b = barriers.find((x) => x.op === op);
    if (!b) return undefined;
    const arrived = new Promise<void>((resolve) => b.waiting.push(resolve));
    if (b.waiting.length >= b.count) {
      barriers.splice(barriers.indexOf(b), 1);
      for (const release of b.waiting) release();
    }
    return arrived;
  }

  async function handle(ctx: HttpContext): Promise<HttpReply> {
    await pass(ctx.record.op);
    return answer(ctx);
  }

  function answer(ctx: HttpContext): HttpReply {
    const namespace = normaliseNamespace(header(ctx.req, 'x-vault-namespace'));
    const call: VaultCall = {
      op: ctx.record.op,
      method: ctx.req.method ?? 'GET',
      namespace,
      token: header(ctx.req, 'x-vault-token'),
      path: undefined,
      status: 0,
    };
    calls.push(call);
    try {
      let reply: HttpReply;
      if (call.op === 'login') {
        reply = login(ctx, namespace);
      } else if (call.op === 'lookupSelf') {
        authorise(ctx.req, namespace);
        const issued = tokens.get(call.token as string);
        reply = {
          status: 200,
          body: envelope({
            ttl: issued ? Math.max(0, Math.round((issued.expiresAt - Date.now()) / 1000)) : 0,
            namespace_path: namespace === '' ? '' : `${namespace}/`,
          }),
        };
      } else {
        authorise(ctx.req, namespace);
        const m = /^\/v1\/([^/]+)\/(?:data|metadata|delete|undelete|destroy)\/(.+)$/.exec(ctx.url.pathname);
        const mount = m?.[1];
        if (!m || mount === undefined || !mounts.has(mount)) {
          throw new VaultFault(404, [`no handler for route "${ctx.url.pathname.slice(4)}". route entry not found.`]);
        }
        const path = decodeURIComponent(m[2] as string);
        Object.assign(call, { path });
        reply = engine.handle(ctx, call.op, namespace, mount, path);
      }
      call.status = reply.status;
      return reply;
    } catch (error) {
      if (!(error instanceof VaultFault)) throw error;
      call.status = error.status;
      return { status: error.status, body: error.body ?? { errors: error.errors } };
    }
  }

  const fake = await startFake(identify, handle);
  return {
    ...fake,
    rootToken,
    calls,
    ops: (op) => calls.filter((c) => c.op === op),
    versions: (path, where = {}) => engine.versions(normaliseNamespace(where.namespace), where.mount ?? 'secret', path),
    customMetadata: (path, where = {}) =>
      engine.customMetadata(normaliseNamespace(where.namespace), where.mount ?? 'secret', path),
    expireTokens() {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
    hold(op) {
      let release = () => {};
      holds.push({ op, released: new Promise<void>((resolve) => (release = resolve)) });
      return () => release();
    },
    barrier(op, count) {
      barriers.push({ op, count, waiting: [] });
    },
    tokenExpired(token) {
      const t = tokens.get(token);
      return !t || t.expiresAt <= Date.now();
    },
  };
}

/** A Vault error body, for injected faults: `{"errors": [...messages]}`. */
export function vaultErrors(...messages: string[]): unknown {
  return { errors: messages };
}
