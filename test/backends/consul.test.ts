import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { refKey } from '@summit-config/core';
import { prefixes } from '@summit-config/test-support/consul';
import { runStoreContract } from '@summit-config/test-support/contract/store-contract';
import { services } from '@summit-config/test-support/services';

const { consulAddr } = services();
const newPrefix = prefixes();

/** Rewrites a stored document with a raw PUT, changing its content but not its checksum. */
async function tamperDoc(store: ConsulStore, ref: { scope: string; id: string }, version: number): Promise<void> {
  const key = `${store.prefix}docs/${refKey(ref as never)}/v/${version}`;
  const res = await fetch(`${consulAddr}/v1/kv/${key}?raw`);
  const doc = (await res.json()) as { config: Record<string, unknown> };
  doc.config = { ...doc.config, tampered: true };
  const put = await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'PUT', body: JSON.stringify(doc) });
  if (!put.ok) throw new Error(`tamper PUT failed: ${put.status}`);
}

runStoreContract('consul', {
  create: () => createConsulStore({ address: consulAddr, prefix: newPrefix() }),
  capabilities: {
    watch: true,
    durable: true,
    appliedState: true,
    consistentReads: true,
    historyLimit: 20,
    bulkReads: true,
  },
  tamper: (store, ref, version) => tamperDoc(store as ConsulStore, ref, version),
});
