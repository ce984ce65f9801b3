/**
 * The steps of a rotation run, one function each: generate, write the pending version, activate,
 * verify, promote, bump the configs that reference the secret, wait out the grace period and the
 * acknowledgements, retire, revoke the previous version. A step throws on failure (the run records
 * it) and returns what to record next. The steps with side effects detect what an interrupted
 * attempt already did: a pending version this run wrote is adopted, a promote that happened is
 * recognised, a config already bumped is not bumped again.
 */
import { type ConfigVersion, isConfigError, type JsonObject, parseRef, refKey } from '@summit-config/core';
import { errors, isPlainObject, isTombstone, throwIfAborted } from '@summit-config/core/internal';
import { isSecretError } from '../errors.js';
import { findSecretRefs } from '../reference.js';
import { generatePassword, type HandlerContext } from './generators.js';
import { secretKey } from './policy.js';
import type { RotationRuntime, RunContext, StepOutcome } from './runtime.js';
import type { BumpedConfig, LaggingInstance, RotationRun, RotationStep, SecretId } from './types.js';

/** Reserved metadata keys the change service refuses in a `set` (carried over from the head otherwise). */
const RESERVED_METADATA = ['deleted', 'changeRequest', 'emergency', 'rollbackOf', 'restoredFrom', 'unsynced'];
const BUMP_CONFLICT_RETRIES = 5;

type Step = (rt: RotationRuntime, ctx: RunContext) => Promise<StepOutcome>;

/** `value` and, for a JSON secret, every string in it: the texts an error message must not show. */
export function sensitive(value: string): string[] {
  const out = [value];
  try {
    const walk = (v: unknown): void => {
      if (typeof v === 'string') out.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (isPlainObject(v)) Object.values(v).forEach(walk);
    };
    walk(JSON.parse(value));
  } catch {
    // Not JSON: the value itself is all there is.
  }
  return out;
}

function handlerContext(ctx: RunContext): HandlerContext {
  const { policy, provider, signal } = ctx;
  const name = policy.secret.name;
  return {
    secret: policy.secret,
    runId: ctx.run.id,
    options: policy.generator.type === 'handler' ? (policy.generator.options ?? {}) : {},
    provider,
    signal,
    async current() {
      try {
        const v = (await provider.read(name, 'current', { signal })).value;
        ctx.redact.push(...sensitive(v));
        return v;
      } catch (error) {
        if (isSecretError(error) && error.code === 'NOT_FOUND') return undefined;
        throw error;
      }
    },
    async read(version) {
      const v = (await provider.read(name, { version }, { signal })).value;
      ctx.redact.push(...sensitive(v));
      return v;
    },
  };
}

async function generateValue(rt: RotationRuntime, ctx: RunContext): Promise<string> {
  const value = ctx.handler
    ? await ctx.handler.generate(handlerContext(ctx))
    : generatePassword(ctx.policy.generator.type === 'password' ? ctx.policy.generator : {});
  if (typeof value !== 'string' || value.length === 0) {
    throw errors.constraint(`rotation of ${secretKey(ctx.policy.secret)}: the generator returned no value`);
  }
  ctx.redact.push(...sensitive(value));
  rt.values.set(ctx.run.id, value);
  return value;
}

/** The pending value, read back from the provider by version id. */
async function pendingValue(ctx: RunContext): Promise<string> {
  const version = ctx.run.newVersion as string;
  const read = await ctx.provider.read(ctx.policy.secret.name, { version }, { signal: ctx.signal });
  ctx.redact.push(...sensitive(read.value));
  return read.value;
}

/** Every head document of the store, for the reference scan. */
async function headDocuments(rt: RotationRuntime, signal: AbortSignal): Promise<ConfigVersion[]> {
  const { store } = rt.settings;
  if (store.capabilities.bulkReads && store.getHeadDocuments) {
    return (await store.getHeadDocuments({}, { signal })).docs;
  }
  const out: ConfigVersion[] = [];
  for (const head of await store.listHeads({}, { signal })) {
    throwIfAborted(signal);
    const doc = await store.getVersion(head.ref, head.version, { signal });
    if (doc) out.push(doc);
  }
  return out;
}

