/**
 * @file Head ablation on the built-in reference model: the same ids run once more with the heads'
 * outputs gated in multiHeadAttention.ts (zeroed, or replaced by their mean over the query
 * positions, before W_O), and the two runs compared (ablation.ts).
 */
import type { CancellationCheck } from '../../shared/errors';
import type { AblatedHead, AblationMode, AblationResult, AttentionBlock } from '../../shared/trace';
import type { HeadGate } from '../reference/multiHeadAttention';
import { blockKey, type HeadAblation } from '../reference/recorder';
import type { LanguageModelHead } from '../reference/lmHead';
import type { Matrix } from '../reference/matrix';
import type { ForwardInput, ForwardOutput, Transformer } from '../reference/transformer';
import type { AblationTarget } from '../options';
import { attentionChanges, comparePredictions, type LogitRows, resolveAblation } from './ablation';
import type { IdText } from './topTokens';

/** The gates of a reference run: per block, the heads to replace and how. */
export function headAblation(heads: readonly AblatedHead[], mode: AblationMode): HeadAblation {
  const gates = new Map<string, HeadGate>();
  for (const head of heads) {
    const key = blockKey(head.kind, head.layer);
    const gate = gates.get(key) ?? { heads: new Set<number>(), mode };
    (gate.heads as Set<number>).add(head.head);
    gates.set(key, gate);
  }
  return gates;
}

/** The LM head's logits of a stack's final states, a chunk of rows at a time. */
function headRows(head: LanguageModelHead, hidden: Matrix, vocabulary: number): LogitRows {
  return {
    positions: hidden.rows,
    vocabulary,
    rows: (start, count) => head.logits({ rows: count, cols: hidden.cols, data: hidden.data.subarray(start * hidden.cols, (start + count) * hidden.cols) }).data,
  };
}

/** The final states the LM head reads: the decoder's, or the encoder's in an encoder-only model. */
function headInput(output: ForwardOutput): { stream: 'decoder' | 'encoder'; hidden: Matrix } | null {
  if (output.decoderOutput) return { stream: 'decoder', hidden: output.decoderOutput };
  if (output.encoderOutput) return { stream: 'encoder', hidden: output.encoderOutput };
  return null;
}

/**
 * Runs `input` again with the targets ablated and compares with the original run's `output`.
 * Cancelled between sub-layers, as any forward pass.
 */
export function referenceAblation(
  transformer: Transformer, input: ForwardInput, original: ForwardOutput, request: { targets: readonly AblationTarget[]; mode: AblationMode },
  text: IdText, cancel: CancellationCheck,
): { result: AblationResult; ablatedBlocks: AttentionBlock[] } {
  const heads = resolveAblation(request.targets, original.blocks);
  const ablated = transformer.forward(input, cancel, false, false, headAblation(heads, request.mode));
  const before = headInput(original);
  const after = headInput(ablated);
  const vocabulary = transformer.config.vocabSize;
  const predictions = before && after
    ? { stream: before.stream, ...comparePredictions(headRows(transformer.head, before.hidden, vocabulary), headRows(transformer.head, after.hidden, vocabulary), text, cancel) }
    : {};
  // Gated after their softmax, the heads' own block keeps its attention: the changes start after it.
  const from = heads.length > 0 ? Math.min(...heads.map((head) => head.blockIndex)) + 1 : original.blocks.length;
  return {
    result: { heads, mode: request.mode, ...predictions, blocks: attentionChanges(original.blocks, ablated.blocks, from) },
    ablatedBlocks: ablated.blocks,
  };
}
