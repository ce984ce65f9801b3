/**
 * An audit anchor in a local file: one JSON checkpoint, replaced atomically (a temporary file of
 * mode 0600 in the same directory, then rename), never by a checkpoint of a lower `seq`. Writes of
 * one anchor object are serialised.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errors } from '../errors/config-error.js';
import type { AuditAnchor, AuditCheckpoint } from './anchor.js';
import { isAuditCheckpoint } from './signing.js';

/** The anchor kept in the file at `path` (its directory must exist). */
export function createFileAuditAnchor(path: string): AuditAnchor {
  if (typeof path !== 'string' || path.length === 0)
    throw errors.constraint('audit anchor file path must be a non-empty string');
  const name = `file:${path}`;
  let queue: Promise<unknown> = Promise.resolve();

  async function read(): Promise<AuditCheckpoint | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw errors.unavailable(name, error);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw errors.checksumMismatch(`${name} does not hold JSON: the checkpoint file was damaged or replaced`);
    }
    if (!isAuditCheckpoint(value)) throw errors.checksumMismatch(`${name} does not hold an audit checkpoint`);
    return value;
  }

  async function write(checkpoint: AuditCheckpoint): Promise<void> {
    if (!isAuditCheckpoint(checkpoint)) throw errors.constraint('not an audit checkpoint');
    let current: AuditCheckpoint | undefined;
    try {
      current = await read();
    } catch (error) {
      // A damaged file is replaced by a good checkpoint; an unreadable one is an outage.
      if ((error as { code?: string }).code !== 'CHECKSUM_MISMATCH') throw error;
    }
    if (current && current.seq > checkpoint.seq) return;
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(checkpoint, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw errors.unavailable(name, error);
    }
  }

  return {
    name,
    read: () => read(),
    write(checkpoint) {
      const next = queue.then(() => write(checkpoint));
      queue = next.catch(() => {});
      return next;
    },
  };
}
