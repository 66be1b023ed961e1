/**
 * The decoder concepts that came after 2017, each against numbers worked out by hand: RMSNorm,
 * rotary positions, the SwiGLU network, grouped-query attention's head sharing, and the sliding
 * window. (The whole tiny-modern model is checked against an independent float64 implementation in
 * referenceModel.test.ts.)
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { countParameters, PRESETS } from '../../src/engine/reference/config';
import { causalMask } from '../../src/engine/reference/masks';
import { fromRows } from '../../src/engine/reference/matrix';
import { kvHeadOfQueryHead, MultiHeadAttention } from '../../src/engine/reference/multiHeadAttention';
import { RMSNorm } from '../../src/engine/reference/rmsNorm';
import { applyRotary, rotaryTables } from '../../src/engine/reference/rope';
import { silu, SwiGLUFeedForward } from '../../src/engine/reference/swiglu';
import type { WeightSource } from '../../src/engine/reference/weights';

function close(actual: number, expected: number, what: string, tolerance = 1e-6): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} ≠ ${expected}`);
}

/** Weights by name from plain arrays. */
function weights(tensors: Record<string, number[]>): WeightSource {
  return {
    tensor(name: string, shape: readonly number[]): Float32Array {
      const values = tensors[name];
      if (!values) throw new Error(`no tensor ${name}`);
      assert.equal(values.length, shape.reduce((a, b) => a * b, 1), `${name} size`);
      return Float32Array.from(values);
    },
  };
}

test('RMSNorm: [3, 4] has mean square 12.5, so it becomes [3, 4] / √(12.5 + ε) · g', () => {
  const norm = new RMSNorm(weights({ 'n.weight': [1, 2] }), 'n', 2, 0);
  const out = norm.forward(fromRows([[3, 4], [0, 0.5]]));
  close(out.data[0], 3 / Math.sqrt(12.5), 'x0');
  close(out.data[1], (4 / Math.sqrt(12.5)) * 2, 'x1 (gain 2)');
  // No mean is subtracted: [0, 0.5] keeps its zero.
  close(out.data[2], 0, 'zero stays zero');
  close(out.data[3], (0.5 / Math.sqrt(0.125)) * 2, 'x1 of row 2');
});

test('RoPE: position 0 is unchanged; the pair (x1, x2) turns by p·θ^(−2i/D); dot products depend on the distance only', () => {
  // One head of width 4: pairs (0, 2) at frequency 1 and (1, 3) at frequency θ^(−1/2) = 0.01 with θ = 1e4.
  const tables = rotaryTables(3, 4, 10000);
  const x = fromRows([[1, 2, 3, 4], [1, 0, 0, 0], [1, 0, 0, 0]]);
  applyRotary(x, 1, tables);
  assert.deepEqual(Array.from(x.data.subarray(0, 4)), [1, 2, 3, 4], 'position 0');
  // Position 1, pair (0, 2) with x = (1, 0): (cos 1, sin 1).
  close(x.data[4], Math.cos(1), 'p1 feature 0');
  close(x.data[6], Math.sin(1), 'p1 feature 2');
  // Position 2: (cos 2, sin 2).
  close(x.data[8], Math.cos(2), 'p2 feature 0');
  close(x.data[10], Math.sin(2), 'p2 feature 2');
  // A query at position 5 and a key at 3 score as a query at 2 and a key at 0.
  const dot = (queryAt: number, keyAt: number): number => {
    const t = rotaryTables(6, 4, 10000);
    const q = fromRows(Array.from({ length: 6 }, () => [0.3, -0.7, 1.1, 0.2]));
    const k = fromRows(Array.from({ length: 6 }, () => [0.5, 0.4, -0.2, 0.9]));
    applyRotary(q, 1, t);
    applyRotary(k, 1, t);
    let sum = 0;
    for (let i = 0; i < 4; i++) sum += q.data[queryAt * 4 + i] * k.data[keyAt * 4 + i];
    return sum;
  };
  close(dot(5, 3), dot(2, 0), 'relative', 1e-6);
  assert.ok(Math.abs(dot(5, 3) - dot(5, 0)) > 1e-3, 'a different distance scores differently');
});

