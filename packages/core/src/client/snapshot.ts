import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { canonicalJson, isPlainObject, sha256Hex } from '../model/json.js';
import { type ConfigVersion, verifyVersion } from '../model/version.js';

/**
 * The last-known-good snapshot: the documents a client last applied (secret references, never secret
 * values), with a checksum over them. Written atomically: temp file, fsync, rename.
 *
 * The checksum is the SHA-256 of the canonical JSON of every field but `checksum`. The file is that
 * canonical JSON with `checksum` added last, written in pieces: each document's canonical JSON is
 * computed once per document object (documents are immutable) and the checksum is fed piece by
 * piece, so a write after one change costs hashing and writing bytes, not re-serialising every ref.
 */
export interface Snapshot {
  format: 'summit-snapshot/1';
  app: string;
  environment: string;
  writtenAt: string;
  /** The store chain's epoch when written: a snapshot from another chain never holds a client back. */
  epoch?: string;
  docs: ConfigVersion[];
  checksum: string;
}

const FORMAT = 'summit-snapshot/1';

function checksumOf(s: Omit<Snapshot, 'checksum'>): string {
  const { format, app, environment, writtenAt, docs, epoch } = s;
  return sha256Hex(
    canonicalJson({ format, app, environment, writtenAt, docs, ...(epoch === undefined ? {} : { epoch }) }),
  );
}

/** Canonical JSON of each document written, by document object (a version never changes). */
const canonicalDocs = new WeakMap<ConfigVersion, string>();

function canonicalDoc(doc: ConfigVersion): string {
  let text = canonicalDocs.get(doc);
  if (text === undefined) {
    text = canonicalJson(doc);
    canonicalDocs.set(doc, text);
  }
  return text;
}

/** Bytes gathered before each write to the file. */
const CHUNK_CHARS = 256 * 1024;

/**
 * The snapshot's text in pieces, in canonical key order (`app`, `docs`, `environment`, `epoch`,
 * `format`, `writtenAt`): what the checksum covers, then `,"checksum":"..."}`.
 */
function* pieces(head: string, docs: readonly ConfigVersion[], tail: string): Generator<string> {
  yield head;
  for (let i = 0; i < docs.length; i++) {
    const text = canonicalDoc(docs[i] as ConfigVersion);
    yield i === 0 ? text : `,${text}`;
  }
  yield tail;
}

export async function writeSnapshot(
  file: string,
  app: string,
  environment: string,
  docs: readonly ConfigVersion[],
  epoch?: string,
): Promise<void> {
  const writtenAt = new Date().toISOString();
  const head = `{"app":${JSON.stringify(app)},"docs":[`;
  const tail =
    `],"environment":${JSON.stringify(environment)}` +
    (epoch === undefined ? '' : `,"epoch":${JSON.stringify(epoch)}`) +
    `,"format":${JSON.stringify(FORMAT)},"writtenAt":${JSON.stringify(writtenAt)}}`;
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    const hash = createHash('sha256');
    let chunk = '';
    for (const piece of pieces(head, docs, tail.slice(0, -1))) {
      hash.update(piece, 'utf8');
      chunk += piece;
      if (chunk.length >= CHUNK_CHARS) {
        await handle.write(chunk, null, 'utf8');
        chunk = '';
      }
    }
    hash.update('}', 'utf8');
    chunk += `,"checksum":"${hash.digest('hex')}"}`;
    await handle.write(chunk, null, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Reads and verifies a snapshot. Returns undefined when the file does not exist; throws
 * `CHECKSUM_MISMATCH` when it is corrupt, truncated or edited, and `CONSTRAINT_VIOLATION` when it
 * belongs to another app or environment.
 */
export async function readSnapshot(file: string, app: string, environment: string): Promise<Snapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const corrupt = (why: string, cause?: unknown) =>
    new ConfigError('CHECKSUM_MISMATCH', `snapshot ${file} is corrupt (${why}); refusing to start from it`, {
      cause,
      backend: 'snapshot',
    });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw corrupt('not JSON', error);
  }
  if (!isPlainObject(raw) || raw.format !== FORMAT || !Array.isArray(raw.docs)) throw corrupt('unknown format');
  const s = raw as unknown as Snapshot;
  if (s.epoch !== undefined && typeof s.epoch !== 'string') throw corrupt('epoch is not a string');
  if (checksumOf(s) !== s.checksum) throw corrupt('checksum does not match content');
  if (s.app !== app || s.environment !== environment) {
    throw new ConfigError(
      'CONSTRAINT_VIOLATION',
      `snapshot ${file} is for ${s.app}/${s.environment}, not ${app}/${environment}`,
      { backend: 'snapshot' },
    );
  }
  try {
    return { ...s, docs: s.docs.map((d) => verifyVersion(d, {}, 'snapshot')) };
  } catch (error) {
    throw corrupt('a document does not verify', error);
  }
}
