/**
 * Hand-worked attention: the expected numbers below were computed by hand (arithmetic shown in the
 * comments), not by the code under test.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { scaledDotProductAttention } from '../../src/engine/reference/attention';
import { causalMask, noMask } from '../../src/engine/reference/masks';
import { fromRows } from '../../src/engine/reference/matrix';
import { MultiHeadAttention } from '../../src/engine/reference/multiHeadAttention';
import type { WeightSource } from '../../src/engine/reference/weights';

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

// Three tokens, one head of width 2: Q = K = [[1,0],[0,1],[1,1]], V = [[1,2],[3,4],[5,6]].
const Q = fromRows([[1, 0], [0, 1], [1, 1]]);
const V = fromRows([[1, 2], [3, 4], [5, 6]]);

test('causal single head, 3 tokens: probabilities and outputs by hand', () => {
  const result = scaledDotProductAttention(Q, Q, V, causalMask(3));
  // Scores q·k / sqrt(2):
  //   row 0: [1, -, -]/√2                → only key 0 allowed          → p = [1, 0, 0]
  //   row 1: [0, 1, -]/√2 = [0, .70711]  → e^0 = 1, e^.70711 = 2.02811 → p = [1/3.02811, 2.02811/3.02811] = [.33024, .66976]
  //   row 2: [1, 1, 2]/√2 = [.70711, .70711, 1.41421] → e = [2.02811, 2.02811, 4.11325], sum 8.16947
  //          → p = [.24826, .24826, .50349]
  assertClose(result.probs.data, [1, 0, 0, 0.33024, 0.66976, 0, 0.24826, 0.24826, 0.50349], 1e-5, 'probs');
  // Outputs p · V:
  //   row 0: [1, 2]
  //   row 1: .33024·[1,2] + .66976·[3,4] = [.33024 + 2.00928, .66048 + 2.67904] = [2.33952, 3.33952]
  //   row 2: .24826·[1,2] + .24826·[3,4] + .50349·[5,6] = [.24826 + .74477 + 2.51745, .49651 + .99302 + 3.02094]
  //          = [3.51047, 4.51047]
  assertClose(result.output.data, [1, 2, 2.33952, 3.33952, 3.51047, 4.51047], 5e-5, 'output');
  // The causal cells above the diagonal are exactly zero, not merely small.
  assert.equal(result.probs.data[1], 0);
  assert.equal(result.probs.data[2], 0);
  assert.equal(result.probs.data[5], 0);
});

test('unmasked single head, 2 tokens', () => {
  const q = fromRows([[2, 0], [0, 0]]);
  const k = fromRows([[1, 0], [0, 1]]);
  const v = fromRows([[10, 0], [0, 10]]);
  const result = scaledDotProductAttention(q, k, v, noMask(2, 2));
  // row 0: scores [2, 0]/√2 = [1.41421, 0] → e = [4.11325, 1] → p = [.80443, .19557]
  // row 1: scores [0, 0] → p = [.5, .5]
  assertClose(result.probs.data, [0.80443, 0.19557, 0.5, 0.5], 1e-5, 'probs');
  assertClose(result.output.data, [8.0443, 1.9557, 5, 5], 1e-4, 'output');
  assertClose(result.scores.data, [Math.SQRT2, 0, 0, 0], 1e-6, 'scores');
});

/** Identity projections with zero biases, so multi-head attention is just per-head attention. */
function identityWeights(d: number): WeightSource {
  return {
    tensor(name: string, shape: readonly number[]): Float32Array {
      if (name.endsWith('.bias')) return new Float32Array(shape[0]);
      const identity = new Float32Array(d * d);
      for (let i = 0; i < d; i++) identity[i * d + i] = 1;
      return identity;
    },
  };
}

test('two heads, 2 tokens: each head attends within its own slice; W_O concatenates', () => {
  // d = 4, two heads of width 2. x = [[1,0, 0,2], [0,1, 2,0]]; Q = K = V = x (identity projections).
  const x = fromRows([[1, 0, 0, 2], [0, 1, 2, 0]]);
  const attention = new MultiHeadAttention(identityWeights(4), 'test', 4, 2);
  const result = attention.forward(x, x, noMask(2, 2));
  // Head 0 uses columns 0-1: q0=[1,0], q1=[0,1]. Scores /√2: row0 [.70711, 0], row1 [0, .70711]
  //   e^.70711 = 2.02811 → row0 p = [2.02811/3.02811, 1/3.02811] = [.66976, .33024]; row1 = [.33024, .66976]
  // Head 1 uses columns 2-3: q0 = k0 = [0,2], q1 = k1 = [2,0].
  //   q0·k0 = 4, q0·k1 = 0 → /√2 = [2.82843, 0] → e^2.82843 = 16.91883
  //   → p = [16.91883/17.91883, 1/17.91883] = [.94419, .05581]
  //   q1·k0 = 0, q1·k1 = 4 → p = [.05581, .94419]
  assertClose(result.probs, [0.66976, 0.33024, 0.33024, 0.66976, 0.94419, 0.05581, 0.05581, 0.94419], 1e-5, 'probs');
  // Outputs: head 0 row0 = .66976·[1,0] + .33024·[0,1] = [.66976, .33024]; row1 = [.33024, .66976]
  //          head 1 row0 = .94419·[0,2] + .05581·[2,0] = [.11162, 1.88838]; row1 = [1.88838, .11162]
  assertClose(result.output.data, [0.66976, 0.33024, 0.11162, 1.88838, 0.33024, 0.66976, 1.88838, 0.11162], 1e-4, 'output');
});
