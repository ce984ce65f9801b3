/**
 * The `trust` section: the writer key this process signs with, the public keys it verifies with,
 * and where audit checkpoints are kept. Keys are read when the runtime opens (`trust.ts`).
 *
 * ```yaml
 * trust:
 *   signingKeyFile: /etc/summit/signing.key   # env SUMMIT_SIGNING_KEY_FILE (PKCS#8 PEM, mode 0600)
 *   keys:                                     # env SUMMIT_TRUST_KEYS (comma-separated base64 SPKI)
 *     - publicKey: MCowBQYDK2VwAyEA...
 *       principal: os-user:1000@ops-1         # optional: who holds the private key
 *       notAfter: 2027-06-01T00:00:00Z        # optional: a retired key
 *   keysFile: /etc/summit/trust.yaml          # env SUMMIT_TRUST_FILE (a list, or { keys: [...] })
 *   require: true                             # default: true when any key is trusted
 *   checkpointFile: /var/lib/summit/audit-checkpoint.json   # env SUMMIT_AUDIT_CHECKPOINT_FILE
 * ```
 */
import { dirname, join, resolve } from 'node:path';
import type { TrustedKeyInput } from '@summit-config/core';
import { bool, fail, list, object, optStr, show, str } from './config-fields.js';
import type { EmbeddedConfig } from './config-types.js';

export interface TrustConfig {
  /** The writer key (PKCS#8 PEM, mode 0600). Embedded default: `<data dir>/../signing.key`, generated on first start. */
  signingKeyFile: string | undefined;
  /** True when the signing key is the embedded default's, generated when missing. */
  generateSigningKey: boolean;
  /** Public keys trusted beside the signing key's own. */
  keys: TrustedKeyInput[];
  /** A YAML or JSON file with more trusted keys. */
  keysFile: string | undefined;
  /** Refuse versions that do not verify. Undefined: yes when any key is trusted. */
  require: boolean | undefined;
  /** Audit checkpoints file. Embedded default: `<data dir>/../audit-checkpoint.json`. */
  checkpointFile: string | undefined;
}

function keyEntry(value: unknown, path: string): TrustedKeyInput {
  if (typeof value === 'string') return { publicKey: value };
  const o = object(value, path, ['publicKey', 'keyId', 'principal', 'notAfter']);
  const entry: TrustedKeyInput = { publicKey: str(o.publicKey, `${path}.publicKey`) };
  const keyId = optStr(o.keyId, `${path}.keyId`);
  const principal = optStr(o.principal, `${path}.principal`);
  const notAfter = o.notAfter instanceof Date ? o.notAfter.toISOString() : optStr(o.notAfter, `${path}.notAfter`);
  if (notAfter !== undefined && Number.isNaN(Date.parse(notAfter))) {
    throw fail(`${path}.notAfter`, `must be an ISO-8601 time, got ${show(notAfter)}`);
  }
  return {
    ...entry,
    ...(keyId ? { keyId } : {}),
    ...(principal ? { principal } : {}),
    ...(notAfter ? { notAfter } : {}),
  };
}

/** Parses a list of trusted keys (a YAML/JSON list, or `{ keys: [...] }`), naming `path` in errors. */
export function trustedKeys(value: unknown, path: string): TrustedKeyInput[] {
  const items = Array.isArray(value) ? value : list(object(value, path, ['keys']).keys, `${path}.keys`);
  return items.map((item, i) => keyEntry(item, `${path}[${i}]`));
}

export function trustSection(raw: unknown, env: NodeJS.ProcessEnv, embedded: EmbeddedConfig | undefined): TrustConfig {
  const o = object(raw, 'trust', ['signingKeyFile', 'keys', 'keysFile', 'require', 'checkpointFile']);
  const file = (value: unknown, name: string) => {
    const v = optStr(value, `trust.${name}`);
    return v === undefined ? undefined : resolve(v);
  };
  const home = embedded ? dirname(embedded.dataDir) : undefined;
  const configuredKey = file(env.SUMMIT_SIGNING_KEY_FILE || o.signingKeyFile, 'signingKeyFile');
  const fromEnv = (env.SUMMIT_TRUST_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k.length > 0)
    .map((publicKey) => ({ publicKey }));
  const checkpoint = file(env.SUMMIT_AUDIT_CHECKPOINT_FILE || o.checkpointFile, 'checkpointFile');
  return {
    signingKeyFile: configuredKey ?? (home ? join(home, 'signing.key') : undefined),
    generateSigningKey: configuredKey === undefined && home !== undefined,
    keys: [...(o.keys === undefined ? [] : trustedKeys(o.keys, 'trust.keys')), ...fromEnv],
    keysFile: file(env.SUMMIT_TRUST_FILE || o.keysFile, 'keysFile'),
    require: o.require === undefined ? undefined : bool(o.require, 'trust.require', true),
    checkpointFile: checkpoint ?? (home ? join(home, 'audit-checkpoint.json') : undefined),
  };
}
