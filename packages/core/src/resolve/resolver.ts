/**
 * Layered resolution of one configuration document, lowest layer first:
 *
 *   schema defaults
 *   -> `lowest` extra layers (local files, environment variables configured as lowest)
 *   -> global `config` -> global `overrides` along the environment chain (root first)
 *   -> `app:<name>` `config` -> its `overrides` along the chain
 *   -> the rollout overlay chosen for the context
 *   -> `highest` extra layers (environment variables, local files configured as highest)
 *
 * Objects merge key by key, arrays and scalars replace, `null` deletes (`mergeLayers`). The result is
 * frozen; `explain` (which layer set every leaf) is computed on first access only.
 */
import { errors } from '../errors/config-error.js';
import { deepFreeze, isPlainObject, type JsonObject } from '../model/json.js';
import { mergeLayers } from '../model/merge.js';
import type { ConfigRef } from '../model/ref.js';
import { type Explain, type ExplainEntry, explainLayers, type Layer, type SourcePosition } from './explain.js';

/** A layer from outside the store, placed at `position`. */
export interface ExtraLayer extends Layer {
  readonly position: SourcePosition;
}

/** The parts of a `ConfigVersion` resolution reads (a `ConfigVersion` is one). */
export interface DocumentLayers {
  readonly ref?: ConfigRef;
  readonly version?: number;
  readonly config: JsonObject;
  readonly overrides?: Readonly<Record<string, JsonObject>>;
}

/** The rollout overlay for one context (a `RolloutOutcome` is one). */
export interface RolloutLayerInput {
  readonly overlay: JsonObject | undefined;
  readonly ruleId?: string;
  readonly variant?: string;
  /** The version of the document whose rollout chose this overlay. */
  readonly version?: number;
}

export interface ResolveInput {
  /** Schema defaults (`SchemaRegistry.defaults(id)`); the lowest layer. */
  defaults?: JsonObject;
  /** The global document (`global` scope), if any. */
  global?: DocumentLayers;
  /** The application's document (`app:<name>` scope), if any. */
  app?: DocumentLayers;
  /** Environment names from the root ancestor to the target (`environmentChain()`); default `[]`. */
  environmentChain?: readonly string[];
  /** The rollout overlay chosen for the context. */
  rollout?: RolloutLayerInput;
  /** Layers from environment variables and local files (`sourceLayers()`), each at its position. */
  extra?: readonly ExtraLayer[];
}

/** The result of a resolution. */
export interface Resolution {
  /** The merged value, deeply frozen. */
  readonly value: JsonObject;
  /** The layers that were merged, lowest first (empty layers are kept out). */
  readonly layers: readonly Layer[];
  /** Every leaf JSON pointer -> the layer that set it. Computed on first access, then cached. */
  readonly explain: Explain;
  /** The explain entry of one leaf pointer (e.g. `/pool/max`), or undefined. */
  explainPointer(pointer: string): ExplainEntry | undefined;
}

function documentLayers(
  kind: 'global' | 'app',
  doc: DocumentLayers | undefined,
  chain: readonly string[],
  out: Layer[],
): void {
  if (doc === undefined) return;
  if (!isPlainObject(doc.config)) throw errors.constraint(`${kind} config must be a JSON object`);
  const common: { scope?: ConfigRef['scope']; version?: number } = {};
  if (doc.ref !== undefined) common.scope = doc.ref.scope;
  else if (kind === 'global') common.scope = 'global';
  if (doc.version !== undefined) common.version = doc.version;
  out.push({ kind, ...common, value: doc.config });
  for (const environment of chain) {
    const patch = doc.overrides?.[environment];
    if (patch !== undefined) out.push({ kind: 'override', ...common, environment, value: patch });
  }
}

function rolloutLayer(rollout: RolloutLayerInput | undefined, version?: number): Layer | undefined {
  if (rollout?.overlay === undefined) return undefined;
  const layer: { -readonly [K in keyof Layer]: Layer[K] } = { kind: 'rollout', value: rollout.overlay };
  const v = rollout.version ?? version;
  if (v !== undefined) layer.version = v;
  if (rollout.ruleId !== undefined) layer.rule = rollout.ruleId;
  if (rollout.variant !== undefined) layer.variant = rollout.variant;
  return layer;
}

