/**
 * Three config server processes over the same Consul and PostgreSQL (stateless replicas), raced
 * the way a load balancer spreads clients:
 *
 * - compare-and-set writes: every round, writers on all three replicas write the same ref with
 *   `If-Match` on the head they read; exactly one per round wins (the others get 412), and every
 *   acknowledged write is in the history with the checksum it was acknowledged with;
 * - approvals: three approvers approve one change request at once on three replicas, then all try
 *   to apply it: every apply answers with the one version written, no approval is recorded twice;
 * - a token revoked on one replica is refused by the others from their next request;
 * - the OpenAPI document is the same on all three.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { services } from '@summit-config/test-support/services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIn } from '../../packages/agent/test/cli-harness.js';
import { startServerProcess } from '../../packages/agent/test/server-process.js';

const RBAC = `roles:
  operator: ['*']
bindings:
  - users: [alice]
    roles: [operator]
`;

interface Replica {
  url: string;
  child: ChildProcess;
  output: () => string;
}

const suffix = randomBytes(4).toString('hex');
const schema = `replicas_${suffix}`;
const prefix = `replicas-${suffix}/`;
let dir = '';
let env: NodeJS.ProcessEnv = {};
const replicas: Replica[] = [];
const tokens: Record<string, string> = {};

async function startReplica(label: string): Promise<Replica> {
  const p = startServerProcess(['--port', '0'], {
    cwd: dir,
    env: { ...env, SUMMIT_LOG_LEVEL: 'info' },
    detached: true,
  });
  try {
    return { url: (await p.listening()).url, child: p.child, output: p.output };
  } catch (error) {
    throw new Error(`replica ${label}: ${(error as Error).message}`);
  }
}

async function call(
  replica: Replica,
  token: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${replica.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  const { consulAddr, databaseUrl } = services();
  dir = await mkdtemp(join(tmpdir(), 'summit-replicas-'));
  await writeFile(join(dir, 'rbac.yaml'), RBAC);
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    CONSUL_HTTP_ADDR: consulAddr,
    DATABASE_URL: databaseUrl,
    SUMMIT_PG_SCHEMA: schema,
    SUMMIT_CONSUL_PREFIX: prefix,
    SUMMIT_RBAC_FILE: join(dir, 'rbac.yaml'),
  };
  // Tokens, made with the store credentials (direct mode), as an operator would bootstrap.
  const make = async (name: string, owner: string, roles: string) => {
    const r = await runIn(env, ['token', 'create', '--name', name, '--owner', owner, '--roles', roles, '--json'], {
      actor: 'alice',
    });
    expect(r.code, r.stderr).toBe(0);
    return r.json().token as string;
  };
  tokens.alice = await make('alice', 'alice', 'operator');
  for (const who of ['bob', 'carol', 'dave']) tokens[who] = await make(who, who, 'config-admin');
  for (const [i, w] of ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'].entries())
    tokens[w] = await make(w, `writer${i}`, 'config-admin');
  for (const label of ['a', 'b', 'c']) replicas.push(await startReplica(label));
}, 180_000);

afterAll(async () => {
  for (const r of replicas) {
    try {
      if (r.child.pid) process.kill(-r.child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end());
  await fetch(`${env.CONSUL_HTTP_ADDR}/v1/kv/${prefix}?recurse=true`, { method: 'DELETE' }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('three replicas over the same stores', () => {
  it('compare-and-set writes: one winner per round, every acknowledged write kept as acknowledged', async () => {
    const ref = 'app:race/limits';
    // No guarded environment yet: writes apply at once (the approvals test below adds production).
    const first = await call(replicas[0] as Replica, tokens.alice as string, 'PUT', `/api/v1/configs/${ref}`, {
      config: { n: 0 },
    });
    expect(first.status).toBe(201);
    const acknowledged: Array<{ version: number; checksum: string; writer: string }> = [];
    const ROUNDS = 8;
    const writers = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];
    for (let round = 1; round <= ROUNDS; round++) {
      const head = await call(replicas[round % 3] as Replica, tokens.alice as string, 'GET', `/api/v1/configs/${ref}`);
      const base = head.body.version as number;
      const results = await Promise.all(
        writers.map((w, i) =>
          call(
            replicas[i % 3] as Replica,
            tokens[w] as string,
            'PUT',
            `/api/v1/configs/${ref}`,
            { config: { n: round, by: w } },
            { 'if-match': `"${base}"` },
          ).then((r) => ({ ...r, writer: w })),
        ),
      );
      const won = results.filter((r) => r.status === 200);
      const lost = results.filter((r) => r.status === 412);
      expect(won.length + lost.length, JSON.stringify(results.map((r) => [r.status, r.body.code]))).toBe(
        writers.length,
      );
      expect(won).toHaveLength(1);
      for (const l of lost) expect(l.body.code).toBe('VERSION_CONFLICT');
      const w = won[0] as (typeof won)[number];
      expect(w.body.version).toBe(base + 1);
      acknowledged.push({ version: w.body.version as number, checksum: w.body.checksum as string, writer: w.writer });
    }
    // Read back through every replica: each acknowledged version is there, as acknowledged.
    for (const replica of replicas) {
      const history = await call(replica, tokens.alice as string, 'GET', `/api/v1/versions/${ref}?limit=100`);
      const items = history.body.items as Array<{ version: number; checksum: string; createdBy: string }>;
      expect(items.map((v) => v.version)).toEqual(Array.from({ length: ROUNDS + 1 }, (_, i) => ROUNDS + 1 - i));
      for (const a of acknowledged) {
        const kept = items.find((v) => v.version === a.version);
        expect(kept?.checksum).toBe(a.checksum);
        expect(kept?.createdBy).toBe(`writer${a.writer.slice(1)}`);
      }
    }
  }, 120_000);

  it('approvals raced on three replicas: no double approval, applies agree on one version', async () => {
    const ref = 'global/payments';
    const production = await call(replicas[1] as Replica, tokens.alice as string, 'POST', '/api/v1/environments', {
      name: 'production',
      production: true,
      approvalPolicy: { requiredApprovals: 2, approvers: ['bob', 'carol', 'dave'] },
    });
    expect(production.status, JSON.stringify(production.body)).toBe(201);
    const seeded = await call(replicas[0] as Replica, tokens.alice as string, 'POST', '/api/v1/change-requests', {
      ref,
      config: { limit: 10 },
    });
    expect(seeded.status, JSON.stringify(seeded.body)).toBe(201);
    const id = seeded.body.id as string;
    const approvals = await Promise.all(
      ['bob', 'carol', 'dave'].map((who, i) =>
        call(replicas[i] as Replica, tokens[who] as string, 'POST', `/api/v1/change-requests/${id}/approve`, {}),
      ),
    );
    const okApprovals = approvals.filter((a) => a.status === 200);
    expect(okApprovals.length, JSON.stringify(approvals.map((a) => [a.status, a.body.code]))).toBeGreaterThanOrEqual(2);
    // A late approver finds the request approved already: refused, and not recorded.
    for (const a of approvals.filter((x) => x.status !== 200)) {
      expect([a.status, a.body.code]).toEqual([400, 'CONSTRAINT_VIOLATION']);
      expect(a.body.detail).toMatch(/is approved/);
    }
    const applies = await Promise.all(
      replicas.map((replica) =>
        call(replica, tokens.alice as string, 'POST', `/api/v1/change-requests/${id}/apply`, {}),
      ),
    );
    // Apply is idempotent: a racing apply of the same request finds it applied and returns it. Every
    // answer names the same version, and only one version is written.
    expect(
      applies.map((a) => a.status),
      JSON.stringify(applies.map((a) => a.body.code)),
    ).toEqual([200, 200, 200]);
    expect(new Set(applies.map((a) => a.body.appliedVersion))).toEqual(new Set([1]));
    const request = await call(replicas[2] as Replica, tokens.alice as string, 'GET', `/api/v1/change-requests/${id}`);
    expect(request.body.status).toBe('applied');
    const approvers = (request.body.approvals as Array<{ by: string }>).map((a) => a.by);
    expect(new Set(approvers).size).toBe(approvers.length);
    const approvedBy = ['bob', 'carol', 'dave'].filter((_, i) => approvals[i]?.status === 200);
    expect([...approvers].sort()).toEqual(approvedBy);
    const history = await call(replicas[1] as Replica, tokens.alice as string, 'GET', `/api/v1/versions/${ref}`);
    expect((history.body.items as unknown[]).length).toBe(1);
  }, 60_000);

  it('a token revoked on one replica is refused by every replica from the next request', async () => {
    const created = await call(replicas[0] as Replica, tokens.alice as string, 'POST', '/api/v1/tokens', {
      name: 'short-lived',
      roles: ['config-reader'],
    });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    for (const r of replicas) expect((await call(r, token, 'GET', '/api/v1/configs')).status).toBe(200);
    const id = (created.body.record as { id: string }).id;
    expect((await call(replicas[1] as Replica, tokens.alice as string, 'DELETE', `/api/v1/tokens/${id}`)).status).toBe(
      200,
    );
    for (const r of replicas) {
      const refused = await call(r, token, 'GET', '/api/v1/configs');
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('ACCESS_DENIED');
    }
  });

  it('serves the same OpenAPI document on every replica', async () => {
    const docs = await Promise.all(replicas.map((r) => fetch(`${r.url}/api/openapi.json`).then((x) => x.text())));
    expect(new Set(docs).size).toBe(1);
  });
});
