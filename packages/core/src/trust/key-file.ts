/**
 * Private key files: read only when no one but the owner may read or write them, and created so.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errors, isConfigError } from '../errors/config-error.js';

function shellQuoted(file: string): string {
  return /^[A-Za-z0-9_./+:@=-]+$/.test(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`;
}

/**
 * Reads `file`, refusing one that group or others may read or write (POSIX modes, checked on the
 * opened descriptor). `NOT_FOUND` when it does not exist, `CONSTRAINT_VIOLATION` otherwise.
 */
export function readOwnerOnlyFile(file: string, what: string): Buffer {
  let fd: number | undefined;
  try {
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      const message = `cannot read ${what} ${JSON.stringify(file)} (${code})`;
      throw code === 'ENOENT' ? errors.notFound(message) : errors.constraint(message);
    }
    const mode = fstatSync(fd).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw errors.constraint(
        `${what} ${JSON.stringify(file)} has mode 0${mode.toString(8).padStart(3, '0')}: it is readable or writable by group or others; restrict it to its owner with \`chmod 600 ${shellQuoted(file)}\``,
      );
    }
    return readFileSync(fd);
  } catch (error) {
    if (isConfigError(error)) throw error;
    throw errors.constraint(`cannot read ${what} ${JSON.stringify(file)}: ${(error as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Creates `file` (mode 0600, its directory 0700 when new) with `content`; false when it already exists. */
export async function createOwnerOnlyFile(file: string, content: string): Promise<boolean> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'EEXIST') return false;
    throw errors.constraint(`cannot create ${JSON.stringify(file)}: ${(error as Error).message}`);
  }
}