function mergeInto(base: JsonObject, layers: readonly Layer[]): JsonObject {
  let out = base;
  for (const layer of layers) out = mergeLayers(out, layer.value);
  return out;
}

class LayeredResolution implements Resolution {
  readonly value: JsonObject;
  readonly layers: readonly Layer[];
  /** Layers below the rollout overlay and their merge; the layers above it. */
  readonly #below: readonly Layer[];
  readonly #belowValue: JsonObject;
  readonly #above: readonly Layer[];
  readonly #version: number | undefined;
  #explain: Explain | undefined;
  /** Resolutions of this base with other rollout overlays, by outcome object. */
  readonly #withRollout = new WeakMap<object, LayeredResolution>();

  constructor(
    below: readonly Layer[],
    belowValue: JsonObject,
    rollout: Layer | undefined,
    above: readonly Layer[],
    version: number | undefined,
  ) {
    this.#below = below;
    this.#belowValue = belowValue;
    this.#above = above;
    this.#version = version;
    const withOverlay = rollout ? mergeLayers(belowValue, rollout.value) : belowValue;
    this.value = deepFreeze(mergeInto(withOverlay, above));
    this.layers = Object.freeze(rollout ? [...below, rollout, ...above] : [...below, ...above]);
  }

  get explain(): Explain {
    this.#explain ??= explainLayers(this.value, this.layers);
    return this.#explain;
  }

  explainPointer(pointer: string): ExplainEntry | undefined {
    return this.explain[pointer];
  }

  /** This resolution with `rollout` as its overlay instead; memoised per outcome object. */
  withRollout(rollout: RolloutLayerInput | undefined): LayeredResolution {
    const key: object = rollout?.overlay === undefined ? EMPTY_OUTCOME : rollout;
    const hit = this.#withRollout.get(key);
    if (hit !== undefined) return hit;
    if (key === EMPTY_OUTCOME && this.layers.length === this.#below.length + this.#above.length) return this;
    const layer = key === EMPTY_OUTCOME ? undefined : rolloutLayer(rollout, this.#version);
    const made = new LayeredResolution(this.#below, this.#belowValue, layer, this.#above, this.#version);
    this.#withRollout.set(key, made);
    return made;
  }
}

const EMPTY_OUTCOME = Object.freeze({});

/**
 * Resolves one document from its layers (see the module comment for the order). Throws
 * `CONSTRAINT_VIOLATION` when a layer is not a JSON object.
 */
export function resolveLayers(input: ResolveInput): Resolution {
  const chain = input.environmentChain ?? [];
  const extra = input.extra ?? [];
  for (const layer of extra) {
    if (!isPlainObject(layer.value))
      throw errors.constraint(`${layer.kind} layer ${layer.source ?? ''} must be a JSON object`);
  }
  const below: Layer[] = [];
  if (input.defaults !== undefined) {
    if (!isPlainObject(input.defaults)) throw errors.constraint('defaults must be a JSON object');
    below.push({ kind: 'defaults', value: input.defaults });
  }
  for (const layer of extra) if (layer.position === 'lowest') below.push(layer);
  documentLayers('global', input.global, chain, below);
  documentLayers('app', input.app, chain, below);
  const above = extra.filter((l) => l.position === 'highest');
  const version = input.app?.version ?? input.global?.version;
  return new LayeredResolution(below, mergeInto({}, below), rolloutLayer(input.rollout, version), above, version);
}

/**
 * The same resolution with another rollout overlay (typically `compiledRollout.evaluate(context)`),
 * memoised per outcome object: rollout outcomes are shared singletons, so after the first call for an
 * outcome this is a single WeakMap lookup. Only layers at and above the rollout are re-merged.
 */
export function withRollout(base: Resolution, rollout: RolloutLayerInput | undefined): Resolution {
  if (!(base instanceof LayeredResolution))
    throw errors.constraint('withRollout needs a resolution made by resolveLayers');
  return base.withRollout(rollout);
}
