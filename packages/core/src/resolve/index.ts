export {
  type Explain,
  type ExplainEntry,
  explainLayers,
  type Layer,
  type LayerInfo,
  type LayerKind,
  layerInfo,
  type SourcePosition,
} from './explain.js';
export {
  type DocumentLayers,
  type ExtraLayer,
  type Resolution,
  type ResolveInput,
  type RolloutLayerInput,
  resolveLayers,
  withRollout,
} from './resolver.js';
export {
  type EnvSourceOptions,
  envIdSegment,
  envSource,
  type FileSourceOptions,
  type LayerSource,
  loadFileSource,
  sourceLayers,
} from './sources.js';
