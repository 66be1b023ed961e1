/**
 * @file The model `npm run train` trains and the extension ships: its configuration, where its
 * weights and card live, and the training recipe. The configuration is a plain reference
 * TransformerConfig, so the weights load with WeightStore.fromSafetensors + new Transformer.
 */
import type { TransformerConfig } from '../reference/config';
import { BYTE_VOCAB_SIZE } from '../tokenizers/bytes';
import { type AdamWSettings, DEFAULT_ADAMW } from './adamw';

/**
 * A GPT-style byte-level decoder: 3 layers, 4 heads of width 16, d=64, d_ff=256, pre-LN, GELU
 * (~0.17 M parameters, the shape of the tiny-decoder preset). Sized for the 30-minute, two-core
 * training budget: about as many parameters as the budget's tokens can train well (see the card).
 */
export const TRAINED_DECODER_CONFIG: TransformerConfig = {
  kind: 'decoder', vocabSize: BYTE_VOCAB_SIZE, dModel: 64, heads: 4, dFF: 256,
  encoderLayers: 0, decoderLayers: 3, normPlacement: 'pre', activation: 'gelu',
  scaleEmbedding: true, layerNormEpsilon: 1e-5,
};

/** Files of the shipped model, relative to the repository (and extension) root. */
export const TRAINED_WEIGHTS_PATH = 'media/models/lens-decoder.safetensors';
export const TRAINED_CARD_PATH = 'media/models/lens-decoder.json';

export interface TrainingRecipe {
  seed: number;
  steps: number;
  /** Sequences per step (the batch), split evenly over `shards`. */
  sequences: number;
  /** T: bytes per training sequence (the context the model learns to use). */
  length: number;
  /** Gradient shards, one per worker thread; fixed, so the result does not depend on threads. */
  shards: number;
  peakLearningRate: number;
  finalLearningRate: number;
  warmupSteps: number;
  optimizer: AdamWSettings;
  /** Record the mean training loss every this many steps. */
  logEvery: number;
  /** Held-out windows scored at each log point (a quick estimate; the final figure uses all). */
  quickEvalWindows: number;
}

export const DEFAULT_RECIPE: TrainingRecipe = {
  seed: 0,
  steps: 1500,
  sequences: 16,
  length: 256,
  shards: 2,
  peakLearningRate: 3e-3,
  finalLearningRate: 3e-4,
  warmupSteps: 100,
  optimizer: DEFAULT_ADAMW,
  logEvery: 25,
  quickEvalWindows: 16,
};
