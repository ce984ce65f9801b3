import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../errors/config-error.js';
import { canonicalJson, isPlainObject, sha256Hex } from '../model/json.js';
import { type ConfigVersion, verifyVersion } from '../model/version.js';

/**
 * The last-known-good snapshot: the documents a client last applied (secret references, never secret
 * values), with a checksum over them. Written atomically: temp file, fsync, rename.
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

function checksumOf(s: Omit<Snapshot, 'checksum'>): string {
  const { format, app, environment, writtenAt, docs, epoch } = s;
  return sha256Hex(
    canonicalJson({ format, app, environment, writtenAt, docs, ...(epoch === undefined ? {} : { epoch }) }),
  );
}

export async function writeSnapshot(
  file: string,
  app: string,
  environment: string,
  docs: ConfigVersion[],
  epoch?: string,
): Promise<void> {
  const body: Omit<Snapshot, 'checksum'> = {
    format: 'summit-snapshot/1',
    app,
    environment,
    writtenAt: new Date().toISOString(),
    ...(epoch === undefined ? {} : { epoch }),
    docs,
  };
  const text = JSON.stringify({ ...body, checksum: checksumOf(body) });
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
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
  if (!isPlainObject(raw) || raw.format !== 'summit-snapshot/1' || !Array.isArray(raw.docs))
    throw corrupt('unknown format');
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
