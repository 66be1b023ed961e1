/**
 * Tiny one-node graphs of com.microsoft GroupQueryAttention and ai.onnx Attention (opset 23/24) for
 * the rewrite tests (test/unit/fusedGroupQuery.test.ts): every input a graph input (so each case feeds
 * its own values), rotary caches as initializers, as the onnxruntime-genai builder writes them.
 */
import { onnx } from 'onnx-proto';
import { floatToHalf } from '../../src/engine/half';
import { ElemType, type ModelProto } from '../../src/engine/onnx/model';
import { makeTensor } from '../../src/engine/onnx/tensorValues';

export type Dims = (number | string)[];

function info(name: string, elemType: number, dims: Dims): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) } } },
  };
}

function attributes(values: Record<string, number | undefined>): onnx.IAttributeProto[] {
  const Type = onnx.AttributeProto.AttributeType;
  return Object.entries(values)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => (Number.isInteger(value) ? { name, type: Type.INT, i: value } : { name, type: Type.FLOAT, f: value as number }));
}

/** Encoded and decoded again: every repeated field an array, as in a model read from a file. */
function roundTrip(model: onnx.IModelProto): ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
}

/** Deterministic pseudo-random numbers in [-1, 1). */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32) * 2 - 1;
  };
}

/** A float tensor's values as the element type wants them (fp16 as bits). */
export function floatData(elemType: number, values: number[]): Float32Array | Uint16Array {
  return elemType === ElemType.FLOAT16 ? Uint16Array.from(values, floatToHalf) : Float32Array.from(values);
}

export interface GqaCase {
  elemType: number;
  batch: number;
  /** New tokens S. */
  sequence: number;
  heads: number;
  kvHeads: number;
  headSize: number;
  /** Past buffer length P (0: no past inputs). */
  past: number;
  packed: boolean;
  /** Rotary: cos/sin caches of rotaryDim/2 columns and `cacheLength` rows. */
  rotary?: { interleaved: number; rotaryDim: number; cacheLength: number };
  localWindow?: number;
  softcap?: number;
  scale?: number;
  smoothSoftmax?: number;
  headSink?: boolean;
  positionIds?: boolean;
  /** Shape of attention_bias [B|1, N|1, S, T|1] where T = total. */
  attentionBias?: number[];
  /** Extra attributes (to test refusals). */
  extra?: Record<string, number>;
}

/** The rotary caches of the usual θ = 10000 table, rows = positions. */
export function rotaryCaches(length: number, half: number): { cos: number[]; sin: number[] } {
  const cos: number[] = [];
  const sin: number[] = [];
  for (let position = 0; position < length; position++) {
    for (let i = 0; i < half; i++) {
      const angle = position / 10000 ** ((2 * i) / (2 * half));
      cos.push(Math.cos(angle));
      sin.push(Math.sin(angle));
    }
  }
  return { cos, sin };
}

/** One GroupQueryAttention node; outputs output, present_key, present_value. */
export function groupQueryModel(c: GqaCase): ModelProto {
  const t = c.elemType;
  const inputs: onnx.IValueInfoProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const names: string[] = [];
  const hidden = c.heads * c.headSize;
  const kvHidden = c.kvHeads * c.headSize;
  if (c.packed) {
    inputs.push(info('query', t, ['batch', 'sequence', hidden + 2 * kvHidden]));
    names.push('query', '', '');
  } else {
    inputs.push(info('query', t, ['batch', 'sequence', hidden]), info('key', t, ['batch', 'sequence', kvHidden]), info('value', t, ['batch', 'sequence', kvHidden]));
    names.push('query', 'key', 'value');
  }
  if (c.past > 0) {
    inputs.push(info('past_key', t, ['batch', c.kvHeads, 'past', c.headSize]), info('past_value', t, ['batch', c.kvHeads, 'past', c.headSize]));
    names.push('past_key', 'past_value');
  } else {
    names.push('', '');
  }
  inputs.push(info('seqlens_k', ElemType.INT32, ['batch']), info('total_sequence_length', ElemType.INT32, []));
  names.push('seqlens_k', 'total_sequence_length');
  if (c.rotary) {
    const half = c.rotary.rotaryDim / 2;
    const { cos, sin } = rotaryCaches(c.rotary.cacheLength, half);
    initializers.push(makeTensor('cos_cache', t, [c.rotary.cacheLength, half], cos), makeTensor('sin_cache', t, [c.rotary.cacheLength, half], sin));
    names.push('cos_cache', 'sin_cache');
  } else {
    names.push('', '');
  }
  const optional: [string, boolean, onnx.IValueInfoProto][] = [
    ['position_ids', !!c.positionIds, info('position_ids', ElemType.INT64, ['batch', 'sequence'])],
    ['attention_bias', !!c.attentionBias, info('attention_bias', t, c.attentionBias ?? [])],
    ['head_sink', !!c.headSink, info('head_sink', t, [c.heads])],
  ];
  for (const [name, used, value] of optional) {
    names.push(used ? name : '');
    if (used) inputs.push(value);
  }
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  const node: onnx.INodeProto = {
    name: 'gqa_layer_0',
    opType: 'GroupQueryAttention',
    domain: 'com.microsoft',
    input: names,
    output: ['output', 'present_key', 'present_value'],
    attribute: attributes({
      num_heads: c.heads,
      kv_num_heads: c.kvHeads,
      do_rotary: c.rotary ? 1 : undefined,
      rotary_interleaved: c.rotary ? c.rotary.interleaved : undefined,
      local_window_size: c.localWindow,
      softcap: c.softcap,
      scale: c.scale,
      smooth_softmax: c.smoothSoftmax,
      ...c.extra,
    }),
  };
  return roundTrip({
    irVersion: 8,
    producerName: 'attention-lens-tests',
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'gqa',
      node: [node],
      initializer: initializers,
      input: inputs,
      output: [info('output', t, ['batch', 'sequence', hidden]), info('present_key', t, ['batch', c.kvHeads, 'total', c.headSize]), info('present_value', t, ['batch', c.kvHeads, 'total', c.headSize])],
    },
  });
}

