/**
 * @file Rewrites of onnxruntime's grouped-query kernels into primitive operators: com.microsoft
 * GroupQueryAttention (what the onnxruntime-genai model builder writes for Llama, Qwen, Phi, Mistral,
 * Gemma). The semantics are those of onnxruntime's CPU kernel (contrib_ops/cpu/bert
 * group_query_attention.cc, gqa_attention_base.h, group_query_attention_helper.h), checked against
 * onnxruntime-web 1.30 by test/unit/fusedGroupQuery.test.ts:
 *
 * - query [B, S, N·H] with key/value [B, S, kvN·H], or packed [B, S, (N + 2·kvN)·H] (key/value absent);
 * - per batch row b, total_b = seqlens_k[b] + 1 keys; the first prompt is S = total_sequence_length
 *   (past_b = 0), otherwise past_b = total_b − S;
 * - rotary (do_rotary) on Q and K at positions s (first prompt; position_ids[0] + s when given) or
 *   past_b + s (s when that is negative; position_ids[b, s] when given), cos/sin rows of the caches;
 * - present [B, kvN, max(total_sequence_length, P), H]: past rows j < past_b, then the S new rows,
 *   zeros after (the kernel zero-fills a present buffer it does not share with the past);
 * - scores scale·Q·Kᵀ (scale or 1/√H), softcap·tanh(·/softcap), + attention_bias; query s sees keys
 *   j ≤ past_b + s, and with local_window_size W ≥ 0 only the last W of them;
 * - softmax over the keys a query sees; smooth_softmax / head_sink add exp(sink) to the denominator;
 * - query head h reads KV head ⌊h / (N / kvN)⌋; output [B, S, N·H].
 *
 * float16 models are computed in float32 inside (as the kernel does), with Q and K rounded to float16
 * after the rotary, as the kernel stores them.
 */
import { checkKnownAttributes, type FusedRewriter, refuseFused } from './fusedKernels';
import { Emitter, LOWEST_FLOAT, logSumExpLast, placePresent, presentIndex, repeatKv, rotary, staticLastDim } from './fusedGroupQueryOps';
import type { GraphIndex } from './graph';
import type { GraphEditor } from './graphEditor';
import { attrFloat, attrInt, ElemType, makeAttrInt, type NodeProto, valueInfoDims } from './model';

const GQA_ATTRIBUTES = ['num_heads', 'kv_num_heads', 'scale', 'softcap', 'local_window_size', 'do_rotary', 'rotary_interleaved', 'smooth_softmax', 'qk_output'];

export const groupQueryAttentionRewriter: FusedRewriter = {
  domain: 'com.microsoft',
  opType: 'GroupQueryAttention',
  minOpset: 11, // Range, GatherElements
  replacement: groupQueryReplacement,
};

export const GROUP_QUERY_REWRITERS: readonly FusedRewriter[] = [groupQueryAttentionRewriter];

interface GqaShape {
  heads: number;
  kvHeads: number;
  group: number;
  /** Head size when the graph states it (for a constant scale); undefined when only known at run time. */
  headSize: number | undefined;
  type: number;
}

function readShape(index: GraphIndex, node: NodeProto): GqaShape {
  const refuse = (why: string): never => refuseFused(node, why);
  checkKnownAttributes(node, GQA_ATTRIBUTES);
  const heads = attrInt(node, 'num_heads') ?? 0;
  const kvHeads = attrInt(node, 'kv_num_heads') ?? 0;
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads !== 0) {
    refuse(`its num_heads (${heads}) is not a positive multiple of its kv_num_heads (${kvHeads})`);
  }
  if ((attrInt(node, 'qk_output') ?? 0) !== 0 || (node.output?.[3] ?? '') !== '') {
    refuse('it also outputs its Q·Kᵀ scores (qk_output), which the rewrite does not produce');
  }
  if (attrInt(node, 'local_window_size') === 0) {
    refuse('its local_window_size is 0 (no key visible), a window the rewrite does not reproduce');
  }
  const inputs = node.input ?? [];
  if (inputs.length > 12) {
    refuse(`it has ${inputs.length} inputs; the rewrite knows the first 12 (query … head_sink)`);
  }
  const [query, key, value, pastKey, pastValue, seqlens, total] = [0, 1, 2, 3, 4, 5, 6].map((i) => inputs[i] ?? '');
  if (!!key !== !!value || !!pastKey !== !!pastValue || !seqlens || !total) {
    refuse('its key/value or past_key/past_value come alone, or seqlens_k / total_sequence_length is missing');
  }
  if (attrInt(node, 'do_rotary') && (!inputs[7] || !inputs[8])) {
    refuse('it applies rotary embeddings without cos_cache and sin_cache');
  }
  if (attrInt(node, 'smooth_softmax') && inputs[11]) {
    refuse('it has both smooth_softmax and a head_sink input, which onnxruntime rejects');
  }
  const biasInfo = inputs[10] ? index.valueInfo(inputs[10]) : undefined;
  const biasDims = biasInfo ? valueInfoDims(biasInfo) : undefined;
  if (biasDims && biasDims.length === 4 && biasDims[3] === 1) {
    refuse('its attention_bias has one column for all keys, which the CPU kernel reads as consecutive values rather than a broadcast');
  }
  const type = index.elemType(query as string) ?? ElemType.FLOAT;
  if (type !== ElemType.FLOAT && type !== ElemType.FLOAT16) {
    refuse(`its input type (${type}) is neither float32 nor float16`);
  }
  const last = staticLastDim(index, query as string);
  const width = key ? heads : heads + 2 * kvHeads;
  const headSize = last !== undefined && last % width === 0 ? last / width : undefined;
  return { heads, kvHeads, group: heads / kvHeads, headSize, type };
}

