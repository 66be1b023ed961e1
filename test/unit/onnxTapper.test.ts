/**
 * Graph analysis and tapping of ONNX Transformers (src/engine/onnx/tapper.ts), on real exports by
 * other tools (../shared/fixtures/onnx, see its README) and on small models built here with
 * deliberate bugs. Every tapped model is run with onnxruntime-web (WASM, one thread) and its taps are
 * checked: rows sum to 1, causal cells are exactly 0, decoded masks block what they should, the
 * model's own outputs are unchanged, residual norms are [1, T] and positive. Probabilities are
 * compared with independent computations for the SDPA fixture and for the built models.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import ort = require('onnxruntime-web');
import { withOpenGates } from '../support/headGates';
import { UserFacingError } from '../../src/shared/errors';
import { floatToHalf, halfToFloat } from '../../src/engine/half';
import { decodeModel, encodeModel, ElemType, makeNode, makeValueInfo, makeAttrInt, makeAttrInts, type ModelProto } from '../../src/engine/onnx/model';
import { makeTensor } from '../../src/engine/onnx/tensorValues';
import { GraphIndex } from '../../src/engine/onnx/graph';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import type { AttentionTap, MaskEncoding, TapPlan } from '../../src/engine/onnx/tapPlan';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');

before(() => {
  ort.env.wasm.numThreads = 1;
});

// ---------------------------------------------------------------------------------------------
// Helpers: feeds, runs, decoding

/** Deterministic pseudo-random numbers in [-0.5, 0.5). */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32 - 0.5;
  };
}

interface FeedOptions {
  tokens: number;
  past?: number;
  /** Index of a key position whose attention_mask entry is 0. */
  padAt?: number;
  seed?: number;
}

/** Feeds built from the model's declared inputs: ids, masks of ones, zeros for types, empty or random past. */
function buildFeeds(model: ModelProto, options: FeedOptions): Record<string, ort.Tensor> {
  const index = new GraphIndex(model.graph as onnx.IGraphProto);
  const next = random(options.seed ?? 7);
  const past = options.past ?? 0;
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of index.graphInputs) {
    const info = index.valueInfo(name) as onnx.IValueInfoProto;
    const type = info.type?.tensorType?.elemType ?? ElemType.FLOAT;
    const dimProtos = info.type?.tensorType?.shape?.dim ?? [];
    const lower = name.toLowerCase();
    const isPast = lower.includes('past');
    const dims = dimProtos.map((dim, axis) => {
      const fixed = Number(dim.dimValue ?? 0);
      if (fixed > 0) {
        return fixed;
      }
      const param = (dim.dimParam ?? '').toLowerCase();
      if (axis === 0 && !isPast) {
        return 1; // batch
      }
      if (param.startsWith('batch') || param === 'n') {
        return 1;
      }
      if (isPast) {
        return past;
      }
      if (param.includes('total') || (lower.includes('mask') && past > 0)) {
        return past + options.tokens;
      }
      return options.tokens;
    });
    const count = dims.reduce((a, b) => a * b, 1);
    let values: number[];
    if (lower.includes('mask_index')) {
      values = new Array(count).fill(options.padAt !== undefined ? options.padAt : dims.length ? options.tokens : 0);
      if (dims.length === 1) {
        values = new Array(count).fill(options.padAt ?? options.tokens);
      }
    } else if (lower.includes('mask')) {
      const keys = dims[dims.length - 1] ?? 0;
      values = Array.from({ length: count }, (_, i) => (options.padAt !== undefined && i % keys === options.padAt ? 0 : 1));
    } else if (lower.includes('token_type')) {
      values = new Array(count).fill(0);
    } else if (lower.includes('position')) {
      values = Array.from({ length: count }, (_, i) => past + (i % options.tokens));
    } else if (lower.includes('ids') || (type === ElemType.INT64 || type === ElemType.INT32)) {
      values = Array.from({ length: count }, (_, i) => 1 + ((i * 7) % 15)); // small ids: the toy vocabularies have 20 entries
    } else {
      values = Array.from({ length: count }, () => next());
    }
    feeds[name] = makeOrtTensor(type, values, dims);
  }
  return feeds;
}