export interface StandardCase {
  elemType: number;
  opset: 23 | 24;
  batch: number;
  queries: number;
  /** New keys (K/V sequence). */
  keys: number;
  heads: number;
  kvHeads: number;
  headSize: number;
  /** 3-D inputs [B, S, N·H] (with q_num_heads/kv_num_heads) or 4-D [B, N, S, H]. */
  rank: 3 | 4;
  past: number;
  isCausal?: number;
  softcap?: number;
  scale?: number;
  /** attn_mask: 'bool' or 'float', shape [S, T] broadcast. */
  mask?: 'bool' | 'float';
  extra?: Record<string, number>;
}

/** One ai.onnx Attention node; outputs Y (and present_key/present_value with a past). */
export function standardAttentionModel(c: StandardCase): ModelProto {
  const t = c.elemType;
  const shape = (heads: number, length: number | string): Dims => (c.rank === 3 ? ['batch', length, heads * c.headSize] : ['batch', heads, length, c.headSize]);
  const inputs = [info('Q', t, shape(c.heads, 'queries')), info('K', t, shape(c.kvHeads, 'keys')), info('V', t, shape(c.kvHeads, 'keys'))];
  const names = ['Q', 'K', 'V'];
  if (c.mask) {
    inputs.push(info('attn_mask', c.mask === 'bool' ? ElemType.BOOL : t, ['queries', 'total']));
    names.push('attn_mask');
  } else if (c.past > 0) {
    names.push('');
  }
  const outputs = [info('Y', t, c.rank === 3 ? ['batch', 'queries', c.heads * c.headSize] : ['batch', c.heads, 'queries', c.headSize])];
  const outputNames = ['Y'];
  if (c.past > 0) {
    inputs.push(info('past_key', t, ['batch', c.kvHeads, 'past', c.headSize]), info('past_value', t, ['batch', c.kvHeads, 'past', c.headSize]));
    names.push('past_key', 'past_value');
    outputs.push(info('present_key', t, ['batch', c.kvHeads, 'total', c.headSize]), info('present_value', t, ['batch', c.kvHeads, 'total', c.headSize]));
    outputNames.push('present_key', 'present_value');
  }
  const node: onnx.INodeProto = {
    name: 'sdpa_layer_0',
    opType: 'Attention',
    domain: '',
    input: names,
    output: outputNames,
    attribute: attributes({
      ...(c.rank === 3 ? { q_num_heads: c.heads, kv_num_heads: c.kvHeads } : {}),
      is_causal: c.isCausal,
      softcap: c.softcap,
      scale: c.scale,
      ...c.extra,
    }),
  };
  return roundTrip({
    irVersion: 10,
    producerName: 'attention-lens-tests',
    opsetImport: [{ domain: '', version: c.opset }],
    graph: { name: 'sdpa', node: [node], input: inputs, output: outputs },
  });
}

// ---------------------------------------------------------------------------------------------
// An independent float64 computation of GroupQueryAttention as onnxruntime's CPU kernel defines it.

