/**
 * @file The built-in Transformer's configuration and its named presets.
 *
 * One readonly object describes a model; `validateConfig` checks it once, at entry, so the layers
 * can trust it. Parameter counts in the preset comments are for the tied input/output embedding.
 */
import { UserFacingError } from '../../shared/errors';
import type { ModelKind } from '../../shared/trace';

export interface TransformerConfig {
  readonly kind: ModelKind;
  /** Rows of the token embedding (and columns of the LM head, which shares it, as in the paper §3.4). */
  readonly vocabSize: number;
  /** Width of the residual stream, d_model. */
  readonly dModel: number;
  /** Attention heads per block; d_model / heads is each head's width d_k = d_v. */
  readonly heads: number;
  /** Hidden width of the feed-forward network, d_ff. */
  readonly dFF: number;
  readonly encoderLayers: number;
  readonly decoderLayers: number;
  /** 'post': x = LN(x + f(x)), the paper. 'pre': x = x + f(LN(x)), GPT-2 (with a final LN). */
  readonly normPlacement: 'post' | 'pre';
  /** Feed-forward non-linearity: ReLU as in the paper, GELU (tanh form) as in GPT-2. */
  readonly activation: 'relu' | 'gelu';
  /** Multiply token embeddings by sqrt(d_model) (the paper §3.4); GPT-2 does not. */
  readonly scaleEmbedding: boolean;
  /** ε of every norm. */
  readonly layerNormEpsilon: number;
  // What changed after 2017 (each optional; left out, the model is the paper's):
  /** 'layer' (default): layer normalization; 'rms': RMSNorm (Llama, Qwen), a gain and no bias. */
  readonly norm?: 'layer' | 'rms';
  /** 'sinusoidal' (default): added to the embeddings; 'rope': rotary, applied to queries and keys. */
  readonly positions?: 'sinusoidal' | 'rope';
  /** RoPE's base θ (Llama 2: 1e4, Qwen2: 1e6); default 1e4. */
  readonly ropeTheta?: number;
  /** 'mlp' (default): W2·act(W1·x); 'swiglu': W_down·(SiLU(W_gate·x) ⊙ W_up·x), and `activation` is unused. */
  readonly feedForward?: 'mlp' | 'swiglu';
  /** Key/value heads, for grouped-query attention (Qwen2-0.5B: 2 for 14 query heads); default `heads`. */
  readonly kvHeads?: number;
  /** Self-attention sees at most this many most recent keys, itself included (Mistral); default all. */
  readonly slidingWindow?: number;
  /** Which projections have a bias: 'all' (default), 'qkv' (Qwen2: queries, keys and values only), 'none'. */
  readonly projectionBias?: 'all' | 'qkv' | 'none';
}

/** The key/value heads of a config (grouped-query attention), `heads` when not grouped. */
export function kvHeadsOf(config: TransformerConfig): number {
  return config.kvHeads ?? config.heads;
}

/** Whether a projection (query, key, value, output, or a feed-forward one) has a bias. */
export function hasBias(config: TransformerConfig, projection: 'query' | 'key' | 'value' | 'output' | 'feed-forward'): boolean {
  const bias = config.projectionBias ?? 'all';
  if (bias === 'all') return true;
  if (bias === 'none') return false;
  return projection === 'query' || projection === 'key' || projection === 'value';
}

export type PresetName = 'trained-decoder' | 'tiny-decoder' | 'tiny-encoder' | 'tiny-encdec' | 'tiny-modern' | 'paper-base' | 'gpt2-shape' | 'qwen2-shape';

/** The built-in byte tokenizer's 260 ids: 4 specials + 256 byte values. */
const BYTE_VOCAB = 260;

