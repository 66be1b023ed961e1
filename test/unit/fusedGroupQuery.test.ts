/**
 * Grouped-query attention made traceable (src/engine/onnx/fusedGroupQuery.ts, kvGroups.ts, the ai.onnx
 * Attention part of fusedAttention.ts). For every attribute/input combination a one-node graph is run
 * twice by onnxruntime-web (WASM, one thread): the original fused kernel, and the copy the tapper
 * rewrote and tapped. Outputs and present buffers must agree (≤ 1e-5 fp32, ≤ 1e-2 fp16), tapped rows
 * sum to 1, masked cells are 0, and the tapped probabilities equal an independent float64 computation
 * (test/support/groupQueryGraphs.ts). The built-in tiny-modern preset's export gives the reference's
 * kvHeads/kvHeadOf.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import ort = require('onnxruntime-web');
import { withOpenGates } from '../support/headGates';
import { UserFacingError } from '../../src/shared/errors';
import { halfToFloat } from '../../src/engine/half';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { encodeModel, ElemType, type ModelProto } from '../../src/engine/onnx/model';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import type { AttentionTap } from '../../src/engine/onnx/tapPlan';
import {
  floatData,
  type GqaCase,
  type GqaFeeds,
  gqaReference,
  groupQueryModel,
  random,
  type StandardCase,
  standardAttentionModel,
  standardReference,
} from '../support/groupQueryGraphs';

before(() => {
  ort.env.wasm.numThreads = 1;
});

/** Worst differences per case, printed at the end (for the record). */
const measured: string[] = [];
after(() => {
  if (process.env.GQA_REPORT) console.log(measured.join('\n'));
});

const FP32 = ElemType.FLOAT;
const FP16 = ElemType.FLOAT16;

function values(tensor: ort.Tensor): number[] {
  return tensor.type === 'float16' ? Array.from(tensor.data as Uint16Array, halfToFloat) : Array.from(tensor.data as ArrayLike<number>, Number);
}

async function run(model: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    return await session.run(withOpenGates(session.inputNames, feeds));
  } finally {
    await session.release();
  }
}

/** Feeds for a GQA case: values rounded to the model's type, so the float64 reference reads the same numbers. */
function gqaFeeds(c: GqaCase, seqlens: number[], total: number): { feeds: Record<string, ort.Tensor>; raw: GqaFeeds } {
  const next = random(3 + seqlens.length + total);
  const round = (x: number): number => (c.elemType === FP16 ? halfToFloat(floatData(FP16, [x])[0] as number) : Math.fround(x));
  const draw = (n: number): number[] => Array.from({ length: n }, () => round(next()));
  const type = c.elemType === FP16 ? 'float16' : 'float32';
  const tensor = (data: number[], dims: number[]): ort.Tensor => new ort.Tensor(type, floatData(c.elemType, data) as Float32Array, dims);
  const { batch: B, sequence: S, heads: N, kvHeads: KV, headSize: H, past: P } = c;
  const width = c.packed ? (N + 2 * KV) * H : N * H;
  const raw: GqaFeeds = { query: draw(B * S * width), seqlensK: seqlens, total };
  const feeds: Record<string, ort.Tensor> = { query: tensor(raw.query, [B, S, width]) };
  if (!c.packed) {
    raw.key = draw(B * S * KV * H);
    raw.value = draw(B * S * KV * H);
    feeds.key = tensor(raw.key, [B, S, KV * H]);
    feeds.value = tensor(raw.value, [B, S, KV * H]);
  }
  if (P > 0) {
    raw.pastKey = draw(B * KV * P * H);
    raw.pastValue = draw(B * KV * P * H);
    feeds.past_key = tensor(raw.pastKey, [B, KV, P, H]);
    feeds.past_value = tensor(raw.pastValue, [B, KV, P, H]);
  }
  feeds.seqlens_k = new ort.Tensor('int32', Int32Array.from(seqlens), [B]);
  feeds.total_sequence_length = new ort.Tensor('int32', Int32Array.from([total]), []);
  if (c.positionIds) {
    raw.positionIds = Array.from({ length: B * S }, (_, i) => 2 + (i % S) + Math.floor(i / S));
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(raw.positionIds.map(BigInt)), [B, S]);
  }
  if (c.attentionBias) {
    raw.attentionBias = draw(c.attentionBias.reduce((a, b) => a * b, 1));
    feeds.attention_bias = tensor(raw.attentionBias, c.attentionBias);
  }
  if (c.headSink) {
    raw.headSink = draw(N).map((x) => round(x * 3));
    feeds.head_sink = tensor(raw.headSink, [N]);
  }
  return { feeds, raw };
}

