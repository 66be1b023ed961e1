/**
 * Fidelity of the rewrites of onnxruntime's multi-head kernels into primitive operators
 * (src/engine/onnx/fusedMultiHead.ts, fusedMultiHeadCore.ts, fusedMatMul.ts): for every input form
 * and attribute, a one-node graph (test/support/fusedGraphs.ts) in float32 and float16, batch 2,
 * random inputs, run as it is on onnxruntime-web (WASM) and rewritten + tapped through
 * analyzeAndTap as the real code path does. The regular outputs must agree (max abs diff ≤ 1e-5 in
 * float32, ≤ 1e-2 in float16), and the tapped probabilities must equal an independent float64
 * computation of the kernel (below), sum to 1 per row, and be exactly 0 in masked cells.
 *
 * Forms onnxruntime-web's CPU kernel cannot run (MultiHeadAttention with packed Q/K/V or packed K/V:
 * "not implemented for CPU") are compared with the float64 computation only; the tests say so in
 * their names. The same float64 computation is checked against the kernel on every form it runs, so
 * it is the kernel's semantics, not the rewrite's.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ort = require('onnxruntime-web');
import { UserFacingError } from '../../src/shared/errors';
import { cloneForEdit, decodeModel, ElemType, encodeModel, type ModelProto } from '../../src/engine/onnx/model';
import { rewriteFusedKernels } from '../../src/engine/onnx/fusedKernels';
import { FUSED_REWRITERS } from '../../src/engine/onnx/fusedRegistry';
import { GraphEditor } from '../../src/engine/onnx/graphEditor';
import { analyzeAndTap } from '../../src/engine/onnx/tapper';
import type { AttentionTap, TapPlan } from '../../src/engine/onnx/tapPlan';
import { operandPermutation } from '../../src/engine/onnx/fusedMatMul';
import { type AttributeValue, feedsFor, GraphBuilder, numbers, ortTensor, random, runModel } from '../support/fusedGraphs';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');
const F32 = ElemType.FLOAT;
const F16 = ElemType.FLOAT16;
const I32 = ElemType.INT32;
const TYPES = [
  { type: F32, label: 'fp32', tolerance: 1e-5, probsTolerance: 1e-5, rowTolerance: 1e-5 },
  { type: F16, label: 'fp16', tolerance: 1e-2, probsTolerance: 1e-2, rowTolerance: 5e-3 },
] as const;

before(() => {
  ort.env.wasm.numThreads = 1;
});

// ---------------------------------------------------------------------------------------------
// The kernels in float64, from their inputs: an independent reading of onnxruntime's semantics.

interface Tensor64 {
  data: Float64Array;
  dims: number[];
}

function t64(tensor: ort.Tensor | undefined): Tensor64 | undefined {
  return tensor ? { data: numbers(tensor), dims: tensor.dims.map(Number) } : undefined;
}

/** Element of `t` at `index`, broadcasting axes of size 1. */
function at(t: Tensor64, ...index: number[]): number {
  let offset = 0;
  t.dims.forEach((size, axis) => {
    offset = offset * size + (size === 1 ? 0 : (index[axis] as number));
  });
  return t.data[offset] as number;
}

type Heads = (b: number, n: number, s: number, h: number) => number;

interface AttentionArgs {
  B: number;
  N: number;
  S: number;
  T: number;
  H: number;
  /** Head size of V, when it differs from Q's and K's. */
  Hv?: number;
  q: Heads;
  k: Heads;
  v: Heads;
  scale: number;
  bias?: Tensor64;
  /** How many times cell (b, s, t) gets the fill (key padding, causal). */
  blocked: (b: number, s: number, t: number) => number;
  fill: number;
  /** Rounds the scores as the kernel's float32 arithmetic does (Math.fround), or not at all. */
  round?: (x: number) => number;
}

interface Reference {
  output: Float64Array; // [B, S, N·H]
  probs: Float64Array; // [B, N, S, T]
  scores: Float64Array; // [B, N, S, T], as they enter the softmax
  masked: (b: number, s: number, t: number) => boolean;
}

function attentionReference(a: AttentionArgs): Reference {
  const { B, N, S, T, H } = a;
  const Hv = a.Hv ?? H;
  const probs = new Float64Array(B * N * S * T);
  const scores = new Float64Array(B * N * S * T);
  const output = new Float64Array(B * S * N * Hv);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        const row = Array.from({ length: T }, (_, t) => {
          let dot = 0;
          for (let h = 0; h < H; h++) dot += a.q(b, n, s, h) * a.k(b, n, t, h);
          const round = a.round ?? ((x: number): number => x);
          return round(round(round(a.scale * dot) + (a.bias ? at(a.bias, b, n, s, t) : 0)) + a.fill * a.blocked(b, s, t));
        });
        const max = Math.max(...row);
        const exps = row.map((x) => Math.exp(x - max));
        const sum = exps.reduce((x, y) => x + y, 0);
        const base = ((b * N + n) * S + s) * T;
        row.forEach((x, t) => {
          scores[base + t] = x;
          probs[base + t] = (exps[t] as number) / sum;
        });
        for (let h = 0; h < Hv; h++) {
          let acc = 0;
          for (let t = 0; t < T; t++) acc += (probs[base + t] as number) * a.v(b, n, t, h);
          output[(b * S + s) * N * Hv + n * Hv + h] = acc;
        }
      }
    }
  }
  const masked = (b: number, s: number, t: number): boolean => {
    const least = Math.min(...Array.from({ length: T }, (_, j) => a.blocked(b, s, j)));
    return a.blocked(b, s, t) > least;
  };
  return { output, probs, scores, masked };
}

/** [B, S, N·H] (+ bias slice at `offset`) read as heads. */
function fromBSD(x: Tensor64, N: number, bias: Tensor64 | undefined, offset: number): Heads {
  const D = x.dims[2] as number;
  const H = D / N;
  return (b, n, s, h) => at(x, b, s, n * H + h) + (bias ? (bias.data[offset + n * H + h] as number) : 0);
}

const fromBNSH = (x: Tensor64): Heads => (b, n, s, h) => at(x, b, n, s, h);

/** Concatenation of a past [B, N, P, H] (its first `valid` positions) and new keys along the sequence. */
function withPast(past: Tensor64 | undefined, valid: number, fresh: Heads): Heads {
  return (b, n, t, h) => (past && t < valid ? at(past, b, n, t, h) : fresh(b, n, t - (past ? valid : 0), h));
}

interface KernelInputs {
  [name: string]: Tensor64 | undefined;
}