/** How `doc` references `secret`: `bump` (current/previous), `pinned` (a version id), or not at all. */
function referenceKind(
  rt: RotationRuntime,
  doc: ConfigVersion,
  secret: SecretId,
  ctx: RunContext,
  warn: boolean,
): 'bump' | 'pinned' | undefined {
  let found: ReturnType<typeof findSecretRefs>;
  try {
    found = findSecretRefs({ config: doc.config, overrides: doc.overrides, rollout: doc.rollout });
  } catch (error) {
    if (warn) {
      const message = `${refKey(doc.ref)} v${doc.version} has malformed secret references and was not scanned: ${(error as Error).message}`;
      rt.log('warn', { secret, runId: ctx.run.id, ref: refKey(doc.ref) }, message);
      rt.emit({ type: 'warning', secret, runId: ctx.run.id, message, at: rt.now().toISOString() });
    }
    return undefined;
  }
  let kind: 'bump' | 'pinned' | undefined;
  for (const { ref } of found) {
    if (ref.provider !== secret.provider || ref.name !== secret.name) continue;
    if (ref.version === undefined || ref.version === 'current' || ref.version === 'previous') return 'bump';
    kind = 'pinned';
  }
  return kind;
}

function bumpedBy(doc: ConfigVersion | undefined, secret: SecretId, version: string): boolean {
  const meta = doc?.metadata;
  const r = isPlainObject(meta) && isPlainObject(meta.secretRotation) ? meta.secretRotation : undefined;
  return r !== undefined && r.provider === secret.provider && r.name === secret.name && r.version === version;
}

/** Appends a version of one planned config (or finds the one an interrupted attempt appended). */
async function bumpOne(rt: RotationRuntime, ctx: RunContext, item: BumpedConfig): Promise<BumpedConfig> {
  const { store, service, systemActor } = rt.settings;
  const { secret } = ctx.policy;
  const version = ctx.run.newVersion as string;
  const ref = parseRef(item.ref);
  const head = await store.getHead(ref, { consistent: true, signal: ctx.signal });
  for (let v = item.baseVersion + 1; head && v <= head.version; v++) {
    if (bumpedBy(await store.getVersion(ref, v, { consistent: true, signal: ctx.signal }), secret, version)) {
      return { ...item, version: v };
    }
  }
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(ctx.signal);
    const doc = await store.getVersion(ref, undefined, { consistent: true, signal: ctx.signal });
    if (!doc || isTombstone(doc)) return { ...item, skipped: 'deleted' };
    if (bumpedBy(doc, secret, version)) return { ...item, version: doc.version };
    if (referenceKind(rt, doc, secret, ctx, false) !== 'bump') {
      return { ...item, skipped: 'no longer references the secret' };
    }
    const metadata: JsonObject = {};
    for (const [k, val] of Object.entries(doc.metadata)) if (!RESERVED_METADATA.includes(k)) metadata[k] = val;
    metadata.secretRotation = { provider: secret.provider, name: secret.name, version };
    try {
      const written = await service.set(
        systemActor,
        {
          ref,
          config: doc.config,
          overrides: { ...doc.overrides },
          rollout: doc.rollout,
          metadata,
          message: `rotate ${secretKey(secret)}`,
        },
        { expectedVersion: doc.version, source: 'agent', signal: ctx.signal },
      );
      return { ...item, version: written.version };
    } catch (error) {
      if (!isConfigError(error, 'VERSION_CONFLICT') || attempt >= BUMP_CONFLICT_RETRIES) throw error;
    }
  }
}

/** Instances whose acknowledgement is behind a bumped version. */
async function lagging(rt: RotationRuntime, ctx: RunContext): Promise<LaggingInstance[]> {
  const { store, options } = rt.settings;
  if (!store.capabilities.appliedState || !store.listAcks) return [];
  const out: LaggingInstance[] = [];
  for (const item of ctx.run.bumps ?? []) {
    if (item.version === undefined) continue;
    for (const ack of await store.listAcks(parseRef(item.ref))) {
      if (ack.status === 'applied' && ack.version >= item.version) continue;
      if (options.isLive && !(await options.isLive(ack))) continue;
      out.push({
        ref: item.ref,
        environment: ack.environment,
        instance: ack.instance,
        version: ack.version,
        status: ack.status,
        needed: item.version,
      });
    }
  }
  return out;
}

