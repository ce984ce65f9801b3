import { escapePointer, isPlainObject, type JsonObject, type JsonValue } from '../model/json.js';
import type { Scope } from '../model/ref.js';

/** Where a layer comes from. */
export type LayerKind = 'defaults' | 'global' | 'app' | 'override' | 'rollout' | 'env' | 'file';

/** Where an extra layer (environment variables, local files) sits: above everything, or just above schema defaults. */
export type SourcePosition = 'highest' | 'lowest';

/** Describes one layer of a resolution (everything but its value). */
export interface LayerInfo {
  readonly kind: LayerKind;
  /** `global` or `app:<name>` for document layers. */
  readonly scope?: Scope;
  /** The environment of an `override` layer. */
  readonly environment?: string;
  /** The document version a `global`, `app`, `override` or `rollout` layer comes from. */
  readonly version?: number;
  /** The rollout rule of a `rollout` layer. */
  readonly rule?: string;
  /** The rollout variant of a `rollout` layer. */
  readonly variant?: string;
  /** The environment variable or file of an `env` or `file` layer. */
  readonly source?: string;
  /** Where an `env` or `file` layer sits. */
  readonly position?: SourcePosition;
}

/** One layer: its description and the partial object it contributes. */
export interface Layer extends LayerInfo {
  readonly value: JsonObject;
}

/** Which layer set one leaf of a resolved value, and the value it has. */
export interface ExplainEntry {
  readonly value: JsonValue;
  readonly layer: LayerInfo;
}

/** Every leaf JSON pointer of a resolved value -> the layer that set it. Arrays and `{}` are leaves. */
export type Explain = Readonly<Record<string, ExplainEntry>>;

/** The description of a layer, without its value. */
export function layerInfo(layer: Layer): LayerInfo {
  const { value: _value, ...info } = layer;
  return Object.freeze(info);
}

function lookup(root: JsonObject, path: readonly string[]): JsonValue | undefined {
  let current: JsonValue | undefined = root;
  for (const segment of path) {
    if (!isPlainObject(current)) return undefined;
    current = (current as JsonObject)[segment];
    if (current === undefined) return undefined;
  }
  return current;
}

/**
 * Attributes every leaf of `value` (the merge of `layers`, lowest first) to the highest layer that holds
 * a non-null value at that path: objects merge key by key and everything else replaces, so that layer
 * is the one whose write survived. Runs in O(leaves x layers x depth); call it only when asked.
 */
export function explainLayers(value: JsonObject, layers: readonly Layer[]): Explain {
  const out: Record<string, ExplainEntry> = {};
  const infos = layers.map(layerInfo);
  const path: string[] = [];
  const visit = (node: JsonValue, pointer: string): void => {
    if (isPlainObject(node) && Object.keys(node).length > 0) {
      for (const [key, child] of Object.entries(node as JsonObject)) {
        path.push(key);
        visit(child, `${pointer}/${escapePointer(key)}`);
        path.pop();
      }
      return;
    }
    for (let i = layers.length - 1; i >= 0; i--) {
      const found = lookup((layers[i] as Layer).value, path);
      if (found !== undefined && found !== null) {
        out[pointer] = Object.freeze({ value: node, layer: infos[i] as LayerInfo });
        return;
      }
    }
  };
  for (const [key, child] of Object.entries(value)) {
    path.push(key);
    visit(child, `/${escapePointer(key)}`);
    path.pop();
  }
  return Object.freeze(out);
}