function makeOrtTensor(type: number, values: number[], dims: number[]): ort.Tensor {
  switch (type) {
    case ElemType.INT64:
      return new ort.Tensor('int64', BigInt64Array.from(values.map((value) => BigInt(value))), dims);
    case ElemType.INT32:
      return new ort.Tensor('int32', Int32Array.from(values), dims);
    case ElemType.FLOAT16:
      return new ort.Tensor('float16', Uint16Array.from(values.map(floatToHalf)), dims);
    case ElemType.BOOL:
      return new ort.Tensor('bool', Uint8Array.from(values), dims);
    default:
      return new ort.Tensor('float32', Float32Array.from(values), dims);
  }
}

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    return await session.run(withOpenGates(session.inputNames, feeds));
  } finally {
    await session.release();
  }
}

/** Numbers of any tensor (fp16 widened, bool/ints as numbers). */
function numbers(tensor: ort.Tensor): Float64Array {
  const data = tensor.data as ArrayLike<number | bigint>;
  if (tensor.type === 'float16') {
    return Float64Array.from(data as Uint16Array, (bits) => halfToFloat(bits));
  }
  return Float64Array.from(Array.from(data, (value) => Number(value)));
}

/** The probabilities as [heads, queries, keys], whatever the layout (batch 1). */
function probsOf(tap: AttentionTap, tensor: ort.Tensor): { heads: number; queries: number; keys: number; at: (h: number, q: number, k: number) => number } {
  const dims = tensor.dims.map(Number);
  const data = tensor.data as Float32Array;
  assert.equal(tensor.type, 'float32', `${tap.output} is float32`);
  switch (tap.layout) {
    case 'BHQK':
      return { heads: dims[1] as number, queries: dims[2] as number, keys: dims[3] as number, at: (h, q, k) => data[(h * (dims[2] as number) + q) * (dims[3] as number) + k] as number };
    case 'BQHK':
      return { heads: dims[2] as number, queries: dims[1] as number, keys: dims[3] as number, at: (h, q, k) => data[(q * (dims[2] as number) + h) * (dims[3] as number) + k] as number };
    case '(BH)QK':
      return { heads: tap.heads as number, queries: dims[1] as number, keys: dims[2] as number, at: (h, q, k) => data[(h * (dims[1] as number) + q) * (dims[2] as number) + k] as number };
    case 'BQK':
      return { heads: 1, queries: dims[1] as number, keys: dims[2] as number, at: (_h, q, k) => data[q * (dims[2] as number) + k] as number };
    case 'QK':
      return { heads: 1, queries: dims[0] as number, keys: dims[1] as number, at: (_h, q, k) => data[q * (dims[1] as number) + k] as number };
  }
}

/** Decoded mask [queries][keys] (batch 0, head 0), 1 allowed / 0 blocked, broadcasting from any rank. */
function decodeMask(tensor: ort.Tensor, encoding: MaskEncoding, queries: number, keys: number): number[][] {
  const dims = tensor.dims.map(Number);
  const values = numbers(tensor);
  const rank = dims.length;
  const strides = dims.map((_, axis) => dims.slice(axis + 1).reduce((a, b) => a * b, 1));
  const at = (q: number, k: number): number => {
    let offset = 0;
    if (rank >= 1) {
      offset += ((dims[rank - 1] as number) === 1 ? 0 : k) * (strides[rank - 1] as number);
    }
    if (rank >= 2) {
      offset += ((dims[rank - 2] as number) === 1 ? 0 : q) * (strides[rank - 2] as number);
    }
    return values[offset] as number;
  };
  return Array.from({ length: queries }, (_, q) =>
    Array.from({ length: keys }, (_, k) => {
      const value = at(q, k);
      switch (encoding) {
        case 'additive':
          return value <= -1e4 ? 0 : 1;
        case 'where-keep-if-true':
          return value ? 1 : 0;
        case 'where-block-if-true':
          return value ? 0 : 1;
      }
    }),
  );
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const error = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(error <= tolerance) && !(Number.isNaN(a) && Number.isNaN(e))) {
      assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
    }
    worst = Math.max(worst, error);
  }
}

interface CheckResult {
  tapped: Record<string, ort.Tensor>;
  plan: TapPlan;
}

/**
 * Runs the model before and after tapping on the same feeds and checks everything the taps promise.
 * `causalOffset`: for causal blocks, query q may see keys ≤ q + offset (the past length).
 */
