import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { type Matrix, matmulTransposed, rowNorms } from '../../src/engine/reference/matrix';
import { sinusoidalPosition, sinusoidalPositions } from '../../src/engine/reference/positions';
import { SeededRandom } from '../../src/engine/reference/random';

test('sinusoidal table equals the paper formula, including large positions', () => {
  const d = 512;
  const table = sinusoidalPositions(4097, d);
  const pairs: Array<[number, number]> = [[0, 0], [0, 1], [1, 0], [1, 1], [5, 10], [5, 11], [100, 255], [2048, 2], [4096, 511], [4096, 510], [3001, 128]];
  for (const [pos, dim] of pairs) {
    // Written out here, independently of positions.ts: even dims sin, odd dims cos, 0-based pair index.
    const k = Math.floor(dim / 2);
    const angle = pos / Math.pow(10000, (2 * k) / d);
    const expected = dim % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    const actual = table.data[pos * d + dim];
    assert.ok(Math.abs(actual - expected) < 1e-6, `PE(${pos}, ${dim}) = ${actual}, formula ${expected}`);
    assert.ok(Math.abs(sinusoidalPosition(pos, dim, d) - expected) < 1e-12);
  }
  // Position 0 is [0, 1, 0, 1, ...].
  assert.deepEqual(Array.from(table.data.subarray(0, 4)), [0, 1, 0, 1]);
  // Very large position: still the formula (float32 storage of a float64 value).
  assert.ok(Math.abs(sinusoidalPosition(123456, 3, 64) - Math.cos(123456 / Math.pow(10000, 2 / 64))) < 1e-12);
});

function randomMatrix(rows: number, cols: number, random: SeededRandom): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(-1, 1);
  return { rows, cols, data };
}

test('blocked matmul equals the naive triple loop on edge-case sizes', () => {
  const random = new SeededRandom(3);
  for (const [m, n, k] of [[1, 1, 1], [3, 5, 7], [4, 4, 4], [8, 12, 3], [9, 6, 33], [17, 1, 2]]) {
    const a = randomMatrix(m, k, random);
    const b = randomMatrix(n, k, random);
    const c = matmulTransposed(a, b);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let expected = 0;
        for (let t = 0; t < k; t++) expected += a.data[i * k + t] * b.data[j * k + t];
        assert.ok(Math.abs(c.data[i * n + j] - expected) < 1e-5, `${m}x${n}x${k} at (${i},${j})`);
      }
    }
  }
  assert.throws(() => matmulTransposed(randomMatrix(2, 3, random), randomMatrix(2, 4, random)), /inner sizes differ/);
});

test('row norms are Euclidean norms', () => {
  const norms = rowNorms({ rows: 2, cols: 2, data: new Float32Array([3, 4, 0, -2]) });
  assert.deepEqual(Array.from(norms), [5, 2]);
});
