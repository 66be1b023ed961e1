/**
 * @file Head ablation on an ONNX model: the loaded session runs once more, fed gates that switch the
 * heads off (onnx/headGate.ts: the gates are graph inputs, so no new graph and no new session), and
 * the two runs are compared (ablation.ts). Every block whose attention is tapped after a Softmax can
 * be gated, the rewritten fused kernels' included; a fused ai.onnx Attention, whose output does not
 * read the probabilities it hands out, cannot, and is refused.
 */
import { type CancellationCheck, UserFacingError } from '../../shared/errors';
import type { AblationMode, AblationResult, AttentionBlock, StreamName } from '../../shared/trace';
import { gateFeeds } from '../onnx/headGate';
import type { LoadedOnnxModel } from '../onnx/onnxModel';
import type { HostTensor } from '../onnx/runtime';
import { runPasses, type TapPasses } from '../onnx/tapPasses';
import { floatValues, readTaps, tapOutputNames } from '../onnx/traceFromRun';
import type { AblationTarget } from '../options';
import { attentionChanges, comparePredictions, type LogitRows, resolveAblation } from './ablation';
import type { IdText } from './topTokens';

/** What the original run gave, for the comparison. */
export interface OnnxOriginalRun {
  feeds: Record<string, HostTensor>;
  blocks: AttentionBlock[];
  /** The logits output's name and tensor, when the run read predictions from it. */
  logits: { name: string; tensor: HostTensor; stream: StreamName } | null;
  passes: TapPasses;
}

/** Batch 0 of a [batch, positions, vocabulary] logits tensor, in rows. */
function logitRows(tensor: HostTensor): LogitRows {
  const [, positions, vocabulary] = tensor.dims;
  const values = floatValues(tensor);
  return { positions, vocabulary, rows: (start, count) => values.subarray(start * vocabulary, (start + count) * vocabulary) };
}

export async function onnxAblation(
  model: LoadedOnnxModel, original: OnnxOriginalRun, request: { targets: readonly AblationTarget[]; mode: AblationMode }, text: IdText, cancel: CancellationCheck,
): Promise<AblationResult> {
  const heads = resolveAblation(request.targets, original.blocks);
  const ungated = heads.filter((head) => !model.plan.attention[head.blockIndex]?.gate);
  if (ungated.length > 0) {
    const first = ungated[0];
    throw new UserFacingError(
      `Cannot ablate layer ${first.layer} ${first.kind} head ${first.head}: its attention comes from a fused Attention operator whose output does not read the probabilities it hands out, so there is no place to switch the head off.`,
      'Export the model with plain attention operators (MatMul, Softmax), or ablate heads of other blocks.',
      { code: 'ablate-not-gated', facts: { layer: first.layer, head: first.head, kind: first.kind } },
    );
  }
  const byBlock = new Map<number, Set<number>>();
  for (const head of heads) byBlock.set(head.blockIndex, (byBlock.get(head.blockIndex) ?? new Set<number>()).add(head.head));
  const feeds = { ...original.feeds, ...gateFeeds(model.plan, { heads: byBlock, headsOf: (index) => original.blocks[index].heads, mode: request.mode }) };
  // The same outputs as the original run, from the same session: the logits with the taps when they came so.
  const outputs = original.logits && original.passes.groups.length <= 1
    ? await model.session.run(feeds, [...tapOutputNames(model.plan), original.logits.name])
    : await runPasses(model, feeds, original.passes, cancel, () => undefined);
  cancel.throwIfCancelled();
  const ablated = readTaps(model.plan, outputs).blocks;
  const after = original.logits ? outputs[original.logits.name] : undefined;
  const predictions = original.logits && after
    ? { stream: original.logits.stream, ...comparePredictions(logitRows(original.logits.tensor), logitRows(after), text, cancel) }
    : {};
  // Gated after their softmax, the heads' own block keeps its attention: the changes start after it.
  const from = heads.length > 0 ? Math.min(...heads.map((head) => head.blockIndex)) + 1 : original.blocks.length;
  return { heads, mode: request.mode, ...predictions, blocks: attentionChanges(original.blocks, ablated, from) };
}
