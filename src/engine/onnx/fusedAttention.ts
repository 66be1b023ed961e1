/**
 * @file Fused attention kernels: rewrites com.microsoft Attention into primitive ops (so its Softmax
 * becomes visible), asks ai.onnx Attention (opset 23+) for its post-softmax probabilities through
 * output 3 and describes it as a block, and refuses the other fused kernels.
 */
import { UserFacingError } from '../../shared/errors';
import { type FoundBlock, type MaskPart, newBlock } from './attentionBlocks';
import { checkKnownAttributes, EXPORT_HINT, type FusedRewriter, refuseFused } from './fusedKernels';
import { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { attrFloat, attrInt, attrInts, describeNode, ElemType, type GraphProto, graphOf, makeAttrInt, makeAttrInts, type NodeProto, valueInfoDims, withAttribute } from './model';
import { walkToStream } from './streamWalk';

/** com.microsoft kernels that hide the probabilities and that we do not rewrite. */
const UNSUPPORTED_FUSED = new Set([
  'MultiHeadAttention',
  'GroupQueryAttention',
  'DecoderMaskedMultiHeadAttention',
  'DecoderMaskedSelfAttention',
  'PackedAttention',
  'PackedMultiHeadAttention',
  'LongformerAttention',
  'SparseAttention',
  'QAttention',
  'QOrderedAttention',
  'PagedAttention',
  'DecoderAttention',
]);

/** Refuses a model that still holds a fused kernel after the rewrites (none of `rewriters` took it). */
export function refuseOtherFusedAttention(graph: GraphProto, rewriters: readonly FusedRewriter[]): void {
  for (const node of graph.node ?? []) {
    const rewritten = rewriters.some((rewriter) => rewriter.domain === (node.domain ?? '') && rewriter.opType === node.opType);
    if ((node.domain ?? '') === 'com.microsoft' && UNSUPPORTED_FUSED.has(node.opType ?? '') && !rewritten) {
      throw new UserFacingError(
        `This model computes attention inside the fused onnxruntime kernel ${describeNode(node)}, which does not expose the attention probabilities, and Attention Lens cannot rewrite it into plain operators.`,
        EXPORT_HINT,
      );
    }
  }
}

/**
 * com.microsoft Attention rewritten into MatMul/Reshape/Transpose/Softmax/... with the
 * same outputs, so the ordinary analysis sees a Softmax. Kernel semantics (onnxruntime
 * contrib_ops/cpu/bert): QKV = X·W + b split into Q, K, V of num_heads heads; K and V are appended to
 * the past state (2, B, N, P, H); scores = scale·Q·Kᵀ (+ attention_bias) with blocked cells getting
 * `mask_filter_value` (default -10000) once per reason (key padding, then causal when unidirectional);
 * softmax over keys; output = probs·V back to (B, S, N·H); present = stacked K and V.
 */
export const contribAttentionRewriter: FusedRewriter = {
  domain: 'com.microsoft',
  opType: 'Attention',
  minOpset: 11, // Range
  replacement: contribAttentionReplacement,
};

function contribAttentionReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  const refuse = (why: string): never => refuseFused(node, why);
  const inputs = node.input ?? [];
  const outputs = node.output ?? [];
  const [input, weights, bias, maskIndex, past, attentionBias, pastSequenceLength] = [0, 1, 2, 3, 4, 5, 6].map((i) => inputs[i] ?? '');
  const heads = attrInt(node, 'num_heads') ?? 0;
  if (heads <= 0) {
    refuse('it has no num_heads attribute');
  }
  if (attrInt(node, 'do_rotary')) {
    refuse('it applies rotary embeddings inside the kernel');
  }
  if (attrInt(node, 'past_present_share_buffer')) {
    refuse('it shares one buffer between past and present key/values');
  }
  if (pastSequenceLength) {
    refuse('it takes a past_sequence_length input');
  }
  const qkvSizes = attrInts(node, 'qkv_hidden_sizes');
  if (qkvSizes && qkvSizes.length > 0 && !(qkvSizes.length === 3 && qkvSizes[0] === qkvSizes[1] && qkvSizes[1] === qkvSizes[2])) {
    refuse(`its Q, K and V have different widths (qkv_hidden_sizes ${qkvSizes.join(', ')})`);
  }
  const weightDims = index.constant(weights)?.dims ?? null;
  const hidden = weightDims && weightDims.length === 2 ? (weightDims[1] as number) / 3 : qkvSizes?.[0];
  if (!hidden || !Number.isInteger(hidden) || hidden % heads !== 0) {
    refuse('the width of its Q/K/V projection cannot be read from the weights');
  }
  const headSize = (hidden as number) / heads;
  const scale = attrFloat(node, 'scale') || 1 / Math.sqrt(headSize);
  const filter = attrFloat(node, 'mask_filter_value') ?? -10000;
  const unidirectional = (attrInt(node, 'unidirectional') ?? 0) !== 0;
  const floatType = index.elemType(input) ?? ElemType.FLOAT;
  if (floatType !== ElemType.FLOAT && floatType !== ElemType.FLOAT16) {
    refuse(`its input type (${floatType}) is neither float32 nor float16`);
  }
  // fp16 cannot hold -3.4e38; the kernel saturates the same way.
  const fill = floatType === ElemType.FLOAT16 ? Math.max(filter, -65504) : filter;
  const scalar = (value: number): string => editor.constant(floatType, [], [value]);

  const nodes: NodeProto[] = [];
  const add = (step: { node: NodeProto; output: string }): string => {
    nodes.push(step.node);
    return step.output;
  };
  // Q, K, V: [B, S, 3D] → [B, S, 3, N, H] → [3, B, N, S, H] → three [B, N, S, H].
  let qkv = add(editor.node('MatMul', [input, weights]));
  if (bias) {
    qkv = add(editor.node('Add', [qkv, bias]));
  }
  const split = add(editor.node('Reshape', [qkv, editor.int64([0, 0, 3, heads, headSize])]));
  const stacked = add(editor.node('Transpose', [split], [makeAttrInts('perm', [2, 0, 3, 1, 4])]));
  const [query, keyNew, valueNew] = [0, 1, 2].map((slot) => add(editor.node('Gather', [stacked, editor.int64([slot], true)], [makeAttrInt('axis', 0)])));
  let key = keyNew as string;
  let value = valueNew as string;
  if (past) {
    const pastKey = add(editor.node('Gather', [past, editor.int64([0], true)], [makeAttrInt('axis', 0)]));
    const pastValue = add(editor.node('Gather', [past, editor.int64([1], true)], [makeAttrInt('axis', 0)]));
    key = add(editor.node('Concat', [pastKey, key], [makeAttrInt('axis', 2)]));
    value = add(editor.node('Concat', [pastValue, value], [makeAttrInt('axis', 2)]));
  }
  if (outputs[1]) {
    const stackedKey = add(editor.unsqueeze(key, [0]));
    const stackedValue = add(editor.unsqueeze(value, [0]));
    add(editor.node('Concat', [stackedKey, stackedValue], [makeAttrInt('axis', 0)], outputs[1]));
  }
  // scores [B, N, S, T] = scale · Q·Kᵀ
  const keyT = add(editor.node('Transpose', [key], [makeAttrInts('perm', [0, 1, 3, 2])]));
  const product = add(editor.node('MatMul', [query as string, keyT]));
  let scores = add(editor.node('Mul', [product, scalar(scale)]));
  if (attentionBias) {
    scores = add(editor.node('Add', [scores, attentionBias]));
  }
  // The additive mask [B|1, 1, S|1, T]: one `fill` per reason a cell is blocked, as the kernel adds them.
  const parts: string[] = [];
  if (maskIndex) {
    const rank = index.rank(maskIndex);
    const maskFloat = add(editor.node('Cast', [maskIndex], [makeAttrInt('to', ElemType.FLOAT)]));
    const keep = add(editor.node('Greater', [maskFloat, editor.constant(ElemType.FLOAT, [], [0])]));
    const additive = add(editor.node('Where', [keep, scalar(0), scalar(fill)]));
    if (rank === 2) {
      parts.push(add(editor.unsqueeze(additive, [1, 2]))); // [B, T] → [B, 1, 1, T]
    } else if (rank === 3) {
      parts.push(add(editor.unsqueeze(additive, [1]))); // [B, S, T] → [B, 1, S, T]
    } else {
      refuse(`its mask_index has rank ${rank ?? 'unknown'}; only the 2-D key padding mask and the 3-D attention mask are rewritten`);
    }
  }
  if (unidirectional) {
    // Query i (absolute position P + i) may see keys j ≤ P + i, with P = T - S the past length.
    const shapeK = add(editor.node('Shape', [key]));
    const shapeQ = add(editor.node('Shape', [query as string]));
    const total = add(editor.node('Gather', [shapeK, editor.int64([2], true)], [makeAttrInt('axis', 0)]));
    const length = add(editor.node('Gather', [shapeQ, editor.int64([2], true)], [makeAttrInt('axis', 0)]));
    const pastLength = add(editor.node('Sub', [total, length]));
    const one = editor.int64([1], true);
    const queryPositions = add(editor.node('Range', [pastLength, total, one]));
    const keyPositions = add(editor.node('Range', [editor.int64([0], true), total, one]));
    const queryColumn = add(editor.unsqueeze(queryPositions, [1])); // [S, 1]
    const keyRow = add(editor.unsqueeze(keyPositions, [0])); // [1, T]
    const future = add(editor.node('Greater', [keyRow, queryColumn])); // [S, T]
    parts.push(add(editor.node('Where', [future, scalar(fill), scalar(0)])));
  }
  if (parts.length > 0) {
    const mask = parts.length === 2 ? add(editor.node('Add', [parts[0] as string, parts[1] as string])) : (parts[0] as string);
    scores = add(editor.node('Add', [scores, mask]));
  }
  const probs = add(editor.node('Softmax', [scores], [makeAttrInt('axis', editor.opset >= 13 ? -1 : 3)]));
  const context = add(editor.node('MatMul', [probs, value]));
  const contextT = add(editor.node('Transpose', [context], [makeAttrInts('perm', [0, 2, 1, 3])]));
  add(editor.node('Reshape', [contextT, editor.int64([0, 0, hidden as number])], [], outputs[0]));
  return nodes;
}

