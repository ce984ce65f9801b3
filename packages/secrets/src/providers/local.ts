/**
 * The `local` provider, the default: AES-256-GCM with a 32-byte master key, versions kept in a
 * {@link LocalSecretStorage} (memory, or PostgreSQL/PGlite through `local-sql.ts`).
 *
 *   const provider = createLocalProvider({ storage: createSqlSecretStorage({ sql: pglite }) });
 *
 * The key comes from option `key`, option `keyFile`, env `SUMMIT_MASTER_KEY` or env
 * `SUMMIT_MASTER_KEY_FILE` (first found), as base64 or hex text of 32 bytes (a key file may also
 * hold the 32 raw bytes). Each version is encrypted with a fresh 12-byte IV and authenticated with
 * the secret name and version number as additional data, so a wrong key, an edited ciphertext or a
 * row copied to another secret fails authentication (`SECRET_PROVIDER`, reason `key`): it never
 * decrypts to garbage.
 *
 * Hardened edges of the master key:
 * - a key file readable or writable by group or others (mode & 0o077) is refused at construction
 *   (`SECRET_PROVIDER`, reason `key`, naming the file, its mode and `chmod 600 <file>`);
 * - a key check value (KCV), HMAC-SHA256 of a fixed label under the key (it reveals nothing of the
 *   key), is kept in the storage (`putMeta`): the first write to an empty storage records it, and the
 *   first operation of every provider compares it before reading or writing anything, so a wrong key
 *   fails fast (reason `key`, "key check value mismatch") instead of creating versions no other
 *   provider can read. A storage from before the KCV (versions, no KCV) adopts one on the first
 *   successful decrypt of its oldest stored version, which every provider's first operation tries;
 *   a key that does not decrypt it is refused the same way and records nothing. The provider has one
 *   master key (no key ids), so a storage has one KCV.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { messageOf, readOwnerOnlyFile } from '@summit-config/core/internal';
import type { PromoteResult, SecretProvider, SecretStage, SecretVersionInfo } from '../contract.js';
import { isSecretError, secretError } from '../errors.js';
import { integerOption, optionError, ProviderKit, providerName, secretValue, versionInfo } from '../provider-kit.js';
import {
  createMemorySecretStorage,
  type LocalSecretStorage,
  type SealedValue,
  type SecretSnapshot,
  type StoragePlan,
  type StoredVersionMeta,
  type VersionUpdate,
} from './local-storage.js';

export interface LocalProviderOptions {
  /** Instance name used in references and errors. Default `local`. */
  name?: string;
  /** The master key: 32 raw bytes, or their base64 or hex text. Default: see `keyFile`. */
  key?: string | Uint8Array;
  /** A file holding the key (text as for `key`, or 32 raw bytes). Default: env `SUMMIT_MASTER_KEY`, then env `SUMMIT_MASTER_KEY_FILE`. */
  keyFile?: string;
  /** Where versions are kept; the provider owns it and closes it. Default: a new memory storage. */
  storage?: LocalSecretStorage;
  /** Environment read for the key. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Largest value in UTF-8 bytes. Default 65 536. */
  maxValueBytes?: number;
}

const PROVIDER_KIND = 'local';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The storage meta key of the master key's check value. */
export const KEY_CHECK_META = 'local.master-key.kcv';
const KEY_CHECK_LABEL = 'summit-config/local-secrets/key-check-value/v1';

/**
 * The master key's check value: HMAC-SHA256 of a fixed label under the key, as
 * `hmac-sha256:<base64>`. One-way: it tells keys apart without revealing anything of the key.
 */
export function keyCheckValue(key: Uint8Array): string {
  return `hmac-sha256:${createHmac('sha256', key).update(KEY_CHECK_LABEL).digest('base64')}`;
}

