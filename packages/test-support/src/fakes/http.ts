/**
 * The plumbing the cloud fakes share: a node:http (or node:https) server on 127.0.0.1 and an
 * ephemeral port, a log of every request it received, and injected faults. The fakes model wire
 * protocols (what the real SDKs send and expect back); they are not mocks of the SDKs.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request as the fake saw it. */
export interface FakeRequest {
  readonly method: string;
  /** Path and query string. */
  readonly url: string;
  /** The `Host` header. */
  readonly host: string;
  /** Address of the client socket (always 127.0.0.1 for our clients). */
  readonly remoteAddress: string;
  /** The operation the fake recognised (`GetSecretValue`, `accessSecretVersion`, `getSecret`...). */
  op: string;
  /** Whether an Authorization header came with it. */
  readonly authorized: boolean;
  /** The status the fake answered. */
  status: number;
}

/** A fault to answer instead of the real reply. */
export interface InjectedFault {
  /** Only requests of this operation. Default: any. */
  op?: string;
  /** How many requests to fail. Default 1. */
  times?: number;
  /** Let this many matching requests through first. Default 0. */
  skip?: number;
  status: number;
  /** Response body (JSON). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Destroy the socket instead of answering (a network failure). */
  drop?: boolean;
  /** Never answer (the request stays open until the client gives up or the fake closes). */
  hang?: boolean;
}

export interface RunningFake {
  /** `http://127.0.0.1:<port>` (or `https://`). */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: FakeRequest[];
  /** Answers the next matching request(s) with `fault` instead. */
  fail(fault: InjectedFault): void;
  /** Stops the server and drops open connections. Idempotent. */
  close(): Promise<void>;
}

export interface HttpContext {
  readonly req: IncomingMessage;
  readonly body: Buffer;
  readonly url: URL;
  readonly record: FakeRequest;
}

export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialised unless a string or Buffer. */
  body?: unknown;
}

export interface StartOptions {
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

/**
 * Starts a fake on 127.0.0.1. `identify` names the operation of a request (before faults are
 * matched); `handle` answers it. A `handle` that throws answers 500 with the error's message.
 */
export async function startFake(
  identify: (ctx: Omit<HttpContext, 'record'>) => string,
  handle: (ctx: HttpContext) => Promise<HttpReply> | HttpReply,
  options: StartOptions = {},
): Promise<RunningFake> {
  const requests: FakeRequest[] = [];
  const faults: InjectedFault[] = [];

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const record: FakeRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      host: req.headers.host ?? '',
      remoteAddress: req.socket.remoteAddress ?? '',
      op: 'unknown',
      authorized: req.headers.authorization !== undefined,
      status: 0,
    };
    requests.push(record);
    let reply: HttpReply;
    try {
      record.op = identify({ req, body, url });
      const faultIndex = faults.findIndex((f) => f.op === undefined || f.op === record.op);
      let fault = faultIndex >= 0 ? faults[faultIndex] : undefined;
      if (fault && (fault.skip ?? 0) > 0) {
        fault.skip = (fault.skip ?? 0) - 1;
        fault = undefined;
      }
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) faults.splice(faultIndex, 1);
        if (fault.drop) {
          record.status = -1;
          req.socket.destroy();
          return;
        }
        if (fault.hang) {
          record.status = -2;
          return;
        }
        reply = { status: fault.status, headers: fault.headers, body: fault.body };
      } else {
        reply = await handle({ req, body, url, record });
      }
    } catch (error) {
      reply = { status: 500, body: { message: error instanceof Error ? error.message : String(error) } };
    }
    record.status = reply.status;
    const payload =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string' || Buffer.isBuffer(reply.body)
          ? reply.body
          : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      ...reply.headers,
    });
    res.end(payload);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    onRequest(req, res).catch(() => res.destroy());
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : createHttpServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    fail(fault) {
      faults.push({ ...fault });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** A request body parsed as a JSON object (`{}` when empty); what `invalid()` returns is thrown when it is not JSON. */
export function jsonBody(body: Buffer, invalid: () => Error): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid();
  }
}
