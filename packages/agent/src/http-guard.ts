/**
 * The edges of the agent's HTTP listener: which `Host` headers it answers (against DNS rebinding),
 * which binds it refuses (a non-loopback interface without a token), and its Unix socket file (a
 * stale file removed at start, the mode set before anyone can connect, the file removed at close).
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect, isIP } from 'node:net';
import { errors } from '@summit-config/core/internal';
import type { HttpConfig } from './config.js';

/** The names a loopback listener always answers to. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/** A bind host that only the machine itself can reach: `localhost`, `127.0.0.0/8`, `::1`. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h);
  return false;
}

/** An entry of `http.allowedHosts`: `*`, `name`, `name:port`, `[v6]`, `[v6]:port`. */
const HOST_ENTRY =
  /^(?:\*|(?:[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*\.?|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/** Checks and normalises (lower case) one allowed-host entry; `undefined` when it is malformed. */
export function normaliseHostEntry(entry: string): string | undefined {
  const e = entry.trim().toLowerCase();
  return HOST_ENTRY.test(e) ? e : undefined;
}

/** The bind host as a `Host` header names it: IPv6 literals in brackets. */
function asHostName(bindHost: string): string {
  const h = bindHost.toLowerCase();
  return isIP(h) === 6 ? `[${h}]` : h;
}

/**
 * Decides whether a `Host` header names this agent. Allowed: the loopback names and the bind host,
 * each with no port or the bound port, and every configured entry (`name` with no port or the bound
 * port, `name:port` exactly, `*` anything).
 */
export class HostGuard {
  readonly #any: boolean;
  /** Names allowed with no port or the bound port. */
  readonly #names = new Set<string>();
  /** `name:port` pairs allowed exactly. */
  readonly #exact = new Set<string>();

  constructor(bindHost: string, allowed: readonly string[] = []) {
    this.#any = allowed.includes('*');
    for (const name of LOOPBACK_NAMES) this.#names.add(name);
    const bind = asHostName(bindHost);
    // A wildcard bind (0.0.0.0, ::) is no name a client uses.
    if (bind !== '0.0.0.0' && bind !== '[::]') this.#names.add(bind);
    for (const entry of allowed) {
      const e = normaliseHostEntry(entry);
      if (!e || e === '*') continue;
      if (/:\d+$/.test(e) && !/^\[[^\]]*\]$/.test(e)) this.#exact.add(e);
      else this.#names.add(e);
    }
  }

  /**
   * `undefined` when the request may go on, else why not. `rawHeaders` are the request's (name,
   * value, name, value ...), so a repeated Host is seen; `port` is the bound port.
   */
  refusal(rawHeaders: readonly string[], port: number): string | undefined {
    const hosts: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      if ((rawHeaders[i] as string).toLowerCase() === 'host') hosts.push(rawHeaders[i + 1] as string);
    }
    if (hosts.length === 0) return 'a Host header is required';
    if (hosts.length > 1) return 'exactly one Host header is allowed';
    if (this.#any) return undefined;
    const host = (hosts[0] as string).trim().toLowerCase();
    const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(host);
    if (!m || m[1] === '') return `the Host header ${JSON.stringify(host.slice(0, 100))} is not allowed`;
    const name = m[1] as string;
    const hostPort = m[2];
    if (this.#names.has(name) && (hostPort === undefined || Number(hostPort) === port)) return undefined;
    if (hostPort !== undefined && this.#exact.has(`${name}:${Number(hostPort)}`)) return undefined;
    return `the Host header ${JSON.stringify(host.slice(0, 100))} is not allowed (add it to http.allowedHosts)`;
  }
}

/**
 * Refuses to serve a non-loopback interface without a token: anyone who can reach it could read
 * every configuration. Throws `CONSTRAINT_VIOLATION`.
 */
export function assertSafeBind(config: Pick<HttpConfig, 'host' | 'token' | 'socket'>): void {
  if (config.socket !== undefined || config.token !== undefined || isLoopbackHost(config.host)) return;
  throw errors.constraint(
    `agent http: refusing to listen on ${config.host} without a token: set http.token (SUMMIT_AGENT_TOKEN) or bind a loopback address (http.host: 127.0.0.1)`,
  );
}

/**
 * Makes way for a Unix socket at `path`: a socket file nobody listens on any more (a crashed agent's)
 * is removed; a live one, or anything that is not a socket, is a `CONSTRAINT_VIOLATION`.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw errors.constraint(`agent http: cannot inspect ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!stat.isSocket()) {
    throw errors.constraint(`agent http: ${path} exists and is not a socket; refusing to replace it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (live) throw errors.constraint(`agent http: ${path} is in use by a running process (another agent?)`);
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/**
 * Starts `server` on the configured Unix socket or `host:port`: refuses a non-loopback bind without
 * a token, clears a stale socket file, binds the socket under a private umask and then sets its mode.
 * Every failure is a `CONSTRAINT_VIOLATION`, with nothing left listening.
 */
export async function listenGuarded(server: Server, config: HttpConfig): Promise<void> {
  const { host, port, socket } = config;
  assertSafeBind(config);
  if (socket) await clearStaleSocket(socket.path);
  const where = socket ? socket.path : `${host}:${port}`;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(errors.constraint(`agent http: cannot listen on ${where}: ${error.message}`, { cause: error }));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (socket) withPrivateUmask(() => server.listen(socket.path));
    else server.listen(port, host);
  });
  if (!socket) return;
  try {
    await chmod(socket.path, socket.mode);
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await removeSocket(socket.path);
    throw errors.constraint(`agent http: cannot set the mode of ${socket.path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Removes the socket file, if it is still there. */
export async function removeSocket(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/**
 * Runs `fn` (a synchronous bind) with a umask that keeps a new file's group and other bits off,
 * so a socket is never connectable by others before its mode is set. In a worker thread, where the
 * umask cannot change, `fn` just runs (the mode is still set right after listening).
 */
function withPrivateUmask<T>(fn: () => T): T {
  let previous: number | undefined;
  try {
    previous = process.umask(0o177);
  } catch {
    previous = undefined;
  }
  try {
    return fn();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}