function sameCheckValue(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads the master key file, refusing one that group or others may read or write (POSIX modes only). */
function readKeyFile(file: string, provider: string): Buffer {
  try {
    return readOwnerOnlyFile(file, 'the master key file');
  } catch (error) {
    throw secretError('key', messageOf(error), { provider });
  }
}

/** A new random master key as base64 text (what `SUMMIT_MASTER_KEY` holds). */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/**
 * Parses a master key: 32 raw bytes, 64 hex digits, or base64/base64url of 32 bytes. Throws
 * `SECRET_PROVIDER` (reason `key`) naming `source` and the problem, never the key.
 */
export function parseMasterKey(input: string | Uint8Array, source: string, provider = PROVIDER_KIND): Buffer {
  const bad = (why: string) =>
    secretError('key', `the master key from ${source} ${why}: it must be 32 bytes as base64 or hex`, { provider });
  if (typeof input !== 'string') {
    if (!(input instanceof Uint8Array)) throw bad('is not a string or bytes');
    if (input.length === KEY_BYTES) return Buffer.from(input);
    // A key file read as bytes may hold the text form.
    return parseMasterKey(Buffer.from(input).toString('utf8'), source, provider);
  }
  const text = input.trim();
  if (text.length === 0) throw bad('is empty');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
    if (/^[0-9a-fA-F]+$/.test(text)) throw bad(`has ${text.length} hex digits, not 64`);
    throw bad(`decodes to ${bytes.length} bytes`);
  }
  throw bad(`is ${text.length} characters of neither base64 nor hex`);
}

function loadKey(options: LocalProviderOptions, provider: string): Buffer {
  if (options.key !== undefined && options.keyFile !== undefined) {
    throw optionError(PROVIDER_KIND, 'key', 'and option keyFile are exclusive: give one');
  }
  if (options.key !== undefined) return parseMasterKey(options.key, 'option key', provider);
  const env = options.env ?? process.env;
  const file = options.keyFile ?? (env.SUMMIT_MASTER_KEY ? undefined : env.SUMMIT_MASTER_KEY_FILE);
  if (options.keyFile === undefined && env.SUMMIT_MASTER_KEY) {
    return parseMasterKey(env.SUMMIT_MASTER_KEY, 'SUMMIT_MASTER_KEY', provider);
  }
  if (file !== undefined && file !== '') {
    const bytes = readKeyFile(file, provider);
    try {
      return parseMasterKey(bytes, `key file ${JSON.stringify(file)}`, provider);
    } finally {
      bytes.fill(0);
    }
  }
  throw secretError(
    'key',
    'no master key: set SUMMIT_MASTER_KEY (32 bytes, base64 or hex) or SUMMIT_MASTER_KEY_FILE, or pass option key or keyFile',
    { provider },
  );
}

function aad(name: string, version: number): Buffer {
  return Buffer.from(`summit-secret/v1\u0000${name}\u0000${version}`, 'utf8');
}

function versionNumber(version: string): number | undefined {
  return /^[1-9][0-9]{0,9}$/.test(version) && Number(version) <= 2_147_483_647 ? Number(version) : undefined;
}

