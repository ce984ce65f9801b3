/**
 * The CLI's remote mode: a `Session` whose change service is the config server's API
 * (`service.ts`), whose actor is the token's principal (`/api/v1/whoami`), and whose token commands
 * go to `/api/v1/tokens`. What needs the stores themselves (the store chain, governance storage,
 * keys, the local secret provider, migrations' history) is refused with `CONSTRAINT_VIOLATION`
 * naming it; commands that have a route of their own (resolved reads, watch, drift, status) check
 * `session.remote` and use it.
 *
 * Which server: `--server <url>` or `SUMMIT_SERVER`. Which token: `SUMMIT_TOKEN`, else the one
 * `summit-config login` stored for that URL. Next to a running main job (the embedded directory is
 * busy and `server.json` beside it names a live server) the CLI uses that server with the admin token.
 */
import { readFileSync } from 'node:fs';
import type { Actor } from '@summit-config/core';
import { ConfigError } from '@summit-config/core';
import type { CreatedToken, TokenAdmin, TokenRecord } from '@summit-config/server';
import type { Session } from '../context.js';
import { type ApiClient, createApiClient } from './api.js';
import { readCredential, serverKey } from './credentials.js';
import { remoteSecrets } from './secrets.js';
import { createRemoteService, notRemote } from './service.js';

/** What a remote session knows of its server. */
export interface RemoteInfo {
  readonly url: string;
  readonly api: ApiClient;
}

export interface Whoami {
  id: string;
  roles: string[];
  method: 'token' | 'oidc';
  tokenId?: string;
  credential?: string;
}

/** The server a command goes to (`--server`, else `SUMMIT_SERVER`), if any. */
export function serverOf(options: { server?: string }, env: NodeJS.ProcessEnv): string | undefined {
  const url = options.server || env.SUMMIT_SERVER || undefined;
  return url === undefined ? undefined : serverKey(url);
}

/** The token for `url`: `SUMMIT_TOKEN`, else the stored login; `MISSING_REQUIRED` saying how to get one. */
export async function tokenFor(url: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (env.SUMMIT_TOKEN) return env.SUMMIT_TOKEN.trim();
  const stored = await readCredential(env, url);
  if (stored) return stored.token;
  throw new ConfigError(
    'MISSING_REQUIRED',
    `no token for ${url}: set SUMMIT_TOKEN, or run \`summit-config login --server ${url}\` (create one with \`summit-config token create\`)`,
  );
}

/** A token read from a file (the admin token file), trimmed. */
export function tokenFromFile(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

function remoteTokens(api: ApiClient): TokenAdmin {
  return {
    async list(_actor, filter = {}) {
      const { items } = await api.request<{ items: TokenRecord[] }>('GET', '/api/v1/tokens', {
        query: { owner: filter.owner },
      });
      return items;
    },
    async create(_actor, request) {
      const body = {
        ...request,
        ...(request.expiresAt instanceof Date ? { expiresAt: request.expiresAt.toISOString() } : {}),
      };
      return api.request<CreatedToken>('POST', '/api/v1/tokens', { body });
    },
    async revoke(_actor, id) {
      return api.request<TokenRecord>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    },
  };
}

/** Opens a session on the config server at `url` with `token` (checked at once: `ACCESS_DENIED` if refused). */
export async function openRemoteSession(url: string, token: string): Promise<Session & { remote: RemoteInfo }> {
  const api = createApiClient({ url, token });
  const who = await api.request<Whoami>('GET', '/api/v1/whoami');
  const actor: Actor = {
    id: who.id,
    roles: who.roles,
    kind: who.method,
    ...(who.credential !== undefined ? { credential: who.credential } : {}),
  };
  const service = createRemoteService(api);
  const tokens = remoteTokens(api);
  return {
    remote: { url, api },
    get config(): never {
      return notRemote('reading the agent configuration');
    },
    get store(): never {
      return notRemote('reading the store chain');
    },
    get primary(): never {
      return notRemote('reading the primary store');
    },
    get record(): never {
      return notRemote('reading the record store');
    },
    get tiers(): never {
      return notRemote('listing the store tiers');
    },
    embedded: false,
    get governance(): never {
      return notRemote('the governance storage');
    },
    // The server checks every permission for the token's principal; nothing is decided here.
    rbac: {
      roles: new Map(),
      rolesOf: () => new Set(actor.roles ?? []),
      can: () => true,
      check: () => {},
    },
    rbacSource: `the config server ${url}`,
    actor,
    service,
    onAppend: undefined,
    get keys(): never {
      return notRemote('the signing keys');
    },
    migrationHistory: () => notRemote('configuration migrations'),
    notifications: async () => notRemote('the notification records'),
    secrets: async (provider?: string) => remoteSecrets(api, provider),
    tokens: async () => tokens,
    close: async () => {},
  };
}
