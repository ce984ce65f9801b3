/**
 * Export and import: a streamable NDJSON file with a header and a trailing checksum. Import into
 * empty stores gives identical heads, versions and checksums on every backing; a corrupted or
 * truncated file fails cleanly with nothing written; a failure midway reports exactly what was
 * written, and `resume` finishes it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createMemoryStore } from '@summit-config/backends';
import { createMemoryGovernance } from '@summit-config/backends/memory';
import { type ConfigStore, createConfigService, createRbac, isConfigError } from '@summit-config/core';
import { errors, ImportError } from '@summit-config/core/internal';
import type { Backing } from '@summit-config/test-support/backings';
import { actors } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import { closeShared, ENVIRONMENTS, type Harness, harness, RBAC } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(async () => {
  await closeShared();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const ROLLOUT = { rules: [{ id: 'canary', strategy: 'percentage', bps: 1000, patch: { beta: true } }] };

/** Environments, schemas, a policy, refs with history (a tombstone, a rollout), open requests. */
async function populate(h: Harness): Promise<{ pending: string }> {
  const svc = h.service;
  const root = actors.root;
  await svc.registerSchema(root, 'database', { type: 'object', properties: { pool: { type: 'integer' } } });
  await svc.publishSchema(root, 'database', {
    type: 'object',
    properties: { pool: { type: 'integer' }, host: { type: 'string', default: 'db' } },
  });
  await svc.putPolicy(root, 'rotation', { days: 90, notify: ['ops@example.com'] });
  await svc.set(root, { ref: 'global/database', config: { pool: 5 } }, { emergency: true });
  h.clock.advanceHours(1);
  await svc.set(
    root,
    {
      ref: 'app:billing/database',
      config: { pool: 10, note: 'zoë 🚀' },
      overrides: { staging: { pool: 2 } },
      message: "'; DROP TABLE config_versions; --",
    },
    { emergency: true },
  );
  h.clock.advanceHours(1);
  await svc.set(actors.alice, {
    ref: 'app:billing/database',
    config: { pool: 10, note: 'zoë 🚀' },
    overrides: { staging: { pool: 3 }, development: { pool: 1 } },
  });
  await svc.set(root, { ref: 'app:billing/flags', config: { beta: false }, rollout: ROLLOUT }, { emergency: true });
  await svc.delete(root, 'app:billing/flags', { emergency: true });
  const pending = await svc.propose(actors.alice, { ref: 'app:billing/database', config: { pool: 20 } });
  await svc.approve(actors.bob, pending.id);
  const done = await svc.propose(actors.alice, { ref: 'global/database', config: { pool: 6 } });
  await svc.approve(actors.bob, done.id);
  await svc.approve(actors.carol, done.id);
  await svc.apply(actors.alice, done.id);
  return { pending: pending.id };
}

async function exportText(h: Harness, options: { asOf?: string } = {}): Promise<string> {
  let text = '';
  for await (const line of await h.service.exportAll(actors.root, options)) text += line;
  return text;
}

/** Everything a store and governance hold, for comparison (the audit trail aside). */
async function snapshot(h: Harness) {
  const heads = await h.store.listHeads();
  const versions: unknown[] = [];
  for (const head of heads) {
    for (const v of await h.store.listVersions(head.ref)) versions.push(await h.store.getVersion(head.ref, v));
  }
  return {
    heads: JSON.parse(JSON.stringify(heads)),
    versions: JSON.parse(JSON.stringify(versions)),
    environments: await h.governance.listEnvironments(),
    schemas: await h.governance.listSchemas(),
    policies: await h.governance.listPolicies(),
  };
}

async function expectEmpty(h: Harness): Promise<void> {
  expect(await h.store.listHeads()).toEqual([]);
  expect(await h.governance.isEmpty()).toBe(true);
  expect(await h.governance.readAuditChain(0, 10)).toEqual([]);
}

function recordLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** Re-seals edited record lines with a correct trailer (as a tool that rewrote the file would). */
function reseal(lines: string[]): string {
  const body = lines.filter((l) => !l.includes('"type":"trailer"'));
  const hash = createHash('sha256');
  for (const l of body) hash.update(`${l}\n`);
  return `${body.join('\n')}\n${JSON.stringify({ type: 'trailer', records: body.length - 1, sha256: hash.digest('hex') })}\n`;
}

const PAIRS: Array<[Backing, Backing]> = [
  ['memory', 'postgres'],
  ['postgres', 'pglite'],
  ['pglite', 'memory'],
];

describe.each(PAIRS)('export from %s, import into %s', (from, to) => {
  it('gives identical heads, versions, checksums and governance records', async () => {
    const source = await harness(from, { environments: ENVIRONMENTS });
    const target = await harness(to);
    try {
      const { pending } = await populate(source);
      const text = await exportText(source);
      const lines = recordLines(text);
      expect(JSON.parse(lines[0] as string)).toMatchObject({
        type: 'header',
        format: 'summit-config-export',
        formatVersion: 1,
        asOf: null,
        source: source.store.name,
      });
      const trailer = JSON.parse(lines.at(-1) as string);
      expect(trailer).toMatchObject({ type: 'trailer', records: lines.length - 2 });

      const report = await target.service.importAll(actors.root, text);
      expect(report).toMatchObject({
        governance: true,
        environments: 4,
        schemas: 2,
        policies: 1,
        versions: 6,
        skippedVersions: 0,
        refs: { 'global/database': 2, 'app:billing/database': 2, 'app:billing/flags': 2 },
        sha256: trailer.sha256,
      });
      // Open requests travel: the pending one and the emergency reviews; the applied one does not.
      expect(report.requests).toBe(5);
      expect(await snapshot(target)).toEqual(await snapshot(source));
      for (const r of await source.governance.listRequests({ status: ['pending', 'approved'] })) {
        expect(await target.governance.getRequest(r.id)).toEqual(r);
      }
      // Exporting the imported stores gives the same records (the header names another source).
      const again = recordLines(await exportText(target));
      expect(again.slice(1, -1)).toEqual(lines.slice(1, -1));
      // The imported service carries on: the pending request can be approved and applied.
      await target.service.approve(actors.carol, pending);
      const applied = await target.service.apply(actors.alice, pending);
      expect(applied.appliedVersion).toBe(3);
      const events = (await target.service.audit(actors.root)).map((e) => e.action);
      expect(events).toEqual(expect.arrayContaining(['import', 'import.complete']));
      expect(await target.service.verifyAudit(actors.root)).toMatchObject({ ok: true });
    } finally {
      await source.close();
      await target.close();
    }
  });
});

describe('export', () => {
  it('exports a point in time: each ref up to asOf, requests made by then', async () => {
    const source = await harness('memory', { environments: ENVIRONMENTS });
    try {
      await populate(source);
      const lines = recordLines(await exportText(source, { asOf: '2030-01-01T01:30:00Z' })).map((l) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ asOf: '2030-01-01T01:30:00.000Z' });
      const versions = lines
        .filter((l) => l.type === 'version')
        .map((l) => `${l.version.ref.id}@${l.version.ref.scope}:${l.version.version}`);
      expect(versions.sort()).toEqual(['database@app:billing:1', 'database@global:1']);
      const requests = lines.filter((l) => l.type === 'request').map((l) => l.request.requestedAt);
      expect(requests.every((t: string) => t <= '2030-01-01T01:30:00.000Z')).toBe(true);
      expect(requests).toHaveLength(2);
      expect(
        await codeOf(
          source.service.exportAll(actors.root, { asOf: 'never' }).then(async (it) => {
            for await (const _ of it) break;
          }),
        ),
      ).toBe('CONSTRAINT_VIOLATION');
    } finally {
      await source.close();
    }
  });

  it('streams to a file and back', async () => {
    const source = await harness('postgres', { environments: ENVIRONMENTS });
    const target = await harness('pglite');
    const dir = await mkdtemp(join(tmpdir(), 'summit-export-'));
    dirs.push(dir);
    try {
      await populate(source);
      const file = join(dir, 'backup.ndjson');
      await pipeline(Readable.from(await source.service.exportAll(actors.root)), createWriteStream(file));
      const report = await target.service.importAll(actors.root, createReadStream(file));
      expect(report.versions).toBe(6);
      expect(await snapshot(target)).toEqual(await snapshot(source));
    } finally {
      await source.close();
      await target.close();
    }
  });
});

