/**
 * A webhook receiver on 127.0.0.1 for the notification tests, verifying as docs/notifications.md
 * tells receivers to: the `Summit-Signature` HMAC over `<t>.<body>` (constant-time compare), a
 * timestamp within 5 minutes (older is a replay), and each event id accepted once (a second
 * delivery of an accepted id is answered 200 and recorded as a duplicate). It can answer 500 a
 * number of times first, or fail (503) until told otherwise.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Verdict = 'accepted' | 'duplicate' | 'bad-signature' | 'stale' | 'failing';

export interface Received {
  readonly eventId: string;
  readonly type: string;
  readonly verdict: Verdict;
  readonly status: number;
  readonly body: string;
}

/** The receiver's check of one request: `ok`, `bad-signature` or `stale` (a replayed old request). */
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
  toleranceSeconds = 300,
): 'ok' | 'bad-signature' | 'stale' {
  const parts = new Map(
    (header ?? '').split(',').map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isSafeInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return 'bad-signature';
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) return 'bad-signature';
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return 'stale';
  return 'ok';
}

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Ids accepted, in the order they were. */
  accepted(): string[];
  /** Answer 503 to everything (true) or behave (false). */
  setFailing(failing: boolean): void;
  close(): Promise<void>;
}

async function text(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startReceiver(options: {
  secret: string;
  /** Answer 500 to this many valid requests first. Default 0. */
  failFirst?: number;
  failing?: boolean;
}): Promise<Receiver> {
  const received: Received[] = [];
  const seen = new Set<string>();
  let failuresLeft = options.failFirst ?? 0;
  let failing = options.failing ?? false;
  const server = createServer((req, res) => {
    void text(req).then((body) => {
      const eventId = String(req.headers['summit-event-id'] ?? '');
      const type = String(req.headers['summit-event-type'] ?? '');
      const check = verifyWebhook(options.secret, req.headers['summit-signature'] as string | undefined, body);
      let verdict: Verdict;
      let status: number;
      if (check !== 'ok') {
        verdict = check;
        status = check === 'stale' ? 400 : 401;
      } else if (failing) {
        verdict = 'failing';
        status = 503;
      } else if (failuresLeft > 0) {
        failuresLeft--;
        verdict = 'failing';
        status = 500;
      } else if (seen.has(eventId)) {
        verdict = 'duplicate';
        status = 200;
      } else {
        seen.add(eventId);
        verdict = 'accepted';
        status = 200;
      }
      received.push({ eventId, type, verdict, status, body });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(verdict);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    accepted: () => received.filter((r) => r.verdict === 'accepted').map((r) => r.eventId),
    setFailing(value) {
      failing = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
