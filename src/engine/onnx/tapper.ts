/**
 * @file Graph analysis that finds the attention of an arbitrary ONNX Transformer and taps it: the
 * post-softmax probabilities of every attention block, the mask each block applied, and per-token
 * L2 norms of the residual stream. `analyzeAndTap` returns an edited copy of the model with those
 * extra graph outputs and the TapPlan that says how to read them (see tapPlan.ts).
 *
 * Stages, each a section below:
 *   1. fused attention: com.microsoft Attention is rewritten into primitive ops (so its Softmax
 *      becomes visible); ai.onnx Attention (opset 23+) is asked for its probabilities through
 *      output 3 (`qk_matmul_output_mode` = 3, post-softmax); other fused kernels are refused.
 *   2. blocks: every Softmax fed by a Q·Kᵀ MatMul/Einsum (through scale, mask, reshape and cast ops)
 *      whose output is multiplied by V.
 *   3. roles: self vs cross from where Q and K come from; encoder vs decoder stacks; layer numbers.
 *   4. residual stream: Adds (and SkipLayerNormalizations) joining the stream with a sub-layer.
 *   5. edits: the extra outputs (float32 probabilities, masks, ReduceL2 norms).
 *
 * Nothing here guesses silently: what was not found, or found odd (a softmax over the wrong axis,
 * no 1/√d scale), goes to plan.notes.
 */
import { UserFacingError } from '../errors';
import type { BlockKind, MaskKind, ResidualStage, StreamName } from '../trace';
import { GraphIndex } from './graph';
import {
  attrFloat,
  attrInt,
  attrInts,
  cloneForEdit,
  describeNode,
  ElemType,
  type GraphProto,
  graphOf,
  makeAttrInt,
  makeAttrInts,
  makeNode,
  makeTensor,
  makeValueInfo,
  type ModelProto,
  type NodeProto,
  opsetVersion,
  withAttribute,
} from './model';
import type { AttentionTap, MaskEncoding, MaskTap, ProbsLayout, ResidualTap, TapPlan } from './tapPlan';

export interface TapResult {
  /** An edited copy: the input model is not changed. */
  model: ModelProto;
  plan: TapPlan;
}

/** Prefix of every value and node this module adds, so they are easy to tell apart. */
const PREFIX = 'attention_lens';

/** How a re-export makes attention explicit; shown with every refusal. */
const EXPORT_HINT =
  'Re-export with explicit attention: in Hugging Face transformers load the model with attn_implementation="eager" ' +
  '(optimum-cli export onnx ... works), keep the ONNX opset below 23 (or let us tap the opset-23 Attention op), ' +
  'and do not run the onnxruntime transformers optimizer (it fuses attention into com.microsoft kernels).';

/** Analyse `model`, tap its attention, masks and residual norms; returns an edited copy and the plan. */
export function analyzeAndTap(model: ModelProto): TapResult {
  const edited = cloneForEdit(model);
  const notes: string[] = [];
  const editor = new GraphEditor(edited);

  // 1. Fused attention.
  const rewritten = rewriteContribAttention(editor);
  if (rewritten > 0) {
    notes.push(
      `${rewritten} fused com.microsoft Attention node(s) were rewritten into plain ONNX operators (same results) so their probabilities can be read.`,
    );
  }
  refuseOtherFusedAttention(graphOf(edited));
  const fusedStandard = prepareStandardAttention(editor);
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

  // 5. Edits.
  const attention = blocks.map((block, blockIndex) => tapBlock(editor, index, block, blockIndex));
  const residual = steps.map((step, stepIndex) => tapResidual(editor, index, step, stepIndex, opset));
  editor.commit();

  notes.unshift(summarise(blocks, steps));
  return { model: edited, plan: { attention, residual, notes } };
}

// =============================================================================================
// Editing helpers

/** Adds nodes, constants and outputs to a model copy, with fresh names. */
class GraphEditor {
  readonly model: ModelProto;
  private readonly graph: GraphProto;
  private readonly taken = new Set<string>();
  private readonly appended: NodeProto[] = [];
  private counter = 0;

  constructor(model: ModelProto) {
    this.model = model;
    this.graph = graphOf(model);
    for (const node of this.graph.node ?? []) {
      node.output?.forEach((name) => this.taken.add(name));
      node.input?.forEach((name) => this.taken.add(name));
      if (node.name) {
        this.taken.add(node.name);
      }
    }
    for (const tensor of this.graph.initializer ?? []) {
      this.taken.add(tensor.name ?? '');
    }
    for (const info of [...(this.graph.input ?? []), ...(this.graph.output ?? [])]) {
      this.taken.add(info.name ?? '');
    }
  }

  get opset(): number {
    return opsetVersion(this.model, '');
  }

  fresh(base: string): string {
    for (;;) {
      const name = `${PREFIX}/${base}_${this.counter++}`;
      if (!this.taken.has(name)) {
        this.taken.add(name);
        return name;
      }
    }
  }

  /** A node appended at the end (for taps); returns its first output. */
  append(opType: string, inputs: string[], attributes = [] as ReturnType<typeof makeAttrInt>[], outputName?: string): string {
    const output = outputName ?? this.fresh(opType.toLowerCase());
    this.appended.push(makeNode(opType, inputs, [output], this.fresh(`${opType}_node`), attributes));
    return output;
  }

