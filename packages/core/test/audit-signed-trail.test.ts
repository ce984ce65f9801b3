/**
 * The signed audit trail on the memory governance: what an event's signature and a checkpoint's
 * signature cover, and what verifyAudit / checkpointAudit find (unsigned, forged and replayed events,
 * a cut or rewritten chain against a checkpoint, an invalid checkpoint, adopting an unsigned trail).
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storage } from '@summit-config/test-support/backings';
import { actors } from '@summit-config/test-support/builders';
import { RBAC } from '@summit-config/test-support/service';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { auditHash } from '../src/audit/chain.js';
import {
  AUDIT_CHECKPOINT_PREFIX,
  AUDIT_SIGNATURE_PREFIX,
  auditCheckpointText,
  auditSigningText,
  checkAuditCheckpoint,
  checkAuditSignature,
  signAuditCheckpoint,
  signAuditInput,
  storedFieldsOf,
} from '../src/audit/signing.js';
import type { AuditRecord } from '../src/audit/types.js';
import { verifyAuditTrail } from '../src/audit/verify.js';
import {
  type AuditAnchor,
  type ConfigService,
  createConfigService,
  createFileAuditAnchor,
  createRbac,
  createSigner,
  createTrustRoot,
  generateSigningKey,
} from '../src/index.js';

const temp = tempDirs();
const REF = 'app:billing/db';
const rbac = createRbac({
  ...RBAC,
  roles: { ...RBAC.roles, auditor: ['config:audit:read'] },
  bindings: [...(RBAC.bindings ?? []), { users: ['audrey'], roles: ['auditor'] }],
});
const auditor = { id: 'audrey' };

function keys() {
  const k = generateSigningKey();
  return { signer: createSigner(k.privateKeyPem), publicKey: k.publicKey };
}

async function setup(options: { sign?: boolean; anchors?: AuditAnchor[] } = {}) {
  const pair = (await storage('memory')).stores();
  const writer = keys();
  const make = (signing: boolean) =>
    createConfigService({
      store: pair.store,
      governance: pair.governance,
      rbac,
      ...(signing ? { signer: writer.signer } : {}),
      auditAnchors: options.anchors ?? [],
    });
  return { ...pair, writer, service: make(options.sign !== false), make };
}

async function activity(service: ConfigService, n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await service.set(actors.root, { ref: REF, config: { pool: i } });
  await service.createEnvironment(actors.root, {
    name: `qa${Math.random().toString(36).slice(2, 8)}`,
    production: false,
  });
  await service.registerSchema(actors.root, 'db', { type: 'object' });
  await service.putPolicy(actors.root, 'rotation', { days: 90 });
}

const codes = (r: { problems: Array<{ code: string }> }) => r.problems.map((p) => p.code);

describe('what a signature covers', () => {
  it('an event signature covers its stored fields, length-prefixed, and nothing of the chain', () => {
    const { signer, publicKey } = keys();
    const trust = createTrustRoot([{ publicKey }]);
    const input = signAuditInput(
      {
        at: '2030-01-01T00:00:00Z',
        actor: 'ann',
        action: 'config.set',
        ref: REF,
        version: 2,
        message: 'é',
        changes: [],
      },
      signer,
    );
    const fields = storedFieldsOf(input);
    expect(auditSigningText(fields)).toBe(
      `${AUDIT_SIGNATURE_PREFIX}24:2030-01-01T00:00:00.000Z\n3:ann\n10:config.set\n14:${REF}\n1:2\n-\n2:é\n2:[]\n-\n-\n`,
    );
    expect(input.at).toBe('2030-01-01T00:00:00.000Z');
    expect(input.signature?.startsWith(`${signer.keyId}:`)).toBe(true);
    const record = { ...fields, signature: input.signature ?? null };
    expect(checkAuditSignature(record, trust)).toBe('ok');
    // Every covered field matters; seq and hashes are not covered.
    for (const change of [{ message: 'e' }, { actor: 'bob' }, { version: 3 }, { source: 'cli' }, { changes: '[{}]' }]) {
      expect(checkAuditSignature({ ...record, ...change }, trust)).toBe('bad-signature');
    }
    expect(checkAuditSignature({ ...record, signature: null }, trust)).toBe('unsigned');
    expect(checkAuditSignature({ ...record, signature: 'nonsense' }, trust)).toBe('malformed');
    expect(checkAuditSignature(record, createTrustRoot([{ publicKey: keys().publicKey }]))).toBe('unknown-key');
  });

  it('a checkpoint signature covers seq, hash, time and signedFrom', () => {
    const { signer, publicKey } = keys();
    const trust = createTrustRoot([{ publicKey }]);
    const fields = { seq: 7, hash: 'a'.repeat(64), at: '2030-01-01T00:00:00.000Z', signedFrom: 3 };
    expect(auditCheckpointText(fields)).toBe(
      `${AUDIT_CHECKPOINT_PREFIX}7\n${'a'.repeat(64)}\n2030-01-01T00:00:00.000Z\n3\n`,
    );
    const c = signAuditCheckpoint(fields, signer);
    expect(c.keyId).toBe(signer.keyId);
    expect(checkAuditCheckpoint(c, trust)).toBeUndefined();
    for (const change of [
      { seq: 8 },
      { hash: 'b'.repeat(64) },
      { signedFrom: 1 },
      { at: '2030-01-02T00:00:00.000Z' },
    ]) {
      expect(checkAuditCheckpoint({ ...c, ...change }, trust)).toMatch(/does not verify/);
    }
    expect(checkAuditCheckpoint({ ...c, seq: 'x' }, trust)).toMatch(/malformed/);
  });
});

describe('the signed trail (memory governance)', () => {
  it('every event a signing service writes verifies, as stored', async () => {
    const { service, governance, writer } = await setup();
    await activity(service, 3);
    const trust = createTrustRoot([{ publicKey: writer.publicKey }]);
    const records = await governance.readAuditChain(0, 1000);
    expect(records.length).toBeGreaterThan(5);
    for (const r of records) expect(checkAuditSignature(r, trust)).toBe('ok');
    const events = await service.audit(actors.root);
    expect(events.every((e) => typeof e.signature === 'string')).toBe(true);
    const result = await service.verifyAudit(auditor);
    expect(result).toMatchObject({
      ok: true,
      problems: [],
      signatures: 'checked',
      signedFrom: 1,
      checked: records.length,
    });
    expect(service.signerKeyId).toBe(writer.signer.keyId);
  });

  it('an impersonated event is signed with the impersonation suffix in its message', async () => {
    const { service, governance, writer } = await setup();
    await service
      .set({ id: 'alice', impersonatedBy: 'root' } as never, { ref: REF, config: {} })
      .catch(() => undefined);
    await service.putPolicy(actors.root, 'p', {});
    const trust = createTrustRoot([{ publicKey: writer.publicKey }]);
    for (const r of await governance.readAuditChain(0, 100)) expect(checkAuditSignature(r, trust)).toBe('ok');
  });

  it('reports unsigned, forged and replayed events by code and seq', async () => {
    const { service, governance } = await setup();
    await activity(service);
    const [first] = await governance.readAuditChain(0, 1);
    const base = { at: new Date().toISOString(), actor: 'root', action: 'config.set', message: 'sneaky' };
    const unsigned = await governance.appendAudit(base);
    const forged = await governance.appendAudit(signAuditInput(base, keys().signer));
    const replayed = await governance.appendAudit({
      at: first?.at as string,
      actor: first?.actor as string,
      action: first?.action as string,
      message: first?.message as string,
      changes: JSON.parse(first?.changes ?? '[]'),
      ...(first?.source ? { source: first.source as 'api' } : {}),
      signature: first?.signature as string,
    });
    const result = await service.verifyAudit(actors.root);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => [p.code, p.seq])).toEqual([
      ['AUDIT_UNSIGNED_EVENT', unsigned.seq],
      ['AUDIT_FORGED_EVENT', forged.seq],
      ['AUDIT_FORGED_EVENT', replayed.seq],
    ]);
    expect(result.brokenAt).toBe(unsigned.seq);
    // The chain alone holds: the old verification would have said ok.
    expect(result.problems.some((p) => p.code === 'AUDIT_CHAIN_BROKEN')).toBe(false);
    await expect(service.checkpointAudit(actors.root)).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
  });

  it('checkpoints into the anchors, and a cut or rewritten chain is caught at the checkpoint', async () => {
    const dir = await temp();
    const file = createFileAuditAnchor(join(dir, 'checkpoint.json'));
    const { service, governance, writer } = await setup({ anchors: [file] });
    await activity(service, 2);
    const report = await service.checkpointAudit(actors.root);
    const records = await governance.readAuditChain(0, 1000);
    const head = records.at(-1) as AuditRecord;
    expect(report.checkpoint).toMatchObject({
      seq: head.seq,
      hash: head.hash,
      signedFrom: 1,
      keyId: writer.signer.keyId,
    });
    expect(report.anchors).toEqual([file.name]);
    expect(await file.read()).toEqual(report.checkpoint);
    expect((await stat(join(dir, 'checkpoint.json'))).mode & 0o777).toBe(0o600);
    expect(await service.verifyAudit(actors.root)).toMatchObject({
      ok: true,
      checkpoint: { seq: head.seq, anchors: [file.name] },
    });

    const trust = createTrustRoot([{ publicKey: writer.publicKey }]);
    const verify = (chain: AuditRecord[]) =>
      verifyAuditTrail({
        readChain: async (after, limit) => chain.filter((r) => r.seq > after).slice(0, limit),
        version: async () => undefined,
        trust,
        anchors: [file],
      });
    // The newest two events deleted: the chain holds, the checkpoint does not.
    const cut = await verify(records.slice(0, -2));
    expect(codes(cut)).toEqual(['AUDIT_TAIL_DELETED']);
    expect(cut.problems[0]?.seq).toBe(head.seq);
    // A middle event deleted and every later event re-chained (as summit_audit_hash() would).
    const rewritten: AuditRecord[] = [];
    for (const r of records.filter((x) => x.seq !== 3)) {
      const prev = rewritten.at(-1);
      const moved = { ...r, seq: rewritten.length + 1, prevHash: prev?.hash ?? null };
      rewritten.push({ ...moved, hash: auditHash(moved) });
    }
    const re = await verify(rewritten);
    expect(codes(re)).toEqual(['AUDIT_TAIL_DELETED']);
    // Rewritten up to the same length (a forged, signed-looking event appended): the hash differs.
    const padded = [...rewritten];
    const last = padded.at(-1) as AuditRecord;
    const extra = { ...last, seq: last.seq + 1, prevHash: last.hash };
    padded.push({ ...extra, hash: auditHash(extra) });
    const re2 = await verify(padded);
    expect(codes(re2)).toContain('AUDIT_REWRITTEN');
    expect(re2.problems.find((p) => p.code === 'AUDIT_REWRITTEN')?.seq).toBe(head.seq);
  });

  it('refuses to checkpoint a trail that does not verify, and needs the signer and the permission', async () => {
    const dir = await temp();
    const file = createFileAuditAnchor(join(dir, 'c.json'));
    const { service, governance, make } = await setup({ anchors: [file] });
    await activity(service);
    await expect(service.checkpointAudit(actors.nobody)).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    await expect(make(false).checkpointAudit(actors.root)).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
      message: expect.stringMatching(/signing key/),
    });
    await service.checkpointAudit(auditor);
    await governance.appendAudit({ at: new Date().toISOString(), actor: 'x', action: 'config.set', message: 'm' });
    await expect(service.checkpointAudit(actors.root)).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
      reason: 'AUDIT_UNSIGNED_EVENT',
    });
    // Adopting needs policy:write, and only applies to a trail without a checkpoint.
    await expect(service.checkpointAudit(auditor, { adopt: true })).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    await expect(service.checkpointAudit(actors.root, { adopt: true })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
  });

  it('adopts a trail written before signing: its events so far are accepted, later ones must be signed', async () => {
    const dir = await temp();
    const file = createFileAuditAnchor(join(dir, 'c.json'));
    const { make, governance } = await setup({ anchors: [file] });
    await activity(make(false), 2);
    const signing = make(true);
    const before = await signing.verifyAudit(actors.root);
    expect(new Set(codes(before))).toEqual(new Set(['AUDIT_UNSIGNED_EVENT']));
    await expect(signing.checkpointAudit(actors.root)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    const headSeq = (await governance.readAuditChain(0, 1000)).length;
    const { checkpoint } = await signing.checkpointAudit(actors.root, { adopt: true });
    expect(checkpoint).toMatchObject({ seq: headSeq, signedFrom: headSeq + 1 });
    await activity(signing);
    expect(await signing.verifyAudit(actors.root)).toMatchObject({ ok: true, signedFrom: headSeq + 1 });
    // signedFrom is carried forward by later checkpoints.
    expect((await signing.checkpointAudit(actors.root)).checkpoint.signedFrom).toBe(headSeq + 1);
    await activity(make(false));
    const after = await signing.verifyAudit(actors.root);
    expect(after.ok).toBe(false);
    expect(after.problems.every((p) => p.code === 'AUDIT_UNSIGNED_EVENT' && (p.seq ?? 0) > headSeq)).toBe(true);
  });

  it('an anchor holding an altered checkpoint is itself a problem; without a trust root only the chain is checked', async () => {
    const dir = await temp();
    const path = join(dir, 'c.json');
    const file = createFileAuditAnchor(path);
    const { service, make } = await setup({ anchors: [file] });
    await activity(service);
    await service.checkpointAudit(actors.root);
    const stored = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...stored, signedFrom: 1000 }));
    const result = await service.verifyAudit(actors.root);
    expect(codes(result)).toEqual(['AUDIT_CHECKPOINT_INVALID']);
    expect(result.checkpoint).toBeUndefined();
    await writeFile(path, 'not json');
    expect(codes(await service.verifyAudit(actors.root))).toEqual(['AUDIT_CHECKPOINT_INVALID']);
    const unsignedService = make(false);
    expect(await unsignedService.verifyAudit(actors.root)).toMatchObject({
      ok: true,
      signatures: 'not-checked',
      problems: [],
    });
  });

  it('the file anchor keeps the higher seq and writes atomically', async () => {
    const dir = await temp();
    const { signer } = keys();
    const anchor = createFileAuditAnchor(join(dir, 'c.json'));
    expect(await anchor.read()).toBeUndefined();
    const at = '2030-01-01T00:00:00.000Z';
    const c5 = signAuditCheckpoint({ seq: 5, hash: 'a'.repeat(64), at, signedFrom: 1 }, signer);
    const c3 = signAuditCheckpoint({ seq: 3, hash: 'b'.repeat(64), at, signedFrom: 1 }, signer);
    await Promise.all([anchor.write(c5), anchor.write(c3)]);
    expect(await anchor.read()).toEqual(c5);
    const c9 = signAuditCheckpoint({ seq: 9, hash: 'c'.repeat(64), at, signedFrom: 1 }, signer);
    await anchor.write(c9);
    expect(await anchor.read()).toEqual(c9);
    expect(await readdir(dir)).toEqual(['c.json']);
  });

  it('records an outside event signed, for an actor holding the permission it names', async () => {
    const { service, writer } = await setup();
    const e = await service.recordEvent(actors.root, {
      action: 'secret.create',
      message: 'm',
      permission: 'secrets:write',
    });
    expect(e.signature?.startsWith(writer.signer.keyId)).toBe(true);
    await expect(
      service.recordEvent(actors.nobody, { action: 'secret.create', message: 'm', permission: 'secrets:write' }),
    ).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
    await expect(
      service.recordEvent(actors.root, { action: 'config.set', message: 'm', permission: 'secrets:write' }),
    ).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    // Without a permission only `session.*` (one's own console session) is accepted, from anyone.
    await expect(service.recordEvent(actors.nobody, { action: 'secret.create', message: 'm' })).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
    });
    const own = await service.recordEvent(actors.nobody, { action: 'session.sign-in', message: 'console sign-in' });
    expect(own).toMatchObject({ action: 'session.sign-in', actor: actors.nobody.id });
    expect(own.signature?.startsWith(writer.signer.keyId)).toBe(true);
    expect(await service.verifyAudit(actors.root)).toMatchObject({ ok: true });
  });
});
