/**
 * @file Graph analysis that finds the attention of an arbitrary ONNX Transformer and taps it: the
 * post-softmax probabilities of every attention block, the mask each block applied, and per-token
 * L2 norms of the residual stream. `analyzeAndTap` returns an edited copy of the model with those
 * extra graph outputs and the TapPlan that says how to read them (see tapPlan.ts).
 *
 * Stages, each in its own module:
 *   1. fused attention (fusedKernels.ts, fusedRegistry.ts): fused kernels (com.microsoft Attention,
 *      MultiHeadAttention, ...) are rewritten into primitive ops (so their Softmax becomes visible);
 *      ai.onnx Attention (opset 23+) is asked for its probabilities through output 3 (`qk_matmul_output_mode` = 3, post-softmax); other fused kernels are refused.
 *   2. blocks (attentionBlocks.ts, scorePath.ts, streamWalk.ts): every Softmax fed by a Q·Kᵀ
 *      MatMul/Einsum (through scale, mask, reshape and cast ops) whose output is multiplied by V.
 *   3. roles (roles.ts, masks.ts): self vs cross from where Q and K come from; encoder vs decoder
 *      stacks; layer numbers; mask kinds.
 *   4. residual stream (residualTaps.ts): Adds (and SkipLayerNormalizations) joining the stream with
 *      a sub-layer.
 *   5. edits (attentionTaps.ts, residualTaps.ts, through graphEditor.ts): the extra outputs (float32
 *      probabilities, masks, ReduceL2 norms).
 *   6. head gates (headGate.ts): a per-head factor after each Softmax, a graph input, for ablation.
 *   7. value paths (valuePath.ts, tapped with the edits of 5): the V each block's probabilities
 *      multiply, an extra output fetched only when a run asks for value-weighted attention, and its W_O.
 *
 * Nothing here guesses silently: what was not found, or found odd (a softmax over the wrong axis,
 * no 1/√d scale), goes to plan.notes.
 */
import { UserFacingError } from '../../shared/errors';
import { notice, type TraceNotice } from '../../shared/trace';
import { type FoundBlock, findSoftmaxBlocks, nodeHidingAttention, noteSubgraphs } from './attentionBlocks';
import { tapBlock } from './attentionTaps';
import { gateBlock } from './headGate';
import { describeStandardAttention, prepareStandardAttention, refuseOtherFusedAttention } from './fusedAttention';
import { EXPORT_HINT, rewriteFusedKernels } from './fusedKernels';
import { FUSED_REWRITERS } from './fusedRegistry';
import { GraphIndex } from './graph';
import { GraphEditor } from './graphEditor';
import { cloneForEdit, describeNode, graphOf, type ModelProto, opsetVersion } from './model';
import { findResidualSteps, type ResidualStep, tapResidual } from './residualTaps';
import { assignRoles } from './roles';
import type { TapPlan } from './tapPlan';
import { tapValues } from './valuePath';
import { inputRole, modelInputs } from './inputs';
import { type MaskConvention, maskConvention } from './maskConvention';

export interface TapResult {
  /** An edited copy: the input model is not changed. */
  model: ModelProto;
  plan: TapPlan;
}

