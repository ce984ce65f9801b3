/**
 * The audit trail: every mutation and approval step records one event; on PostgreSQL and PGlite the
 * store's own rows and the service's events form one chain built by the trigger, and altering,
 * deleting or reordering a row with raw SQL is detected by verify(), which names the row.
 */
import { MIGRATIONS } from '@summit-config/backends/postgres';
import { type AuditRecord, auditHash } from '@summit-config/core/internal';
import { actors } from '@summit-config/test-support/builders';
import { readJson } from '@summit-config/test-support/fixtures';
import { closeShared, ENVIRONMENTS, type Harness, harness, q, withHarness } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const vectors = readJson('audit-hash-vectors.json') as {
  vectors: Array<{ name: string; record: Omit<AuditRecord, 'hash'>; hash: string }>;
};

const REF = 'app:billing/db';

/** A few writes of every kind: store rows and service events. */
async function activity(h: Harness): Promise<void> {
  const svc = h.service;
  await svc.set(actors.root, { ref: REF, config: { pool: 1 }, message: "first; '); DROP TABLE config_audit; --" });
  await svc.set(actors.root, { ref: REF, config: { pool: 2 } });
  await svc.registerSchema(actors.root, 'db', { type: 'object' });
  await svc.putPolicy(actors.root, 'rotation', { days: 90 });
  await svc.createEnvironment(actors.root, { name: 'qa', production: false });
  await svc.delete(actors.root, REF);
  await svc.rollback(actors.root, REF);
}

async function tamper(h: Harness, statement: string, params: unknown[] = []): Promise<void> {
  const t = `${q(h.schema as string)}.config_audit`;
  await h.sql(`ALTER TABLE ${t} DISABLE TRIGGER config_audit_append_only`);
  try {
    await h.sql(statement.replaceAll('$T', t), params);
  } finally {
    await h.sql(`ALTER TABLE ${t} ENABLE TRIGGER config_audit_append_only`);
  }
}

describe('audit events (memory)', () => {
  it('records one event per mutation and approval step, none per read', async () => {
    await withHarness(
      'memory',
      async (h) => {
        const svc = h.service;
        const actions = async () => (await svc.audit(actors.root)).map((e) => e.action);
        await svc.listEnvironments(actors.root);
        expect(await actions()).toEqual(['environment.seed']);
        await svc.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true, source: 'cli' });
        await svc.set(actors.alice, { ref: REF, config: { pool: 1 }, overrides: { staging: { pool: 2 } } });
        // Only the staging override differs: not guarded.
        await svc.rollback(actors.alice, REF, { to: 1 });
        const r = await svc.propose(actors.alice, { ref: REF, config: { pool: 3 } });
        await svc.approve(actors.bob, r.id);
        await svc.approve(actors.carol, r.id);
        await svc.apply(actors.alice, r.id);
        const r2 = await svc.propose(actors.alice, { ref: REF, config: { pool: 4 } });
        await svc.reject(actors.bob, r2.id, { reason: 'no' });
        const r3 = await svc.propose(actors.alice, { ref: REF, config: { pool: 5 } });
        await svc.cancel(actors.alice, r3.id);
        await svc.createEnvironment(actors.root, { name: 'qa', production: false });
        await svc.updateEnvironment(actors.root, {
          name: 'qa',
          production: false,
          approvalPolicy: { requiredApprovals: 0 },
        });
        await svc.registerSchema(actors.root, 'db', { type: 'object' });
        await svc.publishSchema(actors.root, 'db', { type: 'object', properties: { pool: { type: 'number' } } });
        await svc.putPolicy(actors.root, 'rotation', { days: 30 });
        // Reads record nothing.
        await svc.get(actors.root, REF);
        await svc.history(actors.root, REF);
        await svc.diff(actors.root, REF, 1, 2);
        await svc.listRequests(actors.root);
        await svc.verifyAudit(actors.root);
        expect(await actions()).toEqual([
          'environment.seed',
          'config.set',
          'config.set',
          'config.rollback',
          'request.create',
          'request.approve',
          'request.approve',
          'request.apply',
          'request.create',
          'request.reject',
          'request.create',
          'request.cancel',
          'environment.create',
          'environment.update',
          'schema.register',
          'schema.register',
          'policy.put',
        ]);
        const [first] = await svc.audit(actors.root, { action: 'config.set', limit: 1 });
        expect(first).toMatchObject({ seq: 2, actor: 'root', source: 'cli', ref: REF, version: 1 });
        expect(first?.changes).toEqual([
          { op: 'replace', path: '/deleted', value: false },
          { op: 'add', path: '/config/pool', value: 1 },
        ]);
        expect(await svc.verifyAudit(actors.root)).toMatchObject({ ok: true, checked: 17 });
      },
      { environments: ENVIRONMENTS },
    );
  });
});

