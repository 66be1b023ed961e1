/**
 * @file The model card written beside the weights: what was trained on what, how, for how long,
 * and how well it does, in numbers a test can check against the weights file.
 */
import type { TransformerConfig } from '../../src/engine/reference/config';
import type { CorpusFile, PackageInfo } from './corpus';
import type { LossFigures } from './evaluate';
import type { HeadScore } from './headProbe';
import type { TrainingRecipe } from './trainedModel';
import type { LossPoint } from './trainer';

export interface HeldOutSample {
  /** How the sample is chosen from the held-out stream. */
  description: string;
  windows: number;
  length: number;
  /** Measured on the shipped float32 weights with the reference Transformer. */
  model: LossFigures;
  unigram: LossFigures;
}

export interface ModelCard {
  name: string;
  description: string;
  config: TransformerConfig;
  parameterCount: number;
  weights: { file: string; dtype: 'F32'; bytes: number; sha256: string };
  tokenizer: string;
  seed: number;
  recipe: TrainingRecipe;
  data: {
    packages: PackageInfo[];
    synthetic: string;
    separator: string;
    split: string;
    trainBytes: number;
    heldOutBytes: number;
    files: CorpusFile[];
    /** Occurrences of each of the 260 ids in the training stream (the unigram baseline's counts). */
    unigramCounts: number[];
  };
  lossCurve: LossPoint[];
  heldOut: { description: string; windows: number; length: number; model: LossFigures; unigram: LossFigures };
  /** The held-out sample the tests re-measure with the reference model. */
  testSample: HeldOutSample;
  heads: {
    /** Best previous-token head on the test sample's first window. */
    previousToken: HeadScore;
    /** Best induction head on 50 random printable characters repeated twice (seed 0). */
    induction: HeadScore;
  };
  training: {
    command: string;
    /** Training loop time (quick evaluations included). */
    seconds: number;
    /** The whole command, corpus loading and final evaluation included. */
    totalSeconds: number;
    tokensSeen: number;
    threads: number;
    reproducibility: string;
  };
  machine: { cpu: string; cores: number; node: string; platform: string };
}