export const PRESETS: Readonly<Record<PresetName, TransformerConfig>> = {
  /**
   * The default: tiny-decoder's shape (3 layers, 4 heads, d=64, pre-LN, GELU) with weights trained
   * by `npm run train` (tools/training/) on text from npm packages, shipped in
   * media/models/lens-decoder.safetensors with its card. Its heads have learned something:
   * previous-token, induction and others (README "The trained model").
   */
  'trained-decoder': {
    kind: 'decoder', vocabSize: BYTE_VOCAB, dModel: 64, heads: 4, dFF: 256,
    encoderLayers: 0, decoderLayers: 3, normPlacement: 'pre', activation: 'gelu',
    scaleEmbedding: true, layerNormEpsilon: 1e-5,
  },
  /** GPT-style decoder, small enough to run on every keystroke: 3 layers, 4 heads, d=64 (~0.17 M params). */
  'tiny-decoder': {
    kind: 'decoder', vocabSize: BYTE_VOCAB, dModel: 64, heads: 4, dFF: 256,
    encoderLayers: 0, decoderLayers: 3, normPlacement: 'pre', activation: 'gelu',
    scaleEmbedding: true, layerNormEpsilon: 1e-5,
  },
  /** BERT-style encoder: 3 layers, 4 heads, d=64, post-LN as in the paper (~0.17 M params). */
  'tiny-encoder': {
    kind: 'encoder', vocabSize: BYTE_VOCAB, dModel: 64, heads: 4, dFF: 256,
    encoderLayers: 3, decoderLayers: 0, normPlacement: 'post', activation: 'relu',
    scaleEmbedding: true, layerNormEpsilon: 1e-5,
  },
  /** The paper's encoder-decoder in miniature: 2+2 layers, 4 heads, d=64 (~0.25 M params). */
  'tiny-encdec': {
    kind: 'encoder-decoder', vocabSize: BYTE_VOCAB, dModel: 64, heads: 4, dFF: 256,
    encoderLayers: 2, decoderLayers: 2, normPlacement: 'post', activation: 'relu',
    scaleEmbedding: true, layerNormEpsilon: 1e-5,
  },
  /**
   * The modern decoder in miniature, one of each concept that came after 2017: RMSNorm, rotary
   * positions, a SwiGLU feed-forward, grouped-query attention (4 query heads sharing 2 key/value
   * heads) and a 32-token sliding window; 3 layers, d=64 (~0.15 M params).
   */
  'tiny-modern': {
    kind: 'decoder', vocabSize: BYTE_VOCAB, dModel: 64, heads: 4, dFF: 176,
    encoderLayers: 0, decoderLayers: 3, normPlacement: 'pre', activation: 'gelu',
    scaleEmbedding: false, layerNormEpsilon: 1e-6,
    norm: 'rms', positions: 'rope', ropeTheta: 10000, feedForward: 'swiglu', kvHeads: 2, slidingWindow: 32, projectionBias: 'qkv',
  },
  /**
   * Vaswani et al. 2017 "base": N=6 encoder and 6 decoder layers, d_model=512, 8 heads, d_ff=2048,
   * post-LN, ReLU, and the 37000-entry shared vocabulary size of their WMT En-De BPE (~63 M params).
   * The built-in byte tokenizer uses only its first 260 ids.
   */
  'paper-base': {
    kind: 'encoder-decoder', vocabSize: 37000, dModel: 512, heads: 8, dFF: 2048,
    encoderLayers: 6, decoderLayers: 6, normPlacement: 'post', activation: 'relu',
    scaleEmbedding: true, layerNormEpsilon: 1e-6,
  },
  /**
   * GPT-2 small's shape for scale work: 12 layers, 12 heads, d=768, d_ff=3072, vocab 50257, pre-LN,
   * GELU, no embedding scale (~124 M params). Positions stay sinusoidal (GPT-2 learns them).
   */
  'gpt2-shape': {
    kind: 'decoder', vocabSize: 50257, dModel: 768, heads: 12, dFF: 3072,
    encoderLayers: 0, decoderLayers: 12, normPlacement: 'pre', activation: 'gelu',
    scaleEmbedding: false, layerNormEpsilon: 1e-5,
  },
  /**
   * Qwen2-0.5B's shape: 24 layers, 14 query heads sharing 2 key/value heads, d=896, d_ff=4864,
   * RMSNorm, RoPE with θ=1e6, SwiGLU, biases on queries, keys and values only, vocabulary 151936,
   * tied embeddings (~494 M params, 2 GB of float32 weights); seeded weights.
   */
  'qwen2-shape': {
    kind: 'decoder', vocabSize: 151936, dModel: 896, heads: 14, dFF: 4864,
    encoderLayers: 0, decoderLayers: 24, normPlacement: 'pre', activation: 'gelu',
    scaleEmbedding: false, layerNormEpsilon: 1e-6,
    norm: 'rms', positions: 'rope', ropeTheta: 1e6, feedForward: 'swiglu', kvHeads: 2, projectionBias: 'qkv',
  },
};

/** The presets' names, in the order they are listed. */
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export const DEFAULT_PRESET: PresetName = 'trained-decoder';

/**
 * Presets whose weights ship with the extension (relative to its root) instead of coming from a
 * seed. A `weightsPath` still overrides them.
 */
export const TRAINED_DECODER_WEIGHTS = 'media/models/lens-decoder.safetensors';
export const SHIPPED_WEIGHTS: Readonly<Partial<Record<PresetName, string>>> = {
  'trained-decoder': TRAINED_DECODER_WEIGHTS,
};

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** True when a model spec names a built-in preset ("builtin:tiny-decoder" or "tiny-decoder"), not a file. */
export function isBuiltinSpec(spec: string): boolean {
  return spec.startsWith('builtin:') || isPresetName(spec);
}

export function getPreset(name: string): TransformerConfig {
  if (!isPresetName(name)) {
    throw new UserFacingError(
      `Unknown built-in model "${name}".`,
      `Use one of: ${Object.keys(PRESETS).join(', ')}.`,
    );
  }
  return PRESETS[name];
}

/** d_k: the width of one head. */
export function headWidth(config: TransformerConfig): number {
  return config.dModel / config.heads;
}

