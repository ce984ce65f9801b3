/**
 * The origin of an audited call (a server's request): carried by the actor, recorded in every audit
 * event of the call, covered by the event's signature (appended to the signed text only when there
 * is one, so events without an origin sign as before), outside the hash chain.
 */
import { storage } from '@summit-config/test-support/backings';
import { RBAC } from '@summit-config/test-support/service';
import { describe, expect, it } from 'vitest';
import { auditOriginText, checkAuditOrigin } from '../src/audit/origin.js';
import { AUDIT_SIGNATURE_PREFIX, auditSigningText, checkAuditSignature, storedFieldsOf } from '../src/audit/signing.js';
import { createConfigService, createRbac, createSigner, createTrustRoot, generateSigningKey } from '../src/index.js';
import { checkActor } from '../src/internal.js';

const origin = {
  method: 'token',
  tokenId: 'k3d7x2mq7ahf',
  remoteAddress: '203.0.113.9',
  userAgent: 'summit-config/1.0',
  requestId: 'req-42',
};

describe('audit origin', () => {
  it('is stored as JSON text in a fixed field order, absent fields left out, nothing for an empty one', () => {
    expect(auditOriginText({ requestId: 'r', method: 'oidc' })).toBe('{"method":"oidc","requestId":"r"}');
    expect(auditOriginText({})).toBeNull();
    expect(auditOriginText(undefined)).toBeNull();
  });

  it('is checked: known fields, text of at most 512 characters without NUL', () => {
    expect(checkAuditOrigin(origin)).toBe(origin);
    for (const bad of [
      [],
      'x',
      { host: 'h' },
      { userAgent: 'x'.repeat(513) },
      { requestId: 'a\u0000' },
      { method: 1 },
    ]) {
      expect(() => checkAuditOrigin(bad)).toThrow(expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }));
    }
    expect(() => checkActor({ id: 'ann', origin: { host: 'h' } })).toThrow(/actor\.origin has an unknown field "host"/);
  });

  it('is covered by the signature only when present: the signed text of an event without one is unchanged', () => {
    const k = generateSigningKey();
    const trust = createTrustRoot([{ publicKey: k.publicKey }]);
    const signer = createSigner(k.privateKeyPem);
    const base = { at: '2030-01-01T00:00:00.000Z', actor: 'ann', action: 'config.set', message: 'm' };
    const without = storedFieldsOf(base);
    expect(auditSigningText(without)).toBe(
      `${AUDIT_SIGNATURE_PREFIX}24:2030-01-01T00:00:00.000Z\n3:ann\n10:config.set\n-\n-\n-\n1:m\n2:[]\n-\n-\n`,
    );
    const withOrigin = storedFieldsOf({ ...base, origin: { requestId: 'r' } });
    expect(auditSigningText(withOrigin)).toBe(`${auditSigningText(without)}17:{"requestId":"r"}\n`);
    const signature = `${signer.keyId}:${signer.sign(auditSigningText(withOrigin))}`;
    const record = { ...withOrigin, signature };
    expect(checkAuditSignature(record, trust)).toBe('ok');
    // Altering, adding or removing the origin breaks the signature.
    for (const change of [{ origin: '{"requestId":"s"}' }, { origin: null }]) {
      expect(checkAuditSignature({ ...record, ...change }, trust)).toBe('bad-signature');
    }
  });

  it("the service records the actor's origin in every event of the call, and the trail verifies", async () => {
    const pair = (await storage('memory')).stores();
    const k = generateSigningKey();
    const service = createConfigService({
      store: pair.store,
      governance: pair.governance,
      rbac: createRbac(RBAC),
      signer: createSigner(k.privateKeyPem),
    });
    const root = { id: 'root', kind: 'token' as const, credential: 'token:k3d7x2mq7ahf', origin };
    await service.set(root, { ref: 'app:web/db', config: { a: 1 } });
    await service.createEnvironment(root, { name: 'qa', production: false });
    await service.set({ id: 'root' }, { ref: 'app:web/db', config: { a: 2 } });
    const events = await service.audit({ id: 'root' });
    expect(events.map((e) => [e.action, e.origin])).toEqual([
      ['config.set', origin],
      ['environment.create', origin],
      ['config.set', undefined],
    ]);
    const verified = await service.verifyAudit({ id: 'root' });
    expect(verified).toMatchObject({ ok: true, problems: [], signatures: 'checked' });
    await service.close();
  });
});