  /** A node for a replacement sequence (not added to the graph here). */
  node(opType: string, inputs: string[], attributes = [] as ReturnType<typeof makeAttrInt>[], outputName?: string): { node: NodeProto; output: string } {
    const output = outputName ?? this.fresh(opType.toLowerCase());
    return { node: makeNode(opType, inputs, [output], this.fresh(`${opType}_node`), attributes), output };
  }

  constant(dataType: number, dims: number[], values: number[]): string {
    const name = this.fresh('const');
    (this.graph.initializer as NonNullable<GraphProto['initializer']>).push(makeTensor(name, dataType, dims, values));
    return name;
  }

  int64(values: number[], scalar = false): string {
    return this.constant(ElemType.INT64, scalar ? [] : [values.length], values);
  }

  /** Replace `old` (same position) by `replacement`. */
  replace(old: NodeProto, replacement: NodeProto[]): void {
    const nodes = this.graph.node as NodeProto[];
    const at = nodes.indexOf(old);
    if (at < 0) {
      throw new Error(`node ${describeNode(old)} not in graph`);
    }
    nodes.splice(at, 1, ...replacement);
  }

  addOutput(name: string, elemType: number): void {
    const outputs = this.graph.output as NonNullable<GraphProto['output']>;
    if (!outputs.some((output) => output.name === name)) {
      outputs.push(makeValueInfo(name, elemType));
    }
  }

  /** Unsqueeze in the form the model's opset wants (axes attribute before 13, input from 13). */
  unsqueeze(input: string, axes: number[], outputName?: string): { node: NodeProto; output: string } {
    return this.opset >= 13 ? this.node('Unsqueeze', [input, this.int64(axes)], [], outputName) : this.node('Unsqueeze', [input], [makeAttrInts('axes', axes)], outputName);
  }

  appendNode(node: NodeProto): void {
    this.appended.push(node);
  }

  /** Adds the tap nodes after every original node (taps only read values). */
  commit(): void {
    (this.graph.node as NodeProto[]).push(...this.appended);
    this.appended.length = 0;
  }
}

// =============================================================================================
// 1. Fused attention

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

function refuseOtherFusedAttention(graph: GraphProto): void {
  for (const node of graph.node ?? []) {
    if ((node.domain ?? '') === 'com.microsoft' && UNSUPPORTED_FUSED.has(node.opType ?? '')) {
      throw new UserFacingError(
        `This model computes attention inside the fused onnxruntime kernel ${describeNode(node)}, which does not expose the attention probabilities, and Attention Lens cannot rewrite it into plain operators.`,
        EXPORT_HINT,
      );
    }
  }
}

/**
 * Rewrites every com.microsoft Attention node into MatMul/Reshape/Transpose/Softmax/... with the
 * same outputs, so the ordinary analysis sees a Softmax. Kernel semantics (onnxruntime
 * contrib_ops/cpu/bert): QKV = X·W + b split into Q, K, V of num_heads heads; K and V are appended to
 * the past state (2, B, N, P, H); scores = scale·Q·Kᵀ (+ attention_bias) with blocked cells getting
 * `mask_filter_value` (default -10000) once per reason (key padding, then causal when unidirectional);
 * softmax over keys; output = probs·V back to (B, S, N·H); present = stacked K and V.
 * Returns how many nodes were rewritten; refuses (UserFacingError) variants it cannot match exactly.
 */
function rewriteContribAttention(editor: GraphEditor): number {
  const graph = graphOf(editor.model);
  const targets = (graph.node ?? []).filter((node) => node.domain === 'com.microsoft' && node.opType === 'Attention');
  if (targets.length === 0) {
    return 0;
  }
  const index = new GraphIndex(graph);
  if (editor.opset < 11) {
    throw new UserFacingError(
      `${describeNode(targets[0] as NodeProto)} is a fused onnxruntime Attention kernel in a model of opset ${editor.opset}; rewriting it needs opset 11 or later (Range).`,
      EXPORT_HINT,
    );
  }
  targets.forEach((node, at) => {
    const replacement = contribAttentionReplacement(editor, index, node);
    // Name the new nodes after the fused one, so messages and the plan still point at it.
    const base = node.name || `Attention_${at}`;
    replacement.forEach((inner, step) => {
      inner.name = `${base}/${inner.opType}_${step}`;
    });
    editor.replace(node, replacement);
  });
  return targets.length;
}

function contribAttentionReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  const refuse = (why: string): never => {
    throw new UserFacingError(`Cannot read the attention of the fused onnxruntime kernel ${describeNode(node)}: ${why}.`, EXPORT_HINT);
  };
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

/**
 * ai.onnx Attention (opset 23+): ask for the post-softmax probabilities through output 3
 * `qk_matmul_output`. The spec's `qk_matmul_output_mode`: 0 = Q·Kᵀ, 1 = after the mask/bias is
 * added, 2 = after softcap, 3 = after softmax. Returns the edited nodes.
 */
function prepareStandardAttention(editor: GraphEditor): NodeProto[] {
  const graph = graphOf(editor.model);
  const prepared: NodeProto[] = [];
  for (const node of [...(graph.node ?? [])]) {
    if (node.opType !== 'Attention' || (node.domain ?? '') !== '') {
      continue;
    }
    const outputs = [...(node.output ?? [])];
    while (outputs.length < 4) {
      outputs.push('');
    }
    if (!outputs[3]) {
      outputs[3] = editor.fresh('qk_probs');
    }
    const edited = withAttribute(node, makeAttrInt('qk_matmul_output_mode', 3));
    edited.output = outputs;
    editor.replace(node, [edited]);
    prepared.push(edited);
  }
  return prepared;
}

