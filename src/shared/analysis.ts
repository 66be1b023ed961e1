/**
 * @file What the attention debugger computes from a trace: per-head statistics, attention rollout
 * and diagnostics (concrete problems, each pointing at a layer and head). Part of the trace
 * (`AttentionTrace.analysis`), computed in the engine worker right after the forward pass.
 */
import type { BlockKind, StreamName } from './names';

/** Statistics of one head of one attention block. Probabilities are averaged over query rows. */
export interface HeadStats {
  blockIndex: number;
  layer: number;
  kind: BlockKind;
  head: number;
  /** Mean row entropy in bits over rows with at least one allowed key. */
  entropy: number;
  /** The smallest row entropy (bits). */
  minEntropy: number;
  /** Mean over rows of Σ_k p(q,k)·|q − k|, in tokens (self-attention only; cross: NaN-free 0-based positions too). */
  meanDistance: number;
  /** Mean weight on the previous token, p(q, q−1), over rows q ≥ 1. */
  prevToken: number;
  /** Mean weight on the first key, p(q, 0) ("attention sink"). */
  sink: number;
  /** Mean weight on the token itself, p(q, q). */
  diagonal: number;
  /**
   * Mean weight from a token q to the token that followed its most recent earlier occurrence, over
   * the rows where that token lies before q − 1 (headStats.ts `inductionTargets`). Rows where it is
   * q − 1 itself ("x ? x") are left out: there a previous-token head scores the same, so they say
   * nothing about induction. Null when no row qualifies (no token repeats, or only as "x ? x").
   */
  induction: number | null;
}

/**
 * `row-sum` (error): rows with allowed keys whose weights do not sum to 1 (a softmax over the wrong
 * axis, or weights that are not a softmax at all); under a causal mask this is the only trace of a
 * wrong-axis softmax, since blocked cells stay exactly 0 whichever axis is normalised.
 */
export type DiagnosticCode = 'mask-leak' | 'non-finite' | 'row-sum' | 'saturated-softmax' | 'uniform-head' | 'norm-blowup' | 'first-token-only';
export type DiagnosticSeverity = 'error' | 'warning' | 'info';

export interface TraceDiagnostic {
  code: DiagnosticCode;
  severity: DiagnosticSeverity;
  /** Where to look: the block (index into trace.blocks), its layer and head; null where it does not apply. */
  blockIndex: number | null;
  layer: number | null;
  head: number | null;
  stream: StreamName | null;
  /** One line for the user: what is wrong, with the numbers. */
  message: string;
}

/** Attention rollout (Abnar & Zuidema 2020) of one stream's self-attention stack. */
export interface Rollout {
  stream: StreamName;
  tokens: number;
  /** [queries, keys]: how much each output token draws on each input token through all layers. */
  values: Float32Array;
}

export interface TraceAnalysis {
  headStats: HeadStats[];
  /** Per block, where the heatmap's colour scale tops out (colorLimits.ts); absent in older traces. */
  colorLimits?: BlockColorLimits[];
  rollout: Rollout[];
  diagnostics: TraceDiagnostic[];
  thresholds: DiagnosticThresholds;
}

/** When a diagnostic fires; settings "attentionLens.diagnostics.*" (README documents each). */
export interface DiagnosticThresholds {
  /** A masked cell whose weight exceeds this is a leak. */
  leakWeight: number;
  /** A row is saturated when its largest weight is at least this... */
  saturatedRowMax: number;
  /** ...and a head is flagged when this share of its rows (with ≥ 2 allowed keys) is saturated. */
  saturatedRowShare: number;
  /** A head is near-uniform when its mean entropy is at least this share of the uniform entropy. */
  uniformEntropyRatio: number;
  /** A layer blows the residual stream up when its mean norm grows by more than this factor. */
  normGrowthPerLayer: number;
  /** A head attends only to the first token when its mean sink weight is at least this. */
  firstTokenShare: number;
}

export const DEFAULT_THRESHOLDS: DiagnosticThresholds = {
  leakWeight: 1e-6,
  saturatedRowMax: 0.99,
  saturatedRowShare: 0.9,
  uniformEntropyRatio: 0.98,
  normGrowthPerLayer: 4,
  firstTokenShare: 0.9,
};

/** Which matrix of a block: one head's, or the mean of its heads'. */
export type HeadChoice = number | 'mean';

/** The top of one matrix's colour scale; `clipped`: some allowed cells are larger. */
export interface ColorLimit {
  max: number;
  clipped: boolean;
}

/** A block's limits: one per head, and the mean of heads'. */
export interface BlockColorLimits {
  heads: ColorLimit[];
  mean: ColorLimit;
}
