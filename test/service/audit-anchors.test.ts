/**
 * The signed, checkpointed audit trail against someone with superuser access to PostgreSQL (issue 16,
 * part 3). Each attack leaves a hash chain that still verifies on its own (what verifyAudit checked
 * before: asserted with verifyAuditChain), and verifyAudit now names it:
 *
 *   (a) deleting the newest rows after a checkpoint                   -> AUDIT_TAIL_DELETED
 *   (b) an INSERT the trigger chains for the forger                    -> AUDIT_UNSIGNED_EVENT / AUDIT_FORGED_EVENT
 *       (also an `append` row naming a version that does not verify)
 *   (c) deleting a middle row and recomputing the chain with summit_audit_hash() -> AUDIT_REWRITTEN
 *
 * Checkpoints are kept in Consul and in a file; deleting the Consul one still detects through the file.
 */
import { join } from 'node:path';
import { createConsulAuditAnchor } from '@summit-config/backends/consul';
import {
  type AuditVerifyResult,
  type ConfigService,
  createConfigService,
  createFileAuditAnchor,
  createRbac,
  createSigner,
  generateSigningKey,
  parseRef,
} from '@summit-config/core';
import { createVersion, verifyAuditChain } from '@summit-config/core/internal';
import { type Storage, storage } from '@summit-config/test-support/backings';
import { actors } from '@summit-config/test-support/builders';
import { prefixes } from '@summit-config/test-support/consul';
import { closeShared, q, RBAC } from '@summit-config/test-support/service';
import { services } from '@summit-config/test-support/services';
import { tempDirs } from '@summit-config/test-support/temp';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

afterAll(closeShared);
const newPrefix = prefixes();
const temp = tempDirs();
const REF = 'app:billing/db';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Setup {
  s: Storage;
  service: ConfigService;
  pair: ReturnType<Storage['stores']>;
  consulName: string;
  consulKey: string;
  fileName: string;
  /** Runs SQL on config_audit ($T) as the superuser, with the append-only trigger disabled. */
  tamper(statement: string, params?: unknown[]): Promise<void>;
  /** What verifyAudit checked before this change: the hash chain alone. */
  chainOnly(): Promise<ReturnType<typeof verifyAuditChain>>;
}

async function setup(): Promise<Setup> {
  const s = await storage('postgres', { tag: 'anchor' });
  cleanups.push(() => s.drop());
  const pair = s.stores();
  cleanups.push(async () => {
    await pair.store.close();
    await pair.governance.close();
  });
  const consul = createConsulAuditAnchor({ address: services().consulAddr, prefix: newPrefix() });
  cleanups.push(() => consul.close());
  const file = createFileAuditAnchor(join(await temp(), 'audit-checkpoint.json'));
  const signer = createSigner(generateSigningKey().privateKeyPem);
  const service = createConfigService({
    store: pair.store,
    governance: pair.governance,
    rbac: createRbac(RBAC),
    signer,
    auditAnchors: [consul, file],
  });
  cleanups.push(() => service.close());
  const t = `${q(s.schema as string)}.config_audit`;
  return {
    s,
    service,
    pair,
    consulName: consul.name,
    consulKey: consul.key,
    fileName: file.name,
    async tamper(statement, params = []) {
      await s.sql(`ALTER TABLE ${t} DISABLE TRIGGER config_audit_append_only`);
      try {
        await s.sql(statement.replaceAll('$T', t).replaceAll('$S', q(s.schema as string)), params);
      } finally {
        await s.sql(`ALTER TABLE ${t} ENABLE TRIGGER config_audit_append_only`);
      }
    },
    async chainOnly() {
      return verifyAuditChain(await pair.governance.readAuditChain(0, 10_000));
    },
  };
}

/** Writes of every kind: the store's own append rows and the service's signed events. */
async function activity(service: ConfigService, tag: string): Promise<void> {
  await service.set(actors.root, { ref: REF, config: { tag, pool: 1 } });
  await service.set(actors.root, { ref: `app:${tag}/conf`, config: { tag } });
  await service.putPolicy(actors.root, `policy-${tag}`, { tag });
  await service.registerSchema(actors.root, `schema-${tag}`, { type: 'object' });
}

const codes = (r: AuditVerifyResult) => r.problems.map((p) => p.code);

/** Re-chains every row from seq 1 with the trigger's own hash function, as an attacker would. */
const RECHAIN = `DO $rechain$ DECLARE r record; n bigint := 0; prev text := NULL; h text; BEGIN
  UPDATE $T SET seq = -seq;
  FOR r IN SELECT * FROM $T ORDER BY seq DESC LOOP
    n := n + 1;
    h := $S.summit_audit_hash(n, r."timestamp", r.actor, r.action, r.config_id, r.version, r.environment, r.message,
      r.changes::text, r.source, r.request_id, prev);
    UPDATE $T SET seq = n, prev_hash = prev, hash = h WHERE id = r.id;
    prev := h;
  END LOOP;
END $rechain$`;