function noteSubgraphs(graph: GraphProto, notes: string[]): void {
  for (const node of graph.node ?? []) {
    if ((node.attribute ?? []).some((attribute) => attribute.g || (attribute.graphs ?? []).length > 0)) {
      notes.push(`${describeNode(node)} holds a subgraph; attention inside subgraphs (If/Loop/Scan/BeamSearch) is not tapped.`);
    }
  }
}

// =============================================================================================
// 2. Attention blocks

/** One part of a block's mask: the operand that was added to the scores, or a Where condition. */
interface MaskPart {
  value: string;
  encoding: MaskEncoding;
}

/** An attention block as found in the graph. */
interface FoundBlock {
  /** The Softmax, or the fused Attention node. */
  node: NodeProto;
  /** The probabilities value (Softmax output or fused output 3). */
  probs: string;
  /** The Q·Kᵀ operands (for fused: the Q and K inputs). */
  query: string;
  key: string;
  maskParts: MaskPart[];
  /** Causal masking the fused node applies internally (no tensor to tap). */
  internalCausal: boolean;
  layout: ProbsLayout;
  heads?: number;
  maskKind: MaskKind;
  /** Role analysis. */
  kind: BlockKind;
  queryStream: StreamName;
  keyStream: StreamName;
  layer: number;
  /** Q and K came from recognisable projections (false for raw q/k/v inputs). */
  projected: boolean;
  queryTerminals: Set<string>;
  keyTerminals: Set<string>;
}

/** Ops allowed between Q·Kᵀ and the Softmax, with the input slots that carry the scores. */
const SCORE_PATH: Record<string, (index: GraphIndex, node: NodeProto) => number[]> = {
  Cast: () => [0],
  Identity: () => [0],
  Reshape: () => [0],
  Transpose: () => [0],
  Squeeze: () => [0],
  Unsqueeze: () => [0],
  Clip: () => [0],
  Tanh: () => [0], // softcapping: c·tanh(s/c)
  Where: () => [1, 2],
  Div: () => [0],
  Mul: nonStaticInputs,
  Add: nonStaticInputs,
  Sub: () => [0],
  Max: nonStaticInputs,
  Min: nonStaticInputs,
};

function nonStaticInputs(index: GraphIndex, node: NodeProto): number[] {
  return (node.input ?? []).map((input, slot) => (input && !index.isStatic(input) ? slot : -1)).filter((slot) => slot >= 0);
}

/** A MatMul/Einsum of two computed tensors (not a projection by weights). */
function isActivationProduct(index: GraphIndex, node: NodeProto | undefined): boolean {
  if (!node || (node.domain ?? '') !== '' || (node.opType !== 'MatMul' && node.opType !== 'Einsum')) {
    return false;
  }
  const inputs = (node.input ?? []).filter(Boolean);
  return inputs.length === 2 && inputs.every((input) => !index.isStatic(input));
}

interface ScorePath {
  product: NodeProto;
  /** From the Softmax input down to the product: each node and the slot the path enters it by. */
  steps: { node: NodeProto; slot: number }[];
}

/** Breadth-first from the Softmax input to the nearest Q·Kᵀ product through SCORE_PATH ops. */
function findScorePath(index: GraphIndex, softmaxInput: string): ScorePath | undefined {
  interface Visit {
    value: string;
    parent: Visit | null;
    via: { node: NodeProto; slot: number } | null;
  }
  const queue: Visit[] = [{ value: softmaxInput, parent: null, via: null }];
  const seen = new Set<string>([softmaxInput]);
  while (queue.length > 0) {
    const visit = queue.shift() as Visit;
    const node = index.producer(visit.value);
    if (!node) {
      continue;
    }
    if (isActivationProduct(index, node)) {
      const steps: { node: NodeProto; slot: number }[] = [];
      for (let at: Visit | null = visit; at && at.via; at = at.parent) {
        steps.push(at.via);
      }
      return { product: node, steps: steps.reverse() };
    }
    const slots = (node.domain ?? '') === '' ? SCORE_PATH[node.opType ?? '']?.(index, node) : undefined;
    if (!slots || seen.size > 64) {
      continue;
    }
    for (const slot of slots) {
      const input = node.input?.[slot];
      if (input && !seen.has(input)) {
        seen.add(input);
        queue.push({ value: input, parent: visit, via: { node, slot } });
      }
    }
  }
  return undefined;
}

/** Ops allowed between the probabilities and the ·V product. */
const PROBS_TO_V = new Set(['Cast', 'Identity', 'Dropout', 'Reshape', 'Transpose', 'Where', 'Mul', 'Squeeze', 'Unsqueeze']);

/** True when the value reaches, through PROBS_TO_V ops, a product where it is the left operand. */
function multipliedByValues(index: GraphIndex, probs: string): boolean {
  const stack = [{ value: probs, depth: 0 }];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: string; depth: number };
    if (seen.has(value) || depth > 6) {
      continue;
    }
    seen.add(value);
    for (const use of index.consumers(value)) {
      const op = use.node.opType ?? '';
      if ((op === 'MatMul' || op === 'Einsum') && use.inputIndex === 0 && isActivationProduct(index, use.node)) {
        return true;
      }
      if (PROBS_TO_V.has(op) && use.node.output?.[0]) {
        stack.push({ value: use.node.output[0], depth: depth + 1 });
      }
    }
  }
  return false;
}

