/**
 * Runs `summit-config` command lines in process (`runCli`) against the real Consul and PostgreSQL,
 * each harness on a fresh Consul prefix and PostgreSQL schema, with an RBAC file:
 *
 *   alice: operator ('*')      bob: config-admin      carol: config-admin + secrets-admin
 *   rita:  config-reader       (anyone else: no role)
 *   the OS user running the tests: impersonator (`actor:impersonate`, for processes run with SUMMIT_ACTOR)
 *
 * Each in-process run acts as the OS user named by its `actor` option (the CLI's `user` hook), so
 * alice, bob and carol are three people with three credentials, as on a shared host.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { services } from '@summit-config/test-support/services';
import pg from 'pg';
import { runCli } from '../src/cli/program.js';

export const RBAC_YAML = `roles:
  operator: ['*']
  impersonator: [actor:impersonate]
bindings:
  - users: [alice]
    roles: [operator]
  - users: [bob]
    roles: [config-admin]
  - users: [carol]
    roles: [config-admin, secrets-admin]
  - users: [rita]
    roles: [config-reader]
  - users: [${JSON.stringify(userInfo().username)}]
    roles: [impersonator]
`;

export const MASTER_KEY = randomBytes(32).toString('base64');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as one JSON document (checked by the caller's expectations). */
  // biome-ignore lint/suspicious/noExplicitAny: the tests assert the shape with expect
  json<T = any>(): T;
  /** stderr's `{"error":{...}}` object. */
  error(): { code: string; message: string; [k: string]: unknown };
}

export interface RunOptions {
  /** The OS user this run acts as (the CLI's `user`; uid `test-<name>`). Default `alice`. */
  actor?: string;
  stdin?: string;
  signal?: AbortSignal;
  /** Extra or replaced environment variables (`undefined` removes one). */
  env?: Record<string, string | undefined>;
  /** Called with each stdout chunk as it is written (streams). */
  onStdout?: (chunk: string) => void;
  /** stderr claims to be a terminal (progress counters). Default false. */
  tty?: boolean;
}

export interface Harness {
  readonly schema: string;
  readonly prefix: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  run(args: readonly string[], options?: RunOptions): Promise<CliResult>;
  cleanup(): Promise<void>;
}

function sink(onWrite?: (chunk: string) => void, tty = false) {
  let text = '';
  return {
    stream: {
      isTTY: tty,
      write(chunk: string) {
        text += chunk;
        onWrite?.(chunk);
        return true;
      },
    },
    text: () => text,
  };
}

export function result(code: number, stdout: string, stderr: string): CliResult {
  return {
    code,
    stdout,
    stderr,
    json() {
      try {
        return JSON.parse(stdout);
      } catch {
        throw new Error(`stdout is not one JSON document (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
      }
    },
    error() {
      const line = stderr.trim().split('\n').at(-1) ?? '';
      try {
        return (JSON.parse(line) as { error: ReturnType<CliResult['error']> }).error;
      } catch {
        throw new Error(`stderr holds no JSON error (exit ${code}):\n${stderr}`);
      }
    },
  };
}

/** Runs one command line in process with the given environment. */
export async function runIn(env: NodeJS.ProcessEnv, args: readonly string[], options: RunOptions = {}) {
  const out = sink(options.onStdout);
  const err = sink(undefined, options.tty === true);
  const runEnv: NodeJS.ProcessEnv = { ...env };
  const actor = options.actor ?? 'alice';
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete runEnv[k];
    else runEnv[k] = v;
  }
  const code = await runCli(args, {
    stdout: out.stream,
    stderr: err.stream,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    env: runEnv,
    user: { username: actor, uid: `test-${actor}` },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return result(code, out.text(), err.text());
}

/** A fresh Consul prefix and PostgreSQL schema with the RBAC file above. */
export async function realHarness(label: string): Promise<Harness> {
  const { consulAddr, databaseUrl } = services();
  const suffix = randomBytes(4).toString('hex');
  const schema = `cli_${label}_${suffix}`;
  const prefix = `cli-${label}-${suffix}/`;
  const dir = await mkdtemp(join(tmpdir(), `summit-cli-${label}-`));
  const rbacFile = join(dir, 'rbac.yaml');
  await writeFile(rbacFile, RBAC_YAML);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CONSUL_HTTP_ADDR: consulAddr,
    DATABASE_URL: databaseUrl,
    SUMMIT_PG_SCHEMA: schema,
    SUMMIT_CONSUL_PREFIX: prefix,
    SUMMIT_RBAC_FILE: rbacFile,
    SUMMIT_MASTER_KEY: MASTER_KEY,
  };
  return {
    schema,
    prefix,
    dir,
    env,
    run: (args, options) => runIn(env, args, options),
    async cleanup() {
      await dropSchema(databaseUrl, schema);
      await fetch(`${consulAddr}/v1/kv/${prefix}?recurse=true`, { method: 'DELETE' }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
