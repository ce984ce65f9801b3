/**
 * `pnpm bench server`: the config server over a real socket, against its anchors measured in the
 * same run. The server runs in its own process (bench/lib/server-child.ts: the change service over
 * the Consul + PostgreSQL failover chain, API tokens in PostgreSQL, the rate limit off); this
 * process is the client, with undici pools of exactly `concurrency` connections.
 *
 * - Reads: `GET /api/v1/configs/app:bench-<i>/settings` with a real API token (verified against
 *   PostgreSQL on every request), against Consul's own `GET /v1/kv/<key>` of the documents the
 *   server reads, at 1, 16 and 128 connections; goal at least 0.7x.
 *   Also `service.get` of the same refs in the server process (`service_get_c<n>`), which the
 *   route calls: the API read against it is the server's own share (`read_vs_service_get_c<n>`).
 * - Writes: `PUT /api/v1/configs/app:bench-<w>/settings` against `service.set` called directly in
 *   the server process (same service, same refs), at 1 and 16; goal at least 0.8x.
 *
 * Each pair runs in A-B-B-A order (anchor, server, server, anchor, each half the duration) so that
 * drift hits both alike. BENCH_DURATION_MS sets the duration of each measurement (default 3000);
 * BENCH_SERVER_PROFILE=<dir> writes a CPU profile of the server process (node --cpu-prof) there.
 * Prints one JSON object as its last line; it reports ratios, it does not judge them.
 */
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { round } from './_measure.js';
import { throughput } from './lib/throughput.js';
import { benchConfig } from './lib/writes-consul.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000);
const half = Math.max(200, Math.round(durationMs / 2));
const READ_CONCURRENCY = [1, 16, 128];
const WRITE_CONCURRENCY = [1, 16];
const REFS = 16;
const consulAddress = process.env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:18500';
const here = dirname(fileURLToPath(import.meta.url));

interface Ready {
  ready: true;
  port: number;
  token: string;
  prefix: string;
}