/** The tap's [B, N, S, T] probabilities and its decoded mask, read directly (every batch row). */
function tapped(tap: AttentionTap, outputs: Record<string, ort.Tensor>): { probs: Float32Array; dims: number[]; blocked: (b: number, s: number, j: number) => boolean } {
  const tensor = outputs[tap.output] as ort.Tensor;
  const dims = tensor.dims.map(Number);
  const mask = tap.mask ? (outputs[tap.mask.output] as ort.Tensor) : undefined;
  const maskDims = mask?.dims.map(Number) ?? [];
  const maskValues = mask ? values(mask) : [];
  const blocked = (b: number, s: number, j: number): boolean => {
    if (!mask || !tap.mask) return false;
    const rank = maskDims.length;
    const coordinates = [b, 0, s, j].slice(4 - rank);
    let at = 0;
    for (let axis = 0; axis < rank; axis++) at = at * (maskDims[axis] as number) + ((maskDims[axis] as number) === 1 ? 0 : (coordinates[axis] as number));
    const value = maskValues[at] as number;
    return tap.mask.encoding === 'additive' ? value <= -1e4 : tap.mask.encoding === 'where-keep-if-true' ? value === 0 : value !== 0;
  };
  return { probs: tensor.data as Float32Array, dims, blocked };
}

interface GqaRun {
  tap: AttentionTap;
  outputDiff: number;
  presentDiff: number;
  probsDiff: number;
}

/** Runs the fused and the rewritten+tapped graph and checks everything; returns the worst differences. */
async function checkGqa(label: string, c: GqaCase, seqlens: number[], total: number): Promise<GqaRun> {
  const model = groupQueryModel(c);
  const { feeds, raw } = gqaFeeds(c, seqlens, total);
  const { model: edited, plan } = analyzeAndTap(model);
  const fused = await run(model, feeds);
  const rewritten = await run(edited, feeds);
  const reference = gqaReference(c, raw);
  const tolerance = c.elemType === FP16 ? 1e-2 : 1e-5;
  const { batch: B, sequence: S, heads: N, headSize: H } = c;
  // The output: rows the kernel defines (a right-padded prompt's padding rows read unwritten scores there).
  const a = values(fused.output as ort.Tensor);
  const b = values(rewritten.output as ort.Tensor);
  let outputDiff = 0;
  for (let batch = 0; batch < B; batch++) {
    for (let s = 0; s < S; s++) {
      if (!reference.validRow(batch, s)) continue;
      for (let i = 0; i < N * H; i++) outputDiff = Math.max(outputDiff, Math.abs((a[(batch * S + s) * N * H + i] as number) - (b[(batch * S + s) * N * H + i] as number)));
    }
  }
  let presentDiff = 0;
  for (const name of ['present_key', 'present_value']) {
    assert.deepEqual((rewritten[name] as ort.Tensor).dims, (fused[name] as ort.Tensor).dims, `${label}: ${name} shape`);
    const [x, y] = [values(fused[name] as ort.Tensor), values(rewritten[name] as ort.Tensor)];
    x.forEach((value, i) => (presentDiff = Math.max(presentDiff, Math.abs(value - (y[i] as number)))));
  }
  assert.ok(outputDiff <= tolerance, `${label}: output differs by ${outputDiff}`);
  assert.ok(presentDiff <= tolerance, `${label}: present differs by ${presentDiff}`);
  // The tap: one block, [B, N, S, Tp], rows sum to 1, masked cells 0, equal to the float64 probabilities
  // (normalised over the keys: with a sink the tap is the softmax over keys, the sink's share outside).
  assert.equal(plan.attention.length, 1, `${label}: one block`);
  const tap = plan.attention[0] as AttentionTap;
  const { probs, dims, blocked } = tapped(tap, rewritten);
  const Tp = reference.presentLength;
  assert.deepEqual(dims, [B, N, S, Tp], `${label}: probabilities shape`);
  let probsDiff = 0;
  for (let batch = 0; batch < B; batch++) {
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        let sum = 0;
        let expectedSum = 0;
        for (let j = 0; j < Tp; j++) expectedSum += reference.probs[((batch * N + n) * S + s) * Tp + j] as number;
        for (let j = 0; j < Tp; j++) {
          const p = probs[((batch * N + n) * S + s) * Tp + j] as number;
          sum += p;
          if (blocked(batch, s, j)) assert.equal(p, 0, `${label}: b${batch} h${n} q${s} k${j} is masked`);
          if (reference.validRow(batch, s)) {
            const expected = (reference.probs[((batch * N + n) * S + s) * Tp + j] as number) / expectedSum;
            probsDiff = Math.max(probsDiff, Math.abs(p - expected));
            if (expected === 0) assert.ok(blocked(batch, s, j), `${label}: b${batch} q${s} k${j} gets no attention and is shown masked`);
          }
        }
        assert.ok(Math.abs(sum - 1) <= 1e-5, `${label}: b${batch} h${n} q${s} sums to ${sum}`);
      }
    }
  }
  assert.ok(probsDiff <= tolerance, `${label}: probabilities differ from float64 by ${probsDiff}`);
  assert.equal(tap.expectedMaskKind, 'causal+padding', `${label}: mask kind`);
  if (c.kvHeads < c.heads) {
    assert.equal(tap.kvHeads, c.kvHeads, `${label}: kvHeads`);
    assert.deepEqual(tap.kvHeadOf, Array.from({ length: N }, (_, h) => Math.floor(h / (N / c.kvHeads))), `${label}: kvHeadOf`);
  }
  measured.push(`${label}: output ${outputDiff.toExponential(1)}, present ${presentDiff.toExponential(1)}, probs vs float64 ${probsDiff.toExponential(1)}`);
  return { tap, outputDiff, presentDiff, probsDiff };
}