function groupQueryReplacement(editor: GraphEditor, index: GraphIndex, node: NodeProto): NodeProto[] {
  const { heads, kvHeads, group, headSize, type } = readShape(index, node);
  const half16 = type === ElemType.FLOAT16;
  const e = new Emitter(editor);
  const inputs = node.input ?? [];
  const outputs = node.output ?? [];
  const [query, key, value, pastKey, pastValue, seqlensK, totalLength, cosCache, sinCache, positionIds, attentionBias, headSink] = Array.from({ length: 12 }, (_, i) => inputs[i] ?? '') as string[] as [
    string, string, string, string, string, string, string, string, string, string, string, string,
  ];
  const toFloat = (x: string): string => (half16 ? e.cast(x, ElemType.FLOAT) : x);
  const toType = (x: string, output?: string): string => (half16 ? e.op('Cast', [x], [makeAttrInt('to', ElemType.FLOAT16)], output) : output ? e.op('Identity', [x], [], output) : x);

  // Heads: [B, S, h, H] → [B, h, S, H], in the model's type.
  let q: string;
  let k: string;
  let v: string;
  if (!key) {
    const packed = e.op('Reshape', [query, e.ints([0, 0, heads + 2 * kvHeads, -1])]);
    q = e.slice(packed, e.ints([0]), e.ints([heads]), 2);
    k = e.slice(packed, e.ints([heads]), e.ints([heads + kvHeads]), 2);
    v = e.slice(packed, e.ints([heads + kvHeads]), e.ints([heads + 2 * kvHeads]), 2);
  } else {
    q = e.op('Reshape', [query, e.ints([0, 0, heads, -1])]);
    k = e.op('Reshape', [key, e.ints([0, 0, kvHeads, -1])]);
    v = e.op('Reshape', [value, e.ints([0, 0, kvHeads, -1])]);
  }
  [q, k, v] = [q, k, v].map((x) => e.transpose(x, [0, 2, 1, 3])) as [string, string, string];

  // Lengths, int64: S and total [1], total_b and past_b [B].
  const sequence = e.dim(query, 1);
  const total = e.op('Reshape', [e.cast(totalLength, ElemType.INT64), e.ints([1])]);
  const totals = e.op('Add', [e.op('Reshape', [e.cast(seqlensK, ElemType.INT64), e.ints([-1])]), e.ints([1])]);
  const firstPrompt = e.op('Equal', [sequence, total]);
  const pasts = e.op('Where', [firstPrompt, e.ints([0]), e.op('Sub', [totals, sequence])]);
  const queryRow = e.unsqueeze(e.range(e.ints([0]), sequence), [0]); // [1, S]

  let qFloat = toFloat(q);
  let kStored = k;
  if (attrInt(node, 'do_rotary')) {
    let positions: string; // [B, S] or [1, S]
    const pastColumn = e.unsqueeze(pasts, [1]);
    const later = e.op('Where', [e.op('Less', [pastColumn, e.ints([0])]), queryRow, e.op('Add', [pastColumn, queryRow])]);
    if (positionIds) {
      const ids = e.cast(positionIds, ElemType.INT64);
      const start = e.op('Gather', [e.op('Reshape', [ids, e.ints([-1])]), e.ints([0])], [makeAttrInt('axis', 0)]);
      positions = e.op('Where', [firstPrompt, e.op('Add', [queryRow, start]), ids]);
    } else {
      positions = e.op('Where', [firstPrompt, queryRow, later]);
    }
    const table = (cache: string): string => e.unsqueeze(e.op('Gather', [toFloat(cache), positions], [makeAttrInt('axis', 0)]), [1]); // [B, 1, S, half]
    const [cos, sin] = [table(cosCache), table(sinCache)];
    const half = e.dim(cosCache, 1);
    const interleaved = (attrInt(node, 'rotary_interleaved') ?? 0) !== 0;
    const qTurned = rotary(e, qFloat, cos, sin, half, interleaved);
    qFloat = half16 ? e.cast(e.cast(qTurned, ElemType.FLOAT16), ElemType.FLOAT) : qTurned;
    kStored = toType(rotary(e, toFloat(k), cos, sin, half, interleaved));
  }

  // Present buffers [B, kvN, Tp, H], Tp = max(total_sequence_length, P).
  const pastBuffer = pastKey ? e.dim(pastKey, 2) : e.ints([0]);
  const presentLength = e.op('Max', [total, pastBuffer]);
  const keyPositions = e.range(e.ints([0]), presentLength); // [Tp]
  const placement = presentIndex(e, pasts, pastBuffer, sequence, keyPositions);
  const presentKey = placePresent(e, pastKey, kStored, placement, kvHeads, type, outputs[1] || undefined);
  const presentValue = placePresent(e, pastValue, v, placement, kvHeads, type, outputs[2] || undefined);

  // Scores [B, N, S, Tp].
  // An empty slice of the new keys joins them: numerically nothing, but it lets the stream analysis
  // follow the keys back to their projection (through the present buffer it cannot).
  const noKeys = e.slice(toFloat(kStored), sequence, sequence, 2);
  const keys = repeatKv(e, e.op('Concat', [toFloat(presentKey), noKeys], [makeAttrInt('axis', 2)]), heads, group);
  const values = repeatKv(e, toFloat(presentValue), heads, group);
  const product = e.op('MatMul', [qFloat, e.transpose(keys, [0, 1, 3, 2])]);
  const scaleAttr = attrFloat(node, 'scale') ?? 0;
  const scale = scaleAttr !== 0 ? e.scalar(scaleAttr) : headSize ? e.scalar(Math.fround(1 / Math.fround(Math.sqrt(headSize)))) : e.op('Div', [e.scalar(1), e.op('Sqrt', [e.cast(e.dim(q, 3), ElemType.FLOAT)])]);
  let scores = e.op('Mul', [product, scale]);
  const softcap = attrFloat(node, 'softcap') ?? 0;
  if (softcap > 0) {
    const cap = e.scalar(softcap);
    scores = e.op('Mul', [e.op('Tanh', [e.op('Div', [scores, cap])]), cap]);
  }
  if (attentionBias) {
    const bias = toFloat(attentionBias);
    const pads = e.op('Concat', [e.ints([0, 0, 0, 0, 0, 0, 0]), e.op('Sub', [presentLength, e.dim(attentionBias, 3)])], [makeAttrInt('axis', 0)]);
    scores = e.op('Add', [scores, e.op('Pad', [bias, pads])]);
  }

  // Which keys each query sees. First a causal part read from shapes alone (key j ≤ query s + Tp − S,
  // which covers every row's own causal limit), then the exact per-row part from seqlens_k.
  const lowest = e.scalar(LOWEST_FLOAT);
  const scoreKeys = e.dim(keys, 2);
  const scoreQueries = e.dim(qFloat, 2);
  const causalKeys = e.unsqueeze(e.range(e.ints([0]), scoreKeys), [0]); // [1, Tp]
  const causalQueries = e.unsqueeze(e.range(e.op('Sub', [scoreKeys, scoreQueries]), scoreKeys), [1]); // [S, 1]
  const causal = e.op('Not', [e.op('Greater', [causalKeys, causalQueries])]);
  scores = e.op('Where', [causal, scores, lowest]);
  const keyRow = e.op('Reshape', [keyPositions, e.ints([1, 1, 1, -1])]); // [1, 1, 1, Tp]
  const seen = e.unsqueeze(e.op('Add', [e.op('Add', [e.unsqueeze(pasts, [1]), queryRow]), e.ints([1])]), [1, 3]); // [B, 1, S, 1]: past_b + s + 1
  let keep = e.op('And', [e.op('Less', [keyRow, seen]), e.op('Less', [keyRow, e.unsqueeze(totals, [1, 2, 3])])]);
  const window = attrInt(node, 'local_window_size') ?? -1;
  if (window > 0) {
    keep = e.op('And', [keep, e.op('Not', [e.op('Less', [keyRow, e.op('Sub', [seen, e.ints([window])])])])]);
  }
  scores = e.op('Where', [keep, scores, lowest]);
  let probs = e.op('Softmax', [scores], [makeAttrInt('axis', editor.opset >= 13 ? -1 : 3)]);
  if (headSink || attrInt(node, 'smooth_softmax')) {
    // exp(x)/(Σexp + exp(sink)) = softmax(x) · sigmoid(logsumexp(x) − sink): the tapped softmax is over the keys.
    const sink = headSink ? e.op('Reshape', [toFloat(headSink), e.ints([1, heads, 1, 1])]) : e.scalar(0);
    probs = e.op('Mul', [probs, e.op('Sigmoid', [e.op('Sub', [logSumExpLast(e, scores), sink])])]);
  }
  const context = e.transpose(e.op('MatMul', [probs, values]), [0, 2, 1, 3]); // [B, S, N, H]
  toType(e.op('Reshape', [context, e.ints([0, 0, -1])]), outputs[0]);
  return e.nodes;
}