/** com.microsoft MultiHeadAttention in float64. Inputs by the kernel's names. */
function mhaReference(x: KernelInputs, attrs: { heads: number; scale?: number; filter?: number; unidirectional?: boolean; fp16: boolean }): Reference & { present?: [Heads, Heads]; T: number } {
  const N = attrs.heads;
  const query = x.query as Tensor64;
  let q: Heads;
  let k: Heads;
  let v: Heads;
  let H: number;
  let Hv: number | undefined;
  let L: number;
  let cached = false;
  const B = query.dims[0] as number;
  const S = query.dims[1] as number;
  if (!x.key) {
    // [B, S, N, 3, H], bias [3D] in Q | K | V order, each laid out n·H + h.
    H = query.dims[4] as number;
    L = S;
    const D = N * H;
    const slot = (which: number): Heads => (b, n, s, h) => at(query, b, s, n, which, h) + (x.bias ? (x.bias.data[which * D + n * H + h] as number) : 0);
    [q, k, v] = [slot(0), slot(1), slot(2)];
  } else {
    H = (query.dims[2] as number) / N;
    q = fromBSD(query, N, x.bias, 0);
    if (!x.value) {
      const key = x.key;
      L = key.dims[1] as number;
      k = (b, n, t, h) => at(key, b, t, n, 0, h);
      v = (b, n, t, h) => at(key, b, t, n, 1, h);
    } else if (x.key.dims.length === 4) {
      L = x.key.dims[2] as number;
      k = fromBNSH(x.key);
      v = fromBNSH(x.value);
      cached = true;
    } else {
      L = x.key.dims[1] as number;
      k = fromBSD(x.key, N, x.bias, query.dims[2] as number);
      v = fromBSD(x.value, N, x.bias, 2 * (query.dims[2] as number));
      Hv = (x.value.dims[2] as number) / N;
    }
  }
  const P = x.past_key && !cached ? (x.past_key.dims[2] as number) : 0;
  k = withPast(x.past_key, P, k);
  v = withPast(x.past_value, P, v);
  const T = P + L;
  const mask = x.key_padding_mask;
  const padded = (b: number, s: number, t: number): number => {
    if (!mask) return 0;
    if (mask.dims.length === 1) return t >= (mask.data[b] as number) ? 1 : 0;
    return (mask.dims.length === 2 ? at(mask, b, t) : at(mask, b, s, t)) > 0 ? 0 : 1;
  };
  const causal = (s: number, t: number): number => (attrs.unidirectional && S > 1 && t > P + s ? 1 : 0);
  const filter = attrs.filter ?? -10000;
  const reference = attentionReference({
    B,
    N,
    S,
    T,
    H,
    ...(Hv ? { Hv } : {}),
    q,
    k,
    v,
    scale: attrs.scale || Math.fround(1 / Math.fround(Math.sqrt(H))),
    ...(x.attention_bias ? { bias: x.attention_bias } : {}),
    blocked: (b, s, t) => padded(b, s, t) + causal(s, t),
    fill: attrs.fp16 ? Math.max(filter, -65504) : filter,
    ...(attrs.fp16 ? {} : { round: Math.fround }),
  });
  return { ...reference, present: [k, v], T };
}

/** [B, N, T, H] from a heads accessor. */
function materialise(heads: Heads, B: number, N: number, T: number, H: number): Float64Array {
  const out = new Float64Array(B * N * T * H);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) out[((b * N + n) * T + t) * H + h] = heads(b, n, t, h);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a fused graph both ways

/** Largest |actual - expected|, or of that divided by max(1, |expected|) when `relative`. */
function maxDiff(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, relative = false): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs((actual[i] as number) - (expected[i] as number)) / (relative ? Math.max(1, Math.abs(expected[i] as number)) : 1);
    assert.ok(Number.isFinite(diff), `${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    worst = Math.max(worst, diff);
  }
  return worst;
}

/** Largest differences seen, per test, for the report. */
const MEASURED: Record<string, number> = {};

interface Check {
  /** onnxruntime-web runs the fused node: compare with its outputs. */
  kernel: boolean;
  tolerance: number;
  probsTolerance: number;
  rowTolerance: number;
  /** Float64 outputs by output name (and the expected probabilities of the one block). */
  reference?: Record<string, Float64Array>;
  probs?: { values: Float64Array; B: number; N: number; S: number; T: number; masked: (b: number, s: number, t: number) => boolean };
  blocks?: number;
}

async function checkRewrite(label: string, model: ModelProto, feeds: Record<string, ort.Tensor>, check: Check): Promise<{ plan: TapPlan; tapped: Record<string, ort.Tensor> }> {
  const { model: rewritten, plan } = analyzeAndTap(model);
  assert.equal(plan.attention.length, check.blocks ?? 1, `${label}: blocks found`);
  const tapped = await runModel(rewritten, feeds);
  let worst = 0;
  if (check.kernel) {
    const fused = await runModel(model, feeds);
    for (const [name, tensor] of Object.entries(fused)) {
      assert.deepEqual(tapped[name]?.dims, tensor.dims, `${label}: shape of ${name}`);
      const diff = maxDiff(numbers(tapped[name] as ort.Tensor), numbers(tensor), `${label}: ${name}`);
      assert.ok(diff <= check.tolerance, `${label}: ${name} differs from the fused kernel by ${diff}`);
      worst = Math.max(worst, diff);
      // The float64 reading of the kernel agrees with the kernel itself.
      const reference = check.reference?.[name];
      if (reference) {
        // Relative: the qk output holds the fill (-10000), whose float32/float16 spacing is 1e-3/8.
        const referenceDiff = maxDiff(numbers(tensor), reference, `${label}: kernel vs float64 ${name}`, true);
        assert.ok(referenceDiff <= check.tolerance, `${label}: the kernel's ${name} differs from the float64 computation by ${referenceDiff}`);
      }
    }
  } else {
    for (const [name, reference] of Object.entries(check.reference ?? {})) {
      const diff = maxDiff(numbers(tapped[name] as ort.Tensor), reference, `${label}: ${name}`);
      assert.ok(diff <= check.tolerance, `${label}: ${name} differs from the float64 computation by ${diff}`);
      worst = Math.max(worst, diff);
    }
  }
  MEASURED[label] = worst;
  if (check.probs) checkProbs(label, plan.attention[0] as AttentionTap, tapped, check);
  return { plan, tapped };
}

