/**
 * A TCP proxy on 127.0.0.1 in front of a real server, for partitions: `cut()` drops every open
 * connection and refuses new ones (as a network partition seen from one process), `restore()` lets
 * traffic through again. Each process of a scenario can get its own proxy, so that one process loses
 * a store while the others still reach it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** `host:port` to give the process instead of the server's. */
  readonly port: number;
  readonly cutNow: boolean;
  /** The local ports of the open connections to the server (`client_port` in `pg_stat_activity`). */
  upstreamPorts(): number[];
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const upstreams = new Set<Socket>();
  let cut = false;
  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    upstreams.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      upstreams.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    get cutNow() {
      return cut;
    },
    upstreamPorts() {
      return [...upstreams].flatMap((s) => (s.localPort === undefined || s.destroyed ? [] : [s.localPort]));
    },
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    close() {
      cut = true;
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