const BASE: GqaCase = { elemType: FP32, batch: 2, sequence: 5, heads: 4, kvHeads: 2, headSize: 16, past: 0, packed: false };
const ROTARY = { interleaved: 0, rotaryDim: 16, cacheLength: 16 };

/** Each combination: the case, seqlens_k (batch rows of different lengths) and total_sequence_length. */
const GQA_CASES: [string, Partial<GqaCase>, number[], number][] = [
  ['prompt, right-padded row', {}, [4, 2], 5],
  ['packed QKV prompt', { packed: true }, [4, 3], 5],
  ['token with past', { sequence: 1, past: 6 }, [6, 3], 7],
  ['token, past buffer of max length', { sequence: 1, past: 8 }, [5, 3], 6],
  ['subsequent prompt with past (batch 1)', { batch: 1, sequence: 3, past: 4 }, [6], 7],
  ['rotary, halves', { rotary: ROTARY }, [4, 4], 5],
  ['rotary, interleaved', { rotary: { ...ROTARY, interleaved: 1 } }, [4, 3], 5],
  ['rotary on part of the head, token', { headSize: 32, sequence: 1, past: 6, rotary: ROTARY }, [6, 3], 7],
  ['rotary interleaved, packed, token', { packed: true, sequence: 1, past: 6, rotary: { ...ROTARY, interleaved: 1 } }, [6, 3], 7],
  ['rotary with position_ids, prompt', { positionIds: true, rotary: ROTARY }, [4, 4], 5],
  ['rotary with position_ids, token', { positionIds: true, sequence: 1, past: 6, rotary: ROTARY }, [6, 3], 7],
  ['local window 2, prompt', { localWindow: 2 }, [4, 4], 5],
  ['local window 2, token', { localWindow: 2, sequence: 1, past: 6 }, [6, 3], 7],
  ['softcap and scale', { softcap: 0.5, scale: 0.7 }, [4, 4], 5],
  ['smooth_softmax', { smoothSoftmax: 1 }, [4, 4], 5],
  ['head_sink', { headSink: true }, [4, 3], 5],
  ['attention_bias [B, N, S, T]', { attentionBias: [2, 4, 5, 5] }, [4, 4], 5],
  ['attention_bias [1, 1, 1, T], past of max length', { sequence: 1, past: 8, attentionBias: [1, 1, 1, 6] }, [5, 3], 6],
];

