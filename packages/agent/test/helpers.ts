/** In-process agents over memory tiers, for the agent's unit tests. */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import { type Switchable, switchable } from '@summit-config/test-support/switchable-store';
import { type AgentConfig, resolveAgentConfig } from '../src/config.js';
import type { AgentStores } from '../src/runtime.js';

export interface MemoryTiers {
  primary: Switchable;
  record: Switchable;
  build: NonNullable<import('../src/agent.js').AgentOptions['stores']>;
}

/** Two durable memory tiers (`primary` as the mirror, `record`) and a cache, as the agent's store chain. */
export function memoryTiers(): MemoryTiers {
  const primary = switchable(createMemoryStore({ name: 'primary-inner', role: 'mirror' }), 'primary');
  const record = switchable(createMemoryStore({ name: 'record-inner', role: 'record' }), 'record');
  return {
    primary,
    record,
    build: (onEvent): AgentStores => {
      const store = createFailoverStore({
        tiers: [primary, record, createMemoryStore({ name: 'cache' })],
        onEvent,
        probeIntervalMs: 20,
        failureThreshold: 1,
      });
      return {
        store,
        primary,
        record,
        tiers: ['primary', 'record', 'cache'],
        embedded: false,
        close: () => store.close(),
      };
    },
  };
}

/** Where the agents of `testConfig` write their snapshots; remove it with `removeTestSnapshots`. */
const snapshotDir = join(tmpdir(), `summit-agent-test-snapshots-${process.pid}`);

/** Removes the snapshot directory of `testConfig` (call from afterAll, once the agents are closed). */
export async function removeTestSnapshots(): Promise<void> {
  await rm(snapshotDir, { recursive: true, force: true });
}

export function testConfig(raw: Record<string, unknown>): AgentConfig {
  return resolveAgentConfig(
    {
      http: { port: 0 },
      snapshotDir,
      drift: { enabled: false },
      reconcile: { intervalMs: 0 },
      ...raw,
    },
    {},
  );
}
