/**
 * Records every outgoing TCP connection of this (test) process and refuses any that is not to the
 * loopback address, so a cloud SDK that tries a metadata server (169.254.169.254), a token
 * endpoint or the real cloud fails at once instead of hanging, and the test can assert it never
 * happened. Install it before creating any client; uninstall it in `afterAll`.
 */
import net from 'node:net';

export interface Connection {
  readonly host: string;
  readonly port: number | string | undefined;
  readonly allowed: boolean;
}

export interface NetworkGuard {
  /** Every connection attempted since install. */
  readonly connections: Connection[];
  /** Connections to anything but loopback (refused). */
  readonly refused: Connection[];
  uninstall(): void;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function installNetworkGuard(): NetworkGuard {
  const original = net.Socket.prototype.connect;
  const connections: Connection[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: the overloads of Socket#connect
  const guarded = function (this: net.Socket, ...args: any[]) {
    const first = args[0];
    let host: string | undefined;
    let port: number | string | undefined;
    let path: string | undefined;
    if (Array.isArray(first)) {
      // Internal normalised form: [options, callback].
      ({ host, port, path } = first[0] ?? {});
    } else if (first !== null && typeof first === 'object') {
      ({ host, port, path } = first);
    } else if (typeof first === 'string' && Number.isNaN(Number(first))) {
      path = first;
    } else {
      port = first;
      host = typeof args[1] === 'string' ? args[1] : undefined;
    }
    if (path !== undefined) return original.apply(this, args as never);
    const target = host ?? 'localhost';
    const allowed = LOOPBACK.has(target);
    connections.push({ host: target, port, allowed });
    if (!allowed) {
      const error = Object.assign(
        new Error(`network guard: connection to ${target}:${String(port)} refused (tests reach 127.0.0.1 only)`),
        {
          code: 'ECONNREFUSED',
        },
      );
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return original.apply(this, args as never);
  };
  net.Socket.prototype.connect = guarded as typeof original;
  return {
    connections,
    get refused() {
      return connections.filter((c) => !c.allowed);
    },
    uninstall() {
      if (net.Socket.prototype.connect === guarded) net.Socket.prototype.connect = original;
    },
  };
}