/** Checks every field once, with the numbers in the message. Returns the config for chaining. */
export function validateConfig(config: TransformerConfig): TransformerConfig {
  const problems: string[] = [];
  const positiveInteger = (field: keyof TransformerConfig, allowZero = false): void => {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
      problems.push(`${field} must be a ${allowZero ? 'non-negative' : 'positive'} integer (got ${String(value)})`);
    }
  };
  positiveInteger('vocabSize');
  positiveInteger('dModel');
  positiveInteger('heads');
  positiveInteger('dFF');
  positiveInteger('encoderLayers', true);
  positiveInteger('decoderLayers', true);
  if (problems.length === 0 && config.dModel % config.heads !== 0) {
    problems.push(`dModel (${config.dModel}) must be divisible by heads (${config.heads})`);
  }
  if (problems.length === 0 && config.dModel % 2 !== 0) {
    problems.push(`dModel (${config.dModel}) must be even for sinusoidal positions`);
  }
  const kvHeads = kvHeadsOf(config);
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || config.heads % kvHeads !== 0) {
    problems.push(`kvHeads (${String(config.kvHeads)}) must be a positive integer that divides heads (${config.heads})`);
  }
  if (config.positions === 'rope' && (config.dModel / config.heads) % 2 !== 0) {
    problems.push(`rotary positions need an even head width (d_model / heads = ${config.dModel / config.heads})`);
  }
  if (config.ropeTheta !== undefined && !(config.ropeTheta > 1)) problems.push(`ropeTheta must be > 1 (got ${String(config.ropeTheta)})`);
  if (config.slidingWindow !== undefined && (!Number.isInteger(config.slidingWindow) || config.slidingWindow < 1)) {
    problems.push(`slidingWindow must be a positive integer (got ${String(config.slidingWindow)})`);
  }
  if (config.norm !== undefined && config.norm !== 'layer' && config.norm !== 'rms') problems.push(`norm must be "layer" or "rms" (got ${String(config.norm)})`);
  if (config.positions !== undefined && config.positions !== 'sinusoidal' && config.positions !== 'rope') problems.push(`positions must be "sinusoidal" or "rope" (got ${String(config.positions)})`);
  if (config.feedForward !== undefined && config.feedForward !== 'mlp' && config.feedForward !== 'swiglu') problems.push(`feedForward must be "mlp" or "swiglu" (got ${String(config.feedForward)})`);
  const needsEncoder = config.kind !== 'decoder';
  const needsDecoder = config.kind !== 'encoder';
  if (!['encoder', 'decoder', 'encoder-decoder'].includes(config.kind)) {
    problems.push(`kind must be encoder, decoder or encoder-decoder (got ${String(config.kind)})`);
  } else {
    if (needsEncoder !== config.encoderLayers > 0) {
      problems.push(`a ${config.kind} model needs encoderLayers ${needsEncoder ? '> 0' : '= 0'} (got ${config.encoderLayers})`);
    }
    if (needsDecoder !== config.decoderLayers > 0) {
      problems.push(`a ${config.kind} model needs decoderLayers ${needsDecoder ? '> 0' : '= 0'} (got ${config.decoderLayers})`);
    }
  }
  if (config.normPlacement !== 'post' && config.normPlacement !== 'pre') {
    problems.push(`normPlacement must be "post" or "pre" (got ${String(config.normPlacement)})`);
  }
  if (config.activation !== 'relu' && config.activation !== 'gelu') {
    problems.push(`activation must be "relu" or "gelu" (got ${String(config.activation)})`);
  }
  if (!(config.layerNormEpsilon > 0 && config.layerNormEpsilon < 1)) {
    problems.push(`layerNormEpsilon must be in (0, 1) (got ${String(config.layerNormEpsilon)})`);
  }
  if (problems.length > 0) {
    throw new UserFacingError(`Invalid model configuration: ${problems.join('; ')}.`, 'Fix the listed values.');
  }
  return config;
}

/** Parameter count with the output projection tied to the embedding. */
export function countParameters(config: TransformerConfig): number {
  const d = config.dModel;
  const kvWidth = kvHeadsOf(config) * (d / config.heads);
  const bias = (projection: Parameters<typeof hasBias>[1], width: number): number => (hasBias(config, projection) ? width : 0);
  const attention = d * d + bias('query', d) + 2 * (kvWidth * d) + bias('key', kvWidth) + bias('value', kvWidth) + d * d + bias('output', d);
  const feedForward = config.feedForward === 'swiglu'
    ? 3 * d * config.dFF + (hasBias(config, 'feed-forward') ? 2 * config.dFF + d : 0)
    : d * config.dFF + config.dFF + config.dFF * d + d;
  const layerNorm = config.norm === 'rms' ? d : 2 * d;
  const encoderLayer = attention + feedForward + 2 * layerNorm;
  const decoderLayer = (config.kind === 'encoder-decoder' ? 2 : 1) * attention + feedForward
    + (config.kind === 'encoder-decoder' ? 3 : 2) * layerNorm;
  const finalNorms = config.normPlacement === 'pre'
    ? (config.encoderLayers > 0 ? layerNorm : 0) + (config.decoderLayers > 0 ? layerNorm : 0)
    : 0;
  return config.vocabSize * d + config.encoderLayers * encoderLayer + config.decoderLayers * decoderLayer + finalNorms;
}