describe('import of a bad file', () => {
  let exported: string | undefined;
  async function file(): Promise<string> {
    if (exported === undefined) {
      const source = await harness('memory', { environments: ENVIRONMENTS });
      await populate(source);
      exported = await exportText(source);
      await source.close();
    }
    return exported;
  }

  const corruptions: Array<[string, (lines: string[]) => string, string, RegExp]> = [
    [
      'a changed character outside any document (trailer hash)',
      (l) => `${l.join('\n').replace('"days":90', '"days":91')}\n`,
      'CHECKSUM_MISMATCH',
      /trailer SHA-256 .* does not match the content/,
    ],
    [
      'a changed character inside a version (its checksum)',
      (l) => `${l.join('\n').replace('"pool":10', '"pool":11')}\n`,
      'CHECKSUM_MISMATCH',
      /line \d+: app:billing\/database v1: stored checksum/,
    ],
    [
      'no trailer (truncated)',
      (l) => `${l.slice(0, -1).join('\n')}\n`,
      'CONSTRAINT_VIOLATION',
      /truncated: no trailer/,
    ],
    [
      'cut in the middle of a line',
      (l) => l.join('\n').slice(0, Math.floor(l.join('\n').length / 2)),
      'CONSTRAINT_VIOLATION',
      /not valid JSON|truncated/,
    ],
    ['empty', () => '', 'CONSTRAINT_VIOLATION', /empty/],
    ['not an export', () => '{"hello":"world"}\n', 'CONSTRAINT_VIOLATION', /line 1/],
    [
      'a newer format',
      (l) => reseal([(l[0] as string).replace('"formatVersion":1', '"formatVersion":2'), ...l.slice(1)]),
      'CONSTRAINT_VIOLATION',
      /format version 2/,
    ],
    [
      'a wrong record count',
      (l) => `${[...l.slice(0, -1), (l.at(-1) as string).replace(/"records":\d+/, '"records":3')].join('\n')}\n`,
      'CONSTRAINT_VIOLATION',
      /trailer counts 3 records/,
    ],
    [
      'a line after the trailer',
      (l) => `${l.join('\n')}\n{"type":"policy"}\n`,
      'CONSTRAINT_VIOLATION',
      /after the trailer/,
    ],
    [
      'a version edited and the trailer re-sealed',
      (l) => reseal(l.map((x) => (x.includes('"type":"version"') ? x.replace('"pool":10', '"pool":99') : x))),
      'CHECKSUM_MISMATCH',
      /line \d+: .*does not match content/,
    ],
    [
      'a version missing from a history',
      (l) => {
        const i = l.findIndex((x) => x.includes('"type":"version"'));
        return reseal(l.filter((_, j) => j !== i));
      },
      'CONSTRAINT_VIOLATION',
      /expected version 1, found 2/,
    ],
    [
      'environments in a cycle',
      (l) =>
        reseal(
          l.map((x) =>
            x.includes('"name":"production",')
              ? x.replace('"production":true', '"production":true,"parent":"production-eu"')
              : x,
          ),
        ),
      'CIRCULAR_DEPENDENCY',
      /loop/,
    ],
    [
      'an invalid schema',
      (l) =>
        reseal(l.map((x) => (x.includes('"type":"schema"') ? x.replace('"type":"object"', '"type":"objekt"') : x))),
      'SCHEMA_VALIDATION',
      /line \d+/,
    ],
    [
      'a request with a bad status',
      (l) =>
        reseal(l.map((x) => (x.includes('"type":"request"') ? x.replace(/"status":"\w+"/, '"status":"done"') : x))),
      'CONSTRAINT_VIOLATION',
      /unknown status/,
    ],
  ];

  describe.each(['memory', 'pglite'] as const)('into %s', (backing) => {
    it.each(corruptions)('fails cleanly on %s, writing nothing', async (_name, corrupt, code, message) => {
      const target = await harness(backing);
      try {
        const text = corrupt(recordLines(await file()));
        const error = await target.service.importAll(actors.root, text).catch((e: unknown) => e);
        expect(isConfigError(error)).toBe(true);
        expect((error as { code: string }).code).toBe(code);
        expect((error as Error).message).toMatch(message);
        await expectEmpty(target);
      } finally {
        await target.close();
      }
    });
  });

  it('refuses a store that is not empty', async () => {
    const target = await harness('memory');
    try {
      await target.service.set(actors.root, { ref: 'global/x', config: {} });
      expect(await codeOf(target.service.importAll(actors.root, await file()))).toBe('CONSTRAINT_VIOLATION');
      expect((await target.store.listHeads()).map((h) => h.ref.id)).toEqual(['x']);
      expect(await target.governance.isEmpty()).toBe(true);
    } finally {
      await target.close();
    }
  });

  it('decodes a byte stream split anywhere, even inside a multi-byte character', async () => {
    const target = await harness('memory');
    try {
      const bytes = Buffer.from(await file(), 'utf8');
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
      }
      expect((await target.service.importAll(actors.root, chunks())).versions).toBe(6);
      expect((await target.service.get(actors.root, 'app:billing/database', { version: 1 }))?.config).toEqual({
        pool: 10,
        note: 'zoë 🚀',
      });
    } finally {
      await target.close();
    }
  });
});