test('SwiGLU: down(SiLU(gate·x) ⊙ up·x), SiLU(z) = z·σ(z)', () => {
  close(silu(0), 0, 'SiLU(0)');
  close(silu(1), 1 / (1 + Math.exp(-1)), 'SiLU(1)');
  close(silu(-2), -2 / (1 + Math.exp(2)), 'SiLU(-2)');
  // d = 1, d_ff = 2: gate = [1, -1], up = [2, 3], down = [1, 1], x = 1.5.
  const network = new SwiGLUFeedForward(weights({ 'f.gate.weight': [1, -1], 'f.up.weight': [2, 3], 'f.down.weight': [1, 1] }), 'f', 1, 2, false);
  const out = network.forward(fromRows([[1.5]]));
  close(out.data[0], silu(1.5) * 3 + silu(-1.5) * 4.5, 'output');
});

test('grouped-query attention: query heads share key/value heads in consecutive groups; shared keys give shared weights', () => {
  assert.deepEqual(kvHeadOfQueryHead(14, 2), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(kvHeadOfQueryHead(4, 4), [0, 1, 2, 3]);
  assert.deepEqual(kvHeadOfQueryHead(4, 1), [0, 0, 0, 0]);
  // d = 4, 4 query heads of width 1, 2 key/value heads. Identity queries, keys of two features:
  // heads 0 and 1 read key feature 0, heads 2 and 3 key feature 1.
  const identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  const attention = new MultiHeadAttention(weights({
    'a.query.weight': identity, 'a.key.weight': [1, 0, 0, 0, 0, 0, 1, 0], 'a.value.weight': [1, 0, 0, 0, 0, 0, 1, 0], 'a.output.weight': identity,
  }), 'a', { dModel: 4, heads: 4, kvHeads: 2, bias: { query: false, key: false, value: false, output: false } });
  const x = fromRows([[1, 1, 2, 2], [0, 0, 1, 1]]);
  const result = attention.forward(x, x, { kind: 'none', cells: null, queries: 2, keys: 2 });
  // Head 0 (query feature 0 = 1) on keys [1, 0]: softmax([1, 0]) = [e/(e+1), 1/(e+1)]; head 1 has
  // the same query value and the same key head: the same row.
  const e = Math.E;
  close(result.probs[0], e / (e + 1), 'head 0, query 0, key 0');
  close(result.probs[4], e / (e + 1), 'head 1 (same key head) gives the same weight');
  // Heads 2 and 3 read key feature 2 (x[2]): query 2·2 = 4 against keys [2, 1] → softmax([4, 2]).
  close(result.probs[8], Math.exp(4) / (Math.exp(4) + Math.exp(2)), 'head 2, query 0, key 0');
});

test('the sliding window: query i sees keys i − W + 1 .. i; a window as long as the input is the plain causal mask', () => {
  const mask = causalMask(5, 3);
  const rows = Array.from({ length: 5 }, (_, q) => Array.from(mask.cells?.subarray(q * 5, q * 5 + 5) ?? []).join(''));
  assert.deepEqual(rows, ['10000', '11000', '11100', '01110', '00111']);
  assert.equal(mask.window, 3);
  assert.equal(causalMask(5, 5).window, undefined);
  assert.deepEqual(causalMask(5, 5).cells, causalMask(5).cells);
});

test('qwen2-shape has Qwen2-0.5B\'s size: 494 million parameters with the tied embedding', () => {
  const count = countParameters(PRESETS['qwen2-shape']);
  // Qwen2-0.5B: 494,032,768 parameters (its model card rounds to 0.49 B).
  assert.equal(count, 494_032_768);
});