/** Attributes of ai.onnx Attention (opsets 23 and 24) the tap knows: none changes what output 3 means. */
const STANDARD_ATTRIBUTES = ['is_causal', 'kv_num_heads', 'q_num_heads', 'qk_matmul_output_mode', 'scale', 'softcap', 'softmax_precision'];

/** The mask parts built for each prepared ai.onnx Attention node (its causal mask, its key padding). */
const standardMasks = new WeakMap<NodeProto, MaskPart[]>();

/**
 * ai.onnx Attention (opset 23+): ask for the post-softmax probabilities through output 3
 * `qk_matmul_output`. The spec's `qk_matmul_output_mode`: 0 = Q·Kᵀ, 1 = after the mask/bias is
 * added, 2 = after softcap, 3 = after softmax. Returns the edited nodes. The mask the kernel applies
 * itself is built beside it, for the tap to show: is_causal lets query i see keys j ≤ i + P (P the
 * past length, 0 without past inputs), and opset 24's nonpad_kv_seqlen keeps keys j < nonpad[b].
 */
export function prepareStandardAttention(editor: GraphEditor): NodeProto[] {
  const graph = graphOf(editor.model);
  const index = new GraphIndex(graph);
  const prepared: NodeProto[] = [];
  for (const node of [...(graph.node ?? [])]) {
    if (node.opType !== 'Attention' || (node.domain ?? '') !== '') {
      continue;
    }
    checkKnownAttributes(node, STANDARD_ATTRIBUTES);
    const outputs = [...(node.output ?? [])];
    while (outputs.length < 4) {
      outputs.push('');
    }
    const mode = attrInt(node, 'qk_matmul_output_mode') ?? 0;
    if (outputs[3] && mode !== 3 && (index.consumers(outputs[3]).length > 0 || (graph.output ?? []).some((output) => output.name === outputs[3]))) {
      refuseFused(node, `its qk_matmul_output (mode ${mode}) is used by the model, and reading the probabilities would change it`);
    }
    if (!outputs[3]) {
      outputs[3] = editor.fresh('qk_probs');
    }
    const edited = withAttribute(node, makeAttrInt('qk_matmul_output_mode', 3));
    edited.output = outputs;
    const { nodes, parts } = standardMaskParts(editor, index, node);
    editor.replace(node, [...nodes, edited]);
    standardMasks.set(edited, parts);
    prepared.push(edited);
  }
  return prepared;
}