function findSoftmaxBlocks(index: GraphIndex, opset: number, notes: string[]): FoundBlock[] {
  const blocks: FoundBlock[] = [];
  let skipped = 0;
  for (const node of index.order) {
    if (node.opType !== 'Softmax' || (node.domain ?? '') !== '' || !node.input?.[0] || !node.output?.[0]) {
      continue;
    }
    const path = findScorePath(index, node.input[0]);
    if (!path || !multipliedByValues(index, node.output[0])) {
      skipped++;
      continue;
    }
    blocks.push(describeSoftmaxBlock(index, node, path, opset, notes));
  }
  if (skipped > 0 && blocks.length > 0) {
    notes.push(`${skipped} other Softmax node(s) are not attention (no query·key input or no ·V product) and were left alone.`);
  }
  return blocks;
}

function describeSoftmaxBlock(index: GraphIndex, softmax: NodeProto, path: ScorePath, opset: number, notes: string[]): FoundBlock {
  const [left, right] = (path.product.input ?? []) as [string, string];
  const maskParts: MaskPart[] = [];
  let scaledOnScores = false;
  for (const { node, slot } of path.steps) {
    const op = node.opType ?? '';
    const other = (node.input ?? []).find((input, at) => at !== slot && input) ?? '';
    if (op === 'Add' && other && index.scalarConstant(other) === undefined) {
      maskParts.push({ value: other, encoding: 'additive' });
    } else if (op === 'Where') {
      maskParts.push({ value: node.input?.[0] ?? '', encoding: slot === 1 ? 'where-keep-if-true' : 'where-block-if-true' });
    } else if ((op === 'Div' || op === 'Mul') && index.scalarConstant(other) !== undefined) {
      scaledOnScores = true;
    } else if (op === 'Mul' && other) {
      notes.push(`${describeNode(softmax)}: the scores are multiplied by a computed tensor before the softmax (a multiplicative mask?); it is not decoded as a mask.`);
    }
  }
  const queryWalk = walkToStream(index, left);
  const keyWalk = walkToStream(index, right);
  if (!scaledOnScores && !queryWalk.scaled && !keyWalk.scaled) {
    notes.push(`${describeNode(softmax)}: no 1/√d scale was found on the scores or on Q/K; the logits reach the softmax unscaled.`);
  }

  // Layout from the rank of the scores and any Transpose between the product and the softmax.
  const rank = index.rank(softmax.input?.[0] ?? '') ?? index.rank(path.product.output?.[0] ?? '');
  let layout: ProbsLayout;
  let heads: number | undefined;
  let keyAxis: number;
  if (rank === 2) {
    layout = 'QK';
    keyAxis = 1;
  } else if (rank === 3) {
    heads = foldedHeads(index, left);
    layout = heads !== undefined && heads > 1 ? '(BH)QK' : 'BQK';
    if (layout === 'BQK') {
      heads = undefined;
    }
    keyAxis = 2;
  } else {
    if (rank !== 4) {
      notes.push(`${describeNode(softmax)}: the rank of its scores could not be read; read as [batch, heads, queries, keys].`);
    }
    const order = axisOrderAfter(path, ['B', 'H', 'Q', 'K']);
    layout = order === 'BQHK' ? 'BQHK' : 'BHQK';
    if (order !== 'BHQK' && order !== 'BQHK') {
      notes.push(`${describeNode(softmax)}: its scores are transposed to ${order} before the softmax; read as BHQK.`);
    }
    keyAxis = 3;
  }
  // Softmax axis: opset < 13 default 1 (with the 2-D coercion), from 13 default -1.
  const declared = attrInt(softmax, 'axis') ?? (opset >= 13 ? -1 : 1);
  const effectiveRank = rank ?? 4;
  const axis = declared < 0 ? declared + effectiveRank : declared;
  if (axis !== keyAxis) {
    notes.push(
      `${describeNode(softmax)} normalises over axis ${axis}${opset < 13 ? ' (and the axes after it)' : ''}, not over the key axis ${keyAxis}: its rows do not sum to 1. Tapped as it is.`,
    );
  }
  return {
    node: softmax,
    probs: softmax.output?.[0] ?? '',
    query: left,
    key: right,
    maskParts,
    internalCausal: false,
    layout,
    heads,
    maskKind: 'none',
    kind: 'self',
    queryStream: 'encoder',
    keyStream: 'encoder',
    layer: 0,
    projected: queryWalk.projected || keyWalk.projected,
    queryTerminals: queryWalk.terminals,
    keyTerminals: keyWalk.terminals,
  };
}

function describeStandardAttention(index: GraphIndex, node: NodeProto): FoundBlock {
  const inputs = node.input ?? [];
  const query = inputs[0] ?? '';
  const key = inputs[1] ?? '';
  const mask = inputs[3] ?? '';
  const maskParts: MaskPart[] = mask ? [{ value: mask, encoding: index.elemType(mask) === ElemType.BOOL ? 'where-keep-if-true' : 'additive' }] : [];
  const queryWalk = walkToStream(index, query);
  const keyWalk = walkToStream(index, key);
  return {
    node,
    probs: node.output?.[3] ?? '',
    query,
    key,
    maskParts,
    internalCausal: (attrInt(node, 'is_causal') ?? 0) !== 0,
    layout: 'BHQK', // qk_matmul_output is [B, q_num_heads, Q, K] for 3-D and 4-D inputs alike
    maskKind: 'none',
    kind: 'self',
    queryStream: 'encoder',
    keyStream: 'encoder',
    layer: 0,
    projected: queryWalk.projected || keyWalk.projected,
    queryTerminals: queryWalk.terminals,
    keyTerminals: keyWalk.terminals,
  };
}

