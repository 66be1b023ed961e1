/**
 * @file The two kinds of sub-layer every encoder and decoder layer is made of (attention, then
 * feed-forward), each wrapped in its residual connection and layer norm and reported to the trace
 * as it runs. Encoder and decoder layers differ only in which of these they stack.
 */
import type { BlockKind, StreamName } from '../../shared/trace';
import type { Norm, PositionwiseNetwork } from './components';
import type { AttentionMask } from './masks';
import type { Matrix } from './matrix';
import type { MultiHeadAttention } from './multiHeadAttention';
import { blockKey, type ForwardContext, recordAttention, recordResidual } from './recorder';
import { residualSublayer } from './residual';

/** Where a sub-layer runs: which stream, which layer, and how its norm is placed. */
export interface SublayerSite {
  context: ForwardContext;
  stream: StreamName;
  layer: number;
  placement: 'post' | 'pre';
}

/**
 * Self-attention when `memory` is null; cross-attention over the encoder output `memory` otherwise.
 * x [T, d] → [T, d]
 */
export function attentionSublayer(
  site: SublayerSite,
  attention: MultiHeadAttention,
  norm: Norm,
  kind: BlockKind,
  x: Matrix,
  memory: Matrix | null,
  mask: AttentionMask,
): Matrix {
  const gate = site.context.ablation?.get(blockKey(kind, site.layer));
  const attended = residualSublayer(x, norm, site.placement, (input) => {
    const result = attention.forward(input, memory ?? input, mask, gate, site.context.valueWeighted ?? false);
    return { output: result.output, extra: result };
  });
  const keyStream: StreamName = memory ? 'encoder' : site.stream;
  // Named as the weights are (README "Weights"), which is also what the ONNX export's nodes say.
  const source = `${site.stream}.layers.${site.layer}.${memory ? 'cross' : 'self'}_attention`;
  recordAttention(site.context, { layer: site.layer, kind, queryStream: site.stream, keyStream, heads: attention.heads, kvHeadOf: attention.kvHeadOf, source }, mask, attended.extra);
  recordResidual(site.context, site.stream, site.layer, memory ? 'cross-attention' : 'self-attention', attended.sum);
  site.context.cancel.throwIfCancelled();
  return attended.next;
}

/** x [T, d] → [T, d] */
export function feedForwardSublayer(site: SublayerSite, feedForward: PositionwiseNetwork, norm: Norm, x: Matrix): Matrix {
  const fed = residualSublayer(x, norm, site.placement, (input) => ({ output: feedForward.forward(input), extra: null }));
  recordResidual(site.context, site.stream, site.layer, 'feed-forward', fed.sum);
  site.context.cancel.throwIfCancelled();
  return fed.next;
}
