/** Helpers of the agent parity test: HTTP on TCP or a socket, paths, Prometheus samples, files, scan forms. */
import { readdir, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { type EvaluationContext, parseRef } from '@summit-config/core';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A GET on the agent's TCP port or Unix socket; the status, headers and body text. */
export function get(
  target: { port: number } | { socketPath: string },
  path: string,
  headers: Record<string, string> = {},
) {
  const where = 'socketPath' in target ? target : { host: '127.0.0.1', port: target.port };
  return new Promise<Answer>((resolve, reject) => {
    const req = request({ ...where, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

export function configPath(
  ref: string,
  environment: string,
  context: EvaluationContext | undefined,
  extra = '',
): string {
  const { scope, id } = parseRef(ref);
  const ctx = Object.entries(context ?? {})
    .map(([k, v]) => `&ctx.${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('');
  return `/v1/config/${scope}/${id}?app=demo&environment=${environment}${ctx}${extra}`;
}

/** The value of one sample line (`name{labels} value`) in Prometheus text; 0 when absent. */
export function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Every file under `dir`, as `path: content`. */
export async function readTree(dir: string): Promise<string> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    out.push(`${file}: ${await readFile(file, 'utf8')}`);
  }
  return out.join('\n');
}

/** The forms a value could take in stored text: as is, base64, hex, JSON-escaped. */
export function forms(value: string): Array<[string, string]> {
  return [
    ['clear', value],
    ['base64', Buffer.from(value).toString('base64')],
    ['hex', Buffer.from(value).toString('hex')],
    ['json', JSON.stringify(value).slice(1, -1)],
  ];
}