/** Where each of B, H, Q, K ends up after the Transposes on the score path (product → softmax). */
function axisOrderAfter(path: ScorePath, start: string[]): string {
  let order = start.slice();
  for (let i = path.steps.length - 1; i >= 0; i--) {
    const { node } = path.steps[i] as { node: NodeProto };
    if (node.opType === 'Transpose') {
      const perm = attrInts(node, 'perm');
      if (perm && perm.length === order.length) {
        order = perm.map((axis) => order[axis] as string);
      }
    }
    if (node.opType === 'Reshape') {
      return order.join(''); // a reshape on the path: trust the order we have
    }
  }
  return order.join('');
}

/**
 * Heads folded into the batch axis ([B·H, T, d]): read H from the rank-4 Reshape ([B, T, H, d]) the
 * query went through on its way from the projection. Undefined when no such Reshape is found.
 */
function foldedHeads(index: GraphIndex, query: string): number | undefined {
  let value = query;
  for (let depth = 0; depth < 12; depth++) {
    const node = index.producer(value);
    if (!node) {
      return undefined;
    }
    if (node.opType === 'Reshape') {
      const shape = index.shapeVector(node.input?.[1] ?? '');
      if (shape && shape.length === 4 && typeof shape[2] === 'number' && shape[2] > 0) {
        return shape[2];
      }
    }
    if (!['Reshape', 'Transpose', 'Cast', 'Identity', 'Div', 'Mul', 'Squeeze', 'Unsqueeze', 'Add'].includes(node.opType ?? '')) {
      return undefined;
    }
    const next = (node.input ?? []).find((input) => input && !index.isStatic(input));
    if (!next) {
      return undefined;
    }
    value = next;
  }
  return undefined;
}

// =============================================================================================
// 3. Roles: self vs cross, streams, layers

/** Ops between a Q/K operand and its projection: layout, splits, caches, scaling, rotary. */
const HEAD_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Gather', 'Concat', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Expand', 'Tile']);
/** Ops between a projection and the stream tensor it reads (Tensordot-style reshapes). */
const STREAM_SIDE = new Set(['Reshape', 'Transpose', 'Cast', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

interface StreamWalk {
  /** Where the walk stopped: stream tensors (after projections), graph inputs, past caches. */
  terminals: Set<string>;
  projected: boolean;
  scaled: boolean;
}

/**
 * From a Q or K operand up to the tensors it was projected from. Before the projection the walk
 * follows layout ops, caches (Concat with past), scaling and rotary arithmetic through every
 * computed input; at a MatMul/Gemm by a weight it crosses to the activation and then only follows
 * reshapes, stopping at the first real op: that value is the stream the operand reads.
 */
function walkToStream(index: GraphIndex, start: string): StreamWalk {
  const terminals = new Set<string>();
  let projected = false;
  let scaled = false;
  const seen = new Set<string>();
  const stack: { value: string; afterProjection: boolean }[] = [{ value: start, afterProjection: false }];
  while (stack.length > 0 && seen.size < 200) {
    const { value, afterProjection } = stack.pop() as { value: string; afterProjection: boolean };
    if (!value || seen.has(value) || index.isStatic(value)) {
      continue;
    }
    seen.add(value);
    const node = index.producer(value);
    if (!node || (node.domain ?? '') !== '') {
      terminals.add(value);
      continue;
    }
    const op = node.opType ?? '';
    const inputs = node.input ?? [];
    if (afterProjection) {
      if (STREAM_SIDE.has(op) && inputs[0]) {
        stack.push({ value: inputs[0], afterProjection });
      } else {
        terminals.add(value);
      }
      continue;
    }
    if ((op === 'MatMul' || op === 'Gemm') && inputs.length >= 2 && (index.isStatic(inputs[1] ?? '') || index.isStatic(inputs[0] ?? ''))) {
      projected = true;
      const activation = index.isStatic(inputs[1] ?? '') ? inputs[0] : inputs[1];
      stack.push({ value: activation ?? '', afterProjection: true });
      continue;
    }
    if (!HEAD_SIDE.has(op)) {
      terminals.add(value);
      continue;
    }
    if ((op === 'Div' || op === 'Mul') && inputs.some((input) => index.scalarConstant(input) !== undefined)) {
      scaled = true;
    }
    // Gather with computed indices is a lookup (rotary tables by position), not a slice of Q/K.
    const follow = op === 'Gather' && !index.isStatic(inputs[1] ?? '') ? [] : op === 'Gather' || op === 'Slice' || op === 'Split' || op === 'Expand' || op === 'Tile' || op === 'Reshape' ? [inputs[0] ?? ''] : inputs;
    if (follow.length === 0) {
      terminals.add(value);
    }
    for (const input of follow) {
      stack.push({ value: input, afterProjection: false });
    }
  }
  return { terminals, projected, scaled };
}

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const item of a) {
    if (b.has(item)) {
      return true;
    }
  }
  return false;
}

