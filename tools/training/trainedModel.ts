/**
 * @file The model `npm run train` trains and the extension ships: its configuration, where its
 * weights and card live, and the training recipe. The configuration is a plain reference
 * TransformerConfig, so the weights load with WeightStore.fromSafetensors + new Transformer.
 */
import { PRESETS, TRAINED_DECODER_WEIGHTS, type TransformerConfig } from '../../src/engine/reference/config';
import { type AdamWSettings, DEFAULT_ADAMW } from './adamw';
import type { HeadSupervision } from './attentionSupervision';

/**
 * A GPT-style byte-level decoder: 3 layers, 4 heads of width 16, d=64, d_ff=256, pre-LN, GELU,
 * embeddings × sqrt(d) (~0.17 M parameters, the shape of the tiny-decoder preset). Sized for the
 * 30-minute, two-core budget: ~4 M training bytes train about this many parameters well, and a
 * step of 1024 bytes takes ~0.2 s in the pure-TypeScript trainer.
 */
export const TRAINED_DECODER_CONFIG: TransformerConfig = PRESETS['trained-decoder'];

/** Files of the shipped model, relative to the repository (and extension) root. */
export const TRAINED_WEIGHTS_PATH = TRAINED_DECODER_WEIGHTS;
export const TRAINED_CARD_PATH = 'media/models/lens-decoder.json';

export interface TrainingRecipe {
  seed: number;
  steps: number;
  /** Sequences per step (the batch) at the full length, split evenly over `shards`. */
  sequences: number;
  /** T: bytes per training sequence (the context the model learns to use) after the warm-up. */
  length: number;
  /**
   * Sequence-length warm-up: until step `until`, windows of `length` bytes, as many more of them
   * as keep the bytes per step the same. Short windows first make the positional heads form much
   * sooner: with a few dozen keys per query, attending to the right one pays off from the start,
   * while over 256 keys the first, nearly uniform attention gives that key almost no gradient.
   */
  lengthWarmup: Array<{ until: number; length: number }>;
  /** Gradient shards, one per worker thread; fixed, so the result does not depend on threads. */
  shards: number;
  peakLearningRate: number;
  finalLearningRate: number;
  warmupSteps: number;
  optimizer: AdamWSettings;
  /** Auxiliary attention losses on chosen heads (attentionSupervision.ts); empty: none. */
  supervision: HeadSupervision[];
  /**
   * The supervision applies to the first this many steps; after them the language-model loss
   * alone trains every weight. null: the whole run.
   */
  supervisionSteps: number | null;
  /** Share of training sequences that are synthetic repeated random segments (batches.ts); 0: none. */
  syntheticShare: number;
  /** Tensors whose seeded initial values (weights.ts) are multiplied by a factor before training. */
  initScales: Record<string, number>;
  /** Record the mean training loss every this many steps. */
  logEvery: number;
  /** Held-out windows scored at each log point (a quick estimate; the final figure uses all). */
  quickEvalWindows: number;
}

export const DEFAULT_RECIPE: TrainingRecipe = {
  seed: 0,
  steps: 4000,
  sequences: 4,
  length: 256,
  lengthWarmup: [{ until: 600, length: 64 }, { until: 1200, length: 128 }],
  shards: 2,
  peakLearningRate: 5e-3,
  finalLearningRate: 5e-4,
  warmupSteps: 200,
  optimizer: DEFAULT_ADAMW,
  // A smaller start for the token embedding leaves the positions a larger share of the (normed)
  // residual stream, so position-based heads sharpen sooner.
  initScales: { 'embedding.weight': 0.25 },
  syntheticShare: 0.25,
  // A hint for the first 1500 steps only: it starts the induction circuit, which would not form by
  // itself within this budget (attentionSupervision.ts); the language-model loss alone then keeps
  // it for the remaining 2500 steps.
  supervision: [{ layer: 1, head: 0, pattern: 'induction', sequences: 'synthetic', weight: 1 }],
  supervisionSteps: 1500,
  logEvery: 50,
  quickEvalWindows: 16,
};
