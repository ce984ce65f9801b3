/**
 * An audit anchor in Consul KV: one key, `<prefix>audit/checkpoint`, holding the latest signed
 * checkpoint as JSON. A write reads the key consistently and replaces it with a compare-and-set on
 * its ModifyIndex (`?cas=0` when absent), only when the new checkpoint's `seq` is higher; a lost race
 * is retried on the fresh value. The checkpoint is verified by whoever reads it (the signature), not
 * here: this module only keeps it. Connection options (address, token, datacenter, TLS, timeout) are
 * the store's (consul-connection.ts).
 *
 *   const anchor = createConsulAuditAnchor({ address: 'https://consul:8501', token, prefix: 'summit/' });
 *   createConfigService({ ..., signer, auditAnchors: [anchor, createFileAuditAnchor(path)] });
 */
import type { AuditAnchor, AuditCheckpoint } from '@summit-config/core';
import { ConfigError, isConfigError } from '@summit-config/core';
import { errors, isAuditCheckpoint, Lifecycle } from '@summit-config/core/internal';
import { type ConsulConnectionOptions, resolveConnection } from './consul-connection.js';
import { ConsulHttp } from './consul-http.js';
import { checkPrefix } from './consul-layout.js';

export interface ConsulAuditAnchorOptions extends ConsulConnectionOptions {
  /** Key prefix shared with the store. Default `summit/`; the key is `<prefix>audit/checkpoint`. */
  prefix?: string;
  /** The anchor's name in verification results. Default `consul:<prefix>audit/checkpoint`. */
  name?: string;
}

export interface ConsulAuditAnchor extends AuditAnchor, AsyncDisposable {
  /** The Consul key of the checkpoint. */
  readonly key: string;
  /** Closes the connection. Idempotent; later calls reject `CLOSED`. */
  close(): Promise<void>;
}

/** Compare-and-set attempts before a write gives up (each one lost to a concurrent writer). */
const ATTEMPTS = 8;

/** Creates the anchor; options are validated now, nothing is sent until `read` or `write`. */
export function createConsulAuditAnchor(options: ConsulAuditAnchorOptions = {}): ConsulAuditAnchor {
  const what = 'consul audit anchor';
  if (options === null || typeof options !== 'object') throw errors.constraint(`${what} options must be an object`);
  const prefix = checkPrefix(options.prefix ?? 'summit/', what);
  const key = `${prefix}audit/checkpoint`;
  const name = options.name ?? `consul:${key}`;
  if (typeof name !== 'string' || name.length === 0)
    throw errors.constraint(`${what} option name must be a non-empty string`);
  const http = new ConsulHttp(resolveConnection(options, what), name);
  const lifecycle = new Lifecycle(what);

  async function current(signal?: AbortSignal): Promise<{ checkpoint: AuditCheckpoint | undefined; index: number }> {
    const { entry } = await http.kvGet(key, { consistent: true, signal });
    if (!entry) return { checkpoint: undefined, index: 0 };
    let value: unknown;
    try {
      value = entry.Value === null ? null : JSON.parse(entry.Value);
    } catch {
      value = undefined;
    }
    if (!isAuditCheckpoint(value)) {
      throw errors.checksumMismatch(`${name} does not hold an audit checkpoint (damaged or replaced)`, {
        backend: name,
      });
    }
    return { checkpoint: value, index: entry.ModifyIndex };
  }

  const anchor: ConsulAuditAnchor = {
    name,
    key,

    async read(opts = {}) {
      lifecycle.assertOpen();
      return (await current(opts.signal)).checkpoint;
    },

    async write(checkpoint, opts = {}) {
      lifecycle.assertOpen();
      if (!isAuditCheckpoint(checkpoint)) throw errors.constraint('not an audit checkpoint');
      const body = JSON.stringify(checkpoint);
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        let index: number;
        try {
          const found = await current(opts.signal);
          if (found.checkpoint && found.checkpoint.seq >= checkpoint.seq) return;
          index = found.index;
        } catch (error) {
          // A damaged value is replaced by a good checkpoint (CAS on the index it has).
          if (!isConfigError(error, 'CHECKSUM_MISMATCH')) throw error;
          const { entry } = await http.kvGet(key, { consistent: true, signal: opts.signal });
          index = entry?.ModifyIndex ?? 0;
        }
        if (await http.kvPut(key, body, { cas: index, signal: opts.signal })) return;
      }
      throw new ConfigError('CONFLICTING_CHANGE', `${name}: the checkpoint kept changing under ${ATTEMPTS} writes`, {
        backend: name,
      });
    },

    close() {
      return lifecycle.close(() => http.destroy());
    },

    [Symbol.asyncDispose]() {
      return anchor.close();
    },
  };
  return anchor;
}
