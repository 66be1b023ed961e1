/**
 * @file Scaled dot-product attention (paper §3.2.1): softmax(Q·Kᵀ / sqrt(d_k) + mask) · V.
 *
 * Each query scores every key by a dot product; dividing by sqrt(d_k) keeps the scores' spread
 * independent of the head width, so the softmax does not saturate into one-hot rows. Blocked cells
 * get probability exactly 0 (they are skipped, not given a large negative number).
 */
import type { AttentionMask } from './masks';
import { type Matrix, matmulTransposed, transpose, zeros } from './matrix';

export interface AttentionResult {
  /** [Q, d_v] weighted sums of the values. */
  output: Matrix;
  /** [Q, K] probabilities, rows sum to 1. */
  probs: Matrix;
  /** [Q, K] scaled scores before masking. */
  scores: Matrix;
}

/**
 * Softmax over the allowed cells of one row, written in place; blocked cells become 0.
 * Broken numbers stay visible instead of looking masked: a NaN score makes the allowed cells NaN,
 * and +Infinity scores share the row equally (the softmax's limit).
 */
export function maskedSoftmaxRow(row: Float32Array, allowed: Uint8Array | null, allowedOffset: number): void {
  let max = -Infinity;
  let sawNaN = false;
  for (let k = 0; k < row.length; k++) {
    if (allowed && !allowed[allowedOffset + k]) continue;
    if (Number.isNaN(row[k])) sawNaN = true;
    else if (row[k] > max) max = row[k];
  }
  if (sawNaN || max === Infinity) {
    let infinite = 0;
    for (let k = 0; k < row.length; k++) if ((!allowed || allowed[allowedOffset + k]) && row[k] === Infinity) infinite++;
    for (let k = 0; k < row.length; k++) {
      const isAllowed = !allowed || allowed[allowedOffset + k];
      row[k] = !isAllowed ? 0 : sawNaN ? NaN : row[k] === Infinity ? 1 / infinite : 0;
    }
    return;
  }
  if (max === -Infinity) {
    // Every key blocked (or scored -Infinity): nothing to attend to. The row and the output are zero.
    row.fill(0);
    return;
  }
  let sum = 0;
  for (let k = 0; k < row.length; k++) {
    const value = !allowed || allowed[allowedOffset + k] ? Math.exp(row[k] - max) : 0;
    row[k] = value;
    sum += value;
  }
  for (let k = 0; k < row.length; k++) row[k] /= sum;
}

/** q [Q, d_k], k [K, d_k], v [K, d_v]. */
export function scaledDotProductAttention(q: Matrix, k: Matrix, v: Matrix, mask: AttentionMask): AttentionResult {
  if (mask.queries !== q.rows || mask.keys !== k.rows) {
    throw new Error(`attention: mask is ${mask.queries}x${mask.keys} but Q·Kᵀ is ${q.rows}x${k.rows}`);
  }
  const scale = 1 / Math.sqrt(q.cols);
  const scores = matmulTransposed(q, k);
  for (let i = 0; i < scores.data.length; i++) scores.data[i] *= scale;
  const probs = zeros(scores.rows, scores.cols);
  probs.data.set(scores.data);
  for (let query = 0; query < probs.rows; query++) {
    maskedSoftmaxRow(probs.data.subarray(query * probs.cols, (query + 1) * probs.cols), mask.cells, query * mask.keys);
  }
  const output = matmulTransposed(probs, transpose(v));
  return { output, probs, scores };
}
