/**
 * Where `summit-config login` keeps tokens: `$XDG_CONFIG_HOME/summit-config/credentials.json`
 * (default `~/.config/...`), mode 0600 in a 0700 directory, one entry per server URL. A file that
 * others can read is refused (`CONSTRAINT_VIOLATION` with the `chmod` to run), like a key file.
 */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { errors, isPlainObject, readOwnerOnlyFile } from '@summit-config/core/internal';

export interface StoredCredential {
  token: string;
  /** Who the token authenticated as when it was stored. */
  actor: string;
  savedAt: string;
}

interface CredentialsFile {
  servers: Record<string, StoredCredential>;
}

export function credentialsFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'summit-config', 'credentials.json');
}

/** A server URL as the file keys it: scheme, host and port, no trailing slash. */
export function serverKey(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw errors.constraint(`--server must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw errors.constraint(`--server must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

async function readAll(file: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = readOwnerOnlyFile(file, 'the credentials file').toString('utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'NOT_FOUND') return { servers: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isPlainObject(parsed) && isPlainObject(parsed.servers)) return parsed as unknown as CredentialsFile;
  } catch {
    // reported below
  }
  throw errors.constraint(`the credentials file ${file} is not valid: remove it and log in again`);
}

export async function readCredential(env: NodeJS.ProcessEnv, url: string): Promise<StoredCredential | undefined> {
  return (await readAll(credentialsFile(env))).servers[serverKey(url)];
}

/** Stores (or with `undefined`, removes) the token of `url`; written whole, then renamed into place. */
export async function writeCredential(
  env: NodeJS.ProcessEnv,
  url: string,
  credential: StoredCredential | undefined,
): Promise<boolean> {
  const file = credentialsFile(env);
  const all = await readAll(file);
  const key = serverKey(url);
  const had = key in all.servers;
  if (credential) all.servers[key] = credential;
  else delete all.servers[key];
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
  return had;
}
