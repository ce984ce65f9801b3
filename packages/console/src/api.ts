/**
 * The console's calls to the config server, same origin. The session cookie is HttpOnly: this code
 * never sees it; it keeps the session's CSRF token (from `POST`/`GET /api/v1/session`) in memory and
 * sends it in `X-CSRF-Token` with every state-changing request. Errors are the server's
 * problem+json, thrown as {@link ApiError} with the `ConfigError` code.
 */

export interface Principal {
  id: string;
  roles: string[];
}

export interface Session {
  principal: Principal;
  csrfToken: string;
  expiresAt: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | undefined;

const SAFE = new Set(['GET', 'HEAD']);

export interface ApiInit {
  authorization?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Extra request headers (e.g. `if-match`). */
  headers?: Record<string, string>;
}

export async function api<T>(method: string, path: string, init: ApiInit = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.authorization !== undefined) headers.authorization = init.authorization;
  else if (!SAFE.has(method) && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const p = (body ?? {}) as { code?: string; detail?: string };
    throw new ApiError(res.status, p.code ?? 'INTERNAL', p.detail ?? `${method} ${path} answered ${res.status}`);
  }
  return body as T;
}

/** Signs in with a pasted API token: the server sets the session cookie. */
export async function signIn(token: string): Promise<Session> {
  const session = await api<Session>('POST', '/api/v1/session', { authorization: `Bearer ${token.trim()}` });
  csrfToken = session.csrfToken;
  return session;
}

/** The session of the cookie, after a reload; `undefined` when signed out. */
export async function currentSession(): Promise<Session | undefined> {
  try {
    const session = await api<Session>('GET', '/api/v1/session');
    csrfToken = session.csrfToken;
    return session;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 404)) return undefined;
    throw error;
  }
}

export async function signOut(): Promise<void> {
  await api<void>('DELETE', '/api/v1/session');
  csrfToken = undefined;
}

export interface Head {
  ref: string;
  version: number;
  checksum: string;
}

export interface ConfigVersion {
  ref: { scope: string; id: string };
  version: number;
  config?: unknown;
  overrides?: unknown;
  rollout?: unknown;
  metadata?: unknown;
  checksum: string;
  createdAt?: string;
  createdBy?: string;
  message?: string;
}

export interface VersionInfo {
  version: number;
  checksum: string;
  createdAt?: string;
  createdBy?: string;
  message?: string;
  deleted?: boolean;
}

/** `scope/id` of a head's ref key (`global/db`, `app:web/db/pool`). */
export function splitRef(ref: string): { scope: string; id: string } {
  const slash = ref.indexOf('/');
  return { scope: ref.slice(0, slash), id: ref.slice(slash + 1) };
}

/** A ref's path in the API: the scope and each id segment encoded. */
export function refPath(ref: string): string {
  const { scope, id } = splitRef(ref);
  return `${encodeURIComponent(scope)}/${id.split('/').map(encodeURIComponent).join('/')}`;
}

export const listConfigs = () => api<{ items: Head[] }>('GET', '/api/v1/configs').then((r) => r.items);

export const getConfig = (ref: string, version?: number) =>
  api<ConfigVersion>('GET', `/api/v1/configs/${refPath(ref)}${version === undefined ? '' : `?version=${version}`}`);

export const listVersions = (ref: string) =>
  api<{ items: VersionInfo[] }>('GET', `/api/v1/versions/${refPath(ref)}`).then((r) => r.items);

// ---- The config pages: resolved values, diffs, rollbacks, edits, change requests (issue 19) ----

/** A problem+json error with its extension members (`environments`, `issues`, ...). */
export class ProblemError extends ApiError {
  constructor(
    status: number,
    code: string,
    message: string,
    readonly problem: Record<string, unknown>,
  ) {
    super(status, code, message);
    this.name = 'ProblemError';
  }
}

/** As {@link api}, but a failure is a {@link ProblemError} carrying the whole problem. */
export async function send<T>(method: string, path: string, init: ApiInit = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (!SAFE.has(method) && csrfToken !== undefined) headers['x-csrf-token'] = csrfToken;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const p = (body ?? {}) as Record<string, unknown>;
    const detail = typeof p.detail === 'string' ? p.detail : `${method} ${path} answered ${res.status}`;
    throw new ProblemError(res.status, typeof p.code === 'string' ? p.code : 'INTERNAL', detail, p);
  }
  return body as T;
}