describe('signed audit trail with checkpoints (PostgreSQL, Consul and a file)', () => {
  it('an untouched trail verifies: signed events, store rows justified by signed versions, checkpoints in both anchors', async () => {
    const { service, pair, consulName, fileName } = await setup();
    await activity(service, 'one');
    await service.delete(actors.root, REF);
    await service.rollback(actors.root, REF);
    const records = await pair.governance.readAuditChain(0, 1000);
    expect(records.some((r) => r.action === 'append' && r.signature === null)).toBe(true);
    expect(records.filter((r) => r.action !== 'append').every((r) => r.signature !== null)).toBe(true);
    const report = await service.checkpointAudit(actors.root);
    expect(report.anchors).toEqual([consulName, fileName].sort());
    expect(report.checkpoint.seq).toBe(records.length);
    const result = await service.verifyAudit(actors.root);
    expect(result).toMatchObject({ ok: true, problems: [], signatures: 'checked', signedFrom: 1 });
    expect(result.checkpoint).toEqual({ seq: records.length, anchors: [consulName, fileName].sort() });
  });

  it('(a) deleting the newest rows after a checkpoint: AUDIT_TAIL_DELETED', async () => {
    const { service, tamper, chainOnly } = await setup();
    await activity(service, 'one');
    const { checkpoint } = await service.checkpointAudit(actors.root);
    await tamper('DELETE FROM $T WHERE seq > $1', [checkpoint.seq - 2]);
    expect(await chainOnly()).toMatchObject({ ok: true });
    const result = await service.verifyAudit(actors.root);
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['AUDIT_TAIL_DELETED']);
    expect(result.problems[0]?.seq).toBe(checkpoint.seq);
    await expect(service.checkpointAudit(actors.root)).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
  });

  it('(b) forged INSERTs chained by the trigger: AUDIT_UNSIGNED_EVENT, AUDIT_FORGED_EVENT', async () => {
    const { service, tamper, chainOnly, pair } = await setup();
    await activity(service, 'one');
    await service.checkpointAudit(actors.root);
    const signedRow = (await pair.governance.readAuditChain(0, 1000)).find((r) => r.action === 'policy.put');
    // A plain forged event, and one that borrows a real event's signature.
    await tamper(
      `INSERT INTO $T (actor, action, message, changes, source) VALUES ('mallory', 'config.set', 'nothing to see', '[]', 'api')`,
    );
    await tamper(
      `INSERT INTO $T (actor, action, message, changes, source, signature) VALUES ('root', 'policy.put', 'borrowed', '[]', 'api', $1)`,
      [signedRow?.signature],
    );
    // A store row naming a version by someone else, and one naming a version that does not exist.
    await tamper(
      `INSERT INTO $T (config_id, version, actor, action, message) VALUES ($1, 1, 'mallory', 'append', 'x')`,
      [REF],
    );
    await tamper(`INSERT INTO $T (config_id, version, actor, action, message) VALUES ($1, 99, 'root', 'append', 'x')`, [
      REF,
    ]);
    expect(await chainOnly()).toMatchObject({ ok: true });
    const result = await service.verifyAudit(actors.root);
    expect(result.ok).toBe(false);
    const found = await pair.governance.readAuditChain(0, 1000);
    const seqOf = (pred: (r: (typeof found)[number]) => boolean) => found.find(pred)?.seq;
    expect(result.problems.map((p) => [p.code, p.seq])).toEqual([
      ['AUDIT_UNSIGNED_EVENT', seqOf((r) => r.actor === 'mallory' && r.action === 'config.set')],
      ['AUDIT_FORGED_EVENT', seqOf((r) => r.message === 'borrowed')],
      ['AUDIT_FORGED_EVENT', seqOf((r) => r.actor === 'mallory' && r.action === 'append')],
      ['AUDIT_FORGED_EVENT', seqOf((r) => r.version === 99)],
    ]);
    await expect(service.checkpointAudit(actors.root)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('(b) an append row for a version written behind the service (unsigned): AUDIT_FORGED_EVENT', async () => {
    const { service, chainOnly, pair } = await setup();
    await activity(service, 'one');
    await service.checkpointAudit(actors.root);
    const head = await pair.store.getHead(parseRef(REF));
    // Straight to the store with database access: a valid version and a valid audit row, but unsigned.
    await pair.store.append(
      createVersion({ ref: REF, config: { pool: 999 }, createdBy: 'root' }, (head?.version ?? 0) + 1),
    );
    expect(await chainOnly()).toMatchObject({ ok: true });
    const result = await service.verifyAudit(actors.root);
    expect(codes(result)).toEqual(['AUDIT_FORGED_EVENT']);
    expect(result.problems[0]?.message).toMatch(/UNSIGNED_VERSION/);
  });

  it('(c) a middle row deleted and the chain recomputed with summit_audit_hash(): AUDIT_REWRITTEN at the checkpoint', async () => {
    const { service, tamper, chainOnly } = await setup();
    await activity(service, 'one');
    const { checkpoint } = await service.checkpointAudit(actors.root);
    await activity(service, 'two');
    await tamper('DELETE FROM $T WHERE seq = 3');
    await tamper(RECHAIN);
    expect(await chainOnly()).toMatchObject({ ok: true });
    const result = await service.verifyAudit(actors.root);
    expect(result.ok).toBe(false);
    expect(codes(result)).toEqual(['AUDIT_REWRITTEN']);
    expect(result.problems[0]?.seq).toBe(checkpoint.seq);
  });

  it('deleting the Consul checkpoint still detects through the file', async () => {
    const { service, tamper, chainOnly, consulKey, fileName } = await setup();
    await activity(service, 'one');
    const { checkpoint } = await service.checkpointAudit(actors.root);
    const res = await fetch(`${services().consulAddr}/v1/kv/${consulKey}`, { method: 'DELETE' });
    expect(res.ok).toBe(true);
    await tamper('DELETE FROM $T WHERE seq = $1', [checkpoint.seq]);
    expect(await chainOnly()).toMatchObject({ ok: true });
    const result = await service.verifyAudit(actors.root);
    expect(codes(result)).toEqual(['AUDIT_TAIL_DELETED']);
    expect(result.checkpoint).toEqual({ seq: checkpoint.seq, anchors: [fileName] });
  });
});