describe('import interrupted midway', () => {
  it('reports exactly what was written, and resume finishes it', async () => {
    const source = await harness('memory', { environments: ENVIRONMENTS });
    await populate(source);
    const text = await exportText(source);
    const memory = createMemoryStore();
    let appends = 0;
    let failAfter = 3;
    const flaky: ConfigStore = {
      ...memory,
      name: 'flaky',
      async append(doc, options) {
        if (appends >= failAfter) throw errors.unavailable('flaky', new Error('connection reset'));
        appends++;
        return memory.append(doc, options);
      },
    };
    const governance = createMemoryGovernance();
    const service = createConfigService({ store: flaky, governance, rbac: createRbac(RBAC) });
    try {
      const error = await service.importAll(actors.root, text).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportError);
      const failure = error as ImportError;
      expect(failure.code).toBe('BACKEND_UNAVAILABLE');
      expect(failure.message).toMatch(/written so far: the governance records and 3 of 6 versions/);
      expect(failure.progress).toMatchObject({ governance: true, versions: 3, environments: 4, schemas: 2 });
      const held = await memory.listHeads();
      expect(Object.fromEntries(held.map((h) => [`${h.ref.scope}/${h.ref.id}`, h.version]))).toEqual(
        failure.progress.refs,
      );
      expect(await codeOf(service.importAll(actors.root, text))).toBe('CONSTRAINT_VIOLATION');

      failAfter = Number.POSITIVE_INFINITY;
      const report = await service.importAll(actors.root, text, { resume: true });
      expect(report).toMatchObject({ versions: 3, skippedVersions: 3 });
      const target = { store: flaky, governance } as unknown as Harness;
      expect(await snapshot(target)).toEqual(await snapshot(source));
      expect((await service.audit(actors.root)).map((e) => e.action)).toEqual([
        'import',
        'import.resume',
        'import.complete',
      ]);
    } finally {
      await source.close();
      await memory.close();
    }
  });

  it('resume refuses content that differs from the file', async () => {
    const source = await harness('memory', { environments: ENVIRONMENTS });
    const target = await harness('memory');
    try {
      await populate(source);
      await target.service.set(actors.root, { ref: 'global/database', config: { pool: 1 } });
      const error = await target.service
        .importAll(actors.root, await exportText(source), { resume: true })
        .catch((e) => e);
      expect(error).toBeInstanceOf(ImportError);
      expect((error as ImportError).message).toMatch(/already stored with other content/);
    } finally {
      await source.close();
      await target.close();
    }
  });
});
