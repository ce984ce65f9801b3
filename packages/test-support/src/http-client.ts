/**
 * Plain HTTP requests to a server under test, on TCP (127.0.0.1:port) or a Unix socket, with
 * exactly the headers given (no agent, no defaults beyond Node's): the status and the JSON body.
 */
import { request } from 'node:http';
import { connect } from 'node:net';

export interface Answer {
  status: number;
  body: unknown;
}

export type Target = { port: number } | { socketPath: string };

const where = (target: Target) => ('socketPath' in target ? target : { host: '127.0.0.1', port: target.port });

/** A GET of `path` with exactly `headers` (`Host` included when given). */
export function httpGet(target: Target, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ ...where(target), path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode as number, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `text` as the whole request on a raw connection; the status line's code and the JSON body. */
export function rawHttp(target: Target, text: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = 'socketPath' in target ? connect({ path: target.socketPath }) : connect(where(target) as never);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      data += c;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const body = data.slice(data.indexOf('\r\n\r\n') + 4);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]), body: body ? JSON.parse(body) : undefined });
    });
    socket.write(text);
  });
}