async function runAndCheck(original: ModelProto, feeds: Record<string, ort.Tensor>, options: { causalOffset?: number; tolerance?: number; tokens: number }): Promise<CheckResult> {
  const { model, plan } = analyzeAndTap(original);
  const before = await run(original, feeds);
  const tapped = await run(model, feeds);
  // Taps must not change results.
  for (const name of Object.keys(before)) {
    assertClose(numbers(tapped[name] as ort.Tensor), numbers(before[name] as ort.Tensor), options.tolerance ?? 1e-5, `output ${name}`);
  }
  for (const tap of plan.attention) {
    const tensor = tapped[tap.output];
    assert.ok(tensor, `tap ${tap.output} present`);
    const probs = probsOf(tap, tensor);
    const mask = tap.mask ? decodeMask(tapped[tap.mask.output] as ort.Tensor, tap.mask.encoding, probs.queries, probs.keys) : null;
    for (let h = 0; h < probs.heads; h++) {
      for (let q = 0; q < probs.queries; q++) {
        let sum = 0;
        for (let k = 0; k < probs.keys; k++) {
          const p = probs.at(h, q, k);
          sum += p;
          if (tap.expectedMaskKind === 'causal' || tap.expectedMaskKind === 'causal+padding') {
            if (k > q + (options.causalOffset ?? 0)) {
              assert.equal(p, 0, `${tap.node} h${h} q${q} k${k} above the diagonal`);
            }
          }
          if (mask && mask[q]?.[k] === 0) {
            assert.equal(p, 0, `${tap.node} h${h} q${q} k${k} is masked`);
          }
        }
        assert.ok(Math.abs(sum - 1) <= 1e-5, `${tap.node} h${h} q${q} row sums to ${sum}`);
      }
    }
  }
  for (const tap of plan.residual) {
    const tensor = tapped[tap.output] as ort.Tensor;
    assert.ok(tensor, `residual tap ${tap.label}`);
    assert.deepEqual(tensor.dims.map(Number), [1, options.tokens], `${tap.label} shape`);
    for (const value of numbers(tensor)) {
      assert.ok(Number.isFinite(value) && value > 0, `${tap.label}: norm ${value}`);
    }
  }
  return { tapped, plan };
}

function loadFixture(name: string): ModelProto {
  return decodeModel(fs.readFileSync(path.join(FIXTURES, name)), name);
}

function summary(plan: TapPlan): string[] {
  return plan.attention.map((tap) => `${tap.kind}:${tap.queryStream}>${tap.keyStream}:L${tap.layer}:${tap.layout}:${tap.expectedMaskKind}`);
}

// ---------------------------------------------------------------------------------------------
// Real exports

