/**
 * Signed backups (issue 16): an export by a service with a writer key carries signed versions,
 * signed approvals, the anchors' audit checkpoints and a signed trailer; an import by a service
 * with a trust root refuses, before writing anything, a file that is unsigned, re-sealed without a
 * trusted key, or holds one version, approval or checkpoint that does not verify. The finding
 * reproduced: a self-consistent forged backup with an "approved" request and fake approvals
 * imported, and `apply` then applied it.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ConfigService,
  createConfigService,
  createFileAuditAnchor,
  createRbac,
  createSigner,
  createTrustRoot,
  generateSigningKey,
  isConfigError,
  type Signer,
} from '@summit-config/core';
import { computeChecksum } from '@summit-config/core/internal';
import { actors } from '@summit-config/test-support/builders';
import { closeShared, ENVIRONMENTS, type Harness, RBAC, withHarness } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const writer = createSigner(generateSigningKey().privateKeyPem);
const rogue = createSigner(generateSigningKey().privateKeyPem);
const trust = createTrustRoot([{ publicKey: writer.publicKey }]);
const REF = 'app:billing/db';

function service(
  h: Harness,
  signer: Signer | undefined,
  extra: Partial<Parameters<typeof createConfigService>[0]> = {},
) {
  return createConfigService({
    store: h.store,
    governance: h.governance,
    rbac: createRbac(RBAC),
    clock: h.clock.now,
    environments: ENVIRONMENTS,
    ...(signer ? { signer } : {}),
    trust,
    ...extra,
  });
}

async function exported(svc: ConfigService): Promise<string[]> {
  let text = '';
  for await (const line of await svc.exportAll(actors.root)) text += line;
  return text.trimEnd().split('\n');
}

/** Recomputes the trailer's count and SHA-256 (what a forger can do), signed by `signer` if given. */
function reseal(lines: string[], signer?: Signer): string {
  const body = lines.slice(0, -1);
  const hash = createHash('sha256');
  for (const l of body) hash.update(`${l}\n`, 'utf8');
  const sha256 = hash.digest('hex');
  const records = body.length - 1;
  const trailer: Record<string, unknown> = { type: 'trailer', records, sha256 };
  if (signer) trailer.signature = `${signer.keyId}:${signer.sign(`summit-export-v1\n${records}\n${sha256}\n`)}`;
  return `${[...body, JSON.stringify(trailer)].join('\n')}\n`;
}

type Rec = Record<string, unknown> & { type: string };
const edit = (lines: string[], fn: (r: Rec) => Rec | undefined) =>
  lines.map((l) => {
    const r = JSON.parse(l) as Rec;
    const out = fn(r);
    return out ? JSON.stringify(out) : l;
  });

async function refusal(p: Promise<unknown>): Promise<{ code: string; reason?: string; message: string }> {
  try {
    await p;
  } catch (error) {
    if (isConfigError(error)) return error as never;
    throw error;
  }
  throw new Error('expected the import to be refused');
}

describe('signed backups (memory and the real PostgreSQL)', () => {
  for (const backing of ['memory', 'postgres'] as const) {
    it(`${backing}: a signed export imports; forged, unsigned or re-sealed ones are refused with nothing written`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'summit-backup-trust-'));
      try {
        await withHarness(
          backing,
          async (source) => {
            const anchor = createFileAuditAnchor(join(dir, 'checkpoint.json'));
            const src = service(source, writer, { auditAnchors: [anchor] });
            await src.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
            const pending = await src.propose(actors.alice, {
              ref: REF,
              config: { pool: 2 },
              overrides: { production: { pool: 2 } },
            });
            await src.approve(actors.bob, pending.id);
            await src.checkpointAudit(actors.root);
            const lines = await exported(src);
            const kinds = lines.map((l) => (JSON.parse(l) as Rec).type);
            expect(kinds).toContain('checkpoint');
            const trailer = JSON.parse(lines.at(-1) as string) as Rec;
            expect(trailer.signature).toMatch(/^ed25519:[0-9a-f]{32}:/);

            // The real file imports.
            await withHarness(backing, async (target) => {
              const svc = service(target, writer);
              const report = await svc.importAll(actors.root, `${lines.join('\n')}\n`);
              expect(report.versions).toBe(1);
              expect((await svc.getRequest(actors.root, pending.id)).approvals).toHaveLength(1);
              await svc.close();
            });

            // 1. A forged version, checksum and trailer recomputed: the version is unsigned now.
            const forgedVersion = edit(lines, (r) => {
              if (r.type !== 'version') return undefined;
              const v = r.version as Record<string, unknown>;
              const doc = { ...v, config: { pool: 666 } } as never;
              return { ...r, version: { ...(doc as object), checksum: computeChecksum(doc) } };
            });
            const results: Array<{ code: string; reason?: string }> = [];
            await withHarness(backing, async (target) => {
              const svc = service(target, writer);
              for (const text of [
                reseal(forgedVersion), // re-sealed without a key
                reseal(forgedVersion, rogue), // re-sealed with an untrusted key
                reseal(forgedVersion, writer), // even a trusted seal does not cover a forged version
              ]) {
                results.push(await refusal(svc.importAll(actors.root, text)));
                expect(await target.store.listHeads({}, { consistent: true })).toEqual([]);
                expect(await target.governance.listRequests({})).toEqual([]);
              }
              await svc.close();
            });
            expect(results.map((r) => r.code)).toEqual(['SIGNATURE_INVALID', 'SIGNATURE_INVALID', 'SIGNATURE_INVALID']);
            expect(results.map((r) => r.reason)).toEqual(['UNSIGNED_BACKUP', 'UNTRUSTED_KEY', 'FORGED_VERSION']);

            // 2. The request marked approved with fake approvals (the reported finding), trusted seal.
            const fakeApprovals = edit(lines, (r) => {
              if (r.type !== 'request') return undefined;
              const q = r.request as Record<string, unknown>;
              return {
                ...r,
                request: {
                  ...q,
                  status: 'approved',
                  approvals: ['lead1', 'lead2'].map((by) => ({
                    by,
                    at: q.requestedAt,
                    decision: 'approve',
                    environments: ['production'],
                  })),
                },
              };
            });
            // 3. A checkpoint moved forward by hand.
            const movedCheckpoint = edit(lines, (r) =>
              r.type === 'checkpoint' ? { ...r, checkpoint: { ...(r.checkpoint as object), seq: 999 } } : undefined,
            );
            await withHarness(backing, async (target) => {
              const svc = service(target, writer);
              const approvals = await refusal(svc.importAll(actors.root, reseal(fakeApprovals, writer)));
              expect(approvals).toMatchObject({ code: 'SIGNATURE_INVALID', reason: 'FORGED_APPROVAL' });
              const checkpoint = await refusal(svc.importAll(actors.root, reseal(movedCheckpoint, writer)));
              expect(checkpoint).toMatchObject({ code: 'SIGNATURE_INVALID', reason: 'FORGED_CHECKPOINT' });
              // The untouched file, with its own seal, still imports into the same (empty) target.
              const ok = await svc.importAll(actors.root, `${lines.join('\n')}\n`);
              expect(ok.versions).toBe(1);
              await svc.close();
            });
            await src.close();
          },
          { environments: ENVIRONMENTS },
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
