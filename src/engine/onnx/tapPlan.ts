/**
 * @file What graph analysis finds in an ONNX model and adds to it so a run returns the attention:
 * the contract between the tapper (which edits the graph) and the trace builder (which reads the
 * run's extra outputs back into an AttentionTrace).
 */
import type { BlockKind, MaskKind, ResidualStage, StreamName } from '../../shared/trace';
import type { OutputProjectionLayout } from '../analysis/valueWeighted';
import type { TraceNotice } from '../../shared/trace';

/**
 * How the tapped probabilities tensor is laid out, so it can be read into `[heads, queries, keys]`
 * (batch 1). Letters: B batch, H heads, Q queries, K keys.
 */
export type ProbsLayout =
  | 'BHQK' // rank 4 [B, H, Q, K]: the usual Hugging Face / PyTorch layout
  | 'BQHK' // rank 4 [B, Q, H, K]
  | '(BH)QK' // rank 3 [B*H, Q, K]: heads folded into the batch axis
  | 'BQK' // rank 3 [B, Q, K]: a single head
  | 'QK'; // rank 2 [Q, K]: a single head, no batch

/** How to turn the tapped mask operand into allowed (1) / blocked (0) cells. */
export type MaskEncoding =
  /** Added to the scores before the softmax: blocked where the value is very negative (≤ -1e4 or -inf). */
  | 'additive'
  /** Where(condition, scores, fill): blocked where the condition is false. */
  | 'where-keep-if-true'
  /** Where(condition, fill, scores): blocked where the condition is true. */
  | 'where-block-if-true';

export interface MaskTap {
  /** Graph output carrying the mask operand (broadcastable to the scores' shape). */
  output: string;
  encoding: MaskEncoding;
}

/**
 * The graph inputs that gate a block's heads (headGate.ts): `scale` multiplies the probabilities,
 * `mean` their mean over the queries, each shaped to broadcast along the heads.
 */
export interface HeadGateInputs {
  scale: string;
  mean: string;
  /** Rank of the probabilities, which the gates share. */
  rank: number;
  /** The axis of the heads; null for a single-head layout. */
  headAxis: number | null;
}

export interface AttentionTap {
  /** Graph output added for this block's probabilities (float32; fp16 models are cast). */
  output: string;
  /** The node it came from (Softmax name, or the fused node's name), for messages. */
  node: string;
  /** 0-based layer index within its stack, in graph order along the residual stream. */
  layer: number;
  kind: BlockKind;
  queryStream: StreamName;
  keyStream: StreamName;
  layout: ProbsLayout;
  /** Number of heads when the layout folds them (`(BH)QK` needs it); otherwise read from the shape. */
  heads?: number;
  /** Heads as the graph's shapes show them (a Reshape to [B, T, H, d]), when they do: for size estimates only. */
  expectedHeads?: number;
  /**
   * Grouped-query attention (kvGroups.ts): the number of key/value heads and, per query head, the one
   * it reads; absent when every query head has its own.
   */
  kvHeads?: number;
  kvHeadOf?: number[];
  /** The mask the block applied, when one was found; null when the scores reach the softmax unmasked. */
  mask: MaskTap | null;
  /** What the analysis believes the mask is (the decoded cells are the truth). */
  expectedMaskKind: MaskKind;
  /** The inputs that gate its heads (an ablation run feeds them); absent where it cannot be gated. */
  gate?: HeadGateInputs;
  /** Its value path (valuePath.ts) for value-weighted attention, or why it was not found. */
  value?: ValueTap;
}

/**
 * A block's value path: the graph output carrying the V its probabilities multiply ([B, H, K, d_k],
 * or [B·H, K, d_k]; float32) and its output projection W_O, read from the initializer; or why not.
 */
export type ValueTap =
  | { output: string; projection: ProjectionSource }
  | { unavailable: string };

/** W_O as the graph holds it: its layout at once, its numbers when first asked for (null: unreadable). */
export interface ProjectionSource {
  /** The initializer's name, for messages. */
  name: string;
  layout: Omit<OutputProjectionLayout, 'data'>;
  read(): OutputProjectionLayout | null;
}

export interface ResidualTap {
  /** Graph output with per-token L2 norms, shape [B, T] (from an inserted ReduceL2 over the last axis). */
  output: string;
  label: string;
  stream: StreamName;
  layer: number | null;
  stage: ResidualStage;
}

export interface TapPlan {
  attention: AttentionTap[];
  residual: ResidualTap[];
  /** Plain-words findings the user must see: fused nodes rewritten, blocks or residual steps not found. */
  notes: TraceNotice[];
  /**
   * Per mask input, the values that keep and block a key, where the graph shows them
   * (maskConvention.ts); inputs not listed take 1 = keep, 0 = block.
   */
  maskConventions?: Record<string, { keep: number; block: number }>;
}
