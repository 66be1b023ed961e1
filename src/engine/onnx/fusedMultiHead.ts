/**
 * @file Rewrites of onnxruntime's multi-head kernels into primitive operators with the same outputs,
 * so their Softmax becomes visible: com.microsoft MultiHeadAttention and
 * DecoderMaskedMultiHeadAttention (and, in fusedMatMul.ts, FusedMatMul). Semantics from onnxruntime's
 * CPU kernels (contrib_ops/cpu/bert: multihead_attention.cc, multihead_attention_helper.h,
 * decoder_masked_multihead_attention.cc, attention_cpu_base.h) and checked against onnxruntime-web
 * in test/unit/fusedMultiHead.test.ts. Forms no kernel runs the same way, or whose result we cannot
 * match exactly, are refused by name.
 */
import { checkKnownAttributes, type FusedRewriter, refuseFused } from './fusedKernels';
import { fusedMatMulRewriter } from './fusedMatMul';
import { attentionCore, causalMask, computedScale, defaultScale, Emitter, keyLengthMask, rawAttentionMask, rawKeyMask, ValueFacts } from './fusedMultiHeadCore';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { attrFloat, attrInt, ElemType, makeAttrInt, makeAttrInts, type NodeProto } from './model';

/** What every multi-head rewrite reads first: heads, scale, fill, float type. */
interface Common {
  emit: Emitter;
  facts: ValueFacts;
  heads: number;
  /** mask_filter_value, saturated to the fp16 range in fp16 graphs as the kernels do. */
  fill: number;
  refuse: (why: string) => never;
}

function common(editor: GraphEditor, index: GraphIndex, node: NodeProto, known: readonly string[]): Common {
  const refuse = (why: string): never => refuseFused(node, why);
  checkKnownAttributes(node, known);
  const heads = attrInt(node, 'num_heads') ?? 0;
  if (heads <= 0) refuse('it has no num_heads attribute');
  const facts = new ValueFacts(editor, index);
  const query = node.input?.[0] ?? '';
  const floatType = facts.elemType(query);
  if (floatType !== ElemType.FLOAT && floatType !== ElemType.FLOAT16) {
    refuse(floatType === undefined ? 'the element type of its query cannot be read' : `its query's element type (${floatType}) is neither float32 nor float16`);
  }
  const filter = attrFloat(node, 'mask_filter_value') ?? -10000;
  const fill = floatType === ElemType.FLOAT16 ? Math.max(filter, -65504) : filter;
  return { emit: new Emitter(editor, floatType as number), facts, heads, fill, refuse };
}

/** The scale attribute, else 1/√H from a static head size, else 1/√H computed in the graph. */
function scaleOf(node: NodeProto, c: Common, headSize: number | null | undefined, heads4: string): number | string {
  const scale = attrFloat(node, 'scale') ?? 0;
  if (scale !== 0) return scale;
  return headSize && Number.isInteger(headSize) ? defaultScale(headSize) : computedScale(c.emit, heads4);
}

function inputsOf(node: NodeProto, count: number): string[] {
  return Array.from({ length: count }, (_, at) => node.input?.[at] ?? '');
}

// ---------------------------------------------------------------------------------------------
// MultiHeadAttention

/**
 * com.microsoft MultiHeadAttention. Inputs: query, key, value, bias, key_padding_mask, attention_bias
 * (relative_position_bias before 1.18), past_key, past_value, past_sequence_length, cache_indirection;
 * outputs: output, present_key, present_value, qk. Forms of Q/K/V (onnxruntime's names):
 *   Q_K_V_BSNH            query [B, S, D], key [B, L, D], value [B, L, D_v]; bias [D + D + D_v] adds to each
 *   Q_K_V_BSNH_BNSH_BNSH  query [B, S, D], key/value [B, N, L, H] already projected (cross-attention
 *                         with a cache): bias adds to Q only; no past
 *   Q_KV_BSNH_BSN2H       query [B, S, D], key [B, L, N, 2, H] (packed K/V), no value, no bias, no past
 *   QKV_BSN3H             query [B, S, N, 3, H] (packed Q/K/V), no key, no value, no past
 */
function multiHeadReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  const c = common(editor, index, node, ['num_heads', 'scale', 'mask_filter_value', 'unidirectional']);
  const { emit, facts, heads, refuse } = c;
  const [query, key, value, bias, mask, attentionBias, pastKey, pastValue, pastLength, cacheIndirection] = inputsOf(node, 10) as [string, string, string, string, string, string, string, string, string, string];
  const outputs = node.output ?? [];
  if (pastLength) refuse('it takes a past_sequence_length input (past and present share one buffer, a decoding mode made for the CUDA kernel), which the rewrite does not match');
  if (cacheIndirection) refuse('it takes a cache_indirection input (beam search reorders the cached keys), which the rewrite does not match');
  if (Boolean(pastKey) !== Boolean(pastValue)) refuse('it has only one of past_key and past_value');

  const queryRank = facts.rank(query);
  const keyRank = key ? facts.rank(key) : undefined;
  const valueRank = value ? facts.rank(value) : undefined;
  // Slices of the packed bias [D | D | D_v], with D read from the query at run time.
  const biasPart = (slot: 0 | 1 | 2, width: string): string => {
    const starts = [emit.int64([0]), width, emit.op('Mul', [width, emit.int64([2])])];
    return slot === 2 ? emit.sliceFrom(bias, starts[2] as string, 0) : emit.slice(bias, starts[slot] as string, starts[slot + 1] as string, 0);
  };
  const projected = (input: string, slot: 0 | 1 | 2, width: string): string => emit.toHeads(bias ? emit.op('Add', [input, biasPart(slot, width)]) : input, heads);

  let q4: string;
  let k4: string;
  let v4: string;
  let headSize: number | null | undefined;
  let cached = false; // K and V are the cache itself: no concat with a past
  if (!key) {
    if (value) refuse('it has a value input but no key input');
    if (queryRank !== undefined && queryRank !== 5) refuse(`its query has rank ${queryRank} without key and value; only the packed Q/K/V layout [batch, sequence, heads, 3, head size] is rewritten`);
    if (pastKey) refuse('it has packed Q/K/V and a past key/value, which the kernel does not accept');
    headSize = facts.lastDim(query);
    // [B, S, N, 3, H] → three [B, S, D] (+ bias) → heads.
    const flat = [0, 1, 2].map((slot) => emit.op('Reshape', [emit.packedSlot(query, slot), emit.int64([0, 0, -1])]));
    const width = emit.dim(flat[0] as string, 2);
    [q4, k4, v4] = flat.map((part, slot) => projected(part, slot as 0 | 1 | 2, width)) as [string, string, string];
  } else {
    if (queryRank !== 3) refuse(queryRank === undefined ? 'the rank of its query cannot be read' : `its query has rank ${queryRank} with a key input; the kernel expects [batch, sequence, hidden]`);
    const width = emit.dim(query, 2);
    q4 = projected(query, 0, width);
    if (!value) {
      if (keyRank !== undefined && keyRank !== 5) refuse(`its key has rank ${keyRank} without a value input; only packed K/V [batch, sequence, heads, 2, head size] is rewritten`);
      if (bias) refuse('it has packed K/V and a bias, which the kernel does not accept');
      if (pastKey) refuse('it has packed K/V and a past key/value, which the kernel does not accept');
      headSize = facts.lastDim(key);
      [k4, v4] = [0, 1].map((slot) => emit.op('Transpose', [emit.packedSlot(key, slot)], [makeAttrInts('perm', [0, 2, 1, 3])])) as [string, string];
    } else if (keyRank === 3 && valueRank === 3) {
      const queryWidth = facts.lastDim(query);
      headSize = queryWidth ? queryWidth / heads : pastKey ? facts.lastDim(pastKey) : undefined;
      k4 = projected(key, 1, width);
      v4 = projected(value, 2, width);
    } else if (keyRank === 4 && valueRank === 4) {
      if (pastKey) refuse('its key and value are already in [batch, heads, sequence, head size] layout and it also has a past key/value, which the kernel does not accept');
      headSize = facts.lastDim(key);
      k4 = key;
      v4 = value;
      cached = true;
    } else {
      return refuse(keyRank === undefined || valueRank === undefined ? 'the rank of its key or value cannot be read' : `its key and value have ranks ${keyRank} and ${valueRank}; the kernel expects both 3 or both 4`);
    }
  }
  if (pastKey && !cached) {
    k4 = emit.op('Concat', [pastKey, k4], [makeAttrInt('axis', 2)]);
    v4 = emit.op('Concat', [pastValue, v4], [makeAttrInt('axis', 2)]);
  }
  if (outputs[1]) emit.op('Identity', [k4], [], outputs[1]);
  if (outputs[2]) emit.op('Identity', [v4], [], outputs[2]);

  const masks: string[] = [];
  if (mask) masks.push(keyPaddingMask(c, mask, query, k4));
  if ((attrInt(node, 'unidirectional') ?? 0) !== 0) masks.push(causalMask(emit, q4, k4, pastKey || null, c.fill));
  attentionCore(emit, {
    query: q4,
    key: k4,
    value: v4,
    scale: scaleOf(node, c, headSize, q4),
    ...(attentionBias ? { attentionBias } : {}),
    masks,
    output: outputs[0] ?? emit.editor.fresh('mha_output'),
    ...(outputs[3] ? { scores: outputs[3] } : {}),
  });
  return emit.nodes;
}

