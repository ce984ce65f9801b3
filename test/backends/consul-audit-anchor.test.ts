/**
 * The Consul audit anchor on the real agent: one key `<prefix>audit/checkpoint`, replaced only by a
 * higher seq (compare-and-set on the ModifyIndex, so concurrent writers never lower it), a damaged
 * value read as CHECKSUM_MISMATCH and replaced by the next good checkpoint, an unreachable agent
 * BACKEND_UNAVAILABLE.
 */
import { createConsulAuditAnchor } from '@summit-config/backends/consul';
import { createSigner, generateSigningKey } from '@summit-config/core';
import { signAuditCheckpoint } from '@summit-config/core/internal';
import { prefixes } from '@summit-config/test-support/consul';
import { services } from '@summit-config/test-support/services';
import { afterEach, describe, expect, it } from 'vitest';

const newPrefix = prefixes();
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

const signer = createSigner(generateSigningKey().privateKeyPem);
const checkpoint = (seq: number) =>
  signAuditCheckpoint(
    { seq, hash: seq.toString(16).padStart(64, '0'), at: new Date().toISOString(), signedFrom: 1 },
    signer,
  );

function anchor(prefix: string, address = services().consulAddr) {
  const a = createConsulAuditAnchor({ address, prefix, timeoutMs: 2000 });
  open.push(a);
  return a;
}

describe('consul audit anchor', () => {
  it('keeps the checkpoint under <prefix>audit/checkpoint, only ever raising its seq', async () => {
    const prefix = newPrefix();
    const a = anchor(prefix);
    expect(a.key).toBe(`${prefix}audit/checkpoint`);
    expect(a.name).toBe(`consul:${prefix}audit/checkpoint`);
    expect(await a.read()).toBeUndefined();
    await a.write(checkpoint(5));
    expect(await a.read()).toEqual(expect.objectContaining({ seq: 5 }));
    await a.write(checkpoint(3));
    expect((await a.read())?.seq).toBe(5);
    // Two processes racing: whatever the order, the highest seq stays.
    const b = anchor(prefix);
    await Promise.all([
      a.write(checkpoint(9)),
      b.write(checkpoint(7)),
      a.write(checkpoint(8)),
      b.write(checkpoint(10)),
    ]);
    expect((await b.read())?.seq).toBe(10);
    const raw = await fetch(`${services().consulAddr}/v1/kv/${a.key}?raw`);
    expect(JSON.parse(await raw.text())).toMatchObject({ seq: 10, keyId: signer.keyId });
  });

  it('reads a damaged value as CHECKSUM_MISMATCH and replaces it with the next checkpoint', async () => {
    const a = anchor(newPrefix());
    await fetch(`${services().consulAddr}/v1/kv/${a.key}`, { method: 'PUT', body: '{"seq": "lots"}' });
    await expect(a.read()).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    await a.write(checkpoint(2));
    expect((await a.read())?.seq).toBe(2);
  });

  it('an unreachable agent is BACKEND_UNAVAILABLE; bad options are CONSTRAINT_VIOLATION', async () => {
    const a = anchor(newPrefix(), 'http://127.0.0.1:1');
    await expect(a.read()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(a.write(checkpoint(1))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(() => createConsulAuditAnchor({ prefix: 'no-slash' })).toThrow(/prefix/);
    await a.close();
    await expect(a.read()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