describe('tapping real ONNX exports', () => {
  it('ort_bert_toy_op12: 5 encoder-self blocks with the padding mask, residual adds per layer', async () => {
    const model = loadFixture('ort_bert_toy_op12.onnx');
    const tokens = 6;
    const { plan } = await runAndCheck(model, buildFeeds(model, { tokens }), { tokens });
    assert.deepEqual(summary(plan), [0, 1, 2, 3, 4].map((layer) => `encoder-self:encoder>encoder:L${layer}:BHQK:padding`));
    assert.deepEqual(
      plan.residual.map((tap) => tap.label),
      ['encoder embedding + positions', ...[0, 1, 2, 3, 4].flatMap((layer) => [`encoder L${layer} + self-attention`, `encoder L${layer} + feed-forward`])],
    );
    // A padded key gets no attention from any query.
    const padded = await runAndCheck(model, buildFeeds(model, { tokens, padAt: 4 }), { tokens });
    for (const tap of padded.plan.attention) {
      const probs = probsOf(tap, padded.tapped[tap.output] as ort.Tensor);
      const mask = decodeMask(padded.tapped[tap.mask?.output ?? ''] as ort.Tensor, tap.mask?.encoding ?? 'additive', probs.queries, probs.keys);
      assert.equal(mask[0]?.[4], 0);
      assert.equal(mask[0]?.[3], 1);
      for (let q = 0; q < probs.queries; q++) {
        assert.equal(probs.at(1, q, 4), 0);
      }
    }
  });

  it('ort_gpt2_past_pt1.6_op11: 12 decoder-self blocks, causal Where mask, with a past', async () => {
    const model = loadFixture('ort_gpt2_past_pt1.6_op11.onnx');
    const tokens = 1; // the export fixes input_ids to [batch, 1]
    const { plan, tapped } = await runAndCheck(model, buildFeeds(model, { tokens, past: 3 }), { tokens, causalOffset: 3 });
    assert.deepEqual(summary(plan), Array.from({ length: 12 }, (_, layer) => `decoder-self:decoder>decoder:L${layer}:BHQK:causal`));
    assert.ok(plan.attention.every((tap) => tap.mask?.encoding === 'where-keep-if-true'));
    assert.deepEqual((tapped[plan.attention[0]?.output ?? ''] as ort.Tensor).dims.map(Number), [1, 2, 1, 4]);
    assert.equal(plan.residual.length, 1 + 24);
    assert.equal(plan.residual[0]?.label, 'decoder embedding + positions');
    assert.equal(plan.residual[24]?.label, 'decoder L11 + feed-forward');
  });

  it('optimum_tiny-distilbert_pt1.10_op11: 2 encoder-self blocks; a 0 in attention_mask gives that key p = 0', async () => {
    const model = loadFixture('optimum_tiny-distilbert_pt1.10_op11.onnx');
    const tokens = 5;
    const { plan, tapped } = await runAndCheck(model, buildFeeds(model, { tokens, padAt: 2 }), { tokens });
    assert.deepEqual(summary(plan), ['encoder-self:encoder>encoder:L0:BHQK:padding', 'encoder-self:encoder>encoder:L1:BHQK:padding']);
    for (const tap of plan.attention) {
      assert.equal(tap.mask?.encoding, 'where-block-if-true');
      const probs = probsOf(tap, tapped[tap.output] as ort.Tensor);
      const mask = decodeMask(tapped[tap.mask?.output ?? ''] as ort.Tensor, 'where-block-if-true', probs.queries, probs.keys);
      assert.deepEqual(mask[3], [1, 1, 0, 1, 1]);
      for (let h = 0; h < probs.heads; h++) {
        for (let q = 0; q < tokens; q++) {
          assert.equal(probs.at(h, q, 2), 0);
          assert.ok(probs.at(h, q, 1) > 0);
        }
      }
    }
    assert.equal(plan.residual.length, 5);
  });

  it('ort_TFBertForSequenceClassification_keras2onnx_op10: 12 encoder-self blocks, sequence fixed at 7', async () => {
    const model = loadFixture('ort_TFBertForSequenceClassification_keras2onnx_op10.onnx');
    const tokens = 7;
    const { plan, tapped } = await runAndCheck(model, buildFeeds(model, { tokens, padAt: 6 }), { tokens });
    assert.deepEqual(summary(plan), Array.from({ length: 12 }, (_, layer) => `encoder-self:encoder>encoder:L${layer}:BHQK:padding`));
    const probs = probsOf(plan.attention[5] as AttentionTap, tapped[plan.attention[5]?.output ?? ''] as ort.Tensor);
    assert.equal(probs.at(0, 0, 6), 0);
    assert.equal(plan.residual.length, 25);
  });

  it('ort_bert_attention_block_mask1d_fp16: one fp16 block read as float32, 1-D mask_index decoded', async () => {
    const model = loadFixture('ort_bert_attention_block_mask1d_fp16.onnx');
    const tokens = 4;
    const { plan, tapped } = await runAndCheck(model, buildFeeds(model, { tokens, padAt: 3 }), { tokens });
    assert.deepEqual(summary(plan), ['encoder-self:encoder>encoder:L0:BHQK:padding']);
    const tap = plan.attention[0] as AttentionTap;
    const probs = probsOf(tap, tapped[tap.output] as ort.Tensor);
    assert.equal(probs.heads, 12);
    const mask = decodeMask(tapped[tap.mask?.output ?? ''] as ort.Tensor, tap.mask?.encoding ?? 'additive', probs.queries, probs.keys);
    assert.deepEqual(mask[0], [1, 1, 1, 0]); // mask_index 3: keys from 3 on are padding
    assert.equal(probs.at(11, 2, 3), 0);
    assert.equal(plan.residual.length, 0);
    assert.ok(plan.notes.some((note) => note.message.includes('No residual Add')));
  });

  it('onnx2tf_sdpa Attention-op23: probabilities through qk_matmul_output, equal to softmax(q·kᵀ/√d)', async () => {
    const model = loadFixture('onnx2tf_sdpa_torch2.10_Attention-op23.onnx');
    const feeds = buildFeeds(model, { tokens: 128, seed: 3 });
    const { model: tapped, plan } = analyzeAndTap(model);
    assert.deepEqual(summary(plan), ['self:encoder>encoder:L0:BHQK:none']);
    const attention = tapped.graph?.node?.find((node) => node.opType === 'Attention');
    assert.equal(Number(attention?.attribute?.find((attribute) => attribute.name === 'qk_matmul_output_mode')?.i), 3);
    const before = await run(model, feeds);
    const after = await run(tapped, feeds);
    assertClose(numbers(after.scaled_dot_product_attention as ort.Tensor), numbers(before.scaled_dot_product_attention as ort.Tensor), 1e-6, 'sdpa output');
    const tap = plan.attention[0] as AttentionTap;
    const probs = probsOf(tap, after[tap.output] as ort.Tensor);
    assert.deepEqual([probs.heads, probs.queries, probs.keys], [8, 128, 128]);
    // Independent check for a few rows of batch 0: softmax(q·kᵀ/√64).
    const q = feeds.q?.data as Float32Array;
    const k = feeds.k?.data as Float32Array;
    for (const [h, row] of [[0, 0], [3, 77], [7, 127]] as const) {
      const logits = Array.from({ length: 128 }, (_, key) => {
        let dot = 0;
        for (let d = 0; d < 64; d++) {
          dot += (q[(h * 128 + row) * 64 + d] as number) * (k[(h * 128 + key) * 64 + d] as number);
        }
        return dot / 8;
      });
      const max = Math.max(...logits);
      const exps = logits.map((logit) => Math.exp(logit - max));
      const total = exps.reduce((a, b) => a + b, 0);
      assertClose(Array.from({ length: 128 }, (_, key) => probs.at(h, row, key)), exps.map((e) => e / total), 1e-5, `sdpa h${h} q${row}`);
      const sum = Array.from({ length: 128 }, (_, key) => probs.at(h, row, key)).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5);
    }
  });

  it('genai tiny-random-gpt2 (com.microsoft Attention x5): rewritten into plain ops with identical outputs', async () => {
    const model = loadFixture('genai_tiny-random-gpt2_fp32_fusedAttention_past.onnx');
    const tokens = 5;
    // Regular outputs (logits, presents) of the rewritten model equal the fused original within 1e-5.
    const { plan, tapped } = await runAndCheck(model, buildFeeds(model, { tokens }), { tokens });
    assert.deepEqual(summary(plan), [0, 1, 2, 3, 4].map((layer) => `decoder-self:decoder>decoder:L${layer}:BHQK:causal+padding`));
    assert.ok(plan.notes.some((note) => note.code === 'fused-rewritten' && note.message.includes('5 com.microsoft.Attention')));
    assert.ok(plan.attention.every((tap) => tap.node.startsWith('GptAttention_')));
    const probs = probsOf(plan.attention[0] as AttentionTap, tapped[plan.attention[0]?.output ?? ''] as ort.Tensor);
    assert.ok(probs.at(0, 4, 3) > 0);
    assert.deepEqual(
      plan.residual.map((tap) => tap.label),
      ['decoder embedding + positions', ...[0, 1, 2, 3, 4].flatMap((layer) => [`decoder L${layer} + self-attention`, `decoder L${layer} + feed-forward`])],
    );
    // With padding (key 2 masked) and with a past of 2 positions.
    const padded = await runAndCheck(model, buildFeeds(model, { tokens, padAt: 2 }), { tokens });
    const paddedProbs = probsOf(padded.plan.attention[2] as AttentionTap, padded.tapped[padded.plan.attention[2]?.output ?? ''] as ort.Tensor);
    assert.equal(paddedProbs.at(1, 4, 2), 0);
    await runAndCheck(model, buildFeeds(model, { tokens, past: 2 }), { tokens, causalOffset: 2 });
  });

  it('unloadable BertForQuestionAnswering fp16: decodes and is analysed, onnxruntime refuses to load it', async () => {
    const model = loadFixture('unloadable/ort_BertForQuestionAnswering_fp16_pt1.3_op11.onnx');
    const { model: tapped, plan } = analyzeAndTap(model);
    assert.equal(plan.attention.length, 12);
    assert.ok(plan.attention.every((tap) => tap.kind === 'encoder-self'));
    // Loading is the runtime's business (its loader must turn this into a clear message).
    await assert.rejects(ort.InferenceSession.create(encodeModel(model)), /Concat|rank|ShapeInference/i);
    await assert.rejects(ort.InferenceSession.create(encodeModel(tapped)));
  });
});