/** Nodes computing the masks ai.onnx Attention applies without a tensor for them. */
function standardMaskParts(editor: GraphEditor, index: GraphIndex, node: NodeProto): { nodes: NodeProto[]; parts: MaskPart[] } {
  const inputs = node.input ?? [];
  const [query, key, , , pastKey, , nonpad] = [0, 1, 2, 3, 4, 5, 6].map((i) => inputs[i] ?? '') as [string, string, string, string, string, string, string];
  const nodes: NodeProto[] = [];
  const add = (step: { node: NodeProto; output: string }): string => {
    nodes.push(step.node);
    return step.output;
  };
  const seqAxis = index.rank(query) === 3 ? 1 : 2;
  const dim = (value: string, axis: number): string => add(editor.node('Gather', [add(editor.node('Shape', [value])), editor.int64([axis], true)], [makeAttrInt('axis', 0)]));
  const past = pastKey ? dim(pastKey, 2) : editor.int64([0], true);
  const total = add(editor.node('Add', [past, dim(key, index.rank(key) === 3 ? 1 : 2)]));
  const keyPositions = add(editor.node('Range', [editor.int64([0], true), total, editor.int64([1], true)]));
  const parts: MaskPart[] = [];
  if (attrInt(node, 'is_causal')) {
    const queryEnd = add(editor.node('Add', [past, dim(query, seqAxis)]));
    const queryPositions = add(editor.node('Range', [past, queryEnd, editor.int64([1], true)]));
    const later = add(editor.node('Greater', [add(editor.unsqueeze(keyPositions, [0])), add(editor.unsqueeze(queryPositions, [1]))]));
    parts.push({ value: add(editor.node('Not', [later])), encoding: 'where-keep-if-true' }); // [S, T]
  }
  if (nonpad) {
    const lengths = add(editor.unsqueeze(add(editor.node('Cast', [nonpad], [makeAttrInt('to', ElemType.INT64)])), [1]));
    const kept = add(editor.node('Less', [add(editor.unsqueeze(keyPositions, [0])), lengths])); // [B, T]
    parts.push({ value: add(editor.unsqueeze(kept, [1, 2])), encoding: 'where-keep-if-true' });
  }
  return { nodes, parts };
}