/** Records the run with `change` applied and a renewed lease; `ctx` follows the record. */
async function record(rt: RotationRuntime, ctx: RunContext, change: Partial<RotationRun>): Promise<void> {
  ctx.policy = await rt.save(
    { ...ctx.policy, run: { ...ctx.run, ...change, leaseUntil: rt.leaseEnd() } },
    ctx.policy.revision,
  );
  ctx.run = ctx.policy.run as RotationRun;
}

const generate: Step = async (rt, ctx) => {
  await generateValue(rt, ctx);
  const versions = await ctx.provider.listVersions(ctx.policy.secret.name, { signal: ctx.signal });
  const current = versions.find((v) => v.stage === 'current');
  return {
    next: 'write',
    patch: { knownVersions: versions.map((v) => v.version), previousVersion: current?.version },
  };
};

const write: Step = async (rt, ctx) => {
  const { policy, run, provider, handler, signal } = ctx;
  const { secret } = policy;
  const known = new Set(run.knownVersions ?? []);
  const versions = await provider.listVersions(secret.name, { signal });
  const mine = versions.find((v) => v.stage === 'pending' && v.state === 'enabled' && !known.has(v.version));
  let version: string;
  let reused = false;
  if (mine) {
    version = mine.version;
    reused = true;
  } else {
    const value = rt.values.get(run.id) ?? (await generateValue(rt, ctx));
    ctx.redact.push(...sensitive(value));
    const labels = provider.capabilities.labels ? { 'summit-rotation': run.id } : undefined;
    version = (await provider.write(secret.name, value, { signal, labels })).version;
  }
  return {
    next: handler?.activate ? 'activate' : 'verify',
    patch: { newVersion: version },
    events: [{ type: 'written', secret, runId: run.id, version, reused, at: rt.now().toISOString() }],
  };
};

const activate: Step = async (_rt, ctx) => {
  const value = await pendingValue(ctx);
  await ctx.handler?.activate?.({ ...handlerContext(ctx), value, version: ctx.run.newVersion as string });
  return { next: 'verify' };
};

const verify: Step = async (rt, ctx) => {
  const { policy, run, handler, signal } = ctx;
  const { secret } = policy;
  const value = await pendingValue(ctx);
  const generated = rt.values.get(run.id);
  if (value.length === 0 || (generated !== undefined && value !== generated)) {
    throw errors.constraint(
      `rotation of ${secretKey(secret)}: version ${run.newVersion} reads back a different value than was written`,
    );
  }
  const version = run.newVersion as string;
  await handler?.verify?.({ ...handlerContext(ctx), value, version });
  await rt.settings.options.verify?.({ secret, runId: run.id, version, value, policy, signal });
  return { next: 'promote' };
};

const promote: Step = async (rt, ctx) => {
  const { policy, run, provider, signal } = ctx;
  const { secret } = policy;
  const name = secret.name;
  const version = run.newVersion as string;
  let previous: string | undefined;
  try {
    const result = await provider.promote(name, version, { signal, expectedCurrent: run.previousVersion });
    previous = result.previous;
  } catch (error) {
    if (!isSecretError(error) || error.code !== 'VERSION_CONFLICT') throw error;
    // An interrupted attempt may have promoted already: then this is done.
    const current = (await provider.listVersions(name, { signal })).find((v) => v.stage === 'current');
    if (current?.version !== version) throw error;
    previous = run.previousVersion;
  }
  rt.settings.options.resolver?.invalidate(secret.provider, name);
  const promotedAt = rt.now().toISOString();
  const previousVersion = previous ?? run.previousVersion;
  return {
    next: 'bump',
    patch: { promotedAt, previousVersion },
    events: [
      {
        type: 'promoted',
        secret,
        runId: run.id,
        version,
        ...(previousVersion === undefined ? {} : { previousVersion }),
        at: promotedAt,
      },
    ],
  };
};