const child = fork(join(here, 'lib', 'server-child.ts'), [String(REFS), String(Math.max(...WRITE_CONCURRENCY))], {
  cwd: join(here, '..'),
  execArgv: [
    '--import',
    'tsx',
    '--conditions=source',
    // BENCH_SERVER_PROFILE=<dir>: a CPU profile of the server process, written there when it exits.
    ...(process.env.BENCH_SERVER_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SERVER_PROFILE}`] : []),
  ],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const replies: Array<(m: Record<string, unknown>) => void> = [];
const started = new Promise<Ready>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
  child.on('message', (m: Record<string, unknown>) => {
    if (m.ready) resolve(m as unknown as Ready);
    else replies.shift()?.(m);
  });
});
const ask = (message: Record<string, unknown>) =>
  new Promise<Record<string, unknown>>((resolve) => {
    replies.push(resolve);
    child.send(message);
  });

const { port, token, prefix } = await started;
const server = `http://127.0.0.1:${port}`;
const authorization = `Bearer ${token}`;

/**
 * GETs per second of `concurrency` workers over a pool of `concurrency` connections (from
 * `localAddress`); every answer is read whole and checked 200.
 */
async function gets(
  origin: string,
  concurrency: number,
  ms: number,
  path: (w: number) => string,
  options: { headers?: Record<string, string>; localAddress?: string } = {},
) {
  const pool = new Pool(origin, {
    connections: concurrency,
    pipelining: 1,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  const headers = options.headers ?? {};
  try {
    return await throughput(concurrency, ms, async (w) => {
      const res = await pool.request({ method: 'GET', path: path(w), headers });
      const body = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET ${path(w)}: ${res.statusCode} ${body.slice(0, 200)}`);
    });
  } finally {
    await pool.close();
  }
}

/** The Consul key of each ref's head document, as the server's Consul tier stores it. */
async function documentKeys(): Promise<string[]> {
  const res = await fetch(`${consulAddress}/v1/kv/${prefix}docs/?keys`);
  const keys = (await res.json()) as string[];
  return Array.from({ length: REFS }, (_, i) => {
    const own = keys.filter((k) => k.startsWith(`${prefix}docs/app:bench-${i}/settings/v/`));
    const latest = own.sort((a, b) => Number(b.split('/').pop()) - Number(a.split('/').pop()))[0];
    if (!latest) throw new Error(`no Consul document for app:bench-${i}/settings under ${prefix}`);
    return latest;
  });
}

const keys = await documentKeys();
// Consul limits the connections of one client address (http_max_conns_per_client, 200 by default),
// and the server process keeps up to 128 of its own open after the 128-connection reads: the anchor
// connects from another loopback address so that it has a budget of its own.
const consulGets = (c: number, ms: number) =>
  gets(consulAddress, c, ms, (w) => `/v1/kv/${keys[w % REFS]}`, { localAddress: '127.0.0.2' });
const apiGets = (c: number, ms: number) =>
  gets(server, c, ms, (w) => `/api/v1/configs/app:bench-${w % REFS}/settings`, { headers: { authorization } });

const apiVersions = new Array<number>(Math.max(...WRITE_CONCURRENCY)).fill(1_000_000);
async function apiWrites(concurrency: number, ms: number): Promise<number> {
  const pool = new Pool(server, { connections: concurrency, pipelining: 1 });
  try {
    return await throughput(concurrency, ms, async (w) => {
      const v = (apiVersions[w] as number) + 1;
      const res = await pool.request({
        method: 'PUT',
        path: `/api/v1/configs/app:bench-${w}/settings`,
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ config: benchConfig(w, v) }),
      });
      const body = await res.body.text();
      if (res.statusCode !== 200 && res.statusCode !== 201)
        throw new Error(`PUT: ${res.statusCode} ${body.slice(0, 200)}`);
      apiVersions[w] = v;
    });
  } finally {
    await pool.close();
  }
}
const directWrites = async (concurrency: number, ms: number) =>
  (await ask({ cmd: 'direct', concurrency, durationMs: ms })).result as number;

/** Anchor, measured, measured, anchor: the mean of each. */
async function pair(anchor: () => Promise<number>, measured: () => Promise<number>) {
  const a1 = await anchor();
  const m1 = await measured();
  const m2 = await measured();
  const a2 = await anchor();
  return { anchor: (a1 + a2) / 2, measured: (m1 + m2) / 2 };
}

const result: Record<string, unknown> = { bench: 'server' };
try {
  // Warm-up: JIT, connections, prepared plans on both sides.
  await apiGets(16, 500);
  await consulGets(16, 500);
  for (const c of READ_CONCURRENCY) {
    // Consul, API, service.get, service.get, API, Consul: the API pair between its anchors, and
    // service.get in the server process (what the route calls) for where the time goes.
    const consul1 = await consulGets(c, half);
    const api1 = await apiGets(c, half);
    const get1 = (await ask({ cmd: 'direct-get', concurrency: c, durationMs: half })).result as number;
    const get2 = (await ask({ cmd: 'direct-get', concurrency: c, durationMs: half })).result as number;
    const api2 = await apiGets(c, half);
    const consul2 = await consulGets(c, half);
    const [api, consul, get] = [(api1 + api2) / 2, (consul1 + consul2) / 2, (get1 + get2) / 2];
    result[`read_c${c}`] = round(api, 1);
    result[`consul_get_c${c}`] = round(consul, 1);
    result[`read_ratio_c${c}`] = round(api / consul);
    result[`service_get_c${c}`] = round(get, 1);
    result[`read_vs_service_get_c${c}`] = round(api / get);
  }
  await apiWrites(1, 300);
  for (const c of WRITE_CONCURRENCY) {
    const { anchor, measured } = await pair(
      () => directWrites(c, half),
      () => apiWrites(c, half),
    );
    result[`write_c${c}`] = round(measured, 1);
    result[`service_set_c${c}`] = round(anchor, 1);
    result[`write_ratio_c${c}`] = round(measured / anchor);
  }
} finally {
  await ask({ cmd: 'close' });
}

console.log(JSON.stringify(result));