// ---------------------------------------------------------------------------------------------
// Small models with deliberate bugs

interface TinyOptions {
  scale: boolean;
  /** Keys allowed: k ≤ q + maskShift (0 = correct causal mask); null = no mask. */
  maskShift: number | null;
  softmaxAxis: number;
  opset: number;
}

const T = 4;
const D = 8;
const H = 2;
const DH = D / H;

function tinyWeights(): { wq: number[]; wk: number[]; wv: number[]; wo: number[]; x: number[] } {
  const next = random(11);
  const matrix = (): number[] => Array.from({ length: D * D }, () => next() * 1.5);
  return { wq: matrix(), wk: matrix(), wv: matrix(), wo: matrix(), x: Array.from({ length: T * D }, () => next() * 2) };
}

/** One causal self-attention layer + residual Add, written the way PyTorch exports it. */
function tinyModel(options: TinyOptions): ModelProto {
  const w = tinyWeights();
  const init = [
    makeTensor('wq', ElemType.FLOAT, [D, D], w.wq),
    makeTensor('wk', ElemType.FLOAT, [D, D], w.wk),
    makeTensor('wv', ElemType.FLOAT, [D, D], w.wv),
    makeTensor('wo', ElemType.FLOAT, [D, D], w.wo),
    makeTensor('heads_shape', ElemType.INT64, [4], [1, T, H, DH]),
    makeTensor('merge_shape', ElemType.INT64, [3], [1, T, D]),
  ];
  const nodes = [
    makeNode('MatMul', ['x', 'wq'], ['q'], 'q_proj'),
    makeNode('MatMul', ['x', 'wk'], ['k'], 'k_proj'),
    makeNode('MatMul', ['x', 'wv'], ['v'], 'v_proj'),
    makeNode('Reshape', ['q', 'heads_shape'], ['q4'], 'q_split'),
    makeNode('Reshape', ['k', 'heads_shape'], ['k4'], 'k_split'),
    makeNode('Reshape', ['v', 'heads_shape'], ['v4'], 'v_split'),
    makeNode('Transpose', ['q4'], ['qh'], 'q_heads', [makeAttrInts('perm', [0, 2, 1, 3])]),
    makeNode('Transpose', ['k4'], ['khT'], 'k_heads', [makeAttrInts('perm', [0, 2, 3, 1])]),
    makeNode('Transpose', ['v4'], ['vh'], 'v_heads', [makeAttrInts('perm', [0, 2, 1, 3])]),
    makeNode('MatMul', ['qh', 'khT'], ['qk'], 'qk'),
  ];
  let scores = 'qk';
  if (options.scale) {
    init.push(makeTensor('sqrt_d', ElemType.FLOAT, [], [Math.sqrt(DH)]));
    nodes.push(makeNode('Div', ['qk', 'sqrt_d'], ['scaled'], 'scale'));
    scores = 'scaled';
  }
  const shift = options.maskShift;
  if (shift !== null) {
    const mask = Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) + shift ? 0 : -1e9));
    init.push(makeTensor('causal', ElemType.FLOAT, [1, 1, T, T], mask));
    nodes.push(makeNode('Add', [scores, 'causal'], ['masked'], 'mask'));
    scores = 'masked';
  }
  nodes.push(
    makeNode('Softmax', [scores], ['probs'], 'softmax', [makeAttrInt('axis', options.softmaxAxis)]),
    makeNode('MatMul', ['probs', 'vh'], ['ctx'], 'pv'),
    makeNode('Transpose', ['ctx'], ['ctxT'], 'merge_t', [makeAttrInts('perm', [0, 2, 1, 3])]),
    makeNode('Reshape', ['ctxT', 'merge_shape'], ['ctx3'], 'merge'),
    makeNode('MatMul', ['ctx3', 'wo'], ['attn_out'], 'o_proj'),
    makeNode('Add', ['x', 'attn_out'], ['y'], 'residual'),
  );
  const graph = new onnx.GraphProto({
    name: 'tiny',
    node: nodes,
    initializer: init,
    input: [new onnx.ValueInfoProto({ name: 'x', type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: T }, { dimValue: D }] } } } })],
    output: [makeValueInfo('y', ElemType.FLOAT)],
  });
  return new onnx.ModelProto({ irVersion: 8, opsetImport: [{ domain: '', version: options.opset }], producerName: 'attention-lens-test', graph });
}