function checkProbs(label: string, tap: AttentionTap, tapped: Record<string, ort.Tensor>, check: Check): void {
  const expected = check.probs as NonNullable<Check['probs']>;
  const tensor = tapped[tap.output] as ort.Tensor;
  assert.equal(tap.layout, 'BHQK');
  assert.deepEqual(tensor.dims.map(Number), [expected.B, expected.N, expected.S, expected.T], `${label}: probabilities shape`);
  const probs = numbers(tensor);
  const diff = maxDiff(probs, expected.values, `${label}: probabilities`);
  assert.ok(diff <= check.probsTolerance, `${label}: tapped probabilities differ from the float64 computation by ${diff}`);
  for (let row = 0; row < expected.B * expected.N * expected.S; row++) {
    const b = Math.floor(row / (expected.N * expected.S));
    const s = row % expected.S;
    let sum = 0;
    for (let t = 0; t < expected.T; t++) {
      const p = probs[row * expected.T + t] as number;
      sum += p;
      if (expected.masked(b, s, t)) assert.equal(p, 0, `${label}: masked cell b${b} row ${row} key ${t} has p = ${p}`);
    }
    assert.ok(Math.abs(sum - 1) <= check.rowTolerance, `${label}: row ${row} sums to ${sum}`);
  }
}

// ---------------------------------------------------------------------------------------------
// MultiHeadAttention

const B = 2;
const N = 2;
const H = 4;
const D = N * H;
const S = 3;
const L = 4;
const P = 5;

interface MhaCase {
  name: string;
  /** Declares the inputs (besides the query) and returns the node's input list. */
  inputs: (g: GraphBuilder, type: number) => string[];
  attrs?: Record<string, AttributeValue>;
  outputs?: string[];
  fixed?: Record<string, number[]>;
  /** onnxruntime-web's CPU kernel cannot run it. */
  noKernel?: string;
  query?: number[];
}

const separate = (g: GraphBuilder, type: number, keys = L): string[] => [g.input('key', type, [B, keys, D]), g.input('value', type, [B, keys, D])];

const MHA_CASES: MhaCase[] = [
  { name: 'separate Q, K, V (cross lengths S=3, L=4)', inputs: (g, t) => ['query', ...separate(g, t)] },
  { name: 'separate Q, K, V with bias', inputs: (g, t) => ['query', ...separate(g, t), g.input('bias', t, [3 * D])] },
  {
    name: 'key_padding_mask [B, T] with bias',
    inputs: (g, t) => ['query', ...separate(g, t), g.input('bias', t, [3 * D]), g.input('key_padding_mask', I32, [B, L])],
    fixed: { key_padding_mask: [1, 1, 0, 1, 1, 1, 1, 0] },
  },
  { name: 'key_padding_mask [B] (key lengths)', inputs: (g, t) => ['query', ...separate(g, t), '', g.input('key_padding_mask', I32, [B])], fixed: { key_padding_mask: [2, 4] } },
  {
    name: 'key_padding_mask [3B+2] (lengths, then starts the CPU kernel does not read)',
    inputs: (g, t) => ['query', ...separate(g, t), '', g.input('key_padding_mask', I32, [3 * B + 2])],
    fixed: { key_padding_mask: [3, 1, 1, 2, 0, 0, 3, 4] },
  },
  {
    name: 'key_padding_mask [B, S, T]',
    inputs: (g, t) => ['query', ...separate(g, t), '', g.input('key_padding_mask', I32, [B, S, L])],
    fixed: { key_padding_mask: Array.from({ length: B * S * L }, (_, i) => (i % 5 === 2 ? 0 : 1)) },
  },
  { name: 'value wider than query and key (H_v = 6, H = 4) with bias [D + D + D_v]', inputs: (g, t) => ['query', g.input('key', t, [B, L, D]), g.input('value', t, [B, L, 12]), g.input('bias', t, [2 * D + 12])] },
  { name: 'attention_bias [1, N, S, T]', inputs: (g, t) => ['query', ...separate(g, t), '', '', g.input('attention_bias', t, [1, N, S, L])] },
  { name: 'attention_bias [B, 1, S, T] with bias and a mask', inputs: (g, t) => ['query', ...separate(g, t), g.input('bias', t, [3 * D]), g.input('key_padding_mask', I32, [B]), g.input('attention_bias', t, [B, 1, S, L])], fixed: { key_padding_mask: [3, 4] } },
  {
    name: 'past key/value [B, N, P, H] concatenated, present outputs, mask [B, P+L]',
    inputs: (g, t) => ['query', ...separate(g, t), g.input('bias', t, [3 * D]), g.input('key_padding_mask', I32, [B, P + L]), '', g.input('past_key', t, [B, N, P, H]), g.input('past_value', t, [B, N, P, H])],
    outputs: ['output', 'present_key', 'present_value'],
    fixed: { key_padding_mask: [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0] },
  },
  { name: 'unidirectional, no past (S = L = 3)', inputs: (g, t) => ['query', ...separate(g, t, S)], attrs: { unidirectional: 1 } },
  {
    name: 'unidirectional with past and key lengths (causal + padding, a fully masked row)',
    inputs: (g, t) => ['query', ...separate(g, t, S), '', g.input('key_padding_mask', I32, [B]), '', g.input('past_key', t, [B, N, 2, H]), g.input('past_value', t, [B, N, 2, H])],
    attrs: { unidirectional: 1 },
    outputs: ['output', 'present_key', 'present_value'],
    fixed: { key_padding_mask: [4, 0] },
  },
  {
    name: 'cross-attention on cached K/V [B, N, L, H]: bias on Q only, mask [B, L]',
    inputs: (g, t) => ['query', g.input('key', t, [B, N, L, H]), g.input('value', t, [B, N, L, H]), g.input('bias', t, [3 * D]), g.input('key_padding_mask', I32, [B, L])],
    outputs: ['output', 'present_key', 'present_value'],
    fixed: { key_padding_mask: [1, 1, 1, 0, 1, 0, 1, 1] },
  },
  {
    name: 'scale and mask_filter_value attributes',
    inputs: (g, t) => ['query', ...separate(g, t), '', g.input('key_padding_mask', I32, [B, L])],
    attrs: { scale: { float: 0.3 }, mask_filter_value: { float: -3000 } },
    fixed: { key_padding_mask: [1, 0, 1, 1, 0, 0, 1, 1] },
  },
  { name: 'qk output', inputs: (g, t) => ['query', ...separate(g, t), g.input('bias', t, [3 * D]), g.input('key_padding_mask', I32, [B]), g.input('attention_bias', t, [1, N, S, L])], outputs: ['output', '', '', 'qk'], fixed: { key_padding_mask: [2, 3] } },
  { name: 'packed Q/K/V [B, S, N, 3, H] with bias', inputs: (g, t) => [g.input('packed', t, [B, S, N, 3, H]), '', '', g.input('bias', t, [3 * D])], noKernel: 'Packed QKV', query: [] },
  { name: 'packed K/V [B, L, N, 2, H] with a mask', inputs: (g, t) => ['query', g.input('key', t, [B, L, N, 2, H]), '', '', g.input('key_padding_mask', I32, [B])], noKernel: 'Packed KV', fixed: { key_padding_mask: [3, 2] } },
];