describe.each(['postgres', 'pglite'] as const)('audit chain in SQL (%s)', (backing) => {
  it('the trigger hashes exactly as the formula (independent vectors)', async () => {
    await withHarness(backing, async (h) => {
      await h.service.listEnvironments(actors.root);
      for (const { record, hash } of vectors.vectors) {
        const [row] = await h.sql<{ h: string }>(
          `SELECT ${q(h.schema as string)}.summit_audit_hash($1::bigint, $2::timestamptz, $3, $4, $5, $6::int, $7, $8, $9, $10, $11, $12) AS h`,
          [
            record.seq,
            record.at,
            record.actor,
            record.action,
            record.ref,
            record.version,
            record.environment,
            record.message,
            record.changes,
            record.source,
            record.requestId,
            record.prevHash,
          ],
        );
        expect(row?.h).toBe(hash);
      }
    });
  });

  it("chains the store's own rows and the service's events into one verifiable chain", async () => {
    await withHarness(backing, async (h) => {
      await activity(h);
      const records = await h.governance.readAuditChain(0, 1000);
      expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
      const actions = records.map((r) => r.action);
      expect(actions.filter((a) => a === 'append')).toHaveLength(4);
      expect(actions).toEqual(
        expect.arrayContaining(['config.set', 'config.delete', 'config.rollback', 'schema.register']),
      );
      for (const r of records) expect(r.hash).toBe(auditHash(r));
      const appendRow = records.find((r) => r.action === 'append');
      expect(appendRow).toMatchObject({ actor: 'root', ref: REF, version: 1, source: null, changes: null });
      expect(appendRow?.message).toBe("first; '); DROP TABLE config_audit; --");
      expect(await h.service.verifyAudit(actors.root)).toEqual({
        ok: true,
        checked: records.length,
        head: { seq: records.length, hash: records.at(-1)?.hash },
        problems: [],
        signatures: 'not-checked',
      });
    });
  });

  it('is append-only: raw UPDATE, DELETE and TRUNCATE are refused', async () => {
    await withHarness(backing, async (h) => {
      await activity(h);
      const t = `${q(h.schema as string)}.config_audit`;
      for (const statement of [`UPDATE ${t} SET message = 'x'`, `DELETE FROM ${t} WHERE seq = 1`, `TRUNCATE ${t}`]) {
        await expect(h.sql(statement)).rejects.toThrow(/append-only/);
      }
      expect(await h.service.verifyAudit(actors.root)).toMatchObject({ ok: true });
    });
  });

  // Each row of the table tampers with the chain behind the store's back (the statements get the
  // quoted schema); verify() must report the break.
  it.each([
    {
      name: 'detects an altered row and names it',
      tampering: () => [`UPDATE $T SET message = 'nothing to see' WHERE seq = 3`],
      verified: { ok: false, brokenAt: 3, checked: 3, reason: expect.stringMatching(/altered/), head: { seq: 2 } },
    },
    {
      name: 'detects an altered row whose hash was recomputed: the next link breaks',
      tampering: (s: string) => [
        `UPDATE $T SET actor = 'mallory', hash = ${s}.summit_audit_hash(seq, "timestamp", 'mallory', action, config_id,
           version, environment, message, changes::text, source, request_id, prev_hash) WHERE seq = 4`,
      ],
      verified: { ok: false, brokenAt: 5 },
    },
    {
      name: 'detects a deleted row and names the row after the gap',
      tampering: () => ['DELETE FROM $T WHERE seq = 5'],
      verified: { ok: false, brokenAt: 6, reason: expect.stringMatching(/5\.\.5 are missing/) },
    },
    {
      name: 'detects reordered rows',
      tampering: () => [
        'UPDATE $T SET seq = -1 WHERE seq = 3',
        'UPDATE $T SET seq = 3 WHERE seq = 4',
        'UPDATE $T SET seq = 4 WHERE seq = -1',
      ],
      verified: { ok: false, brokenAt: 3 },
    },
  ])('$name', ({ tampering, verified }) =>
    withHarness(backing, async (h) => {
      await activity(h);
      for (const statement of tampering(q(h.schema as string))) await tamper(h, statement);
      expect(await h.service.verifyAudit(actors.root)).toMatchObject(verified);
    }),
  );

  it('a removed tail still verifies: compare with a head recorded elsewhere', async () => {
    await withHarness(backing, async (h) => {
      await activity(h);
      const recorded = (await h.service.verifyAudit(actors.root)).head;
      const last = recorded?.seq as number;
      await tamper(h, 'DELETE FROM $T WHERE seq = $1', [last]);
      const now = await h.service.verifyAudit(actors.root);
      expect(now.ok).toBe(true);
      expect(now.head?.seq).toBe(last - 1);
      expect(now.head?.hash).not.toBe(recorded?.hash);
    });
  });

  it('keeps one linear chain under concurrent writers on two connections', async () => {
    const h = await harness(backing);
    const twin = await h.twin();
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? h.service : twin.service).set(actors.root, { ref: `app:svc${i}/conf`, config: { i } }),
        ),
      );
      const records = await h.governance.readAuditChain(0, 1000);
      expect(records).toHaveLength(40);
      expect(await h.service.verifyAudit(actors.root)).toMatchObject({ ok: true, checked: 40 });
    } finally {
      await twin.close();
      await h.close();
    }
  });

  it('migration 3 chains the rows written before it, in their order', async () => {
    const h = await harness(backing);
    const s = q(h.schema as string);
    try {
      // A schema at migration 2, with audit rows the old store wrote (a gap in seq included).
      await h.sql(`CREATE SCHEMA ${s}`);
      await h.sql(
        `CREATE TABLE ${s}.summit_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
        for (const statement of m.statements(s)) await h.sql(statement);
        await h.sql(`INSERT INTO ${s}.summit_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      }
      for (const [actor, at] of [
        ['old-1', '2029-05-01T10:00:00.123456Z'],
        ['old-2', '2029-05-01T10:00:01Z'],
        ['old-3', '2029-05-01T10:00:02Z'],
      ]) {
        await h.sql(
          `INSERT INTO ${s}.config_audit (actor, action, message, "timestamp") VALUES ($1, 'append', 'm', $2)`,
          [actor, at],
        );
      }
      await h.sql(`DELETE FROM ${s}.config_audit WHERE actor = 'old-2'`);
      const migrated = await (h.governance as unknown as { migrate(): Promise<{ applied: number[] }> }).migrate();
      expect(migrated.applied).toEqual(MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version));
      expect(migrated.applied).toContain(3);
      await h.service.set(actors.root, { ref: REF, config: { after: true } });
      const records = await h.governance.readAuditChain(0, 100);
      expect(records.map((r) => [r.seq, r.actor, r.action])).toEqual([
        [1, 'old-1', 'append'],
        [2, 'old-3', 'append'],
        [3, 'root', 'append'],
        [4, 'root', 'config.set'],
      ]);
      expect(records[0]?.at).toBe('2029-05-01T10:00:00.123Z');
      expect(await h.service.verifyAudit(actors.root)).toMatchObject({ ok: true, checked: 4 });
      await expect(h.sql(`DELETE FROM ${s}.config_audit`)).rejects.toThrow(/append-only/);
    } finally {
      await h.close();
    }
  });
});