export interface GqaFeeds {
  query: number[];
  key?: number[];
  value?: number[];
  pastKey?: number[];
  pastValue?: number[];
  seqlensK: number[];
  total: number;
  positionIds?: number[];
  attentionBias?: number[];
  headSink?: number[];
}

export interface GqaResult {
  output: Float64Array;
  presentKey: Float64Array;
  presentValue: Float64Array;
  /** [B, N, S, Tp] probabilities; NaN in rows the kernel leaves undefined (padded prompt rows). */
  probs: Float64Array;
  presentLength: number;
  /** Query rows (b, s) whose output the kernel defines. */
  validRow: (b: number, s: number) => boolean;
}

export function gqaReference(c: GqaCase, f: GqaFeeds, options: { windowKeys?: (w: number) => number } = {}): GqaResult {
  const { batch: B, sequence: S, heads: N, kvHeads: KV, headSize: H, past: P } = c;
  const group = N / KV;
  const width = c.packed ? (N + 2 * KV) * H : N * H;
  const firstPrompt = S === f.total;
  const Tp = Math.max(f.total, P);
  const pastOf = (b: number): number => (firstPrompt ? 0 : (f.seqlensK[b] as number) + 1 - S);
  const read = (kind: 'q' | 'k' | 'v', b: number, s: number, head: number, d: number): number => {
    if (c.packed) {
      const offset = kind === 'q' ? head * H : kind === 'k' ? (N + head) * H : (N + KV + head) * H;
      return f.query[(b * S + s) * width + offset + d] as number;
    }
    const source = kind === 'q' ? f.query : kind === 'k' ? (f.key as number[]) : (f.value as number[]);
    const heads = kind === 'q' ? N : KV;
    return source[((b * S + s) * heads + head) * H + d] as number;
  };
  const rotate = (vector: number[], position: number): number[] => {
    if (!c.rotary) return vector;
    const half = c.rotary.rotaryDim / 2;
    const { cos, sin } = rotaryCaches(position + 1, half);
    const out = vector.slice();
    for (let i = 0; i < half; i++) {
      const [a, b] = c.rotary.interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
      const co = cos[position * half + i] as number;
      const si = sin[position * half + i] as number;
      out[a] = (vector[a] as number) * co - (vector[b] as number) * si;
      out[b] = (vector[b] as number) * co + (vector[a] as number) * si;
    }
    return out;
  };
  const position = (b: number, s: number): number => {
    if (f.positionIds) return f.positionIds[b * S + s] as number;
    if (firstPrompt) return s;
    const past = pastOf(b);
    return past < 0 ? s : past + s;
  };
  const vec = (kind: 'q' | 'k' | 'v', b: number, s: number, head: number): number[] => Array.from({ length: H }, (_, d) => read(kind, b, s, head, d));
  const presentKey = new Float64Array(B * KV * Tp * H);
  const presentValue = new Float64Array(B * KV * Tp * H);
  for (let b = 0; b < B; b++) {
    const past = pastOf(b);
    for (let h = 0; h < KV; h++) {
      for (let j = 0; j < Tp; j++) {
        let k: number[] | null = null;
        let v: number[] | null = null;
        if (j < past) {
          k = Array.from({ length: H }, (_, d) => (f.pastKey as number[])[((b * KV + h) * P + j) * H + d] as number);
          v = Array.from({ length: H }, (_, d) => (f.pastValue as number[])[((b * KV + h) * P + j) * H + d] as number);
        } else if (j < past + S) {
          k = c.kvHeads ? rotate(vec('k', b, j - past, h), position(b, j - past)) : null;
          v = vec('v', b, j - past, h);
        }
        for (let d = 0; d < H; d++) {
          presentKey[((b * KV + h) * Tp + j) * H + d] = k ? (k[d] as number) : 0;
          presentValue[((b * KV + h) * Tp + j) * H + d] = v ? (v[d] as number) : 0;
        }
      }
    }
  }
  const alpha = c.scale || 1 / Math.sqrt(H);
  const output = new Float64Array(B * S * N * H);
  const probs = new Float64Array(B * N * S * Tp).fill(Number.NaN);
  const windowKeys = options.windowKeys ?? ((w: number) => w);
  const bias = c.attentionBias;
  for (let b = 0; b < B; b++) {
    const past = pastOf(b);
    const totalB = (f.seqlensK[b] as number) + 1;
    for (let n = 0; n < N; n++) {
      const kvHead = Math.floor(n / group);
      for (let s = 0; s < S; s++) {
        const causal = past + s + 1;
        if (causal > totalB) continue; // the kernel reads unwritten scores there
        const q = rotate(vec('q', b, s, n), position(b, s));
        const start = c.localWindow !== undefined && c.localWindow >= 0 && causal > windowKeys(c.localWindow) ? causal - windowKeys(c.localWindow) : 0;
        const logits: number[] = [];
        for (let j = start; j < causal; j++) {
          let dot = 0;
          for (let d = 0; d < H; d++) dot += (q[d] as number) * (presentKey[((b * KV + kvHead) * Tp + j) * H + d] as number);
          let x = alpha * dot;
          if (c.softcap && c.softcap > 0) x = c.softcap * Math.tanh(x / c.softcap);
          if (bias && f.attentionBias) {
            const at = (((bias[0] === 1 ? 0 : b) * (bias[1] as number) + (bias[1] === 1 ? 0 : n)) * S + s) * (bias[3] as number) + (bias[3] === 1 ? 0 : j);
            x += f.attentionBias[at] as number;
          }
          logits.push(x);
        }
        const sink = f.headSink ? (f.headSink[n] as number) : c.smoothSoftmax ? 0 : null;
        const max = Math.max(...logits, sink ?? -Infinity);
        const exps = logits.map((x) => Math.exp(x - max));
        const sum = exps.reduce((a, e) => a + e, 0) + (sink !== null ? Math.exp(sink - max) : 0);
        for (let j = 0; j < Tp; j++) probs[((b * N + n) * S + s) * Tp + j] = 0;
        exps.forEach((e, i) => {
          const p = e / sum;
          probs[((b * N + n) * S + s) * Tp + start + i] = p;
          for (let d = 0; d < H; d++) output[((b * S + s) * N + n) * H + d] += p * (presentValue[((b * KV + kvHead) * Tp + start + i) * H + d] as number);
        });
      }
    }
  }
  const validRow = (b: number, s: number): boolean => pastOf(b) + s + 1 <= (f.seqlensK[b] as number) + 1;
  return { output, presentKey, presentValue, probs, presentLength: Tp, validRow };
}

