/**
 * `GET /api/v1/export` (streamed NDJSON) and `POST /api/v1/import`: a round trip between two servers,
 * bad input refused with a typed problem and nothing written, the body limits, RBAC, resume, a slow
 * reader past the request timeout, and PostgreSQL.
 */
import type { Socket } from 'node:net';
import { refKey } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigServerOptions } from '../src/index.js';
import { auth, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness } from './support.js';

const NDJSON = 'application/x-ndjson';
const open: ServerHarness[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function server(
  backing: 'memory' | 'postgres' = 'memory',
  options: Partial<ConfigServerOptions> = {},
): Promise<ServerHarness> {
  const s = await serverHarness(backing, options);
  open.push(s);
  return s;
}

/** A source with environments, a schema and several refs with history (one deleted). */
async function seed(s: ServerHarness, refs = 3, versions = 2): Promise<void> {
  await s.h.service.registerSchema(ROOT_ACTOR, 'db', { type: 'object' });
  for (let r = 0; r < refs; r++) {
    for (let v = 1; v <= versions; v++) {
      await s.h.service.set(ROOT_ACTOR, { ref: `app:web/db/${r}`, config: { pool: r * 10 + v } });
    }
  }
  await s.h.service.set(ROOT_ACTOR, { ref: 'global/gone', config: { x: 1 } });
  await s.h.service.delete(ROOT_ACTOR, 'global/gone');
}

async function exportOf(s: ServerHarness): Promise<string> {
  const res = await s.app.inject({ url: '/api/v1/export', headers: ROOT });
  expect(res.statusCode).toBe(200);
  return res.body;
}

const importInto = (s: ServerHarness, body: string, query = '', headers: Record<string, string> = ROOT) =>
  s.app.inject({
    method: 'POST',
    url: `/api/v1/import${query}`,
    payload: body,
    headers: { ...headers, 'content-type': NDJSON },
  });

async function headsOf(s: ServerHarness): Promise<Record<string, string>> {
  const heads = await s.h.store.listHeads();
  return Object.fromEntries(heads.map((h) => [refKey(h.ref), `${h.version}:${h.checksum}`]));
}

/** Nothing was written: no ref, and the governance storage is as empty as before the import. */
async function expectNothingWritten(s: ServerHarness): Promise<void> {
  expect(await s.h.store.listHeads()).toEqual([]);
  expect(await s.h.governance.isEmpty()).toBe(true);
}

describe('export', () => {
  it('streams NDJSON: a header, every record, a trailer counting them', async () => {
    const s = await server();
    await seed(s);
    const res = await s.app.inject({ url: '/api/v1/export', headers: ROOT });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(`${NDJSON}; charset=utf-8`);
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="summit-config-export-.+\.ndjson"$/);
    expect(res.headers['cache-control']).toBe('no-store');
    const lines = res.body
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'header', format: 'summit-config-export', source: s.h.store.name });
    expect(lines.at(-1)).toMatchObject({ type: 'trailer', records: lines.length - 2 });
    const versions = lines.filter((l) => l.type === 'version');
    expect(versions).toHaveLength(3 * 2 + 2);
    expect(lines.filter((l) => l.type === 'environment').length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.type === 'schema')).toHaveLength(1);
  });

  it('takes asOf, and refuses a malformed one', async () => {
    const s = await server();
    await seed(s);
    const before = await s.app.inject({ url: '/api/v1/export?asOf=2000-01-01T00:00:00Z', headers: ROOT });
    expect(before.statusCode).toBe(200);
    expect(before.body.split('\n').filter((l) => l.includes('"type":"version"'))).toHaveLength(0);
    const bad = await s.app.inject({ url: '/api/v1/export?asOf=yesterday', headers: ROOT });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
  });

  it('keeps streaming to a slow reader past the request timeout', async () => {
    const s = await server('memory', { requestTimeoutMs: 300 });
    // More than the socket buffers hold, so the response cannot end before the reader takes it.
    const big = 'x'.repeat(40_000);
    for (let i = 0; i < 150; i++) await s.h.service.set(ROOT_ACTOR, { ref: `global/big/${i}`, config: { big } });
    const base = await serve(s.app);
    const res = await fetch(`${base}/api/v1/export`, { headers: ROOT });
    expect(res.status).toBe(200);
    const started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 700));
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as ReadableStream<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    expect(Date.now() - started).toBeGreaterThan(300);
    const last = JSON.parse(text.trimEnd().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'trailer' });
    // The file is whole: it imports.
    const target = await server();
    expect((await importInto(target, text)).statusCode).toBe(200);
    expect(Object.keys(await headsOf(target))).toHaveLength(150);
  });
});