const bump: Step = async (rt, ctx) => {
  const { policy, run, signal } = ctx;
  const { secret } = policy;
  // The plan is recorded before the first write, then each write as it lands.
  if (run.bumps === undefined) {
    const planned: BumpedConfig[] = [];
    const pinned: string[] = [];
    for (const doc of await headDocuments(rt, signal)) {
      if (isTombstone(doc)) continue;
      const kind = referenceKind(rt, doc, secret, ctx, true);
      if (kind === 'bump') planned.push({ ref: refKey(doc.ref), baseVersion: doc.version });
      else if (kind === 'pinned') pinned.push(refKey(doc.ref));
    }
    await record(rt, ctx, { bumps: planned, pinned });
  }
  const bumps = [...(ctx.run.bumps ?? [])];
  for (let i = 0; i < bumps.length; i++) {
    const item = bumps[i] as BumpedConfig;
    if (item.version !== undefined || item.skipped !== undefined) continue;
    bumps[i] = await bumpOne(rt, ctx, item);
    await record(rt, ctx, { bumps: [...bumps] });
  }
  const promotedAt = Date.parse(ctx.run.promotedAt as string);
  const refs = bumps.filter((b) => b.version !== undefined).map((b) => ({ ref: b.ref, version: b.version as number }));
  return {
    next: 'grace',
    patch: { graceUntil: new Date(promotedAt + policy.graceMs).toISOString() },
    events: [
      {
        type: 'bumped',
        secret,
        runId: run.id,
        refs,
        pinned: [...(ctx.run.pinned ?? [])],
        at: rt.now().toISOString(),
      },
    ],
  };
};

const grace: Step = async (rt, ctx) => {
  const { policy, run, handler } = ctx;
  const { secret } = policy;
  const { maxAckWaitMs } = rt.settings;
  const graceUntil = run.graceUntil as string;
  const t = rt.now().getTime();
  if (t < Date.parse(graceUntil)) return { next: 'wait' };
  const behind = await lagging(rt, ctx);
  if (behind.length > 0) {
    if (maxAckWaitMs !== undefined && t > Date.parse(graceUntil) + maxAckWaitMs) {
      throw errors.timeout(
        `rotation of ${secretKey(secret)}: ${behind.length} instance(s) did not acknowledge the new configuration within ${maxAckWaitMs} ms after the grace period (first: ${behind[0]?.instance} on ${behind[0]?.ref} at v${behind[0]?.version}, needs v${behind[0]?.needed}); the previous version was not revoked`,
      );
    }
    return {
      next: 'wait',
      patch: { waitingFor: behind },
      events: [{ type: 'waiting', secret, runId: run.id, graceUntil, lagging: behind, at: rt.now().toISOString() }],
    };
  }
  if (run.previousVersion === undefined) return { next: 'done', patch: { waitingFor: [] } };
  return { next: handler?.retire ? 'retire' : 'revoke', patch: { waitingFor: [] } };
};

const retire: Step = async (_rt, ctx) => {
  await ctx.handler?.retire?.({ ...handlerContext(ctx), previousVersion: ctx.run.previousVersion as string });
  return { next: 'revoke' };
};

const revoke: Step = async (rt, ctx) => {
  const { policy, run, provider, signal } = ctx;
  const { secret } = policy;
  const version = run.previousVersion as string;
  try {
    await provider.revoke(secret.name, version, { signal });
  } catch (error) {
    // A version that no longer exists is as revoked as it gets.
    if (!(isSecretError(error) && error.code === 'NOT_FOUND' && error.secretVersion !== undefined)) throw error;
  }
  rt.settings.options.resolver?.invalidate(secret.provider, secret.name);
  return {
    next: 'done',
    events: [{ type: 'revoked', secret, runId: run.id, version, at: rt.now().toISOString() }],
  };
};

const STEPS: Readonly<Record<RotationStep, Step>> = {
  generate,
  write,
  activate,
  verify,
  promote,
  bump,
  grace,
  retire,
  revoke,
};

/**
 * Runs one step. Throws on failure (recorded by the caller). A step name no step has (a corrupt
 * record) runs nothing and resolves with no outcome.
 */
export async function runStep(rt: RotationRuntime, ctx: RunContext, step: RotationStep): Promise<StepOutcome> {
  return Object.hasOwn(STEPS, step) ? STEPS[step](rt, ctx) : (undefined as unknown as StepOutcome);
}