/**
 * ai.onnx Attention (opset 23/24) in float64, as the spec defines it: K and V follow their past, query
 * head h reads KV head ⌊h / (N / kvN)⌋, scores scale·Q·Kᵀ (scale or 1/√H), softcap, then the mask
 * (is_causal: query i sees keys j ≤ i + P; attn_mask added or, boolean, keeping where true), softmax.
 * Inputs and outputs as [B, heads, length, H] arrays whatever the rank the model uses.
 */
export function standardReference(
  c: StandardCase,
  q: number[],
  k: number[],
  v: number[],
  past?: { key: number[]; value: number[] },
  mask?: number[],
): { output: Float64Array; probs: Float64Array; total: number } {
  const { batch: B, queries: S, keys: L, heads: N, kvHeads: KV, headSize: H, past: P } = c;
  const T = P + L;
  const group = N / KV;
  const keyAt = (b: number, h: number, j: number, d: number, which: 'k' | 'v'): number => {
    if (j < P) return (which === 'k' ? past?.key : past?.value)?.[((b * KV + h) * P + j) * H + d] as number;
    return (which === 'k' ? k : v)[((b * KV + h) * L + (j - P)) * H + d] as number;
  };
  const scale = c.scale || 1 / Math.sqrt(H);
  const probs = new Float64Array(B * N * S * T);
  const output = new Float64Array(B * N * S * H);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const kv = Math.floor(n / group);
      for (let i = 0; i < S; i++) {
        const logits = Array.from({ length: T }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < H; d++) dot += (q[((b * N + n) * S + i) * H + d] as number) * keyAt(b, kv, j, d, 'k');
          let x = scale * dot;
          if (c.softcap && c.softcap > 0) x = c.softcap * Math.tanh(x / c.softcap);
          if (mask) x = c.mask === 'bool' ? ((mask[i * T + j] as number) ? x : -Infinity) : x + (mask[i * T + j] as number);
          if (c.isCausal && j > i + P) x = -Infinity;
          return x;
        });
        const max = Math.max(...logits);
        const exps = logits.map((x) => Math.exp(x - max));
        const sum = exps.reduce((a, e) => a + e, 0);
        exps.forEach((e, j) => {
          probs[((b * N + n) * S + i) * T + j] = e / sum;
          for (let d = 0; d < H; d++) output[((b * N + n) * S + i) * H + d] += (e / sum) * keyAt(b, kv, j, d, 'v');
        });
      }
    }
  }
  return { output, probs, total: T };
}
