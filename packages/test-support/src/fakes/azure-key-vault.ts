/**
 * A fake of Azure Key Vault's secrets REST API over HTTPS (the SDK refuses bearer tokens over plain
 * HTTP), as `@azure/keyvault-secrets` 4.11 calls it (`?api-version=2025-07-01`):
 *
 *   PUT   /secrets/{name}                 set: a new version (body { value, tags?, contentType?, attributes? })
 *   GET   /secrets/{name}/{version}       get one version; an empty version is the latest
 *   PATCH /secrets/{name}/{version}       update properties (attributes.enabled, tags, contentType)
 *   GET   /secrets/{name}/versions        list versions' properties (maxresults, nextLink paging)
 *   DELETE /secrets/{name}                delete (no soft-delete modelled: gone at once)
 *
 * Authentication as Key Vault does it: a request without `Authorization` gets 401 with
 * `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
 * resource="https://vault.azure.net"` (the challenge the SDK answers by asking its credential for
 * a token); after that, `Authorization: Bearer <token>` must carry the expected token.
 * Errors are `{ error: { code, message, innererror? } }`: 404 SecretNotFound, 403 Forbidden
 * (innererror SecretDisabled) for reading a disabled version, 400 BadParameter, 401 Unauthorized.
 */
import { randomBytes } from 'node:crypto';
import { type HttpReply, jsonBody, type RunningFake, startFake } from './http.js';
import type { TestCertificate } from './tls.js';

export interface AzureFakeOptions {
  tls: TestCertificate;
  /** The only bearer token accepted. Default `azure-fake-token`. */
  token?: string;
  tenantId?: string;
}

interface Version {
  readonly id: string;
  readonly value: string;
  readonly created: number;
  updated: number;
  enabled: boolean;
  tags: Record<string, string>;
  contentType: string | undefined;
  readonly order: number;
}

class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly inner?: string,
  ) {
    super(message);
  }
}

export interface AzureFake extends RunningFake {
  readonly token: string;
  /** The api-version values the SDK sent. */
  readonly apiVersions: Set<string>;
  /** Versions of a secret as the fake holds them, oldest first. */
  versions(name: string): Array<{ id: string; enabled: boolean; tags: Record<string, string> }> | undefined;
}

const NAME_RE = /^[0-9a-zA-Z-]{1,127}$/;