describe('com.microsoft GroupQueryAttention rewritten into plain operators', () => {
  for (const elemType of [FP32, FP16]) {
    for (const kvHeads of [1, 2]) {
      it(`${elemType === FP16 ? 'fp16' : 'fp32'}, 4 query heads on ${kvHeads} KV head(s): every combination equals the fused kernel`, async () => {
        for (const [label, options, seqlens, total] of GQA_CASES) {
          await checkGqa(`${elemType === FP16 ? 'fp16' : 'fp32'} kv${kvHeads} ${label}`, { ...BASE, elemType, kvHeads, ...options }, seqlens, total);
        }
      });
    }
  }

  it('a packed QKV model reads as decoder self-attention with its KV grouping', async () => {
    const { plan } = analyzeAndTap(groupQueryModel({ ...BASE, packed: true, rotary: ROTARY }));
    assert.equal(plan.attention[0]?.kind, 'decoder-self');
    assert.equal(plan.attention[0]?.kvHeads, 2);
    assert.ok(plan.notes.some((note) => note.code === 'fused-rewritten' && note.message.includes('1 com.microsoft.GroupQueryAttention')));
  });

  it('refuses what it does not reproduce, naming the node, the op and the attribute', () => {
    const refused: [Partial<GqaCase>, RegExp][] = [
      [{ extra: { new_option: 1 } }, /GroupQueryAttention "gqa_layer_0".*attribute new_option/],
      [{ extra: { qk_output: 1 } }, /"gqa_layer_0".*qk_output/],
      [{ localWindow: 0 }, /local_window_size is 0/],
      [{ smoothSoftmax: 1, headSink: true }, /both smooth_softmax and a head_sink/],
      [{ heads: 4, kvHeads: 3 }, /num_heads \(4\) is not a positive multiple of its kv_num_heads \(3\)/],
      [{ attentionBias: [1, 1, 5, 1] }, /attention_bias has one column for all keys/],
    ];
    for (const [options, message] of refused) {
      assert.throws(
        () => analyzeAndTap(groupQueryModel({ ...BASE, ...options })),
        (error: unknown) => error instanceof UserFacingError && message.test(error.message),
        String(message),
      );
    }
  });

  it('a broken rewrite is caught: a window one key too wide differs from the kernel', async () => {
    // The same graph with the window widened in the fused node only: the comparison must fail.
    const c: GqaCase = { ...BASE, localWindow: 2 };
    const { feeds } = gqaFeeds(c, [4, 4], 5);
    const { model: edited } = analyzeAndTap(groupQueryModel({ ...c, localWindow: 3 }));
    const fused = values((await run(groupQueryModel(c), feeds)).output as ort.Tensor);
    const wrong = values((await run(edited, feeds)).output as ort.Tensor);
    assert.ok(fused.some((value, i) => Math.abs(value - (wrong[i] as number)) > 1e-3));
  });
});

// ---------------------------------------------------------------------------------------------
// ai.onnx Attention (opset 23/24), tapped through qk_matmul_output

/** [B, h, len, H] values as the model's input: the same for rank 4, [B, len, h·H] for rank 3. */
function standardInput(c: StandardCase, data: number[], heads: number, length: number): ort.Tensor {
  const { batch: B, headSize: H } = c;
  const type = c.elemType === FP16 ? 'float16' : 'float32';
  if (c.rank === 4) return new ort.Tensor(type, floatData(c.elemType, data) as Float32Array, [B, heads, length, H]);
  const out = new Array<number>(data.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < heads; h++) for (let s = 0; s < length; s++) for (let d = 0; d < H; d++) out[((b * length + s) * heads + h) * H + d] = data[((b * heads + h) * length + s) * H + d] as number;
  return new ort.Tensor(type, floatData(c.elemType, out) as Float32Array, [B, length, heads * H]);
}

