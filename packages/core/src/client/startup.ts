/**
 * The initial load: watch both scopes, then read every head (in bulk, or ref by ref with bounded
 * concurrency), never behind what the snapshot of this store chain holds; when no store answers in
 * time, start from the snapshot instead.
 */
import { isConfigError, messageOf } from '../errors/config-error.js';
import { refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { forEachConcurrently } from '../util/concurrency.js';
import type { Acknowledger } from './acks.js';
import type { ClientContext } from './context.js';
import type { RefLoader } from './loader.js';
import type { SnapshotKeeper } from './snapshot-keeper.js';

export interface StartupParts {
  loader: RefLoader;
  acks: Acknowledger;
  snapshots: SnapshotKeeper;
  /** Where the watches' stop functions go (called at close). */
  unwatch: Array<() => void>;
}

/** Loads the initial state; head events arriving meanwhile are settled afterwards. */
export async function startClient(ctx: ClientContext, parts: StartupParts): Promise<void> {
  ctx.lifecycle.assertOpen();
  parts.loader.deferHeads();
  try {
    await initialLoad(ctx, parts);
  } finally {
    parts.loader.releaseHeads();
  }
}

async function initialLoad(ctx: ClientContext, parts: StartupParts): Promise<void> {
  const { store, options } = ctx;
  const { loader, snapshots } = parts;
  // Watch first, then list: a change landing in between is seen by one or the other, and the
  // per-ref version check drops the duplicate.
  for (const scope of ctx.scopes) {
    parts.unwatch.push(
      store.watch((change) => loader.onHead(change), { scope, initial: true, onError: (error) => ctx.report(error) }),
    );
  }
  const timeout = AbortSignal.timeout(options.startTimeoutMs ?? 5000);
  // What this client applied before a restart (in this chain): the store's answers never go back past it.
  snapshots.epoch = await store.readEpoch?.().catch(() => undefined);
  const previous = await snapshots.previousDocs();
  try {
    if (store.capabilities.bulkReads && store.getHeadDocuments) {
      // One or a few round trips for every document of both scopes.
      for (const scope of ctx.scopes) {
        const { docs, source, stale } = await store.getHeadDocuments({ scope }, { signal: timeout });
        for (const doc of docs) loader.docs.set(refKey(doc.ref), { doc, source, stale });
      }
      keepNewer(loader, previous);
      await applyInitial(ctx, parts);
    } else {
      const heads = (
        await Promise.all(ctx.scopes.map((scope) => store.listHeads({ scope }, { signal: timeout })))
      ).flat();
      // Bounded concurrency: a cold start of thousands of refs must not open thousands of requests
      // (Consul caps connections per client).
      const kept = keepNewer(loader, previous);
      await forEachConcurrently(heads, options.loadConcurrency ?? 32, (h) =>
        loader.enqueue(h.ref.id, () => loader.load(h.ref, h.version, false, h.checksum)),
      );
      for (const id of kept) await loader.recompute(id).catch((error: unknown) => ctx.report(error));
    }
  } catch (error) {
    if (!isConfigError(error, 'BACKEND_UNAVAILABLE') && !isConfigError(error, 'TIMEOUT')) throw error;
    if (!snapshots.file) throw error;
    const snapshot = await snapshots.read();
    if (!snapshot) throw error;
    options.logger?.warn?.({ file: snapshots.file, writtenAt: snapshot.writtenAt }, 'starting from snapshot');
    for (const doc of snapshot.docs) loader.docs.set(refKey(doc.ref), { doc, source: 'snapshot', stale: true });
    for (const id of new Set(snapshot.docs.map((d) => d.ref.id))) {
      await loader.recompute(id).catch((error: unknown) => ctx.report(error));
    }
  }
}

/**
 * A store tier that is behind (or came back empty) must not move this client back past what it
 * applied before a restart: such refs start from the snapshot's document, marked stale, until
 * the store catches up.
 */
function keepNewer(loader: RefLoader, previous: readonly ConfigVersion[]): Set<string> {
  const kept = new Set<string>();
  for (const doc of previous) {
    const key = refKey(doc.ref);
    const current = loader.docs.get(key);
    if (!current || current.doc.version < doc.version) {
      loader.docs.set(key, { doc, source: 'snapshot', stale: true });
      kept.add(doc.ref.id);
    }
  }
  return kept;
}

/**
 * Resolves every id loaded in bulk. An id whose documents do not validate is left out (its ack says
 * `rejected`); the others start normally.
 */
async function applyInitial(ctx: ClientContext, parts: StartupParts): Promise<void> {
  const { loader, acks } = parts;
  const ids = new Set([...loader.docs.values()].map((d) => d.doc.ref.id));
  const applied: ConfigVersion[] = [];
  for (const id of ids) {
    const docs = [`global/${id}`, `app:${ctx.app}/${id}`]
      .map((k) => loader.docs.get(k)?.doc)
      .filter((d) => d !== undefined);
    try {
      await loader.recompute(id);
    } catch (error) {
      for (const d of docs) loader.docs.delete(refKey(d.ref));
      for (const d of docs) await acks.ack(d, 'rejected', messageOf(error));
      ctx.report(error);
      continue;
    }
    applied.push(...docs);
  }
  // One batch for the whole start (the store sends it in a few requests where it can).
  void acks.ackMany(applied, 'applied');
  parts.snapshots.schedule();
}
