/**
 * Signed versions and approvals on every backing (memory, the real PostgreSQL, PGlite): every
 * version the service writes verifies against its writer key; a version or an approval written
 * behind the service's back (straight into the store or the governance storage) never verifies,
 * is never applied and never served; `resignHeads` turns signing on for an existing store.
 */
import {
  type ChangeRequest,
  type ConfigService,
  checkVersionTrust,
  createConfigClient,
  createConfigService,
  createRbac,
  createSigner,
  createTrustRoot,
  generateSigningKey,
  isConfigError,
  parseRef,
  signVersion,
} from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { actors } from '@summit-config/test-support/builders';
import {
  BACKINGS,
  closeShared,
  ENVIRONMENTS,
  type Harness,
  RBAC,
  withHarness,
} from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const REF = 'app:billing/db';
const ref = parseRef(REF);
const writer = createSigner(generateSigningKey().privateKeyPem);
const trust = createTrustRoot([{ publicKey: writer.publicKey }]);

function signed(h: Harness, signer = writer): ConfigService {
  return createConfigService({
    store: h.store,
    governance: h.governance,
    rbac: createRbac(RBAC),
    clock: h.clock.now,
    environments: ENVIRONMENTS,
    signer,
    trust,
  });
}

/** A production change of REF to `pool` (needs two approvals), proposed by alice. */
function proposeProduction(svc: ConfigService, pool: number) {
  return svc.propose(actors.alice, { ref: REF, config: { pool }, overrides: { production: { pool } } });
}