export interface Environment {
  name: string;
  parent?: string;
  production?: boolean;
  approvalPolicy?: { requiredApprovals?: number };
}

export interface LayerInfo {
  kind: string;
  scope?: string;
  environment?: string;
  version?: number;
  rule?: string;
  variant?: string;
  source?: string;
}

export interface Resolved {
  id: string;
  app: string;
  environment: string;
  value: Record<string, unknown>;
  details: Record<string, unknown>;
  explain?: Record<string, { value: unknown; layer: LayerInfo }>;
}

export interface PatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/** The editable parts of a config document. */
export interface DocumentContent {
  config: unknown;
  overrides?: unknown;
  rollout?: unknown;
  metadata?: unknown;
}

export const listEnvironments = () => api<{ items: Environment[] }>('GET', '/api/v1/environments').then((r) => r.items);

export const getResolved = (app: string, environment: string, id: string) =>
  api<Resolved>(
    'GET',
    `/api/v1/resolved/${encodeURIComponent(app)}/${encodeURIComponent(environment)}/${id
      .split('/')
      .map(encodeURIComponent)
      .join('/')}?explain=true`,
  );

export const getDiff = (ref: string, from: number, to: number) =>
  api<{ ref: unknown; from: number; to: number; patch: PatchOp[] }>(
    'GET',
    `/api/v1/diffs/${refPath(ref)}?from=${from}&to=${to}`,
  );

/** `undefined` when no schema is registered for the id. */
export async function getSchema(id: string): Promise<{ id: string; version: number; schema: unknown } | undefined> {
  try {
    return await api('GET', `/api/v1/schemas/${id.split('/').map(encodeURIComponent).join('/')}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** The document at `ref`, or `undefined` when there is none. */
export async function findConfig(ref: string): Promise<ConfigVersion | undefined> {
  try {
    return await getConfig(ref);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** Rolls back to version `to`; `head` is the version read (compare-and-set). */
export const rollback = (ref: string, to: number, head: number, message?: string) =>
  send<ConfigVersion>('POST', `/api/v1/rollbacks/${refPath(ref)}`, {
    body: { to, ...(message ? { message } : {}) },
    headers: { 'if-match': `"${head}"` },
  });

/** Deletes a config (a tombstone version); `head` is the version read (compare-and-set, `If-Match`). */
export const deleteConfig = (ref: string, head: number, message?: string) =>
  send<ConfigVersion>(
    'DELETE',
    `/api/v1/configs/${refPath(ref)}${message ? `?message=${encodeURIComponent(message)}` : ''}`,
    {
      headers: { 'if-match': `"${head}"` },
    },
  );

/** Writes a new version; `base` is the version read (compare-and-set, `If-Match`). */
export const putConfig = (ref: string, content: DocumentContent, base: number, message?: string) =>
  send<ConfigVersion>('PUT', `/api/v1/configs/${refPath(ref)}`, {
    body: { ...content, ...(message ? { message } : {}) },
    headers: { 'if-match': `"${base}"` },
  });

export interface ChangeRequest {
  id: string;
  status: string;
  ref: unknown;
}

export const proposeChange = (body: Record<string, unknown>) =>
  send<ChangeRequest>('POST', '/api/v1/change-requests', { body });

// ---- OIDC sign-in (authorization code with PKCE, routes/oidc-login.ts on the server) ----

export interface OidcLoginConfig {
  enabled: boolean;
  /** The provider's name, for "Sign in with <name>". */
  name?: string;
  /** Where the browser goes to start the sign-in (a full navigation, not a fetch). */
  loginUrl?: string;
}

/** Whether the server offers OIDC sign-in; `{ enabled: false }` when it does not (or is older). */
export async function oidcLoginConfig(): Promise<OidcLoginConfig> {
  try {
    return await api<OidcLoginConfig>('GET', '/api/v1/session/oidc/config');
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { enabled: false };
    throw error;
  }
}