/** softmax(QKᵀ/√d + mask) in float64, straight from the weights: [h][q][k]. */
function expectedProbs(options: TinyOptions): number[][][] {
  const w = tinyWeights();
  const project = (m: number[]): number[][] => Array.from({ length: T }, (_, t) => Array.from({ length: D }, (_, j) => {
    let sum = 0;
    for (let i = 0; i < D; i++) {
      sum += (w.x[t * D + i] as number) * (m[i * D + j] as number);
    }
    return sum;
  }));
  const q = project(w.wq);
  const k = project(w.wk);
  return Array.from({ length: H }, (_, h) => {
    const logits = Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => {
      let dot = 0;
      for (let d = 0; d < DH; d++) {
        dot += (q[i]?.[h * DH + d] as number) * (k[j]?.[h * DH + d] as number);
      }
      const shift = options.maskShift;
      const masked = shift !== null && j > i + shift ? -1e9 : 0;
      return (options.scale ? dot / Math.sqrt(DH) : dot) + masked;
    }));
    // Normalise over keys (axis 3) or over queries (axis 2).
    const out = logits.map((row) => row.slice());
    if (options.softmaxAxis === 2) {
      for (let j = 0; j < T; j++) {
        const column = logits.map((row) => row[j] as number);
        const max = Math.max(...column);
        const total = column.reduce((a, value) => a + Math.exp(value - max), 0);
        column.forEach((value, i) => ((out[i] as number[])[j] = Math.exp(value - max) / total));
      }
    } else {
      logits.forEach((row, i) => {
        const max = Math.max(...row);
        const total = row.reduce((a, value) => a + Math.exp(value - max), 0);
        out[i] = row.map((value) => Math.exp(value - max) / total);
      });
    }
    return out;
  });
}