/** Creates the local provider. The key is read and checked now: a missing or malformed key throws here. */
export function createLocalProvider(options: LocalProviderOptions = {}): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(PROVIDER_KIND, 'options', 'must be an object');
  const name = providerName(options.name, PROVIDER_KIND, PROVIDER_KIND);
  const maxValueBytes = options.maxValueBytes ?? 65_536;
  integerOption(PROVIDER_KIND, 'maxValueBytes', maxValueBytes, 1);
  const storage = options.storage ?? createMemorySecretStorage();
  if (typeof storage?.change !== 'function') {
    throw optionError(
      PROVIDER_KIND,
      'storage',
      'must be a LocalSecretStorage (createMemorySecretStorage or createSqlSecretStorage)',
    );
  }
  const key = loadKey(options, name);
  const checkValue = keyCheckValue(key);
  /** Set once this provider's key was found to match the storage's check value. */
  let keyVerified = false;
  const kit = new ProviderKit({
    provider: name,
    kind: PROVIDER_KIND,
    // Portable names: what AWS accepts, without the ARN-like characters.
    namePattern: /^[A-Za-z0-9/_+=.@-]{1,256}$/,
    nameRule: '1-256 characters of A-Z a-z 0-9 / _ + = . @ -',
    capabilities: {
      disable: true,
      destroy: true,
      labels: true,
      atomicPromote: true,
      durable: storage.durable,
      maxValueBytes,
    },
  });

  function seal(secret: string, version: number, value: string): SealedValue {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(secret, version));
    const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { iv, tag: cipher.getAuthTag(), ciphertext };
  }

  function open(secret: string, version: number, sealed: SealedValue): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(secret, version));
      decipher.setAuthTag(sealed.tag);
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // The crypto error says nothing useful and must not become a cause chain to inspect.
      throw secretError(
        'key',
        'cannot decrypt: authentication failed (the master key differs from the one that encrypted it, or the stored data was altered)',
        { provider: name, secret, secretVersion: String(version) },
      );
    }
  }

  function info(secret: string, v: StoredVersionMeta): SecretVersionInfo {
    return versionInfo({
      name: secret,
      version: String(v.version),
      stage: v.stage ?? undefined,
      state: v.state,
      createdAt: v.createdAt.toISOString(),
      labels: { ...v.labels },
      native: v.stage ? [v.stage] : [],
    });
  }

  /** Storage errors name provider `local`; report them under this instance's name. */
  async function guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isSecretError(error) && error.provider !== name) {
        const detail = error.message.slice(error.message.indexOf(': ') + 2);
        throw secretError(error.reason, detail, {
          provider: name,
          secret: error.secret,
          secretVersion: error.secretVersion,
          cause: error.cause,
        });
      }
      throw error;
    }
  }

  /** A storage error (which names no secret) reported for `secret`, under this instance's name. */
  function forSecret(error: unknown, secret: string): unknown {
    if (!isSecretError(error) || (error.secret !== undefined && error.provider === name)) return error;
    const detail = error.message.slice(error.message.indexOf(': ') + 2);
    return secretError(error.reason, detail, {
      provider: name,
      secret: error.secret ?? secret,
      secretVersion: error.secretVersion,
      cause: error.cause,
    });
  }

  function keyMismatch(secret: string, why = ''): Error {
    return secretError(
      'key',
      `the master key does not match the one this store was created with (key check value mismatch)${why}`,
      { provider: name, secret },
    );
  }

  /** Records this key's check value, unless another was recorded first (then: mismatch). */
  async function adoptCheckValue(secret: string): Promise<void> {
    const kept = await storage.putMeta(KEY_CHECK_META, checkValue);
    if (!sameCheckValue(kept, checkValue)) throw keyMismatch(secret);
    keyVerified = true;
  }

  /**
   * The key check, before the first operation reads or writes anything: compares the storage's key
   * check value, or (a storage without one) decrypts its oldest stored version and records the value,
   * or (an empty storage) records it on the first write (`writing`).
   */
  async function checkKey(secret: string, writing: boolean): Promise<void> {
    if (keyVerified) return;
    try {
      const stored = await storage.getMeta(KEY_CHECK_META);
      if (stored !== undefined) {
        if (!sameCheckValue(stored, checkValue)) throw keyMismatch(secret);
        keyVerified = true;
        return;
      }
      const first = await storage.firstSealed();
      if (first) {
        try {
          open(first.name, first.row.version, first.row.sealed as SealedValue);
        } catch {
          throw keyMismatch(
            secret,
            `: the store has no key check value yet, and this key does not decrypt its oldest version (secret ${JSON.stringify(first.name)}, version ${first.row.version})`,
          );
        }
        await adoptCheckValue(secret);
        return;
      }
      if (writing) await adoptCheckValue(secret);
    } catch (error) {
      throw forSecret(error, secret);
    }
  }

  /** The version `version` of a secret, from its stored versions (`NOT_FOUND` when it is not there). */
  function findVersion(secret: string, versions: readonly StoredVersionMeta[], version: string): StoredVersionMeta {
    const n = versionNumber(version);
    return kit.found(secret, version, n === undefined ? undefined : versions.find((v) => v.version === n));
  }

  /** Versions losing their stage, revoked (destroyed ones stay destroyed). */
  function revoked(v: StoredVersionMeta): VersionUpdate {
    return { version: v.version, stage: null, state: v.state === 'destroyed' ? 'destroyed' : 'disabled' };
  }

  /** The new version of `create` and `write`, at `stage`: what the plan inserts, and its result. */
  function insert(
    secret: string,
    snap: SecretSnapshot,
    stage: 'current' | 'pending',
    value: string,
    labels: Record<string, string>,
  ): Pick<StoragePlan<SecretVersionInfo>, 'insert' | 'result'> {
    const now = new Date();
    return {
      insert: { stage, sealed: seal(secret, snap.nextVersion, value), labels },
      result: info(secret, {
        version: snap.nextVersion,
        stage,
        state: 'enabled',
        labels,
        createdAt: now,
        updatedAt: now,
      }),
    };
  }

  /** Changes a stored version that exists (`revoke`, `destroy`); the current one is refused. */
  async function changeVersion(
    secret: string,
    version: string,
    verb: 'revoke' | 'destroy',
    plan: (target: StoredVersionMeta) => VersionUpdate | undefined,
  ): Promise<void> {
    await checkKey(secret, false);
    await guard(() =>
      storage.change(secret, (snap) => {
        if (!snap.exists) throw kit.missingSecret(secret);
        const target = findVersion(secret, snap.versions, version);
        if (target.stage === 'current') throw kit.currentRefused(secret, version, verb);
        const update = plan(target);
        return update ? { updates: [update], result: undefined } : { result: undefined };
      }),
    );
  }

  return kit.assemble(
    {
      async create(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        await checkKey(secret, true);
        return guard(() =>
          storage.change(secret, (snap) => {
            if (snap.exists) throw kit.error('exists', 'the secret already exists', secret);
            return { create: true, ...insert(secret, snap, 'current', value, labels) };
          }),
        );
      },

      async read(secret, selector, opts) {
        const sel = kit.reading(secret, selector, opts);
        const shown = typeof sel === 'string' ? sel : sel.version;
        let lookup: { version: number } | { stage: SecretStage };
        if (typeof sel === 'string') {
          lookup = { stage: sel };
        } else {
          const n = versionNumber(sel.version);
          if (n === undefined) throw kit.missingVersion(secret, shown);
          lookup = { version: n };
        }
        await checkKey(secret, false);
        const { secretExists, row } = await guard(() => storage.get(secret, lookup));
        if (!secretExists) throw kit.missingSecret(secret);
        if (!row) {
          const what = typeof sel === 'string' ? `no version is ${sel}` : 'the version does not exist';
          throw kit.error('not-found', what, secret, shown);
        }
        if (row.state !== 'enabled' || !row.sealed) {
          throw kit.error('revoked', `the version is ${row.state}`, secret, String(row.version));
        }
        kit.begin(opts);
        return secretValue({
          name: secret,
          version: String(row.version),
          value: open(secret, row.version, row.sealed),
          createdAt: row.createdAt.toISOString(),
        });
      },

      async write(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        await checkKey(secret, true);
        return guard(() =>
          storage.change(secret, (snap) => {
            if (!snap.exists) throw kit.missingSecret(secret);
            const oldPending = snap.versions.find((v) => v.stage === 'pending');
            return {
              updates: oldPending ? [revoked(oldPending)] : [],
              ...insert(secret, snap, 'pending', value, labels),
            };
          }),
        );
      },

      async promote(secret, version, opts) {
        const expected = kit.promoting(secret, version, opts);
        await checkKey(secret, false);
        return guard(() =>
          storage.change<PromoteResult>(secret, (snap) => {
            if (!snap.exists) throw kit.missingSecret(secret);
            const target = findVersion(secret, snap.versions, version);
            const current = snap.versions.find((v) => v.stage === 'current');
            const previous = snap.versions.find((v) => v.stage === 'previous');
            kit.expectCurrent(secret, version, expected, current && String(current.version));
            if (target.state !== 'enabled') {
              throw kit.error('revoked', `cannot promote a ${target.state} version`, secret, version);
            }
            if (current?.version === target.version) {
              return {
                result: { current: version, previous: previous && String(previous.version), revoked: undefined },
              };
            }
            const updates: VersionUpdate[] = [{ version: target.version, stage: 'current', state: 'enabled' }];
            if (current) updates.push({ version: current.version, stage: 'previous', state: current.state });
            const dropped = previous && previous.version !== target.version ? previous : undefined;
            if (dropped) updates.push(revoked(dropped));
            return {
              updates,
              result: {
                current: version,
                previous: current && String(current.version),
                revoked: dropped && String(dropped.version),
              },
            };
          }),
        );
      },

      async revoke(secret, version, opts) {
        kit.targeting(secret, version, opts);
        await changeVersion(secret, version, 'revoke', (target) =>
          target.stage === null && target.state !== 'enabled' ? undefined : revoked(target),
        );
      },

      async destroy(secret, version, opts) {
        kit.targeting(secret, version, opts);
        await changeVersion(secret, version, 'destroy', (target) =>
          target.state === 'destroyed'
            ? undefined
            : { version: target.version, stage: null, state: 'destroyed', wipe: true },
        );
      },

      async listVersions(secret, opts) {
        kit.prelude(secret, opts);
        await checkKey(secret, false);
        const versions = await guard(() => storage.list(secret));
        if (!versions) throw kit.missingSecret(secret);
        return versions.map((v) => info(secret, v));
      },
    },
    async () => {
      key.fill(0);
      await storage.close();
    },
  );
}