function mhaModel(c: MhaCase, type: number): { model: ModelProto; builder: GraphBuilder; inputs: string[]; outputs: string[] } {
  const g = new GraphBuilder();
  if (!c.query) g.input('query', type, [B, S, D]);
  const inputs = c.inputs(g, type);
  const outputs = c.outputs ?? ['output'];
  g.node('MultiHeadAttention', inputs, outputs, { num_heads: N, ...(c.attrs ?? {}) }, 'com.microsoft');
  outputs.filter(Boolean).forEach((name) => g.output(name, type));
  return { model: g.model(17), builder: g, inputs, outputs };
}

/** The kernel's inputs by name from the feeds (the node's input list gives the slots). */
function kernelInputs(names: readonly string[], slots: string[], feeds: Record<string, ort.Tensor>): KernelInputs {
  const inputs: KernelInputs = {};
  names.forEach((name, slot) => {
    const fed = slots[slot];
    if (fed) inputs[name] = t64(feeds[fed]);
  });
  return inputs;
}

const MHA_INPUTS = ['query', 'key', 'value', 'bias', 'key_padding_mask', 'attention_bias', 'past_key', 'past_value'] as const;

describe('com.microsoft MultiHeadAttention rewritten into plain operators', () => {
  for (const c of MHA_CASES) {
    for (const t of TYPES) {
      const title = `${t.label}: ${c.name}${c.noKernel ? ` (onnxruntime-web's CPU kernel: "${c.noKernel} not implemented for CPU"; compared with float64)` : ''}`;
      it(title, async () => {
        const { model, builder, inputs, outputs } = mhaModel(c, t.type);
        const feeds = feedsFor(builder, 17, c.fixed);
        const x = kernelInputs(MHA_INPUTS, inputs, feeds);
        const attrs = c.attrs ?? {};
        const reference = mhaReference(x, {
          heads: N,
          fp16: t.type === F16,
          ...(attrs.scale ? { scale: (attrs.scale as { float: number }).float } : {}),
          ...(attrs.mask_filter_value ? { filter: (attrs.mask_filter_value as { float: number }).float } : {}),
          unidirectional: attrs.unidirectional === 1,
        });
        const queries = (x.query as Tensor64).dims[1] as number;
        const expected: Record<string, Float64Array> = { output: reference.output };
        if (outputs[1]) [expected.present_key, expected.present_value] = (reference.present ?? []).map((heads) => materialise(heads, B, N, reference.T, H));
        if (outputs[3]) expected.qk = reference.scores;
        await checkRewrite(title, model, feeds, {
          kernel: !c.noKernel,
          tolerance: t.tolerance,
          probsTolerance: t.probsTolerance,
          rowTolerance: t.rowTolerance,
          reference: expected,
          probs: { values: reference.probs, B, N, S: queries, T: reference.T, masked: reference.masked },
        });
      });
    }
  }

  it('fp32: opset 11 (Unsqueeze axes as an attribute, Softmax over the coerced last axis): causal + key lengths + past', async () => {
    const c = MHA_CASES.find((one) => one.name.startsWith('unidirectional with past')) as MhaCase;
    const { builder, model } = mhaModel(c, F32);
    const old = { ...model, opsetImport: [{ domain: '', version: 11 }, { domain: 'com.microsoft', version: 1 }] } as ModelProto;
    await checkRewrite('opset 11', old, feedsFor(builder, 17, c.fixed), { kernel: true, tolerance: 1e-5, probsTolerance: 1, rowTolerance: 1e-5 });
  });

  it('fp32: with dynamic dims the head size is read at run time (scale 1/√H computed in the graph)', async () => {
    const g = new GraphBuilder();
    for (const name of ['query', 'key', 'value']) g.input(name, F32, [B, S, D]);
    const model = g.node('MultiHeadAttention', ['query', 'key', 'value'], ['output'], { num_heads: N }, 'com.microsoft').output('output', F32).model(17);
    // Forget the shapes: nothing static is left to read H from.
    for (const input of model.graph?.input ?? []) input.type = { tensorType: { elemType: F32, shape: { dim: [{ dimParam: 'b' }, { dimParam: 's' }, { dimParam: 'd' }] } } };
    await checkRewrite('dynamic dims', model, feedsFor(g, 5), { kernel: true, tolerance: 1e-5, probsTolerance: 1, rowTolerance: 1e-5 });
  });
});

// ---------------------------------------------------------------------------------------------
// DecoderMaskedMultiHeadAttention

const M = 6; // the shared past/present buffer's length
const PAST = 3; // valid positions in it

interface DecoderCase {
  name: string;
  inputs: (g: GraphBuilder, type: number) => string[];
  attrs?: Record<string, AttributeValue>;
  outputs: string[];
  fixed?: Record<string, number[]>;
}

const DECODER_INPUTS = ['query', 'key', 'value', 'mask_index', 'attention_bias', 'past_key', 'past_value', 'past_sequence_length', 'beam_width', 'cache_indirection', 'bias'] as const;
const step = (g: GraphBuilder, type: number): string[] => [g.input('query', type, [B, 1, D]), g.input('key', type, [B, 1, D]), g.input('value', type, [B, 1, D])];
const buffer = (g: GraphBuilder, type: number): string[] => [g.input('past_key', type, [B, N, M, H]), g.input('past_value', type, [B, N, M, H]), g.input('past_sequence_length', I32, [1])];

const DECODER_CASES: DecoderCase[] = [
  { name: 'self-attention on a shared past/present buffer', inputs: (g, t) => [...step(g, t), '', '', ...buffer(g, t)], attrs: { past_present_share_buffer: 1 }, outputs: ['output', 'present_key', 'present_value'], fixed: { past_sequence_length: [PAST] } },
  {
    name: 'self-attention with bias, mask [B, P+1] and attention_bias [1, N, 1, P+1]',
    inputs: (g, t) => [...step(g, t), g.input('mask_index', I32, [B, PAST + 1]), g.input('attention_bias', t, [1, N, 1, PAST + 1]), ...buffer(g, t), '', '', g.input('bias', t, [3 * D])],
    attrs: { past_present_share_buffer: 1 },
    outputs: ['output', 'present_key', 'present_value'],
    fixed: { past_sequence_length: [PAST], mask_index: [0, 1, 1, 1, 1, 1, 0, 1] },
  },
  {
    name: 'self-attention with output_qk and a scale',
    inputs: (g, t) => [...step(g, t), g.input('mask_index', I32, [B, PAST + 1]), '', ...buffer(g, t)],
    attrs: { past_present_share_buffer: 1, output_qk: 1, scale: { float: 0.7 } },
    outputs: ['output', 'present_key', 'present_value', 'qk'],
    fixed: { past_sequence_length: [PAST], mask_index: [1, 1, 0, 1, 1, 1, 1, 1] },
  },
  {
    name: 'beam search (beam width 2, cache_indirection [1, 2, M]) with bias, a mask holding -1 and 0, attention_bias [B·W, N, 1, P+1] and output_qk',
    inputs: (g, t) => [
      ...step(g, t),
      g.input('mask_index', I32, [B, PAST + 1]),
      g.input('attention_bias', t, [B, N, 1, PAST + 1]),
      ...buffer(g, t),
      g.input('beam_width', I32, [1]),
      g.input('cache_indirection', I32, [1, 2, M]),
      g.input('bias', t, [3 * D]),
    ],
    attrs: { past_present_share_buffer: 1, output_qk: 1 },
    outputs: ['output', 'present_key', 'present_value', 'qk'],
    fixed: { past_sequence_length: [PAST], beam_width: [2], cache_indirection: [1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0], mask_index: [1, -1, 0, 1, 1, 1, 1, 0] },
  },
  {
    name: 'cross-attention on cached K/V [B, N, L, H] with bias (Q only) and mask [B, L]',
    inputs: (g, t) => [g.input('query', t, [B, 1, D]), g.input('key', t, [B, N, L, H]), g.input('value', t, [B, N, L, H]), g.input('mask_index', I32, [B, L]), '', '', '', '', '', '', g.input('bias', t, [3 * D])],
    outputs: ['output'],
    fixed: { mask_index: [1, 1, 0, 1, 0, 1, 1, 1] },
  },
];

/** com.microsoft DecoderMaskedMultiHeadAttention in float64. */
function decoderReference(x: KernelInputs, attrs: { scale?: number; fp16: boolean }): Reference & { T: number; present?: [Float64Array, Float64Array] } {
  const query = x.query as Tensor64;
  const q = fromBSD(query, N, x.bias, 0);
  const cross = !x.past_key;
  const pastLength = cross ? 0 : ((x.past_sequence_length as Tensor64).data[0] as number);
  const T = cross ? ((x.key as Tensor64).dims[2] as number) : pastLength + 1;
  // Beam search: past position t of row b is read from row (b / W)·W + cache_indirection[b, t].
  const width = x.cache_indirection ? ((x.beam_width?.data[0] as number | undefined) ?? 1) : 1;
  const source = (b: number, t: number): number => (x.cache_indirection ? Math.floor(b / width) * width + (x.cache_indirection.data[b * M + t] as number) : b);
  const reordered = (past: Tensor64 | undefined): Tensor64 | undefined => past && { dims: past.dims, data: materialise((b, n, t, h) => at(past, source(b, t), n, t, h), B, N, M, H) };
  const k = cross ? fromBNSH(x.key as Tensor64) : withPast(reordered(x.past_key), pastLength, fromBSD(x.key as Tensor64, N, x.bias, D));
  const v = cross ? fromBNSH(x.value as Tensor64) : withPast(reordered(x.past_value), pastLength, fromBSD(x.value as Tensor64, N, x.bias, 2 * D));
  const mask = x.mask_index;
  const blocks = (value: number): boolean => (x.cache_indirection ? value === 0 : !(value > 0)); // the beam kernel blocks only 0
  const attentionBias = x.attention_bias && x.cache_indirection && x.attention_bias.dims[0] !== 1 ? { dims: x.attention_bias.dims, data: materialise((b, n, s, t) => at(x.attention_bias as Tensor64, Math.floor(b / width), n, s, t), B, N, 1, pastLength + 1) } : x.attention_bias;
  const reference = attentionReference({
    B,
    N,
    S: 1,
    T,
    H,
    q,
    k,
    v,
    scale: attrs.scale || Math.fround(1 / Math.fround(Math.sqrt(H))),
    ...(attentionBias ? { bias: attentionBias } : {}),
    blocked: (b, _s, t) => (mask && blocks(at(mask, b, t)) ? 1 : 0),
    fill: -10000,
    ...(attrs.fp16 ? {} : { round: Math.fround }),
  });
  if (cross) return { ...reference, T };
  // The buffer keeps its length: the new key/value is written at position P.
  const written = (past: Tensor64, all: Heads): Heads => (b, n, t, h) => (t === pastLength ? all(b, n, t, h) : at(past, b, n, t, h));
  const present: [Float64Array, Float64Array] = [materialise(written(x.past_key as Tensor64, k), B, N, M, H), materialise(written(x.past_value as Tensor64, v), B, N, M, H)];
  return { ...reference, T, present };
}

describe('com.microsoft DecoderMaskedMultiHeadAttention rewritten into plain operators', () => {
  for (const c of DECODER_CASES) {
    for (const t of TYPES) {
      const title = `${t.label}: ${c.name}`;
      it(title, async () => {
        const g = new GraphBuilder();
        const inputs = c.inputs(g, t.type);
        g.node('DecoderMaskedMultiHeadAttention', inputs, c.outputs, { num_heads: N, ...(c.attrs ?? {}) }, 'com.microsoft');
        c.outputs.forEach((name) => g.output(name, t.type));
        const feeds = feedsFor(g, 23, c.fixed);
        const x = kernelInputs(DECODER_INPUTS, inputs, feeds);
        const scale = c.attrs?.scale as { float: number } | undefined;
        const reference = decoderReference(x, { fp16: t.type === F16, ...(scale ? { scale: scale.float } : {}) });
        const expected: Record<string, Float64Array> = { output: reference.output };
        if (reference.present) [expected.present_key, expected.present_value] = reference.present;
        if (c.outputs[3]) expected.qk = reference.scores;
        await checkRewrite(title, g.model(17), feeds, {
          kernel: true,
          tolerance: t.tolerance,
          probsTolerance: t.probsTolerance,
          rowTolerance: t.rowTolerance,
          reference: expected,
          probs: { values: reference.probs, B, N, S: 1, T: reference.T, masked: reference.masked },
        });
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// FusedMatMul

/**
 * Stored shape of an operand whose product-ready shape is [b1, b2, rows, cols], by onnxruntime's
 * contrib op docs: transBatch stores the rows axis first ([rows, b1, b2, cols]); trans swaps rows and cols.
 */
function storedShape(logical: [number, number, number, number], trans: boolean, transBatch: boolean): number[] {
  const [b1, b2, rows, cols] = logical;
  const [first, last] = trans ? [cols, rows] : [rows, cols];
  return transBatch ? [first, b1, b2, last] : [b1, b2, first, last];
}

describe('com.microsoft FusedMatMul rewritten into Transpose/MatMul/Mul', () => {
  for (const t of TYPES) {
    it(`${t.label}: every combination of transA, transB, transBatchA, transBatchB, alpha = 0.5 (rank 4)`, async () => {
      let worst = 0;
      for (let flags = 0; flags < 16; flags++) {
        const [transA, transB, transBatchA, transBatchB] = [0, 1, 2, 3].map((bit) => (flags >> bit) & 1) as [number, number, number, number];
        const g = new GraphBuilder();
        g.input('a', t.type, storedShape([2, 3, 4, 5], transA === 1, transBatchA === 1));
        g.input('b', t.type, storedShape([2, 3, 5, 6], transB === 1, transBatchB === 1));
        const model = g.node('FusedMatMul', ['a', 'b'], ['y'], { alpha: { float: 0.5 }, transA, transB, transBatchA, transBatchB }, 'com.microsoft').output('y', t.type).model(17);
        const feeds = feedsFor(g, 31 + flags);
        const rewritten = rewriteOnly(model);
        const [fused, plain] = [await runModel(model, feeds), await runModel(rewritten, feeds)];
        assert.deepEqual(plain.y?.dims, [2, 3, 4, 6]);
        const diff = maxDiff(numbers(plain.y as ort.Tensor), numbers(fused.y as ort.Tensor), `flags ${flags}`);
        assert.ok(diff <= t.tolerance, `transA ${transA} transB ${transB} transBatchA ${transBatchA} transBatchB ${transBatchB}: differs by ${diff}`);
        worst = Math.max(worst, diff);
      }
      MEASURED[`FusedMatMul ${t.label} rank 4`] = worst;
    });
  }

  it('fp32: rank 3 by rank 2 (broadcast), transA and alpha', async () => {
    const g = new GraphBuilder();
    g.input('a', F32, [2, 5, 4]);
    g.input('b', F32, [5, 6]);
    const model = g.node('FusedMatMul', ['a', 'b'], ['y'], { alpha: { float: -1.5 }, transA: 1 }, 'com.microsoft').output('y', F32).model(13);
    const feeds = feedsFor(g, 3);
    const diff = maxDiff(numbers((await runModel(rewriteOnly(model), feeds)).y as ort.Tensor), numbers((await runModel(model, feeds)).y as ort.Tensor), 'rank 3');
    assert.ok(diff <= 1e-5, `differs by ${diff}`);
  });

  it('a FusedMatMul whose operand rank cannot be read: left as it is when it feeds no Softmax, refused by name when it is a Q·Kᵀ', () => {
    const build = (softmax: boolean): ModelProto => {
      const g = new GraphBuilder();
      g.input('a', F32, [2, 4, 5]);
      g.input('b', F32, [2, 6, 5]);
      g.node('FusedMatMul', ['a', 'b'], ['y'], { transB: 1 }, 'com.microsoft');
      if (softmax) g.node('Softmax', ['y'], ['p'], { axis: -1 });
      g.output(softmax ? 'p' : 'y', F32);
      const model = g.model(17);
      for (const input of model.graph?.input ?? []) input.type = { tensorType: { elemType: F32 } }; // no shape, no rank
      return model;
    };
    const kept = rewriteOnly(build(false));
    assert.deepEqual(kept.graph?.node?.map((node) => node.opType), ['FusedMatMul']);
    assert.match(refusal(build(true)), /com\.microsoft\.FusedMatMul "fusedmatmul_0": the rank of its input B cannot be read/);
  });

  it('the permutations: transBatch moves the first axis behind the batch axes, trans swaps the last two', () => {
    assert.deepEqual(operandPermutation(4, true, false), [1, 2, 0, 3]);
    assert.deepEqual(operandPermutation(4, false, true), [0, 1, 3, 2]);
    assert.deepEqual(operandPermutation(4, true, true), [1, 2, 3, 0]);
    assert.equal(operandPermutation(2, true, false), null);
  });

  for (const t of TYPES) {
    it(`${t.label}: a Llama-style block whose Q·Kᵀ is FusedMatMul(transB = 1, alpha = 1/√d) is found and tapped, outputs unchanged`, async () => {
      const T = 5;
      const next = random(41);
      const weight = (): number[] => Array.from({ length: D * D }, () => next());
      const causal = Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) ? 0 : -1e4));
      const g = new GraphBuilder();
      g.input('x', t.type, [1, T, D]);
      for (const name of ['wq', 'wk', 'wv']) g.constant(name, t.type, [D, D], weight());
      g.constant('heads', ElemType.INT64, [4], [1, T, N, H]);
      g.constant('merge', ElemType.INT64, [3], [1, T, D]);
      g.constant('causal', t.type, [1, 1, T, T], causal);
      for (const name of ['q', 'k', 'v']) {
        g.node('MatMul', ['x', `w${name}`], [`${name}_proj`]).node('Reshape', [`${name}_proj`, 'heads'], [`${name}_split`]).node('Transpose', [`${name}_split`], [`${name}_heads`], { perm: [0, 2, 1, 3] });
      }
      g.node('FusedMatMul', ['q_heads', 'k_heads'], ['scores'], { transB: 1, alpha: { float: 1 / Math.sqrt(H) } }, 'com.microsoft')
        .node('Add', ['scores', 'causal'], ['masked'])
        .node('Softmax', ['masked'], ['probs'], { axis: -1 })
        .node('FusedMatMul', ['probs', 'v_heads'], ['context'], {}, 'com.microsoft')
        .node('Transpose', ['context'], ['context_t'], { perm: [0, 2, 1, 3] })
        .node('Reshape', ['context_t', 'merge'], ['y'])
        .output('y', t.type);
      const { plan } = await checkRewrite(`${t.label} Llama FusedMatMul block`, g.model(17), feedsFor(g, 9), { kernel: true, tolerance: t.tolerance, probsTolerance: 1, rowTolerance: t.rowTolerance });
      assert.equal(plan.attention[0]?.expectedMaskKind, 'causal');
      assert.ok(plan.notes.some((note) => note.message.includes('com.microsoft.FusedMatMul')), 'the rewrite is noted');
    });
  }
});

/** The fused-kernel rewrites alone (what analyzeAndTap runs first), for graphs without attention. */
function rewriteOnly(model: ModelProto): ModelProto {
  const copy = cloneForEdit(model);
  rewriteFusedKernels(new GraphEditor(copy), FUSED_REWRITERS);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Refusals: forms the rewrite does not match are refused by name, never traced wrongly.

function refusal(model: ModelProto): string {
  let message = '';
  assert.throws(
    () => analyzeAndTap(model),
    (error: unknown) => {
      assert.ok(error instanceof UserFacingError, `a UserFacingError, got ${String(error)}`);
      assert.ok(error.hint.length > 0, 'with a hint');
      assert.doesNotMatch(error.message, /No attention found/);
      message = error.message;
      return true;
    },
  );
  return message;
}

function single(opType: string, build: (g: GraphBuilder) => string[], attrs: Record<string, AttributeValue>, outputs = ['output']): ModelProto {
  const g = new GraphBuilder();
  const inputs = build(g);
  g.node(opType, inputs, outputs, { num_heads: N, ...attrs }, 'com.microsoft');
  outputs.filter(Boolean).forEach((name) => g.output(name, F32));
  const model = g.model(17);
  (model.graph?.node?.[0] as { name: string }).name = 'layer_4_attention';
  return model;
}

describe('multi-head kernels the rewrite refuses, naming node, op and reason', () => {
  const qkv = (g: GraphBuilder): string[] => [g.input('query', F32, [B, S, D]), ...separate(g, F32)];
  const cases: [string, ModelProto, RegExp][] = [
    ['an unknown attribute', single('MultiHeadAttention', qkv, { rotary_interleaved: 1 }), /attribute rotary_interleaved/],
    ['cache_indirection', single('MultiHeadAttention', (g) => [...qkv(g), '', '', '', g.input('pk', F32, [B, N, P, H]), g.input('pv', F32, [B, N, P, H]), '', g.input('ci', I32, [B, 1, P])], {}), /cache_indirection/],
    ['past_sequence_length (shared buffer)', single('MultiHeadAttention', (g) => [...qkv(g), '', '', '', g.input('pk', F32, [B, N, P, H]), g.input('pv', F32, [B, N, P, H]), g.input('psl', I32, [1])], {}), /past_sequence_length/],
    ['a 4-D key_padding_mask', single('MultiHeadAttention', (g) => [...qkv(g), '', g.input('m', I32, [B, 1, S, L])], {}), /key_padding_mask has shape \[2, 1, 3, 4\]/],
    ['packed K/V with a bias', single('MultiHeadAttention', (g) => [g.input('query', F32, [B, S, D]), g.input('key', F32, [B, L, N, 2, H]), '', g.input('bias', F32, [3 * D])], {}), /packed K\/V and a bias/],
    ['DMMHA past without past_present_share_buffer', single('DecoderMaskedMultiHeadAttention', (g) => [...step(g, F32), '', '', g.input('pk', F32, [B, N, M, H]), g.input('pv', F32, [B, N, M, H])], {}, ['output', 'pk_out', 'pv_out']), /past_present_share_buffer = 1/],
    ['DMMHA packed Q/K/V', single('DecoderMaskedMultiHeadAttention', (g) => [g.input('query', F32, [B, 1, 3 * D])], {}), /packed Q\/K\/V/],
    ['DMMHA with a 1-D mask', single('DecoderMaskedMultiHeadAttention', (g) => [...step(g, F32), g.input('m', I32, [B]), '', ...buffer(g, F32)], { past_present_share_buffer: 1 }, ['output', 'pk_out', 'pv_out']), /mask_index is not the 2-D/],
  ];
  for (const [what, model, reason] of cases) {
    it(`${what}`, () => {
      const message = refusal(model);
      assert.match(message, /com\.microsoft\.(MultiHeadAttention|DecoderMaskedMultiHeadAttention) "layer_4_attention"/);
      assert.match(message, reason);
    });
  }

  it('the exact wording of one refusal', () => {
    assert.equal(
      refusal(cases[1]?.[1] as ModelProto),
      'Cannot read the attention of the fused onnxruntime kernel com.microsoft.MultiHeadAttention "layer_4_attention": it takes a cache_indirection input (beam search reorders the cached keys), which the rewrite does not match.',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Attention inside subgraphs is refused by the op that hides it, not as "no attention found".

/** A plain attention block (MatMul → scale → Softmax → MatMul) reading outer-scope q, k, v, as a subgraph. */
function attentionBody(name: string, product: 'MatMul' | 'FusedMatMul' | 'MultiHeadAttention'): ReturnType<GraphBuilder['graph']> {
  const g = new GraphBuilder();
  if (product === 'MultiHeadAttention') {
    g.node('MultiHeadAttention', ['q', 'k', 'v'], ['out'], { num_heads: N }, 'com.microsoft');
  } else {
    g.constant('scale', F32, [], [0.5]);
    if (product === 'MatMul') g.node('Transpose', ['k'], ['kt'], { perm: [0, 2, 1] }).node('MatMul', ['q', 'kt'], ['qk']);
    else g.node('FusedMatMul', ['q', 'k'], ['qk'], { transB: 1 }, 'com.microsoft');
    g.node('Mul', ['qk', 'scale'], ['scores']).node('Softmax', ['scores'], ['probs'], { axis: -1 }).node('MatMul', ['probs', 'v'], ['out']);
  }
  return g.output('out', F32).graph(name);
}

function holder(opType: string, domain: string, graphs: Record<string, AttributeValue>, inputs: string[]): ModelProto {
  const g = new GraphBuilder();
  for (const name of ['q', 'k', 'v']) g.input(name, F32, [1, 4, 8]);
  g.input('cond', ElemType.BOOL, []);
  g.node(opType, inputs, ['result'], graphs, domain).output('result', F32);
  const model = g.model(17);
  (model.graph?.node?.[0] as { name: string }).name = 'hidden_attention';
  return model;
}

describe('attention inside subgraphs', () => {
  it('ai.onnx If whose branches hold the attention (a merged decoder): refused naming the If', () => {
    const model = holder('If', '', { then_branch: { graph: attentionBody('then', 'MatMul') }, else_branch: { graph: attentionBody('else', 'MatMul') } }, ['cond']);
    assert.match(refusal(model), /inside a subgraph of If "hidden_attention"/);
  });

  it('com.microsoft BeamSearch whose decoder holds MultiHeadAttention: refused naming the BeamSearch', () => {
    const model = holder('BeamSearch', 'com.microsoft', { decoder: { graph: attentionBody('decoder', 'MultiHeadAttention') } }, ['q']);
    const message = refusal(model);
    assert.match(message, /com\.microsoft\.BeamSearch "hidden_attention"/);
    assert.match(message, /generation loop/);
  });

  it('ai.onnx Loop whose body computes Q·Kᵀ with FusedMatMul: refused naming the Loop', () => {
    const model = holder('Loop', '', { body: { graph: attentionBody('body', 'FusedMatMul') } }, ['', 'cond']);
    assert.match(refusal(model), /Loop "hidden_attention"/);
  });

  for (const [opType, domain, attribute] of [
    ['Scan', '', 'body'],
    ['GreedySearch', 'com.microsoft', 'decoder'],
    ['WhisperBeamSearch', 'com.microsoft', 'encoder'],
  ] as const) {
    it(`${domain ? `${domain}.` : ''}${opType} whose ${attribute} holds the attention: refused naming it`, () => {
      const model = holder(opType, domain, { [attribute]: { graph: attentionBody(attribute, 'MatMul') } }, ['q']);
      assert.match(refusal(model), new RegExp(`${domain ? `${domain.replace('.', '\\.')}\\.` : ''}${opType} "hidden_attention"`));
    });
  }

  it('an If nested in a Loop body: refused naming the Loop of the main graph', () => {
    const inner = new GraphBuilder().node('If', ['cond'], ['out'], { then_branch: { graph: attentionBody('then', 'MatMul') }, else_branch: { graph: attentionBody('else', 'MatMul') } }).output('out', F32).graph('body');
    assert.match(refusal(holder('Loop', '', { body: { graph: inner } }, ['', 'cond'])), /Loop "hidden_attention"/);
  });

  it('a subgraph without attention still ends in "No attention found"', () => {
    const body = new GraphBuilder().node('Relu', ['q'], ['out']).output('out', F32).graph('plain');
    const model = holder('If', '', { then_branch: { graph: body }, else_branch: { graph: body } }, ['cond']);
    assert.throws(() => analyzeAndTap(model), /No attention found/);
  });
});

// ---------------------------------------------------------------------------------------------
// Real exports of the onnxruntime transformers optimizer

function fixture(name: string): ModelProto {
  return decodeModel(fs.readFileSync(path.join(FIXTURES, name)), name);
}

describe('shared fixtures with com.microsoft MultiHeadAttention', () => {
  it('ort_mha_block_transformers1.16: one encoder-self block [1, 2, 3, 3], the padding mask blocks key 2, outputs equal', async () => {
    const model = fixture('ort_mha_block_transformers1.16.onnx');
    const next = random(3);
    for (const mask of [[1, 1, 1], [1, 1, 0]]) {
      const feeds = {
        input_1: ortTensor(F32, Array.from({ length: 48 }, () => next()), [1, 3, 16]),
        input_2: ortTensor(F32, Array.from({ length: 48 }, () => next()), [1, 3, 16]),
        input_mask: ortTensor(ElemType.INT64, mask, [1, 3]),
      };
      const { plan, tapped } = await checkRewrite(`mha fixture mask ${mask.join('')}`, model, feeds, { kernel: true, tolerance: 1e-5, probsTolerance: 1, rowTolerance: 1e-5 });
      const tap = plan.attention[0] as AttentionTap;
      assert.equal(tap.kind, 'encoder-self');
      assert.equal(tap.expectedMaskKind, 'padding');
      // The head size is read through the projections, so the scale is a constant the analysis recognises.
      assert.deepEqual(plan.notes.map((note) => note.code).filter((code) => code === 'no-scale' || code === 'multiplicative-mask'), []);
      const probs = tapped[tap.output] as ort.Tensor;
      assert.deepEqual(probs.dims, [1, 2, 3, 3]);
      const values = numbers(probs);
      for (let row = 0; row < 6; row++) {
        assert.ok(Math.abs(values[row * 3]! + values[row * 3 + 1]! + values[row * 3 + 2]! - 1) < 1e-5);
        if (mask[2] === 0) assert.equal(values[row * 3 + 2], 0, 'the padded key gets p = 0');
      }
    }
  });

  it('ort_whisper_hf_decoder_layer_mha_self_cross_past: decoder-self [2, 2, 1, 11] with past and cross [2, 2, 1, 20] on cached K/V, outputs and presents equal', async () => {
    const model = fixture('ort_whisper_hf_decoder_layer_mha_self_cross_past.onnx');
    const feeds = feedsFor(builderOf({ input_hidden_states: [2, 1, 10], past_key_self: [2, 2, 10, 5], past_value_self: [2, 2, 10, 5], past_key_cross: [2, 2, 20, 5], past_value_cross: [2, 2, 20, 5] }), 13);
    const before = encodeModel(model);
    const { plan, tapped } = await checkRewrite('whisper fixture', model, feeds, { kernel: true, tolerance: 1e-5, probsTolerance: 1, rowTolerance: 1e-5, blocks: 2 });
    assert.deepEqual(encodeModel(model), before, 'the input model is left unchanged');
    assert.deepEqual(plan.attention.map((tap) => tap.kind), ['decoder-self', 'cross']);
    assert.deepEqual(plan.attention.map((tap) => tapped[tap.output]?.dims), [[2, 2, 1, 11], [2, 2, 1, 20]]);
    for (const tap of plan.attention) {
      const values = numbers(tapped[tap.output] as ort.Tensor);
      const keys = tapped[tap.output]?.dims[3] as number;
      for (let row = 0; row < values.length / keys; row++) {
        const sum = values.slice(row * keys, (row + 1) * keys).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `${tap.node} row ${row} sums to ${sum}`);
      }
    }
  });
});

/** A builder that only declares float inputs of these shapes (for feedsFor). */
function builderOf(shapes: Record<string, number[]>): GraphBuilder {
  const g = new GraphBuilder();
  for (const [name, dims] of Object.entries(shapes)) g.input(name, F32, dims);
  return g;
}


describe('stacked layers', () => {
  for (const t of TYPES) {
    it(`${t.label}: two MultiHeadAttention layers, the second reading the first's output through a projection (no shapes declared past the input)`, async () => {
      const next = random(77);
      const g = new GraphBuilder();
      g.input('x', t.type, [B, S, D]);
      for (const layer of [1, 2]) {
        for (const name of ['q', 'k', 'v', 'o']) g.constant(`w${name}${layer}`, t.type, [D, D], Array.from({ length: D * D }, () => next()));
        const input = layer === 1 ? 'x' : 'o1';
        for (const name of ['q', 'k', 'v']) g.node('MatMul', [input, `w${name}${layer}`], [`${name}${layer}`]);
        g.node('MultiHeadAttention', [`q${layer}`, `k${layer}`, `v${layer}`], [`a${layer}`], { num_heads: N, ...(layer === 2 ? { unidirectional: 1 } : {}) }, 'com.microsoft');
        g.node('MatMul', [`a${layer}`, `wo${layer}`], [`o${layer}`]);
      }
      g.output('o2', t.type);
      const { plan } = await checkRewrite(`${t.label} stacked`, g.model(17), feedsFor(g, 8), { kernel: true, tolerance: t.tolerance, probsTolerance: 1, rowTolerance: t.rowTolerance, blocks: 2 });
      assert.deepEqual(plan.attention.map((tap) => tap.expectedMaskKind), ['none', 'causal']);
    });
  }
});

describe('measured differences', () => {
  it('prints the largest difference per combination (for the report)', () => {
    if (process.env.FUSED_REPORT) for (const [label, diff] of Object.entries(MEASURED)) console.log(`${diff.toExponential(2)}  ${label}`);
  });
});