async function checkStandard(label: string, c: StandardCase): Promise<void> {
  const next = random(11);
  const round = (x: number): number => (c.elemType === FP16 ? halfToFloat(floatData(FP16, [x])[0] as number) : Math.fround(x));
  const draw = (n: number): number[] => Array.from({ length: n }, () => round(next()));
  const { batch: B, queries: S, keys: L, heads: N, kvHeads: KV, headSize: H, past: P } = c;
  const [q, k, v] = [draw(B * N * S * H), draw(B * KV * L * H), draw(B * KV * L * H)];
  const feeds: Record<string, ort.Tensor> = { Q: standardInput(c, q, N, S), K: standardInput(c, k, KV, L), V: standardInput(c, v, KV, L) };
  let past: { key: number[]; value: number[] } | undefined;
  if (P > 0) {
    past = { key: draw(B * KV * P * H), value: draw(B * KV * P * H) };
    feeds.past_key = standardInput({ ...c, rank: 4 }, past.key, KV, P);
    feeds.past_value = standardInput({ ...c, rank: 4 }, past.value, KV, P);
  }
  const model = standardAttentionModel(c);
  const { model: edited, plan } = analyzeAndTap(model);
  const fused = await run(model, feeds);
  const rewritten = await run(edited, feeds);
  const tolerance = c.elemType === FP16 ? 1e-2 : 1e-5;
  let outputDiff = 0;
  for (const name of Object.keys(fused)) {
    const [x, y] = [values(fused[name] as ort.Tensor), values(rewritten[name] as ort.Tensor)];
    x.forEach((value, i) => (outputDiff = Math.max(outputDiff, Math.abs(value - (y[i] as number)))));
  }
  assert.ok(outputDiff <= tolerance, `${label}: outputs differ by ${outputDiff}`);
  const reference = standardReference(c, q, k, v, past);
  const tap = plan.attention[0] as AttentionTap;
  const { probs, dims, blocked } = tapped(tap, rewritten);
  assert.deepEqual(dims, [B, N, S, P + L], `${label}: probabilities shape`);
  let probsDiff = 0;
  for (let row = 0; row < B * N * S; row++) {
    let sum = 0;
    for (let j = 0; j < P + L; j++) {
      const p = probs[row * (P + L) + j] as number;
      const expected = reference.probs[row * (P + L) + j] as number;
      sum += p;
      probsDiff = Math.max(probsDiff, Math.abs(p - expected));
      const [b, s] = [Math.floor(row / (N * S)), row % S];
      if (blocked(b, s, j)) assert.equal(p, 0, `${label}: row ${row} k${j} is masked`);
      if (c.isCausal) assert.equal(blocked(b, s, j), j > s + P, `${label}: q${s} k${j} causal cell`);
    }
    // The kernel writes float16 probabilities for a float16 model: rows sum to 1 within its rounding.
    assert.ok(Math.abs(sum - 1) <= (c.elemType === FP16 ? 2e-3 : 1e-5), `${label}: row ${row} sums to ${sum}`);
  }
  assert.ok(probsDiff <= tolerance, `${label}: probabilities differ from float64 by ${probsDiff}`);
  assert.equal(tap.expectedMaskKind, c.isCausal ? 'causal' : 'none', `${label}: mask kind`);
  assert.equal(tap.kvHeads, KV < N ? KV : undefined, `${label}: kvHeads`);
  if (KV < N) assert.deepEqual(tap.kvHeadOf, Array.from({ length: N }, (_, h) => Math.floor(h / (N / KV))));
  measured.push(`${label}: outputs ${outputDiff.toExponential(1)}, probs vs float64 ${probsDiff.toExponential(1)}`);
}

const STANDARD_BASE: StandardCase = { elemType: FP32, opset: 23, batch: 2, queries: 3, keys: 3, heads: 4, kvHeads: 2, headSize: 8, rank: 4, past: 0 };
const STANDARD_CASES: [string, Partial<StandardCase>][] = [
  ['4-D', {}],
  ['3-D', { rank: 3 }],
  ['is_causal', { isCausal: 1 }],
  ['is_causal, more keys than queries', { isCausal: 1, keys: 5 }],
  ['is_causal with past', { isCausal: 1, past: 2 }],
  ['3-D, is_causal with past', { rank: 3, isCausal: 1, past: 2 }],
  ['softcap and scale', { softcap: 0.3, scale: 0.9 }],
  ['opset 24, is_causal with past', { opset: 24, isCausal: 1, past: 2 }],
];