async function rejects(p: Promise<unknown>): Promise<{ code: string; reason?: string }> {
  try {
    await p;
  } catch (error) {
    if (isConfigError(error)) return error as unknown as { code: string; reason?: string };
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Every version the store holds for REF, oldest first. */
async function all(h: Harness) {
  const head = (await h.store.getHead(ref, { consistent: true }))?.version ?? 0;
  const out = [];
  for (let v = 1; v <= head; v++) out.push(await h.store.getVersion(ref, v, { consistent: true }));
  return out;
}

describe.each(BACKINGS)('signed versions (%s)', (backing) => {
  it('signs every version it writes (set, emergency, delete, rollback, apply), and each one verifies', async () => {
    await withHarness(
      backing,
      async (h) => {
        const svc = signed(h);
        await svc.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
        await svc.set(
          actors.root,
          { ref: REF, config: { pool: 2 }, overrides: { production: { pool: 9 } } },
          { emergency: true },
        );
        await svc.delete(actors.root, REF, { emergency: true });
        await svc.rollback(actors.root, REF, { emergency: true });
        const r = await proposeProduction(svc, 3);
        await svc.approve(actors.bob, r.id);
        await svc.approve(actors.carol, r.id);
        await svc.apply(actors.alice, r.id);
        const docs = await all(h);
        expect(docs).toHaveLength(5);
        for (const doc of docs) expect(checkVersionTrust(doc as never, trust)).toBeUndefined();
        // The applied version names who approved it, inside what is signed.
        expect(docs.at(-1)?.metadata).toMatchObject({ changeRequest: r.id, approvedBy: ['id:bob', 'id:carol'] });
        // Flipping any covered field breaks it: the tombstone flag, the author, the approvers.
        const tomb = docs[2] as NonNullable<(typeof docs)[number]>;
        expect(checkVersionTrust({ ...tomb, metadata: { ...tomb.metadata, deleted: false } }, trust)?.code).toBe(
          'FORGED_VERSION',
        );
        const last = docs[4] as NonNullable<(typeof docs)[number]>;
        expect(checkVersionTrust({ ...last, createdBy: 'mallory' }, trust)?.code).toBe('FORGED_VERSION');
        expect(
          checkVersionTrust({ ...last, metadata: { ...last.metadata, approvedBy: ['id:mallory'] } }, trust)?.code,
        ).toBe('FORGED_VERSION');
        // Another key's signature is UNTRUSTED_KEY; none at all is UNSIGNED_VERSION.
        const other = createSigner(generateSigningKey().privateKeyPem);
        expect(checkVersionTrust(signVersion(last, other), trust)?.code).toBe('UNTRUSTED_KEY');
        const { signature: _s, ...bare } = last.metadata;
        expect(checkVersionTrust({ ...last, metadata: bare }, trust)?.code).toBe('UNSIGNED_VERSION');
        // A user cannot smuggle a signature (or approvers) in through metadata.
        for (const key of ['signature', 'approvedBy']) {
          const e = await rejects(
            svc.set(actors.root, { ref: REF, config: { pool: 4 }, metadata: { [key]: 'x' } }, { emergency: true }),
          );
          expect(e.code).toBe('CONSTRAINT_VIOLATION');
        }
        expect(await all(h)).toHaveLength(5);
      },
      { environments: ENVIRONMENTS },
    );
  });

  it('applies only approvals that verify: typed-in approvals, a swapped proposal and a forged status are refused', async () => {
    await withHarness(
      backing,
      async (h) => {
        const svc = signed(h);
        await svc.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
        const headBefore = async () => (await h.store.getHead(ref, { consistent: true }))?.version;

        // 1. Approvals typed into the governance storage (what store credentials allow).
        const r1 = await proposeProduction(svc, 66);
        const forge = (id: string, change: (r: ChangeRequest) => ChangeRequest) =>
          h.governance.updateRequest(id, (cur) => ({ value: { ...change(cur), revision: cur.revision + 1 } }));
        await forge(r1.id, (cur) => ({
          ...cur,
          status: 'approved',
          approvals: ['lead1', 'lead2'].map((by) => ({
            by,
            at: cur.requestedAt,
            decision: 'approve' as const,
            environments: ['production'],
          })),
        }));
        const e1 = await rejects(svc.apply(actors.alice, r1.id));
        expect(e1).toMatchObject({ code: 'SIGNATURE_INVALID', reason: 'FORGED_APPROVAL' });
        expect(await headBefore()).toBe(1);

        // 2. Real approvals, then the proposal swapped behind them.
        const r2 = await proposeProduction(svc, 2);
        await svc.approve(actors.bob, r2.id);
        await svc.approve(actors.carol, r2.id);
        await forge(r2.id, (cur) => ({ ...cur, proposed: { ...cur.proposed, config: { pool: 666 } } }));
        expect(await rejects(svc.apply(actors.alice, r2.id))).toMatchObject({ code: 'SIGNATURE_INVALID' });
        expect(await headBefore()).toBe(1);

        // 3. One real approval of two, the status set to approved by hand.
        const r3 = await proposeProduction(svc, 3);
        await svc.approve(actors.bob, r3.id);
        await forge(r3.id, (cur) => ({ ...cur, status: 'approved' }));
        expect((await rejects(svc.apply(actors.alice, r3.id))).code).toBe('INSUFFICIENT_APPROVERS');
        expect(await headBefore()).toBe(1);

        // 4. An approval signed by a key nobody trusts.
        const rogue = signed(h, createSigner(generateSigningKey().privateKeyPem));
        const r4 = await proposeProduction(svc, 4);
        await rogue.approve(actors.bob, r4.id);
        await svc.approve(actors.carol, r4.id);
        expect(await rejects(svc.apply(actors.alice, r4.id))).toMatchObject({ code: 'SIGNATURE_INVALID' });
        expect(await headBefore()).toBe(1);
        await rogue.close();

        // The untouched path still works.
        const r5 = await proposeProduction(svc, 5);
        await svc.approve(actors.bob, r5.id);
        await svc.approve(actors.carol, r5.id);
        expect((await svc.apply(actors.alice, r5.id)).status).toBe('applied');
        expect(await headBefore()).toBe(2);
      },
      { environments: ENVIRONMENTS },
    );
  });

  it('resignHeads turns signing on for an existing store, and a trusting client then serves it', async () => {
    await withHarness(
      backing,
      async (h) => {
        // Written before signing: unsigned heads (one of them a tombstone).
        await h.service.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
        await h.service.set(actors.root, { ref: 'global/flags', config: { beta: true } }, { emergency: true });
        await h.service.set(actors.root, { ref: 'app:billing/old', config: { x: 1 } }, { emergency: true });
        await h.service.delete(actors.root, 'app:billing/old', { emergency: true });
        const svc = signed(h);
        const dry = await svc.resignHeads(actors.root, { dryRun: true });
        expect(dry.resigned.map((r) => r.ref).sort()).toEqual(['app:billing/db', 'app:billing/old', 'global/flags']);
        expect((await h.store.getHead(ref, { consistent: true }))?.version).toBe(1);
        const denied = await rejects(svc.resignHeads(actors.alice));
        expect(denied.code).toBe('ACCESS_DENIED');

        const report = await svc.resignHeads(actors.root);
        expect(report.resigned).toHaveLength(3);
        expect(report.resigned.every((r) => r.reason === 'UNSIGNED_VERSION' && r.to === r.from + 1)).toBe(true);
        for (const head of await h.store.listHeads({}, { consistent: true })) {
          const doc = await h.store.getVersion(head.ref, head.version, { consistent: true });
          expect(checkVersionTrust(doc as never, trust)).toBeUndefined();
        }
        // The tombstone stays a tombstone; content is unchanged.
        expect((await h.store.getVersion(parseRef('app:billing/old'), 3))?.metadata.deleted).toBe(true);
        expect((await h.store.getVersion(ref, 2))?.config).toEqual({ pool: 1 });
        expect((await svc.resignHeads(actors.root)).resigned).toEqual([]);
        const events = await svc.audit(actors.root, { action: 'config.resign' });
        expect(events).toHaveLength(3);

        const client = await createConfigClient({ store: h.store, app: 'billing', environment: 'staging', trust });
        try {
          expect(client.get('db')).toEqual({ pool: 1 });
          expect(client.get('flags')).toEqual({ beta: true });
          expect(client.get('old')).toBeUndefined();
        } finally {
          await client.close();
        }
      },
      { environments: ENVIRONMENTS },
    );
  });
});

describe('a trusting client (memory store)', () => {
  it('never serves a version that does not verify, tombstones included, and keeps the last good one', async () => {
    await withHarness(
      'memory',
      async (h) => {
        const svc = signed(h);
        await svc.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
        const errors: Array<{ code: string; reason?: string }> = [];
        const client = await createConfigClient({
          store: h.store,
          app: 'billing',
          environment: 'staging',
          trust,
          onError: (e) => errors.push(e as never),
        });
        // Everything the client ever handed the application, recorded as it happened.
        const seen: unknown[] = [];
        client.watch('*', (change) => seen.push(change.value));
        try {
          const forged = (version: number, over: Record<string, unknown>) => {
            const doc = createVersion({ ref, config: { pool: 666 }, createdBy: 'mallory', ...over }, version);
            return h.store.append(doc);
          };
          // Unsigned, a copied signature, a forged tombstone: each reaches the client, none is served.
          await forged(2, {});
          const v1 = await h.store.getVersion(ref, 1);
          await forged(3, { metadata: { signature: v1?.metadata.signature ?? null } });
          await forged(4, { config: {}, metadata: { deleted: true } });
          const until = Date.now() + 5000;
          while (errors.filter((e) => e.code === 'SIGNATURE_INVALID').length < 3 && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 20));
          }
          expect(errors.map((e) => e.reason)).toEqual(expect.arrayContaining(['UNSIGNED_VERSION', 'FORGED_VERSION']));
          expect(client.get('db')).toEqual({ pool: 1 });
          // A signed write after them is served.
          await svc.set(actors.root, { ref: REF, config: { pool: 5 } }, { emergency: true });
          const until2 = Date.now() + 5000;
          while ((client.get('db') as { pool?: number })?.pool !== 5 && Date.now() < until2) {
            await new Promise((r) => setTimeout(r, 20));
          }
          expect(client.get('db')).toEqual({ pool: 5 });
          // The only change ever delivered is the signed one: no forged value, no forged deletion.
          expect(seen).toEqual([{ pool: 5 }]);
        } finally {
          await client.close();
        }
        // Started on a forged head, the client leaves the id out instead of serving it.
        await h.store.append(createVersion({ ref, config: { pool: 777 }, createdBy: 'mallory' }, 6));
        const late = await createConfigClient({ store: h.store, app: 'billing', environment: 'staging', trust });
        try {
          expect(late.get('db')).toBeUndefined();
        } finally {
          await late.close();
        }
      },
      { environments: ENVIRONMENTS },
    );
  });
});