async function tapTiny(options: TinyOptions): Promise<{ plan: TapPlan; outputs: Record<string, ort.Tensor>; probs: ReturnType<typeof probsOf> }> {
  const model = tinyModel(options);
  const { model: tapped, plan } = analyzeAndTap(model);
  const feeds = { x: new ort.Tensor('float32', Float32Array.from(tinyWeights().x), [1, T, D]) };
  const before = await run(model, feeds);
  const outputs = await run(tapped, feeds);
  assertClose(numbers(outputs.y as ort.Tensor), numbers(before.y as ort.Tensor), 1e-6, 'y');
  const tap = plan.attention[0] as AttentionTap;
  const probs = probsOf(tap, outputs[tap.output] as ort.Tensor);
  const expected = expectedProbs(options);
  for (let h = 0; h < H; h++) {
    for (let q = 0; q < T; q++) {
      assertClose(Array.from({ length: T }, (_, k) => probs.at(h, q, k)), expected[h]?.[q] as number[], 1e-5, `h${h} q${q}`);
    }
  }
  return { plan, outputs, probs };
}

describe('tapping deliberately broken models', () => {
  it('a correct causal layer (opset 18: ReduceL2 axes as an input): causal mask, embedding and attention residual norms', async () => {
    const { plan, outputs } = await tapTiny({ scale: true, maskShift: 0, softmaxAxis: 3, opset: 18 });
    assert.deepEqual(summary(plan), ['decoder-self:decoder>decoder:L0:BHQK:causal']);
    assert.deepEqual(plan.residual.map((tap) => tap.label), ['decoder embedding + positions', 'decoder L0 + self-attention']);
    const x = tinyWeights().x;
    const norms = numbers(outputs[plan.residual[0]?.output ?? ''] as ort.Tensor);
    assertClose(norms, Array.from({ length: T }, (_, t) => Math.hypot(...x.slice(t * D, t * D + D))), 1e-6, 'embedding norms');
    assert.ok(!plan.notes.some((note) => note.message.includes('scale')));
  });

  it('missing 1/√d: still tapped, noted, and the probabilities are the unscaled softmax', async () => {
    const { plan, probs } = await tapTiny({ scale: false, maskShift: 0, softmaxAxis: 3, opset: 17 });
    assert.equal(plan.attention.length, 1);
    assert.ok(plan.notes.some((note) => note.message.includes('no 1/√d scale')), plan.notes.map((note) => note.message).join('\n'));
    // Unscaled logits are sharper: the top weight of the last row exceeds the scaled model's.
    const scaled = expectedProbs({ scale: true, maskShift: 0, softmaxAxis: 3, opset: 17 });
    const top = Math.max(...Array.from({ length: T }, (_, k) => probs.at(0, T - 1, k)));
    assert.ok(top > Math.max(...(scaled[0]?.[T - 1] as number[])));
  });

  it('a causal mask shifted by one: tapped as causal with a note, weight above the diagonal shows', async () => {
    const { plan, outputs, probs } = await tapTiny({ scale: true, maskShift: 1, softmaxAxis: 3, opset: 17 });
    const tap = plan.attention[0] as AttentionTap;
    assert.equal(tap.expectedMaskKind, 'causal');
    assert.ok(plan.notes.some((note) => note.message.includes('shifted by 1')), plan.notes.map((note) => note.message).join('\n'));
    const mask = decodeMask(outputs[tap.mask?.output ?? ''] as ort.Tensor, tap.mask?.encoding ?? 'additive', T, T);
    assert.deepEqual(mask, [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]);
    assert.ok(probs.at(0, 0, 1) > 0 && probs.at(1, 1, 2) > 0, 'queries see the next token');
    assert.equal(probs.at(0, 0, 2), 0);
  });

  it('softmax over the query axis: tapped and reported; columns, not rows, sum to 1', async () => {
    const { plan, probs } = await tapTiny({ scale: true, maskShift: null, softmaxAxis: 2, opset: 17 });
    assert.ok(plan.notes.some((note) => note.message.includes('not over the key axis')), plan.notes.map((note) => note.message).join('\n'));
    assert.equal(plan.attention[0]?.expectedMaskKind, 'none');
    assert.equal(plan.attention[0]?.mask, null);
    for (let k = 0; k < T; k++) {
      const column = Array.from({ length: T }, (_, q) => probs.at(0, q, k)).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(column - 1) < 1e-5);
    }
    const row = Array.from({ length: T }, (_, k) => probs.at(0, 0, k)).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(row - 1) > 1e-3, 'row 0 does not sum to 1');
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

function expectUserError(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof UserFacingError, `a UserFacingError, got ${String(error)}`);
    assert.match(error.message, message);
    assert.ok(error.hint.length > 0);
    return true;
  });
}

