/**
 * Consul with ACLs on (default deny), through the services script's second agent
 * (`scripts/services.sh consul-acl up`). Consul 1.8.7 answers a recursive read or key listing that
 * its ACLs filter down to nothing with 404 and no `X-Consul-Results-Filtered-By-ACLs` header, the
 * same answer as an empty prefix: the store must reject those reads with ACCESS_DENIED, never
 * report the configs absent.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { type ConfigError, isConfigError, parseRef } from '@summit-config/core';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { repoRoot, services } from '@summit-config/test-support/services';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = join(repoRoot, 'scripts', 'services.sh');

let addr = '';
let master = '';
const opened: ConsulStore[] = [];
function open(options: { token?: string; prefix: string; address?: string }): ConsulStore {
  const store = createConsulStore({ address: addr, ...options });
  opened.push(store);
  return store;
}

async function acl(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${addr}/v1/${path}`, {
    method,
    headers: { 'X-Consul-Token': master },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** A token whose only policy is `rules`. */
async function tokenWith(rules: string): Promise<string> {
  const policy = await acl('PUT', 'acl/policy', { Name: `p-${randomUUID().slice(0, 8)}`, Rules: rules });
  const token = await acl('PUT', 'acl/token', { Policies: [{ ID: policy.ID }] });
  return token.SecretID as string;
}

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConfigError(error), String(error)).toBe(true);
  return error as ConfigError;
}

beforeAll(async () => {
  await run('sh', [script, 'consul-acl', 'up'], { timeout: 60_000 });
  const { stdout } = await run('sh', [script, 'consul-acl', 'env']);
  addr = /SUMMIT_CONSUL_ACL_ADDR=(\S+)/.exec(stdout)?.[1] ?? '';
  master = /SUMMIT_CONSUL_ACL_TOKEN=(\S+)/.exec(stdout)?.[1] ?? '';
  expect(addr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(master).not.toBe('');
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await run('sh', [script, 'consul-acl', 'down'], { timeout: 60_000 });
});

describe('Consul with ACLs on (default deny)', () => {
  const ref = parseRef('app:acl/database');

  async function seeded(): Promise<string> {
    const prefix = `acl-${randomUUID().slice(0, 8)}/`;
    const admin = open({ token: master, prefix });
    await admin.append(doc(ref, 1, { host: 'db' }));
    return prefix;
  }

  it('without a token, reads of configs that exist are ACCESS_DENIED, never absent', async () => {
    const prefix = await seeded();
    const store = open({ prefix });
    const listed = await rejection(store.listHeads());
    expect(listed.code).toBe('ACCESS_DENIED');
    expect(listed.message).toMatch(/no ACL token/);
    expect(listed.message).toMatch(/404/);
    expect((await rejection(store.listHeads({ scope: 'app:acl' }))).code).toBe('ACCESS_DENIED');
    expect((await rejection(store.getHeadDocuments?.() ?? Promise.resolve())).code).toBe('ACCESS_DENIED');
    expect((await rejection(store.getHead(ref))).code).toBe('ACCESS_DENIED');
    expect((await rejection(store.listVersions(ref))).code).toBe('ACCESS_DENIED');
    expect((await rejection(store.listAcks?.(ref) ?? Promise.resolve())).code).toBe('ACCESS_DENIED');
    expect((await rejection(store.ping())).code).toBe('ACCESS_DENIED');
  });

  it('a token that may read another prefix only is ACCESS_DENIED too', async () => {
    const prefix = await seeded();
    const store = open({ prefix, token: await tokenWith('key_prefix "other/" { policy = "read" }') });
    const listed = await rejection(store.listHeads());
    expect(listed.code).toBe('ACCESS_DENIED');
    expect(listed.message).toMatch(/the ACL token may not read/);
    expect((await rejection(store.ping())).code).toBe('ACCESS_DENIED');
  });

  it('a token allowed to read the prefix lists its configs, and an empty prefix is empty', async () => {
    const prefix = await seeded();
    const reader = open({ prefix, token: await tokenWith(`key_prefix "${prefix}" { policy = "read" }`) });
    expect((await reader.listHeads()).map((h) => h.ref)).toEqual([ref]);
    expect(await reader.listVersions(ref)).toEqual([1]);
    await reader.ping();
    const empty = open({ prefix: `acl-${randomUUID().slice(0, 8)}/`, token: master });
    expect(await empty.listHeads()).toEqual([]);
    expect(await empty.listVersions(ref)).toEqual([]);
    expect(await empty.getHeadDocuments?.()).toMatchObject({ docs: [] });
  });

  it('on a Consul without ACLs an empty prefix still lists empty', async () => {
    const store = open({ address: services().consulAddr, prefix: `acl-${randomUUID().slice(0, 8)}/` });
    expect(await store.listHeads()).toEqual([]);
    expect(await store.listVersions(ref)).toEqual([]);
    await store.ping();
  });
});
