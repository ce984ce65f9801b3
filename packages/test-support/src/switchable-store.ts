/**
 * A store wrapper whose reachability a test can switch off, for exercising the failover logic fast
 * and deterministically on in-process stores. The real-process fault tests (test/faults) kill and
 * freeze the real Consul and PostgreSQL instead.
 */
import type { ConfigStore, StoreCapabilities } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';

export interface Switchable extends ConfigStore {
  down: boolean;
}

export function switchable(
  inner: ConfigStore,
  name: string,
  capabilities: Partial<StoreCapabilities> = {},
): Switchable {
  const caps = Object.freeze({ ...inner.capabilities, ...capabilities });
  const state = { down: false };
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (state.down) throw errors.unavailable(name, new Error('connect ECONNREFUSED (switched off)'));
      return fn(...args);
    };
  const wrapper: Switchable = {
    name,
    capabilities: caps,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    getHead: guard((ref, o) => inner.getHead(ref, o)),
    getVersion: guard((ref, v, o) => inner.getVersion(ref, v, o)),
    listHeads: guard((q, o) => inner.listHeads(q, o)),
    listVersions: guard((ref, o) => inner.listVersions(ref, o)),
    append: guard((d, o) => inner.append(d, o)),
    ack: guard((a) => inner.ack?.(a) ?? Promise.resolve()),
    ...(inner.ackMany && {
      ackMany: guard((items) => (inner.ackMany as NonNullable<ConfigStore['ackMany']>)(items)),
    }),
    listAcks: guard((ref) => inner.listAcks?.(ref) ?? Promise.resolve([])),
    replace: guard((d, o) => inner.replace?.(d, o) ?? Promise.resolve()),
    prime: guard((d) => inner.prime?.(d) ?? Promise.resolve()),
    ping: guard((o) => inner.ping(o)),
    ...(inner.beginAppend && {
      beginAppend: guard((d, o) => (inner.beginAppend as NonNullable<ConfigStore['beginAppend']>)(d, o)),
      listLagging: guard((o) => (inner.listLagging as NonNullable<ConfigStore['listLagging']>)(o)),
      markMirrored: guard((r, v) => (inner.markMirrored as NonNullable<ConfigStore['markMirrored']>)(r, v)),
    }),
    ...(inner.extend && {
      extend: guard((r, d, o) => (inner.extend as NonNullable<ConfigStore['extend']>)(r, d, o)),
      listProvisional: guard((o) => (inner.listProvisional as NonNullable<ConfigStore['listProvisional']>)(o)),
      markProvisional: guard((i) => (inner.markProvisional as NonNullable<ConfigStore['markProvisional']>)(i)),
      clearProvisional: guard((i, o) => (inner.clearProvisional as NonNullable<ConfigStore['clearProvisional']>)(i, o)),
    }),
    ...(inner.readEpoch && {
      readEpoch: guard((o) => (inner.readEpoch as NonNullable<ConfigStore['readEpoch']>)(o)),
      writeEpoch: guard((v, e, o) => (inner.writeEpoch as NonNullable<ConfigStore['writeEpoch']>)(v, e, o)),
    }),
    watch: (listener, options) =>
      inner.watch((change) => {
        if (!state.down) listener(change);
      }, options),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return wrapper;
}