describe('trust roots', () => {
  it('refuses bad keys with a typed error and honours notAfter', () => {
    const key = generateSigningKey();
    expect(() => createTrustRoot([{ publicKey: 'not a key' }])).toThrow(/Ed25519 public key/);
    expect(() => createTrustRoot([{ publicKey: key.publicKey, keyId: 'ed25519:0000' }])).toThrow(/fingerprint/);
    expect(() => createTrustRoot([{ publicKey: key.publicKey, notAfter: 'soon' }])).toThrow(/notAfter/);
    expect(() => createSigner('-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----')).toThrow(/PEM/);
    const signer = createSigner(key.privateKeyPem);
    const retired = createTrustRoot([{ publicKey: key.publicKey, notAfter: '2030-01-01T00:00:00Z' }]);
    const sig = signer.sign('x');
    expect(retired.check(signer.keyId, 'x', sig, '2029-12-31T00:00:00Z')).toBe('ok');
    expect(retired.check(signer.keyId, 'x', sig, '2030-01-02T00:00:00Z')).toBe('expired-key');
    expect(retired.check(signer.keyId, 'y', sig, '2029-12-31T00:00:00Z')).toBe('bad-signature');
    expect(retired.check('ed25519:nope', 'x', sig)).toBe('unknown-key');
  });
});
