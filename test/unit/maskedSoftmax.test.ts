import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { maskedSoftmaxRow } from '../../src/engine/reference/attention';

test('softmax of a row: formula, masked cells exactly 0', () => {
  const row = new Float32Array([0, Math.log(3), 5]);
  maskedSoftmaxRow(row, new Uint8Array([1, 1, 0]), 0);
  // e^0 = 1, e^ln3 = 3 → [1/4, 3/4], the blocked cell 0.
  assert.ok(Math.abs(row[0] - 0.25) < 1e-7 && Math.abs(row[1] - 0.75) < 1e-7);
  assert.equal(row[2], 0);
});

test('a NaN score shows as NaN, not as a masked-looking zero row', () => {
  const row = new Float32Array([1, NaN, 2]);
  maskedSoftmaxRow(row, null, 0);
  assert.ok(Array.from(row).every(Number.isNaN));
  const masked = new Float32Array([NaN, 1]);
  maskedSoftmaxRow(masked, new Uint8Array([0, 1]), 0);
  assert.deepEqual(Array.from(masked), [0, 1], 'a NaN in a blocked cell does not matter');
});

test('+Infinity scores share the row (the limit of the softmax)', () => {
  const row = new Float32Array([Infinity, 3, Infinity, -Infinity]);
  maskedSoftmaxRow(row, null, 0);
  assert.deepEqual(Array.from(row), [0.5, 0, 0.5, 0]);
});

test('a row with every key blocked is all zeros', () => {
  const row = new Float32Array([1, 2]);
  maskedSoftmaxRow(row, new Uint8Array([0, 0]), 0);
  assert.deepEqual(Array.from(row), [0, 0]);
});