/** The block of an ai.onnx Attention node prepared by prepareStandardAttention. */
export function describeStandardAttention(index: GraphIndex, node: NodeProto): FoundBlock {
  const inputs = node.input ?? [];
  const query = inputs[0] ?? '';
  const key = inputs[1] ?? '';
  const mask = inputs[3] ?? '';
  const maskParts: MaskPart[] = mask ? [{ value: mask, encoding: index.elemType(mask) === ElemType.BOOL ? 'where-keep-if-true' : 'additive' }] : [];
  maskParts.push(...(standardMasks.get(node) ?? []));
  const heads = attrInt(node, 'q_num_heads') ?? standardHeads(index, query);
  return newBlock(
    {
      node,
      probs: node.output?.[3] ?? '',
      query,
      key,
      maskParts,
      internalCausal: (attrInt(node, 'is_causal') ?? 0) !== 0,
      layout: 'BHQK', // qk_matmul_output is [B, q_num_heads, Q, P + K] for 3-D and 4-D inputs alike
      ...(heads ? { expectedHeads: heads } : {}),
    },
    walkToStream(index, query),
    walkToStream(index, key),
  );
}

/** The head axis of a 4-D query where the graph states it. */
function standardHeads(index: GraphIndex, query: string): number | undefined {
  const info = index.valueInfo(query);
  const dims = info ? valueInfoDims(info) : undefined;
  return dims && dims.length === 4 && typeof dims[1] === 'number' ? dims[1] : undefined;
}