describe('decoding and refusing', () => {
  const bytes = fs.readFileSync(path.join(FIXTURES, 'ort_bert_toy_op12.onnx'));

  it('round-trips a model through encodeModel', () => {
    const model = decodeModel(bytes);
    const again = decodeModel(encodeModel(model));
    assert.equal(again.graph?.node?.length, model.graph?.node?.length);
  });

  it('explains empty, truncated, foreign and oversized files', () => {
    expectUserError(() => decodeModel(new Uint8Array(0), 'a.onnx'), /empty/);
    expectUserError(() => decodeModel(bytes.subarray(0, bytes.length - 1000), 'a.onnx'), /cut short/);
    expectUserError(() => decodeModel(new TextEncoder().encode('{"model_type": "bert"}')), /JSON/);
    expectUserError(() => decodeModel(Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0])), /zip/);
    expectUserError(() => decodeModel(Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256)), /not an ONNX model/);
    const huge = new Uint8Array(8);
    Object.defineProperty(huge, 'byteLength', { value: 2 ** 31 + 5 });
    assert.throws(
      () => decodeModel(huge, 'big.onnx'),
      (error: unknown) => error instanceof UserFacingError && /2 GB/.test(error.message) && /model\.onnx\.data/.test(error.hint),
    );
  });

  it('refuses an empty graph', () => {
    const empty = new onnx.ModelProto({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: new onnx.GraphProto({ name: 'g' }) });
    expectUserError(() => decodeModel(encodeModel(empty)), /empty graph/);
  });

  it('says "no attention found" with a hint for a model without attention', () => {
    const graph = new onnx.GraphProto({
      name: 'mlp',
      node: [makeNode('MatMul', ['x', 'w'], ['h'], 'fc'), makeNode('Softmax', ['h'], ['y'], 'classifier', [makeAttrInt('axis', -1)])],
      initializer: [makeTensor('w', ElemType.FLOAT, [4, 3], new Array(12).fill(0.1))],
      input: [makeValueInfo('x', ElemType.FLOAT)],
      output: [makeValueInfo('y', ElemType.FLOAT)],
    });
    const model = new onnx.ModelProto({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph });
    assert.throws(
      () => analyzeAndTap(model),
      (error: unknown) => error instanceof UserFacingError && /No attention found/.test(error.message) && /attn_implementation="eager"/.test(error.hint),
    );
  });

  it('refuses fused kernels it cannot rewrite, naming the node', () => {
    const graph = new onnx.GraphProto({
      name: 'mha',
      node: [makeNode('MultiHeadAttention', ['q', 'k', 'v'], ['y'], 'mha_layer_3', [makeAttrInt('num_heads', 2)], 'com.microsoft')],
      input: ['q', 'k', 'v'].map((name) => makeValueInfo(name, ElemType.FLOAT)),
      output: [makeValueInfo('y', ElemType.FLOAT)],
    });
    const model = new onnx.ModelProto({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }], graph });
    expectUserError(() => analyzeAndTap(model), /MultiHeadAttention "mha_layer_3"/);
  });

  it('leaves the input model unchanged', () => {
    const model = loadFixture('genai_tiny-random-gpt2_fp32_fusedAttention_past.onnx');
    const before = encodeModel(model);
    analyzeAndTap(model);
    assert.deepEqual(encodeModel(model), before);
  });
});