describe('import', () => {
  it('round-trips: what one server exports another imports, ref for ref and checksum for checksum', async () => {
    const source = await server();
    await seed(source);
    const file = await exportOf(source);
    const target = await server();
    const res = await importInto(target, file);
    expect(res.statusCode).toBe(200);
    const report = json(res);
    expect(report).toMatchObject({ governance: true, versions: 8, skippedVersions: 0, schemas: 1 });
    expect(report.refs).toEqual({ 'app:web/db/0': 2, 'app:web/db/1': 2, 'app:web/db/2': 2, 'global/gone': 2 });
    expect(await headsOf(target)).toEqual(await headsOf(source));
    const doc = await target.app.inject({ url: '/api/v1/configs/app:web/db/1', headers: ROOT });
    expect(json(doc)).toMatchObject({ version: 2, config: { pool: 12 } });
    // The same file again, with resume: everything is already there.
    const again = await importInto(target, file, '?resume=true');
    expect(again.statusCode).toBe(200);
    expect(json(again)).toMatchObject({ versions: 0, skippedVersions: 8 });
    // Without resume, a store that holds data is refused.
    const refused = await importInto(target, file);
    expect(refused.statusCode).toBe(400);
    expect(json(refused)).toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
      detail: expect.stringContaining('empty store'),
    });
  });

  it('a malformed line anywhere is a 400 naming the line, and nothing is written (property over lines)', async () => {
    const source = await server();
    await seed(source);
    const lines = (await exportOf(source)).trimEnd().split('\n');
    const target = await server();
    // Cut every line in turn (a truncated record): each file is refused before anything is written.
    for (let n = 0; n < lines.length; n++) {
      const broken = lines.map((l, i) => (i === n ? l.slice(0, Math.floor(l.length / 2)) : l)).join('\n');
      const res = await importInto(target, `${broken}\n`);
      expect(res.statusCode, `line ${n + 1}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(json(res)).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(json(res).detail).toMatch(new RegExp(`line ${n + 1}|empty|truncated`));
      await expectNothingWritten(target);
    }
    // A line dropped: the trailer's count no longer matches.
    const dropped = await importInto(target, `${lines.filter((_, i) => i !== 3).join('\n')}\n`);
    expect(json(dropped)).toMatchObject({
      status: 400,
      code: 'CONSTRAINT_VIOLATION',
      detail: expect.stringContaining('trailer'),
    });
    await expectNothingWritten(target);
    // The intact file still imports into the same target.
    expect((await importInto(target, `${lines.join('\n')}\n`)).statusCode).toBe(200);
  });

  it('a changed document is 422 CHECKSUM_MISMATCH with its line, and nothing is written', async () => {
    const source = await server();
    await seed(source);
    const lines = (await exportOf(source)).trimEnd().split('\n');
    const at = lines.findIndex((l) => l.includes('"pool":12'));
    const tampered = lines.map((l, i) => (i === at ? l.replace('"pool":12', '"pool":13') : l)).join('\n');
    const target = await server();
    const res = await importInto(target, `${tampered}\n`);
    expect(res.statusCode).toBe(422);
    expect(json(res)).toMatchObject({ code: 'CHECKSUM_MISMATCH', detail: expect.stringContaining(`line ${at + 1}`) });
    await expectNothingWritten(target);
  });

  it('needs application/x-ndjson and a body, within importBodyLimit (not bodyLimit)', async () => {
    const source = await server();
    await seed(source, 6, 3);
    const file = await exportOf(source);
    expect(file.length).toBeGreaterThan(2_000);
    const target = await server('memory', { bodyLimit: 1_000 });
    const asJson = await target.app.inject({
      method: 'POST',
      url: '/api/v1/import',
      payload: file,
      headers: { ...ROOT, 'content-type': 'application/json' },
    });
    expect(asJson.statusCode).toBe(415);
    const empty = await target.app.inject({ method: 'POST', url: '/api/v1/import', headers: ROOT });
    expect(empty.statusCode).toBe(400);
    expect(json(empty)).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    // The import's own limit (64 MiB by default) applies, not the 1 000-byte bodyLimit ...
    expect((await importInto(target, file)).statusCode).toBe(200);
    // ... which still applies to JSON routes.
    const big = await target.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/big',
      payload: { config: { x: 'y'.repeat(2_000) } },
      headers: ROOT,
    });
    expect(big.statusCode).toBe(413);
    const small = await server('memory', { importBodyLimit: 1_000 });
    const tooLarge = await importInto(small, file);
    expect(tooLarge.statusCode).toBe(413);
    expect(json(tooLarge)).toMatchObject({ code: 'DOCUMENT_TOO_LARGE' });
    await expectNothingWritten(small);
  });

  it('needs a credential, `export` to export and `import` to import', async () => {
    const source = await server();
    await seed(source, 1, 1);
    const file = await exportOf(source);
    expect((await source.app.inject({ url: '/api/v1/export' })).statusCode).toBe(401);
    const reader = auth('reader-secret');
    const readerExport = await source.app.inject({ url: '/api/v1/export', headers: reader });
    expect(readerExport.statusCode).toBe(403);
    expect(json(readerExport)).toMatchObject({ code: 'ACCESS_DENIED' });
    const target = await server();
    expect((await importInto(target, file, '', {})).statusCode).toBe(401);
    const readerImport = await importInto(target, file, '', reader);
    expect(readerImport.statusCode).toBe(403);
    await expectNothingWritten(target);
  });

  it('is documented in the OpenAPI document with its media types', async () => {
    const s = await server();
    const doc = json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>(
      await s.app.inject({ url: '/api/openapi.json' }),
    );
    const exportOp = doc.paths['/api/v1/export']?.get as { responses: Record<string, { content: object }> };
    expect(Object.keys(exportOp.responses['200']?.content ?? {})).toEqual([NDJSON]);
    const importOp = doc.paths['/api/v1/import']?.post as { requestBody: { content: object } };
    expect(Object.keys(importOp.requestBody.content)).toEqual([NDJSON]);
  });
});

describe('transfer: PostgreSQL', () => {
  it('exports from one PostgreSQL schema and imports into another; a bad file writes nothing', async () => {
    const source = await server('postgres');
    await seed(source);
    const file = await exportOf(source);
    const target = await server('postgres');
    const broken = file.replace('"type":"version"', '"type":"versoin"');
    const bad = await importInto(target, broken);
    expect(bad.statusCode).toBe(400);
    expect(json(bad).detail).toMatch(/unknown record type/);
    await expectNothingWritten(target);
    const res = await importInto(target, file);
    expect(res.statusCode).toBe(200);
    expect(await headsOf(target)).toEqual(await headsOf(source));
  });

  it('a failure while writing is a problem with progress; resume=true finishes the import', async () => {
    const source = await server('postgres');
    await seed(source);
    const file = await exportOf(source);
    const target = await server('postgres');
    await target.h.store.listHeads(); // creates the tables
    const table = `"${target.h.schema}".config_versions`;
    // PostgreSQL itself refuses the third ref's versions midway through the import.
    await target.h.sql(`ALTER TABLE ${table} ADD CONSTRAINT refuse_db_2 CHECK (config_id <> 'app:web/db/2')`);
    const failed = await importInto(target, file);
    // The store reports the violated constraint as CONSTRAINT_VIOLATION (400).
    expect([failed.statusCode, json(failed).code]).toEqual([400, 'CONSTRAINT_VIOLATION']);
    expect(failed.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = json<{ code: string; progress: { governance: boolean; versions: number; refs: object } }>(failed);
    expect(body.progress).toMatchObject({ governance: true, versions: 4 });
    expect(body.progress.refs).toEqual({ 'app:web/db/0': 2, 'app:web/db/1': 2 });
    expect(Object.keys(await headsOf(target))).toEqual(['app:web/db/0', 'app:web/db/1']);
    await target.h.sql(`ALTER TABLE ${table} DROP CONSTRAINT refuse_db_2`);
    const resumed = await importInto(target, file, '?resume=true');
    expect(resumed.statusCode).toBe(200);
    expect(json(resumed)).toMatchObject({ versions: 4, skippedVersions: 4 });
    expect(await headsOf(target)).toEqual(await headsOf(source));
  });
});

/** Listens on 127.0.0.1; `close()` also drops connections on which no request was sent. */
async function serve(app: FastifyInstance): Promise<string> {
  const spare = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    spare.add(socket);
    socket.once('close', () => spare.delete(socket));
  });
  app.server.on('request', (request: { socket: Socket }) => spare.delete(request.socket));
  app.addHook('preClose', async () => {
    for (const socket of spare) socket.destroy();
  });
  return app.listen({ host: '127.0.0.1', port: 0 });
}