/**
 * Decides kind, streams, mask kind and layer of every block.
 *
 * Heuristics, in order:
 *  - self vs cross: self when Q and K reach a common tensor (the same normalised stream, the same
 *    fused QKV projection, or the same rotary tables); cross when they reach disjoint tensors, e.g.
 *    decoder hidden states for Q and the encoder output / encoder_hidden_states for K. When neither
 *    side went through a projection (raw q, k, v graph inputs) the role cannot be told: 'self'.
 *  - stacks: with cross-attention present, a self block whose probabilities flow into a cross
 *    block's keys belongs to the encoder, the others to the decoder. Without cross-attention the
 *    model is decoder-only when any block is causally masked, encoder-only otherwise.
 *  - layers: graph order within each stack (a later layer always depends on an earlier one); a
 *    cross block takes the layer of the last decoder self-attention before it.
 */
function assignRoles(index: GraphIndex, blocks: FoundBlock[], notes: string[]): void {
  for (const block of blocks) {
    block.maskKind = classifyMask(index, block, notes);
    const unknown = !block.projected && [...block.queryTerminals, ...block.keyTerminals].every((value) => index.isGraphInput(value));
    if (unknown) {
      block.kind = 'self';
    } else if (intersects(block.queryTerminals, block.keyTerminals)) {
      block.kind = 'encoder-self'; // refined below
    } else {
      block.kind = 'cross';
    }
  }
  const cross = blocks.filter((block) => block.kind === 'cross');
  const causal = blocks.some((block) => block.maskKind === 'causal' || block.maskKind === 'causal+padding');
  for (const block of blocks) {
    if (block.kind === 'cross') {
      block.queryStream = 'decoder';
      block.keyStream = 'encoder';
    } else if (block.kind === 'self') {
      const stream: StreamName = causal ? 'decoder' : 'encoder';
      block.queryStream = stream;
      block.keyStream = stream;
      notes.push(`${describeNode(block.node)}: its queries and keys are graph inputs, so whether it is encoder or decoder attention cannot be told.`);
    } else {
      const encoder = cross.length > 0 ? cross.some((other) => index.dependsOn(other.key, block.probs)) : !causal;
      block.kind = encoder ? 'encoder-self' : 'decoder-self';
      block.queryStream = encoder ? 'encoder' : 'decoder';
      block.keyStream = block.queryStream;
    }
  }
  // Layers, in graph order within each stack.
  const counters = new Map<string, number>();
  let lastDecoderSelf = -1;
  for (const block of blocks) {
    if (block.kind === 'cross') {
      const fallback = counters.get('cross') ?? 0;
      counters.set('cross', fallback + 1);
      block.layer = lastDecoderSelf >= 0 ? lastDecoderSelf : fallback;
      continue;
    }
    const key = block.kind;
    const layer = counters.get(key) ?? 0;
    counters.set(key, layer + 1);
    block.layer = layer;
    if (block.kind === 'decoder-self') {
      lastDecoderSelf = layer;
    }
  }
}

/** Comparison ops that build masks. */
const COMPARE = new Set(['Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']);

/**
 * What a block's mask is, from where its parts come from: 'causal' when a part is a triangular
 * constant, a Trilu, or a comparison of two position ranges (Range), with no input data involved;
 * 'padding' when a part reads a graph input's contents (attention_mask, input_mask, mask_index, or
 * pad ids); both → 'causal+padding'; a part that is neither → 'custom'.
 */
function classifyMask(index: GraphIndex, block: FoundBlock, notes: string[]): MaskKind {
  let causal = block.internalCausal;
  let padding = false;
  let custom = false;
  for (const part of block.maskParts) {
    const reached = index.upstream(part.value, { dataOnly: false });
    const readsInput = index.inputsRead(part.value).size > 0;
    const rangeCausal = [...reached.nodes].some((node) => {
      if (node.opType === 'Trilu') {
        return true;
      }
      if (!COMPARE.has(node.opType ?? '')) {
        return false;
      }
      const operands = (node.input ?? []).filter(Boolean);
      return (
        operands.length === 2 &&
        operands.every((operand) => !index.isStatic(operand) && index.inputsRead(operand).size === 0) &&
        operands.every((operand) => [...index.upstream(operand, { dataOnly: false }).nodes].some((up) => up.opType === 'Range'))
      );
    });
    const offsets = [...reached.constants].map((constant) => triangularOffset(index, constant)).filter((offset): offset is number => offset !== undefined);
    for (const offset of offsets.filter((found) => found !== 0)) {
      notes.push(`${describeNode(block.node)}: its causal mask lets each query see ${offset} later token(s) (the diagonal is shifted by ${offset}).`);
    }
    const partCausal = rangeCausal || offsets.length > 0;
    causal = causal || partCausal;
    padding = padding || readsInput;
    custom = custom || (!partCausal && !readsInput);
  }
  if (causal && padding) {
    return 'causal+padding';
  }
  if (causal) {
    return 'causal';
  }
  if (padding) {
    return 'padding';
  }
  return custom ? 'custom' : 'none';
}

/**
 * For a constant whose last two axes hold one value where key ≤ query + offset and another elsewhere
 * (a causal mask, possibly shifted), the offset; undefined for any other constant.
 */
function triangularOffset(index: GraphIndex, value: string): number | undefined {
  const constant = index.constant(value);
  if (!constant || constant.dims.length < 2) {
    return undefined;
  }
  const rows = constant.dims[constant.dims.length - 2] as number;
  const cols = constant.dims[constant.dims.length - 1] as number;
  if (rows < 2 || cols < 2 || rows * cols > 1 << 24) {
    return undefined;
  }
  const values = constant.values;
  const allowed = values[0] as number; // (0, 0) is allowed by any causal mask with offset ≥ 0
  // The offset is where the first row changes value.
  let offset = 0;
  while (offset + 1 < cols && values[offset + 1] === allowed) {
    offset++;
  }
  if (offset + 1 >= cols) {
    return undefined; // first row all one value: not triangular
  }
  const blocked = values[offset + 1] as number;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if ((values[r * cols + c] as number) !== (c <= r + offset ? allowed : blocked)) {
        return undefined;
      }
    }
  }
  return offset;
}