/** The additive form of key_padding_mask, for each shape the CPU kernel accepts. */
function keyPaddingMask(c: Common, mask: string, query: string, keys: string): string {
  const dims = c.facts.dims(mask);
  const rank = c.facts.rank(mask);
  switch (rank) {
    case 1:
      return keyLengthMask(c.emit, mask, query, keys, c.fill); // [B] or [3B + 2]
    case 2:
      return rawKeyMask(c.emit, mask, c.fill); // [B, T]
    case 3:
      return rawAttentionMask(c.emit, mask, c.fill); // [B, S, T]
    default:
      return c.refuse(
        rank === undefined
          ? 'the rank of its key_padding_mask cannot be read'
          : `its key_padding_mask has shape [${(dims ?? []).map((dim) => dim ?? '?').join(', ')}]; the kernel accepts [batch], [3·batch + 2], [batch, total sequence] and [batch, sequence, total sequence]`,
      );
  }
}

export const multiHeadAttentionRewriter: FusedRewriter = {
  domain: 'com.microsoft',
  opType: 'MultiHeadAttention',
  minOpset: 11, // Range
  replacement: multiHeadReplacement,
};

// ---------------------------------------------------------------------------------------------
// DecoderMaskedMultiHeadAttention

/**
 * com.microsoft DecoderMaskedMultiHeadAttention, the one-token decoding step. Inputs: query, key,
 * value, mask_index, attention_bias, past_key, past_value, past_sequence_length, beam_width,
 * cache_indirection, bias; outputs: output, present_key, present_value, qk (with output_qk).
 *   self-attention: key/value [B, 1, D] (+ bias), past_key/past_value [B, N, M, H] a buffer shared with
 *     present_key/present_value (past_present_share_buffer = 1, which the kernel requires) holding
 *     P = past_sequence_length valid positions: the new key/value is written at position P, attention
 *     reads positions 0..P.
 *   beam search (self-attention with cache_indirection [batch, beam, M] and beam_width W): past
 *     position t of row b is read from row (b / W)·W + cache_indirection[b, t]; the present buffer is
 *     not reordered; that kernel blocks a key where the mask is 0 (not ≤ 0) and reads attention_bias
 *     by batch row b / W (as onnxruntime-web 1.30's CPU kernel does, checked in the tests).
 *   cross-attention: no past and no present; key/value [B, N, L, H] already projected (no bias).
 * The mask is [B, T] (T = P + 1, or L) or absent; attention_bias is added (self-attention only).
 */
function decoderMaskedReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  const c = common(editor, index, node, ['num_heads', 'scale', 'mask_filter_value', 'past_present_share_buffer', 'output_qk']);
  const { emit, facts, heads, refuse } = c;
  const [query, key, value, mask, bias4, pastKey, pastValue, pastLength, beamWidth, cacheIndirection, bias] = inputsOf(node, 11) as string[] as [string, string, string, string, string, string, string, string, string, string, string];
  let attentionBias = bias4;
  const outputs = node.output ?? [];
  if (!key || !value) refuse('it has packed Q/K/V (no key and value inputs), which onnxruntime\'s CPU kernel cannot run');
  if (facts.rank(query) !== 3) refuse('the rank of its query is not 3 ([batch, 1, hidden])');
  const qkOutput = (attrInt(node, 'output_qk') ?? 0) !== 0 ? outputs[3] : undefined;
  const width = emit.dim(query, 2);
  const biasPart = (slot: 0 | 1 | 2): string => emit.slice(bias, slot === 0 ? emit.int64([0]) : emit.op('Mul', [width, emit.int64([slot])]), emit.op('Mul', [width, emit.int64([slot + 1])]), 0);
  const projected = (input: string, slot: 0 | 1 | 2): string => emit.toHeads(bias ? emit.op('Add', [input, biasPart(slot)]) : input, heads);
  const q4 = projected(query, 0);
  const masks: string[] = [];
  let k4: string;
  let v4: string;
  let headSize: number | null | undefined;
  if (!pastKey && !outputs[1]) {
    // Cross-attention on cached projections.
    if (attentionBias) refuse('it is cross-attention with an attention_bias, which the kernel does not accept');
    if (facts.rank(key) !== 4) refuse('it is cross-attention (no past) but its key is not [batch, heads, sequence, head size]');
    k4 = key;
    v4 = value;
    headSize = facts.lastDim(key);
  } else {
    if (!pastKey || !pastValue) refuse('it writes present key/value without past_key and past_value, which the kernel does not run');
    if ((attrInt(node, 'past_present_share_buffer') ?? 0) === 0) refuse('it has past key/value without past_present_share_buffer = 1, which onnxruntime\'s kernel requires');
    if (!pastLength) refuse('it shares the past/present buffer but has no past_sequence_length input');
    headSize = facts.lastDim(pastKey);
    // Positions 0..P-1 of the buffer, then the new token; the buffer keeps its length M.
    const p = emit.op('Reshape', [emit.op('Cast', [pastLength], [makeAttrInt('to', ElemType.INT64)]), emit.int64([1])]);
    const next = emit.op('Add', [p, emit.int64([1])]);
    const zero = emit.int64([0]);
    const beams = cacheIndirection ? beamSearch(emit, query, p, beamWidth, cacheIndirection) : null;
    const write = (buffer: string, fresh: string, output: string | undefined): string => {
      const valid = emit.slice(buffer, zero, p, 2);
      if (output) emit.op('Concat', [valid, fresh, emit.sliceFrom(buffer, next, 2)], [makeAttrInt('axis', 2)], output);
      // With beams, each past position is read from the beam cache_indirection names (the buffer itself is not reordered).
      const read = beams ? emit.op('GatherElements', [valid, emit.op('Expand', [beams.sources, emit.op('Shape', [valid])])], [makeAttrInt('axis', 0)]) : valid;
      return emit.op('Concat', [read, fresh], [makeAttrInt('axis', 2)]);
    };
    k4 = write(pastKey, projected(key, 1), outputs[1]);
    v4 = write(pastValue, projected(value, 2), outputs[2]);
    // With beams the kernel reads attention_bias by batch (row b / beam width), not by batch·beam row.
    if (beams && attentionBias) attentionBias = emit.op('Gather', [attentionBias, emit.op('Min', [beams.batchRows, emit.op('Sub', [emit.dimScalar(attentionBias, 0), emit.int64([1], true)])])], [makeAttrInt('axis', 0)]);
    if (beams && mask) {
      if (facts.rank(mask) !== 2) refuse('its mask_index is not the 2-D key padding mask [batch, total sequence], the only mask the kernel accepts');
      masks.push(rawKeyMask(emit, mask, c.fill, 'nonzero')); // the beam kernel blocks a key where the mask is 0
    }
  }
  if (mask && masks.length === 0) {
    if (facts.rank(mask) !== 2) refuse('its mask_index is not the 2-D key padding mask [batch, total sequence], the only mask the kernel accepts');
    masks.push(rawKeyMask(emit, mask, c.fill));
  }
  attentionCore(emit, {
    query: q4,
    key: k4,
    value: v4,
    scale: scaleOf(node, c, headSize ?? ((facts.lastDim(query) ?? 0) / heads || null), q4),
    ...(attentionBias ? { attentionBias } : {}),
    masks,
    output: outputs[0] ?? emit.editor.fresh('dmmha_output'),
    ...(qkOutput ? { scores: qkOutput } : {}),
  });
  return emit.nodes;
}

/**
 * Beam search's view of the cache: cache_indirection [batch, beam, M] names, for every batch·beam row
 * b and past position t, the beam whose cached key/value that row reads: row (b / W)·W + indirection.
 * `sources` is that row index as [B·W, 1, P, 1] (for GatherElements along the batch axis), `batchRows`
 * the batch index b / W of every row.
 */
function beamSearch(emit: Emitter, query: string, past: string, beamWidth: string, indirection: string): { sources: string; batchRows: string } {
  const width = beamWidth ? emit.op('Reshape', [emit.op('Cast', [beamWidth], [makeAttrInt('to', ElemType.INT64)]), emit.int64([], false)]) : emit.int64([1], true);
  const rows = emit.op('Range', [emit.int64([0], true), emit.dimScalar(query, 0), emit.int64([1], true)]); // [B·W]
  const batchRows = emit.op('Div', [rows, width]);
  const firstOfBatch = emit.unsqueeze(emit.op('Mul', [batchRows, width]), [1]); // [B·W, 1]
  const perRow = emit.op('Reshape', [emit.op('Cast', [indirection], [makeAttrInt('to', ElemType.INT64)]), emit.op('Concat', [emit.dim(query, 0), emit.int64([-1])], [makeAttrInt('axis', 0)])]); // [B·W, M]
  const beams = emit.slice(perRow, emit.int64([0]), past, 1); // [B·W, P]
  return { sources: emit.unsqueeze(emit.op('Add', [firstOfBatch, beams]), [1, 3]), batchRows };
}

export const decoderMaskedMultiHeadRewriter: FusedRewriter = {
  domain: 'com.microsoft',
  opType: 'DecoderMaskedMultiHeadAttention',
  minOpset: 11, // Range
  replacement: decoderMaskedReplacement,
};

export const MULTI_HEAD_REWRITERS: readonly FusedRewriter[] = [fusedMatMulRewriter, multiHeadAttentionRewriter, decoderMaskedMultiHeadRewriter];
