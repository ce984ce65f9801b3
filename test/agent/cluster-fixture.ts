/** Shared set-up for agent processes against the real Consul and PostgreSQL. */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFailoverStore, type FailoverStore } from '@summit-config/backends';
import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { services } from '@summit-config/test-support/services';
import { uniqueSuffix } from './agent-process.js';

export interface Cluster {
  prefix: string;
  schema: string;
  consulAddr: string;
  databaseUrl: string;
  /** A writer in this process over the same tiers as the agents. */
  chain: FailoverStore;
  /** The agents' configuration, with `extra` merged on top (one level deep). */
  agentConfig(extra?: Record<string, unknown>): Record<string, unknown>;
  consulKv(method: string, key: string, body?: string): Promise<Response>;
  /** Closes the writer, deletes the Consul prefix and removes the agents' snapshot directories. */
  close(): Promise<void>;
}

export function createCluster(tag: string): Cluster {
  const { consulAddr, databaseUrl } = services();
  const suffix = uniqueSuffix();
  const prefix = `agent-${tag}-${suffix}/`;
  const schema = `agent_${tag}_${suffix}`;
  const consul: ConsulStore = createConsulStore({ address: consulAddr, prefix, historyLimit: 1000 });
  const chain = createFailoverStore({
    tiers: [
      consul,
      createPostgresStore({ connectionString: databaseUrl, schema }),
      createMemoryStore({ name: 'cache' }),
    ],
  });
  const snapshotDirs: string[] = [];
  const consulKv = (method: string, key: string, body?: string) =>
    fetch(`${consulAddr}/v1/kv/${key}`, { method, body });
  return {
    prefix,
    schema,
    consulAddr,
    databaseUrl,
    chain,
    consulKv,
    agentConfig(extra = {}) {
      const snapshotDir = join(tmpdir(), `summit-agent-snapshots-${uniqueSuffix()}`);
      snapshotDirs.push(snapshotDir);
      const base: Record<string, unknown> = {
        http: { port: 0 },
        stores: {
          consul: { address: consulAddr, prefix },
          postgres: { url: databaseUrl, schema },
        },
        apps: [{ app: 'billing', environment: 'prod' }],
        drift: { enabled: false },
        reconcile: { intervalMs: 0 },
        // Short session TTL and no lock-delay: a takeover after a crash is bounded by the TTL.
        leader: { name: 'agents', ttlMs: 10_000, lockDelayMs: 0 },
        snapshotDir,
      };
      for (const [k, v] of Object.entries(extra)) {
        const prev = base[k];
        base[k] =
          prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v)
            ? { ...prev, ...v }
            : v;
      }
      return base;
    },
    async close() {
      await chain.close();
      await fetch(`${consulAddr}/v1/kv/${prefix}?recurse`, { method: 'DELETE' }).catch(() => {});
      await Promise.all(snapshotDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
