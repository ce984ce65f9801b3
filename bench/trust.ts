/**
 * `pnpm bench trust`: what signed versions cost. Per version: signing (what the change service adds
 * to a write) and verifying (what a trusting client or the agent adds to applying a change), each
 * against computing the version's checksum (what every reader already does), measured in the same
 * run. Then a cold start of a client over 1 000 refs without a trust root, with a new one, and with
 * one that already verified them (a second client in the same process, as in the agent).
 */
import { createMemoryStore } from '@summit-config/backends/memory';
import {
  checkVersionTrust,
  createConfigClient,
  createSigner,
  createTrustRoot,
  generateSigningKey,
  signVersion,
} from '@summit-config/core';
import { computeChecksum, createVersion } from '@summit-config/core/internal';
import { nsPerOp, round } from './_measure.js';

const key = generateSigningKey();
const signer = createSigner(key.privateKeyPem);
const trust = createTrustRoot([{ publicKey: key.publicKey }]);
const config = { host: 'db.internal', port: 5432, pool: { min: 2, max: 50 }, ssl: true, tags: ['a', 'b', 'c'] };
const doc = createVersion({ ref: 'app:bench/database', config, createdBy: 'bench' }, 7);
const signed = signVersion(doc, signer);
if (checkVersionTrust(signed, trust)) throw new Error('the signed version does not verify');

const checksum_us = nsPerOp(() => computeChecksum(doc), 20_000) / 1000;
const sign_us = nsPerOp(() => signVersion(doc, signer), 5_000) / 1000;
// A first check of each version (a trust root remembers what it verified): distinct versions, a
// fresh trust root per run.
const distinct = Array.from({ length: 2000 }, (_, i) =>
  signVersion(
    createVersion({ ref: 'app:bench/database', config: { ...config, i }, createdBy: 'bench' }, i + 1),
    signer,
  ),
);
const firstChecks: number[] = [];
for (let run = 0; run < 5; run++) {
  const fresh = createTrustRoot([{ publicKey: key.publicKey }]);
  const start = process.hrtime.bigint();
  for (const d of distinct) if (checkVersionTrust(d, fresh)) throw new Error('does not verify');
  firstChecks.push(Number(process.hrtime.bigint() - start) / distinct.length / 1000);
}
const verify_us = firstChecks.sort((a, b) => a - b)[2] as number;
const verify_again_us = nsPerOp(() => checkVersionTrust(signed, trust), 20_000) / 1000;

const REFS = 1000;
const store = createMemoryStore({ maxDocuments: 10 * REFS });
for (let i = 0; i < REFS; i++) {
  await store.append(
    signVersion(createVersion({ ref: `app:bench/c${i}`, config: { ...config, i }, createdBy: 'bench' }, 1), signer),
  );
}
/** Median cold start; `trust`: 'none', 'fresh' (a new trust root each time), 'shared' (one, warm). */
async function coldStartMs(mode: 'none' | 'fresh' | 'shared'): Promise<number> {
  const samples: number[] = [];
  for (let run = 0; run < 5; run++) {
    const root = mode === 'fresh' ? createTrustRoot([{ publicKey: key.publicKey }]) : trust;
    const start = performance.now();
    const client = await createConfigClient({
      store,
      app: 'bench',
      environment: 'production',
      ...(mode === 'none' ? {} : { trust: root }),
    });
    samples.push(performance.now() - start);
    if (client.get('c1') === undefined) throw new Error('cold start served nothing');
    await client.close();
  }
  return samples.sort((a, b) => a - b)[2] as number;
}
const plain_ms = await coldStartMs('none');
const trusted_ms = await coldStartMs('fresh');
const shared_ms = await coldStartMs('shared');
const plain2_ms = await coldStartMs('none');
const baseline_ms = (plain_ms + plain2_ms) / 2;
await store.close();

console.log(
  JSON.stringify({
    bench: 'trust',
    checksum_us: round(checksum_us),
    sign_us: round(sign_us),
    verify_us: round(verify_us),
    verify_again_us: round(verify_again_us),
    sign_vs_checksum: round(sign_us / checksum_us),
    verify_vs_checksum: round(verify_us / checksum_us),
    cold_start_1000_refs_ms: round(baseline_ms, 1),
    cold_start_1000_refs_trusted_ms: round(trusted_ms, 1),
    cold_start_1000_refs_second_client_ms: round(shared_ms, 1),
    cold_start_ratio: round(trusted_ms / baseline_ms),
  }),
);