/** Analyse `model`, tap its attention, masks and residual norms; returns an edited copy and the plan. */
export function analyzeAndTap(model: ModelProto): TapResult {
  const edited = cloneForEdit(model);
  const notes: TraceNotice[] = [];
  const editor = new GraphEditor(edited);

  // 1. Fused attention.
  const rewritten = rewriteFusedKernels(editor, FUSED_REWRITERS);
  if (rewritten.size > 0) {
    const kernels = [...rewritten].map(([kernel, count]) => `${count} ${kernel}`).join(', ');
    notes.push(notice('fused-rewritten', `Fused attention kernels were rewritten into plain ONNX operators (same results) so their probabilities can be read: ${kernels}.`));
  }
  refuseOtherFusedAttention(graphOf(edited), FUSED_REWRITERS);
  const fusedStandard = prepareStandardAttention(editor);
  refuseSubgraphAttention(graphOf(edited));
  noteSubgraphs(graphOf(edited), notes);

  // 2. Blocks.
  const index = new GraphIndex(graphOf(edited));
  const opset = opsetVersion(edited, '');
  const blocks: FoundBlock[] = [...findSoftmaxBlocks(index, opset, notes), ...fusedStandard.map((node) => describeStandardAttention(index, node))];
  if (blocks.length === 0) {
    throw new UserFacingError(
      'No attention found in this ONNX model: no Softmax fed by a query·key product and multiplied by values, and no Attention operator.',
      EXPORT_HINT,
    );
  }
  blocks.sort((a, b) => index.position(a.node) - index.position(b.node));

  // 3. Roles and layers.
  assignRoles(index, blocks, notes);

  // 4. Residual stream.
  const steps = findResidualSteps(index, blocks, notes);

  // 4b. What value of each mask input keeps a key (maskConvention.ts).
  const maskConventions = readMaskConventions(index, blocks, edited, notes);

  // 5. Edits.
  const attention = blocks.map((block, blockIndex) => ({ ...tapBlock(editor, index, block, blockIndex), value: tapValues(editor, index, block) }));
  const residual = steps.map((step, stepIndex) => tapResidual(editor, index, step, stepIndex, opset));
  // 6. Head gates for ablation runs, fed as inputs (before the taps join the graph: they read the ungated values).
  attention.forEach((tap, blockIndex) => {
    const gate = gateBlock(editor, index, blocks[blockIndex], blockIndex);
    if (gate) tap.gate = gate;
  });
  editor.commit();

  notes.unshift(notice('tap-summary', summarise(blocks, steps)));
  return { model: edited, plan: { attention, residual, notes, maskConventions } };
}

/**
 * Refuses a model whose attention runs inside a subgraph (a generation loop, an If or Loop branch):
 * it is not tapped, and a trace of the main graph alone would leave it out without saying so.
 */
function refuseSubgraphAttention(graph: ReturnType<typeof graphOf>): void {
  const holder = nodeHidingAttention(graph);
  if (!holder) return;
  const generation = ['BeamSearch', 'GreedySearch', 'WhisperBeamSearch', 'Sampling'].includes(holder.opType ?? '');
  throw new UserFacingError(
    `This model computes its attention inside a subgraph of ${describeNode(holder)}${generation ? ' (the encoder/decoder graphs of a generation loop that onnxruntime runs)' : ''}; Attention Lens taps attention in the main graph only, so it cannot read it.`,
    generation
      ? 'Trace the encoder and decoder models the generation loop was built from (e.g. the separate encoder_model.onnx and decoder_model.onnx of an optimum export) one at a time.'
      : 'Export the model without control flow around the attention: e.g. optimum-cli export onnx --no-post-process keeps the decoder with and without past as separate files instead of merging them behind an If.',
  );
}

/** The conventions of the model's mask inputs, read from the graph; unusual ones are noted. */
function readMaskConventions(index: GraphIndex, blocks: readonly FoundBlock[], model: ModelProto, notes: TraceNotice[]): Record<string, MaskConvention> {
  const conventions: Record<string, MaskConvention> = {};
  for (const input of modelInputs(model)) {
    const role = inputRole(input.name, input.elementType);
    if (role !== 'mask' && role !== 'decoder-mask') continue;
    const convention = maskConvention(index, blocks, input.name);
    if (!convention) continue;
    conventions[input.name] = convention;
    if (convention.keep !== 1) notes.push(notice('mask-convention', `The input ${input.name} blocks a key with ${convention.block} and keeps it with ${convention.keep} (read from the graph); it is filled that way.`));
  }
  return conventions;
}

function summarise(blocks: FoundBlock[], steps: ResidualStep[]): string {
  const byKind = new Map<string, number>();
  for (const block of blocks) {
    byKind.set(block.kind, (byKind.get(block.kind) ?? 0) + 1);
  }
  const kinds = [...byKind].map(([kind, count]) => `${count} ${kind}`).join(', ');
  const layers = steps.filter((step) => step.stage !== 'embedding').length;
  const embeddings = steps.filter((step) => step.stage === 'embedding').length;
  return `${blocks.length} attention block(s) found (${kinds}); ${layers} residual add(s) and ${embeddings} embedding step(s) tapped.`;
}
