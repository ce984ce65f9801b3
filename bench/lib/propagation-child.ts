/**
 * The receiving side of bench/propagation.ts, run in its own process (forked with IPC).
 *   mode "store": a Consul store watch on the `global` scope of <prefix> (watch-child.ts).
 *   mode "bare":  a plain recursive blocking-query loop (node:http) on <prefix>.
 *   mode "client": a config client of app `prop` (environment `staging`) over the failover chain of
 *                 <prefix> and PostgreSQL schema <schema>, reporting `client.watch('settings')`.
 * Sends { ready } once its watch is established, then { key, version, at } per change, where `at` is
 * wall-clock milliseconds (performance.timeOrigin + performance.now()) when the callback ran.
 */
import { Agent, request } from 'node:http';
import { createConsulStore } from '@summit-config/backends/consul';
import { now, reportWatch, send } from './watch-child.js';

const [mode, address, prefix, schema] = process.argv.slice(2) as [string, string, string, string];

if (mode === 'store') {
  reportWatch(createConsulStore({ address, prefix }));
} else if (mode === 'client') {
  const { createFailoverStore } = await import('@summit-config/backends');
  const { createPostgresStore } = await import('@summit-config/backends/postgres');
  const { createConfigClient } = await import('@summit-config/core');
  const store = createFailoverStore({
    tiers: [
      createConsulStore({ address, prefix }),
      createPostgresStore({ connectionString: process.env.DATABASE_URL as string, schema }),
    ],
  });
  const client = await createConfigClient({ store, app: 'prop', environment: 'staging' });
  client.watch('settings', (change) => {
    const at = now();
    send({ key: `app:prop/${change.id}`, version: change.version, at });
  });
  send({ ready: true });
  process.on('disconnect', () => void client.close().then(() => store.close().then(() => process.exit(0))));
} else {
  const agent = new Agent({ keepAlive: true });
  const url = new URL(address);
  const get = (index: number) =>
    new Promise<{ index: number; body: string }>((resolve, reject) => {
      const path = `/v1/kv/${prefix}?recurse${index > 0 ? `&index=${index}&wait=30s` : ''}`;
      const req = request({ host: url.hostname, port: url.port, path, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ index: Number(res.headers['x-consul-index'] ?? 0), body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  const seen = new Map<string, number>();
  let index = 0;
  let ready = false;
  process.on('disconnect', () => process.exit(0));
  for (;;) {
    const res = await get(index);
    const at = now();
    const entries = res.body
      ? (JSON.parse(res.body) as Array<{ Key: string; Value: string; ModifyIndex: number }>)
      : [];
    for (const e of entries) {
      if (seen.get(e.Key) === e.ModifyIndex) continue;
      seen.set(e.Key, e.ModifyIndex);
      if (ready) {
        const { version } = JSON.parse(Buffer.from(e.Value, 'base64').toString()) as { version: number };
        send({ key: e.Key, version, at });
      }
    }
    if (!ready) {
      ready = true;
      send({ ready: true });
    }
    index = res.index < index ? 0 : Math.max(1, res.index);
  }
}