// =============================================================================================
// 4. Residual stream

interface ResidualStep {
  /** The value to take norms of. */
  value: string;
  /** For SkipLayerNormalization without a sum output: the node to give output 3. */
  skipNode?: NodeProto;
  stream: StreamName;
  layer: number | null;
  stage: ResidualStage;
  label: string;
  position: number;
}

/** Ops that make a sub-layer (the branch of a residual Add must contain one). */
const HEAVY = new Set(['MatMul', 'Gemm', 'Einsum', 'Conv', 'Attention', 'MatMulNBits', 'MatMulInteger', 'QLinearMatMul', 'FusedMatMul']);

const SKIP_NORMS = new Set(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);

/**
 * Residual adds: an Add (or SkipLayerNormalization) whose one operand (the stream) flows, through at
 * least one MatMul-like op, into the other (the sub-layer output). The stage is the attention
 * block inside that sub-layer (self or cross), or feed-forward when there is none. Steps are
 * chained by dependence: a step's predecessor is the latest step its stream operand depends on;
 * a step without one starts a stream, whose operand is tapped as "embedding + positions".
 */
function findResidualSteps(index: GraphIndex, blocks: FoundBlock[], notes: string[]): ResidualStep[] {
  const scoreNodes = new Set<NodeProto>();
  for (const block of blocks) {
    for (const part of block.maskParts) {
      const producer = index.producer(part.value);
      if (producer) {
        scoreNodes.add(producer);
      }
    }
    const path = block.node.opType === 'Softmax' ? findScorePath(index, block.node.input?.[0] ?? '') : undefined;
    path?.steps.forEach((step) => scoreNodes.add(step.node));
  }
  const blockByNode = new Map<NodeProto, FoundBlock>(blocks.map((block) => [block.node, block]));

  interface Candidate {
    node: NodeProto;
    stream: string;
    value: string;
    skipNode?: NodeProto;
    block: FoundBlock | undefined;
  }
  const candidates: Candidate[] = [];
  for (const node of index.order) {
    const op = node.opType ?? '';
    const isAdd = op === 'Add' && (node.domain ?? '') === '';
    const isSkip = SKIP_NORMS.has(op) && node.domain === 'com.microsoft';
    if ((!isAdd && !isSkip) || scoreNodes.has(node)) {
      continue;
    }
    const [a, b] = [node.input?.[0] ?? '', node.input?.[1] ?? ''];
    if (!a || !b || index.isStatic(a) || index.isStatic(b)) {
      continue;
    }
    let stream: string;
    let branch: string;
    if (index.dependsOn(b, a)) {
      [stream, branch] = [a, b];
    } else if (index.dependsOn(a, b)) {
      [stream, branch] = [b, a];
    } else {
      continue;
    }
    const between = index.nodesBetween(stream, branch);
    if (!between.some((inner) => HEAVY.has(inner.opType ?? ''))) {
      continue;
    }
    const inner = between.map((innerNode) => blockByNode.get(innerNode)).filter((found): found is FoundBlock => found !== undefined);
    const block = inner[inner.length - 1];
    const value = isSkip ? node.output?.[3] ?? '' : node.output?.[0] ?? '';
    candidates.push({ node, stream, value, skipNode: isSkip && !value ? node : undefined, block });
  }

  // Chain the steps: predecessor = latest earlier step the stream operand depends on.
  const steps: ResidualStep[] = [];
  const outputs: { value: string; node: NodeProto; step: ResidualStep }[] = [];
  const starts = new Set<StreamName>();
  const defaultStream: StreamName = blocks.some((block) => block.queryStream === 'encoder') ? 'encoder' : 'decoder';
  for (const candidate of candidates) {
    let predecessor: ResidualStep | undefined;
    for (let i = outputs.length - 1; i >= 0; i--) {
      const earlier = outputs[i] as { value: string; node: NodeProto; step: ResidualStep };
      const earlierValue = earlier.value || earlier.node.output?.[0] || '';
      if (index.dependsOn(candidate.stream, earlierValue)) {
        predecessor = earlier.step;
        break;
      }
    }
    const block = candidate.block;
    const stream: StreamName = block ? block.queryStream : predecessor?.stream ?? defaultStream;
    const stage: ResidualStage = block ? (block.kind === 'cross' ? 'cross-attention' : 'self-attention') : 'feed-forward';
    const layer = block ? block.layer : predecessor?.layer ?? 0;
    if (!predecessor && !starts.has(stream)) {
      starts.add(stream);
      steps.push({
        value: candidate.stream,
        stream,
        layer: null,
        stage: 'embedding',
        label: `${stream} embedding + positions`,
        position: index.valuePosition(candidate.stream),
      });
    }
    const step: ResidualStep = {
      value: candidate.value,
      skipNode: candidate.skipNode,
      stream,
      layer,
      stage,
      label: `${stream} L${layer} + ${stage}`,
      position: index.position(candidate.node),
    };
    steps.push(step);
    outputs.push({ value: candidate.value, node: candidate.node, step });
  }

  // Say which blocks have no residual add after them.
  for (const block of blocks) {
    const stage: ResidualStage = block.kind === 'cross' ? 'cross-attention' : 'self-attention';
    if (!steps.some((step) => step.stream === block.queryStream && step.layer === block.layer && step.stage === stage)) {
      notes.push(`No residual Add found after the ${block.kind} attention block ${block.queryStream} L${block.layer} (${describeNode(block.node)}).`);
    }
  }
  const order: Record<StreamName, number> = { encoder: 0, decoder: 1 };
  return steps.sort((a, b) => order[a.stream] - order[b.stream] || a.position - b.position);
}

