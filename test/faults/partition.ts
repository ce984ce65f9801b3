/**
 * Makes writes on opposite sides of a partition: process A reaches PostgreSQL but not Consul, process
 * B reaches Consul but not PostgreSQL (each through a proxy the test cuts), so the same refs get
 * different content under the same numbers in the two stores: conflicts for repair to resolve.
 */
import { services } from '@summit-config/test-support/services';
import { startProxy, type TcpProxy } from './proxy.js';
import type { Scenario } from './scenario.js';

export interface Partition {
  close(): Promise<void>;
}

/** Seeds `refs`, then A writes each `aWrites` times and B `bWrites` times, each cut off from one store. */
export async function splitBrain(
  s: Scenario,
  refs: readonly string[],
  aWrites: number,
  bWrites: number,
): Promise<Partition> {
  await s.init(refs);
  const { consulAddr, databaseUrl } = services();
  const proxies: TcpProxy[] = [
    await startProxy(Number(new URL(consulAddr).port)),
    await startProxy(Number(new URL(databaseUrl).port)),
  ];
  const [consulProxy, pgProxy] = proxies as [TcpProxy, TcpProxy];
  consulProxy.cut();
  pgProxy.cut();
  const exit = (w: { child: import('node:child_process').ChildProcess }) =>
    new Promise((r) => (w.child.exitCode === null ? w.child.once('exit', r) : r(undefined)));
  // Each side writes every ref `writes` times, through its cut-off proxy.
  const side = (id: string, writes: number, via: { consulAddr: string } | { databaseUrl: string }) =>
    exit(s.spawn({ id, role: 'writer', refs: [...refs], count: refs.length * writes, intervalMs: 1, ...via }));
  await side('side-a', aWrites, { consulAddr: `http://127.0.0.1:${consulProxy.port}` });
  await side('side-b', bWrites, { databaseUrl: s.databaseUrlVia(pgProxy.port) });
  return { close: async () => void (await Promise.all(proxies.map((p) => p.close()))) };
}
