/**
 * @file What the stacks report while they run: every attention block and every residual step.
 * The forward pass stays free of trace bookkeeping beyond these calls.
 */
import type { CancellationCheck } from '../../shared/errors';
import type { AttentionBlock, BlockKind, ResidualStage, StreamName } from '../../shared/trace';
import type { AttentionMask } from './masks';
import { type Matrix, rowNorms } from './matrix';
import type { HeadGate, MultiHeadResult } from './multiHeadAttention';

/**
 * Heads to ablate in a run, by block: the key is `${kind}:${layer}` (blockKey), so each stack's
 * attention finds its own gate without the stacks knowing about ablation.
 */
export type HeadAblation = ReadonlyMap<string, HeadGate>;

/** The key of a block in a HeadAblation. */
export function blockKey(kind: BlockKind, layer: number): string {
  return `${kind}:${layer}`;
}

export interface ForwardContext {
  readonly cancel: CancellationCheck;
  /** Keep the pre-softmax scores too (doubles the attention memory). */
  readonly includeScores: boolean;
  /** Compute each block's value-weighted attention too (α times the values' norms after W_O). */
  readonly valueWeighted?: boolean;
  readonly blocks: AttentionBlock[];
  readonly residual: Array<{ label: string; stream: StreamName; layer: number | null; stage: ResidualStage; norms: Float32Array }>;
  /**
   * Each layer's output vectors, kept only when asked for (the logit lens reads them): a [T, d]
   * matrix per layer is small next to the attention, but most runs do not need it.
   */
  readonly layerStates?: LayerState[];
  /** Heads whose output this run replaces (an ablation run); absent in a plain run. */
  readonly ablation?: HeadAblation;
}

/** The residual stream of one stream after one layer (for post-LN, after that layer's last norm). */
export interface LayerState {
  stream: StreamName;
  layer: number;
  /** [T, d] */
  state: Matrix;
}

/** Keeps a layer's output when the run asked for layer states. */
export function recordLayerState(context: ForwardContext, stream: StreamName, layer: number, state: Matrix): void {
  context.layerStates?.push({ stream, layer, state });
}

export function recordAttention(
  context: ForwardContext,
  where: { layer: number; kind: BlockKind; queryStream: StreamName; keyStream: StreamName; heads: number; kvHeadOf?: readonly number[]; source?: string },
  mask: AttentionMask,
  result: MultiHeadResult,
): void {
  const { kvHeadOf, ...place } = where;
  const kvHeads = kvHeadOf ? new Set(kvHeadOf).size : where.heads;
  context.blocks.push({
    ...place,
    ...(kvHeadOf && kvHeads < where.heads ? { kvHeads, kvHeadOf: [...kvHeadOf] } : {}),
    ...(mask.window !== undefined ? { slidingWindow: mask.window } : {}),
    queries: mask.queries,
    keys: mask.keys,
    probs: result.probs,
    ...(context.includeScores ? { scores: result.scores } : {}),
    ...(result.valueWeighted ? { valueWeighted: result.valueWeighted } : {}),
    maskKind: mask.kind,
    mask: mask.cells,
  });
}

const STAGE_LABEL: Record<ResidualStage, string> = {
  embedding: 'embedding + positions',
  'self-attention': '+ self-attention',
  'cross-attention': '+ cross-attention',
  'feed-forward': '+ feed-forward',
};

/** @param stageLabel instead of the stage's usual words (an embedding without added positions) */
export function recordResidual(context: ForwardContext, stream: StreamName, layer: number | null, stage: ResidualStage, sum: Matrix, stageLabel = STAGE_LABEL[stage]): void {
  const label = layer === null ? `${stream} ${stageLabel}` : `${stream} L${layer} ${stageLabel}`;
  context.residual.push({ label, stream, layer, stage, norms: rowNorms(sum) });
}