describe('ai.onnx Attention (opset 23/24): probabilities, masks and KV grouping', () => {
  for (const elemType of [FP32, FP16]) {
    for (const kvHeads of [1, 2, 4]) {
      it(`${elemType === FP16 ? 'fp16' : 'fp32'}, 4 query heads on ${kvHeads} KV head(s)`, async () => {
        for (const [label, options] of STANDARD_CASES) {
          await checkStandard(`Attention ${elemType === FP16 ? 'fp16' : 'fp32'} kv${kvHeads} ${label}`, { ...STANDARD_BASE, elemType, kvHeads, ...options });
        }
      });
    }
  }

  it('opset 24 nonpad_kv_seqlen: keys past each row\'s length are shown masked and get 0', async () => {
    const c: StandardCase = { ...STANDARD_BASE, opset: 24, keys: 5 };
    const model = standardAttentionModel(c);
    const node = model.graph?.node?.[0];
    if (!node?.input || !model.graph?.input) throw new Error('no Attention node');
    node.input = ['Q', 'K', 'V', '', '', '', 'nonpad'];
    model.graph.input.push({ name: 'nonpad', type: { tensorType: { elemType: ElemType.INT64, shape: { dim: [{ dimValue: 2 }] } } } });
    const next = random(4);
    const draw = (n: number): number[] => Array.from({ length: n }, () => next());
    const feeds = {
      Q: standardInput(c, draw(2 * 4 * 3 * 8), 4, 3),
      K: standardInput(c, draw(2 * 2 * 5 * 8), 2, 5),
      V: standardInput(c, draw(2 * 2 * 5 * 8), 2, 5),
      nonpad: new ort.Tensor('int64', BigInt64Array.from([5n, 3n]), [2]),
    };
    const { model: edited, plan } = analyzeAndTap(model);
    const tap = plan.attention[0] as AttentionTap;
    assert.equal(tap.expectedMaskKind, 'padding');
    const { probs, blocked } = tapped(tap, await run(edited, feeds));
    for (let b = 0; b < 2; b++) {
      for (let row = 0; row < 4 * 3; row++) {
        for (let j = 0; j < 5; j++) {
          const p = probs[(b * 12 + row) * 5 + j] as number;
          assert.equal(blocked(b, row % 3, j), j >= (b === 0 ? 5 : 3), `b${b} k${j} shown masked`);
          if (j >= (b === 0 ? 5 : 3)) assert.equal(p, 0);
          else assert.ok(p > 0);
        }
      }
    }
  });

  it('refuses an attribute it does not know, naming it', () => {
    assert.throws(() => analyzeAndTap(standardAttentionModel({ ...STANDARD_BASE, extra: { future_mode: 1 } })), /Attention "sdpa_layer_0".*attribute future_mode/);
  });
});

// ---------------------------------------------------------------------------------------------
// Grouping recorded for a plain export

describe('KV grouping of a plain export', () => {
  it('tiny-modern exported to ONNX (repeat_kv in plain operators) has the reference trace’s kvHeads and kvHeadOf', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'al-gqa-'));
    try {
      const file = path.join(folder, 'tiny-modern.onnx');
      writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-modern', seed: 11 })).model);
      const engine = new ExplainEngine();
      const text = 'Grouped queries share keys.';
      const reference = await engine.explain(text, { model: 'builtin:tiny-modern', seed: 11, backend: 'reference' });
      const onnx = await engine.explain(text, { model: file, backend: 'wasm', threads: 1 });
      assert.equal(onnx.blocks.length, reference.blocks.length);
      reference.blocks.forEach((expected, index) => {
        assert.equal(expected.kvHeads, 2);
        assert.equal(onnx.blocks[index]?.kvHeads, expected.kvHeads, `block ${index} kvHeads`);
        assert.deepEqual(onnx.blocks[index]?.kvHeadOf, expected.kvHeadOf, `block ${index} kvHeadOf`);
      });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