export async function startAzureKeyVault(options: AzureFakeOptions): Promise<AzureFake> {
  const token = options.token ?? 'azure-fake-token';
  const tenant = options.tenantId ?? '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const secrets = new Map<string, Version[]>();
  const apiVersions = new Set<string>();
  let order = 0;
  let base = '';

  const unixSeconds = () => Math.floor(Date.now() / 1000);

  function bundle(name: string, v: Version, withValue: boolean) {
    return {
      ...(withValue ? { value: v.value } : {}),
      id: `${base}/secrets/${name}/${v.id}`,
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      attributes: {
        enabled: v.enabled,
        created: v.created,
        updated: v.updated,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      tags: v.tags,
    };
  }

  function versionsOf(name: string): Version[] {
    if (!NAME_RE.test(name))
      throw new VaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    const list = secrets.get(name);
    if (!list || list.length === 0) {
      throw new VaultError(404, 'SecretNotFound', `A secret with (name/id) ${name} was not found in this key vault.`);
    }
    return list;
  }

  function find(name: string, version: string): Version {
    const list = versionsOf(name);
    const v = version === '' ? list.reduce((a, b) => (b.order > a.order ? b : a)) : list.find((x) => x.id === version);
    if (!v) {
      throw new VaultError(
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}/${version} was not found in this key vault.`,
      );
    }
    return v;
  }

  function checkTags(tags: unknown): Record<string, string> {
    if (tags === undefined || tags === null) return {};
    if (typeof tags !== 'object' || Array.isArray(tags))
      throw new VaultError(400, 'BadParameter', 'tags must be an object');
    const entries = Object.entries(tags as Record<string, unknown>);
    if (entries.length > 15) throw new VaultError(400, 'BadParameter', 'A maximum of 15 tags is allowed.');
    for (const [, v] of entries)
      if (typeof v !== 'string') throw new VaultError(400, 'BadParameter', 'tag values must be strings');
    return { ...(tags as Record<string, string>) };
  }

  function route(method: string, path: string, url: URL, body: Record<string, unknown>): unknown {
    const parts = path.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] !== 'secrets') throw new VaultError(404, 'NotFound', `No route for ${method} ${path}`);
    const name = parts[1] ?? '';
    if (parts.length === 2 && method === 'PUT') {
      if (!NAME_RE.test(name))
        throw new VaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
      if (typeof body.value !== 'string') throw new VaultError(400, 'BadParameter', 'Property value is required.');
      if (Buffer.byteLength(body.value) > 25 * 1024)
        throw new VaultError(400, 'BadParameter', 'Secret value is too large.');
      const now = unixSeconds();
      const attributes = (body.attributes ?? {}) as { enabled?: unknown };
      const v: Version = {
        id: randomBytes(16).toString('hex'),
        value: body.value,
        created: now,
        updated: now,
        enabled: attributes.enabled !== false,
        tags: checkTags(body.tags),
        contentType: typeof body.contentType === 'string' ? body.contentType : undefined,
        order: order++,
      };
      secrets.set(name, [...(secrets.get(name) ?? []), v]);
      return bundle(name, v, true);
    }
    if (parts.length === 2 && method === 'DELETE') {
      const list = versionsOf(name);
      secrets.delete(name);
      return { ...bundle(name, list[list.length - 1] as Version, false), recoveryId: `${base}/deletedsecrets/${name}` };
    }
    if (parts.length === 3 && parts[2] === 'versions' && method === 'GET') {
      const list = versionsOf(name);
      const max = Math.min(Number(url.searchParams.get('maxresults') ?? '25') || 25, 25);
      const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
      const page = list.slice(skip, skip + max);
      const next =
        skip + max < list.length
          ? `${base}/secrets/${name}/versions?api-version=${url.searchParams.get('api-version')}&$skiptoken=${skip + max}&maxresults=${max}`
          : null;
      return { value: page.map((v) => bundle(name, v, false)), nextLink: next };
    }
    if (parts.length === 3) {
      const version = parts[2] ?? '';
      if (method === 'GET') {
        const v = find(name, version);
        if (!v.enabled) {
          throw new VaultError(
            403,
            'Forbidden',
            'Operation get is not allowed on a disabled secret.',
            'SecretDisabled',
          );
        }
        return bundle(name, v, true);
      }
      if (method === 'PATCH') {
        if (version === '') throw new VaultError(400, 'BadParameter', 'A version is required.');
        const v = find(name, version);
        const attributes = (body.attributes ?? {}) as { enabled?: unknown };
        if (typeof attributes.enabled === 'boolean') v.enabled = attributes.enabled;
        if (body.tags !== undefined) v.tags = checkTags(body.tags);
        if (typeof body.contentType === 'string') v.contentType = body.contentType;
        v.updated = unixSeconds();
        return bundle(name, v, false);
      }
    }
    throw new VaultError(405, 'MethodNotAllowed', `No route for ${method} ${path}`);
  }

  const challenge = {
    'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${tenant}", resource="https://vault.azure.net"`,
  };

  const fake = await startFake(
    ({ req, url }) => {
      const segments = url.pathname.split('/').filter(Boolean);
      const verb = req.method ?? 'GET';
      if (!req.headers.authorization) return 'challenge';
      if (segments[2] === 'versions') return 'listVersions';
      return `${verb} ${segments.length === 2 ? 'secret' : 'version'}`;
    },
    ({ req, url, body }): HttpReply => {
      try {
        const auth = req.headers.authorization;
        if (!auth) {
          return {
            status: 401,
            headers: challenge,
            body: { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
          };
        }
        if (auth !== `Bearer ${token}`) {
          return {
            status: 401,
            headers: challenge,
            body: { error: { code: 'Unauthorized', message: 'AKV10032: Invalid issuer or token.' } },
          };
        }
        const apiVersion = url.searchParams.get('api-version');
        if (!apiVersion)
          throw new VaultError(400, 'BadParameter', 'The request URI contains an invalid or missing api-version');
        apiVersions.add(apiVersion);
        const parsed = jsonBody(body, () => new VaultError(400, 'BadParameter', 'The request body is not valid JSON.'));
        return { status: 200, body: route(req.method ?? 'GET', url.pathname, url, parsed) };
      } catch (error) {
        if (error instanceof VaultError) {
          return {
            status: error.status,
            body: {
              error: {
                code: error.code,
                message: error.message,
                ...(error.inner ? { innererror: { code: error.inner } } : {}),
              },
            },
          };
        }
        throw error;
      }
    },
    { tls: options.tls },
  );
  base = fake.url;

  return {
    ...fake,
    token,
    apiVersions,
    versions(name) {
      return secrets.get(name)?.map((v) => ({ id: v.id, enabled: v.enabled, tags: { ...v.tags } }));
    },
  };
}

/** A Key Vault error body, for `fake.fail({ status, body: vaultError(...) })`. */
export function vaultError(code: string, message: string): unknown {
  return { error: { code, message } };
}
