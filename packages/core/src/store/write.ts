import { errors } from '../errors/config-error.js';
import { type ConfigRef, parseRef, refKey } from '../model/ref.js';
import { type ConfigVersion, createVersion, type DocumentLimits, type VersionInput } from '../model/version.js';
import type { ConfigStore } from './config-store.js';

export interface AppendNextOptions extends DocumentLimits {
  /**
   * The head the writer based its change on (0 when creating the ref). When omitted, the current
   * head is read with a consistent read, which makes the write a plain "append after whatever is there".
   */
  expectedVersion?: number;
  signal?: AbortSignal;
}

/**
 * Builds the next version of `input.ref` and appends it with compare-and-set on the expected head.
 * Rejects `VERSION_CONFLICT` when another writer moved the head first; nothing is written then.
 */
export async function appendNext(
  store: ConfigStore,
  input: VersionInput,
  options: AppendNextOptions = {},
): Promise<ConfigVersion> {
  const ref = parseRef(input.ref);
  let expected = options.expectedVersion;
  if (expected === undefined) {
    const head = await store.getHead(ref, { consistent: true, signal: options.signal });
    expected = head?.version ?? 0;
  }
  const doc = createVersion({ ...input, ref }, expected + 1, options);
  return store.append(doc, { signal: options.signal });
}

export interface RollbackOptions extends AppendNextOptions {
  createdBy: string;
  message?: string;
}

/**
 * Rolls `ref` back to version `target` by appending that version's content (config, overrides,
 * rollout) as a new version: history only moves forward. Rejects `NOT_FOUND` when the store does not
 * hold `target`, and `VERSION_CONFLICT` when `expectedVersion` is given and the head moved.
 */
export async function rollbackTo(
  store: ConfigStore,
  refInput: ConfigRef | string,
  target: number,
  options: RollbackOptions,
): Promise<ConfigVersion> {
  const ref = parseRef(refInput);
  const old = await store.getVersion(ref, target, { consistent: true, signal: options.signal });
  if (!old)
    throw errors.notFound(`${refKey(ref)} has no version ${target} to roll back to`, {
      ref: refKey(ref),
      version: target,
    });
  return appendNext(
    store,
    {
      ref,
      config: old.config,
      overrides: { ...old.overrides },
      rollout: old.rollout,
      metadata: { rollbackOf: target },
      createdBy: options.createdBy,
      message: options.message ?? `rollback to v${target}`,
    },
    options,
  );
}