// =============================================================================================
// 5. Taps

function tapBlock(editor: GraphEditor, index: GraphIndex, block: FoundBlock, blockIndex: number): AttentionTap {
  // Always cast: fp16 (and bf16) probabilities become float32, float32 passes through unchanged.
  const output = editor.fresh(`probs_${block.queryStream}_L${block.layer}_${block.kind}`);
  editor.append('Cast', [block.probs], [makeAttrInt('to', ElemType.FLOAT)], output);
  editor.addOutput(output, ElemType.FLOAT);
  return {
    output,
    node: block.node.name || `${block.node.opType}#${blockIndex}`,
    layer: block.layer,
    kind: block.kind,
    queryStream: block.queryStream,
    keyStream: block.keyStream,
    layout: block.layout,
    ...(block.heads !== undefined ? { heads: block.heads } : {}),
    mask: tapMask(editor, index, block),
    expectedMaskKind: block.maskKind,
  };
}

/** Very negative fill for turning Where conditions into additive parts (≤ -1e4 decodes as blocked). */
const BLOCKED = -1e9;

function tapMask(editor: GraphEditor, index: GraphIndex, block: FoundBlock): MaskTap | null {
  const parts = block.maskParts.filter((part) => part.value);
  if (parts.length === 0) {
    return null;
  }
  if (parts.length === 1) {
    const part = parts[0] as MaskPart;
    const output = editor.fresh(`mask_${block.queryStream}_L${block.layer}_${block.kind}`);
    if (part.encoding === 'additive') {
      editor.append('Cast', [part.value], [makeAttrInt('to', ElemType.FLOAT)], output);
      editor.addOutput(output, ElemType.FLOAT);
    } else {
      const type = index.elemType(part.value) ?? ElemType.BOOL;
      editor.append('Identity', [part.value], [], output);
      editor.addOutput(output, type);
    }
    return { output, encoding: part.encoding };
  }
  // Several parts (e.g. a causal Where and a padding Add): one additive float mask, their sum.
  const zero = editor.constant(ElemType.FLOAT, [], [0]);
  const blocked = editor.constant(ElemType.FLOAT, [], [BLOCKED]);
  const additive = parts.map((part) => {
    if (part.encoding === 'additive') {
      return editor.append('Cast', [part.value], [makeAttrInt('to', ElemType.FLOAT)]);
    }
    const keep = part.encoding === 'where-keep-if-true';
    return editor.append('Where', [part.value, keep ? zero : blocked, keep ? blocked : zero]);
  });
  let sum = additive[0] as string;
  for (let i = 1; i < additive.length; i++) {
    sum = editor.append('Add', [sum, additive[i] as string]);
  }
  const output = editor.fresh(`mask_${block.queryStream}_L${block.layer}_${block.kind}`);
  editor.append('Identity', [sum], [], output);
  editor.addOutput(output, ElemType.FLOAT);
  return { output, encoding: 'additive' };
}

function tapResidual(editor: GraphEditor, index: GraphIndex, step: ResidualStep, stepIndex: number, opset: number): ResidualTap {
  let value = step.value;
  if (!value && step.skipNode) {
    // SkipLayerNormalization's optional output 3 is input + skip (+ bias): the stream after the add.
    value = editor.fresh('residual_sum');
    const outputs = [...(step.skipNode.output ?? [])];
    while (outputs.length < 4) {
      outputs.push('');
    }
    outputs[3] = value;
    // Replace, never mutate: untouched nodes are shared with the caller's model.
    const copy = makeNode(step.skipNode.opType ?? '', [...(step.skipNode.input ?? [])], outputs, step.skipNode.name ?? '', step.skipNode.attribute ?? [], step.skipNode.domain ?? '');
    editor.replace(step.skipNode, [copy]);
  }
  // Float32 first: an fp16 norm of a wide vector can overflow.
  const asFloat = editor.append('Cast', [value], [makeAttrInt('to', ElemType.FLOAT)]);
  const output = editor.fresh(`residual_${stepIndex}_${step.label.replace(/[^A-Za-z0-9]+/g, '_')}`);
  const rank = index.rank(step.value);
  const reduced = rank === 2 ? editor.fresh('norms') : output;
  if (opset >= 18) {
    editor.append('ReduceL2', [asFloat, editor.int64([-1])], [makeAttrInt('keepdims', 0)], reduced);
  } else {
    editor.append('ReduceL2', [asFloat], [makeAttrInts('axes', [-1]), makeAttrInt('keepdims', 0)], reduced);
  }
  if (rank === 2) {
    // [B·T, d] streams (flattened exports) give [B·T]; make it [1, B·T], which is [B, T] for batch 1.
    editor.appendNode(editor.unsqueeze(reduced, [0], output).node);
  }
  editor.addOutput(output, ElemType.FLOAT);
  return { output, label: step.label, stream: step.stream, layer: step.layer, stage: step.stage };
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
