/**
 * What the Consul store's modules share: the resolved options and connection, the key layout, the
 * lifecycle, head reads, and the memory of the ModifyIndex of heads this store wrote itself.
 */
import { type ConfigRef, type Head, parseRef, type ReadOptions } from '@summit-config/core';
import { Lifecycle } from '@summit-config/core/internal';
import { type ResolvedConnection, resolveConnection } from './consul-connection.js';
import { ConsulHttp } from './consul-http.js';
import { decodeHead, Layout } from './consul-layout.js';
import { type ConsulStoreOptions, type ResolvedConsulOptions, resolveConsulOptions } from './consul-options.js';

/** A head as read, with the ModifyIndex a compare-and-set on it needs. */
export interface HeadEntry {
  head: Head;
  modifyIndex: number;
}

export interface ConsulStoreContext {
  readonly opts: ResolvedConsulOptions;
  readonly conn: ResolvedConnection;
  /** Tier name, in errors and `source` fields. */
  readonly backend: string;
  readonly http: ConsulHttp;
  readonly layout: Layout;
  readonly lifecycle: Lifecycle;
  readonly limits: { maxDocumentBytes: number };
  readonly headIndex: HeadIndexMemory;
  /** CLOSED first, then the ref parsed. */
  open(ref: ConfigRef): ConfigRef;
  readHead(ref: ConfigRef, o?: ReadOptions): Promise<HeadEntry | undefined>;
}

const HEAD_INDEX_MAX = 10_000;

/**
 * ModifyIndex of heads this store wrote itself, so that the next append of the same ref can CAS
 * at once instead of reading the head first (`cacheHeadIndex`). Bounded; cleared whenever Consul
 * could have restarted (any failed request), since a restarted dev agent reuses indexes.
 */
export class HeadIndexMemory {
  readonly #enabled: boolean;
  readonly #heads = new Map<string, { version: number; modifyIndex: number }>();

  constructor(enabled: boolean, http: ConsulHttp) {
    this.#enabled = enabled;
    http.onFailure(() => this.#heads.clear());
  }

  get(key: string): { version: number; modifyIndex: number } | undefined {
    return this.#heads.get(key);
  }

  remember(key: string, version: number, modifyIndex: number): void {
    if (!this.#enabled) return;
    this.#heads.delete(key);
    this.#heads.set(key, { version, modifyIndex });
    if (this.#heads.size > HEAD_INDEX_MAX) this.#heads.delete(this.#heads.keys().next().value as string);
  }

  forget(key: string): void {
    this.#heads.delete(key);
  }
}

/** Validates the options (nothing is sent yet) and builds the shared parts. */
export function createConsulContext(options: ConsulStoreOptions): ConsulStoreContext {
  const opts = resolveConsulOptions(options);
  const conn = resolveConnection(options, 'consul store');
  const backend = opts.name;
  const http = new ConsulHttp(conn, backend);
  const layout = new Layout(opts.prefix);
  const lifecycle = new Lifecycle(`${backend} store`);
  return {
    opts,
    conn,
    backend,
    http,
    layout,
    lifecycle,
    limits: { maxDocumentBytes: opts.maxDocumentBytes },
    headIndex: new HeadIndexMemory(opts.cacheHeadIndex, http),
    open(ref) {
      lifecycle.assertOpen();
      return parseRef(ref);
    },
    async readHead(ref, o = {}) {
      const { entry } = await http.kvGet(layout.head(ref), { consistent: o.consistent, signal: o.signal });
      if (!entry) return undefined;
      return { head: decodeHead(ref, entry.Value, backend), modifyIndex: entry.ModifyIndex };
    },
  };
}
