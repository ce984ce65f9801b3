/**
 * The in-memory token store: one process's tokens, gone with it (`durable: false`). For tests and a
 * single process; replicas share tokens through the SQL store (`sql.ts`).
 */
import { ConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import { hashToken, newToken, newTokenId, parseToken, tokenMatches } from './format.js';
import {
  byCreation,
  checkCreate,
  checkIdArgument,
  checkListFilter,
  checkRevoker,
  copyRecord,
  isLive,
  iso,
  lastUseDue,
} from './inputs.js';
import type { TokenRecord, TokenStore, TokenStoreCommonOptions } from './types.js';

/** Options of {@link createMemoryTokenStore}. */
export type MemoryTokenStoreOptions = TokenStoreCommonOptions;

interface Entry {
  record: TokenRecord;
  hash: string;
}

/** Creates an empty in-memory token store. */
export function createMemoryTokenStore(options: MemoryTokenStoreOptions = {}): TokenStore {
  if (options === null || typeof options !== 'object')
    throw errors.constraint('memory token store options must be an object');
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw errors.constraint('memory token store option now must be a function');
  const entries = new Map<string, Entry>();
  let closed = false;

  function open(): void {
    if (closed) throw errors.closed('the memory token store');
  }

  return {
    name: 'memory',
    capabilities: { durable: false },

    async create(input) {
      open();
      const at = now();
      const checked = checkCreate(input, at);
      let id = newTokenId();
      while (entries.has(id)) id = newTokenId();
      const token = newToken(id);
      const record: TokenRecord = {
        id,
        name: checked.name,
        owner: checked.owner,
        roles: checked.roles,
        createdAt: iso(at),
        ...(checked.expiresAt === undefined ? {} : { expiresAt: iso(checked.expiresAt) }),
      };
      entries.set(id, { record, hash: hashToken(token) });
      return { token, record: copyRecord(record) };
    },

    async list(filter) {
      open();
      const owner = checkListFilter(filter);
      return [...entries.values()]
        .map((e) => e.record)
        .filter((r) => owner === undefined || r.owner === owner)
        .sort(byCreation)
        .map(copyRecord);
    },

    async get(id) {
      open();
      if (!checkIdArgument(id)) return undefined;
      const entry = entries.get(id);
      return entry ? copyRecord(entry.record) : undefined;
    },

    async revoke(id, by) {
      open();
      const known = checkIdArgument(id);
      const revokedBy = checkRevoker(by);
      const entry = known ? entries.get(id) : undefined;
      if (!entry) throw new ConfigError('NOT_FOUND', `no API token has id "${known ? id : '(malformed)'}"`);
      if (entry.record.revokedAt === undefined) {
        entry.record = { ...entry.record, revokedAt: iso(now()), revokedBy };
      }
      return copyRecord(entry.record);
    },

    async verify(token) {
      open();
      const parsed = parseToken(token);
      if (!parsed) return undefined;
      const entry = entries.get(parsed.id);
      if (!tokenMatches(token, entry?.hash) || !entry) return undefined;
      const at = now();
      if (!isLive(entry.record, at)) return undefined;
      if (lastUseDue(entry.record, at)) entry.record = { ...entry.record, lastUsedAt: iso(at) };
      return copyRecord(entry.record);
    },

    async close() {
      closed = true;
    },
  };
}
