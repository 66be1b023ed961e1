/**
 * @file Numbers the panel derives from one block's data: the matrix of a head or of the mean of
 * heads, its maximum, and leaks (masked cells that still carry weight). Pure.
 *
 * Layout: probs [H, Q, K] row-major, element (h, q, k) at (h·Q + q)·K + k; mask [Q, K], 1 allowed.
 */
import { LEAK_THRESHOLD } from './colorScale';

export type HeadChoice = number | 'mean';

/** [Q, K] weights of one head (a view, no copy) or the mean over heads (a new array). */
export function headMatrix(probs: Float32Array, heads: number, queries: number, keys: number, head: HeadChoice): Float32Array {
  const size = queries * keys;
  if (head !== 'mean') return probs.subarray(head * size, (head + 1) * size);
  const mean = new Float32Array(size);
  if (heads <= 0) return mean;
  for (let h = 0; h < heads; h++) {
    const offset = h * size;
    for (let i = 0; i < size; i++) mean[i] += probs[offset + i];
  }
  for (let i = 0; i < size; i++) mean[i] /= heads;
  return mean;
}

/** Largest finite value (0 for an empty or all-NaN matrix). */
export function matrixMax(values: Float32Array): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value > max && Number.isFinite(value)) max = value;
  }
  return max;
}

/** Colour limits clip the top 1% of cells once a matrix has this many allowed cells. */
export const ROBUST_MIN_CELLS = 100;
export const ROBUST_QUANTILE = 0.99;

/**
 * The weight the colour scale tops out at: the 99th percentile of the allowed cells' weights (so a
 * few cells near 1, such as a causal head's first row, do not wash every other cell into the
 * bottom colour), or the plain maximum for small matrices. `clipped` says whether larger weights
 * exist (the legend then reads "≥ max").
 */
export function colorLimit(weights: Float32Array, mask: Uint8Array | null): { max: number; clipped: boolean } {
  const values: number[] = [];
  let trueMax = 0;
  for (let i = 0; i < weights.length; i++) {
    if (mask !== null && mask[i] === 0) continue;
    const value = weights[i];
    if (!Number.isFinite(value)) continue;
    values.push(value);
    if (value > trueMax) trueMax = value;
  }
  if (values.length < ROBUST_MIN_CELLS || trueMax === 0) return { max: trueMax, clipped: false };
  const sorted = Float32Array.from(values).sort();
  const limit = sorted[Math.min(sorted.length - 1, Math.floor(ROBUST_QUANTILE * (sorted.length - 1)))];
  return limit > 0 && limit < trueMax ? { max: limit, clipped: true } : { max: trueMax, clipped: false };
}

export interface LeakCount {
  /** (head, query, key) cells that are masked yet carry weight > threshold, over all heads. */
  total: number;
  /** The same per head. */
  perHead: number[];
  /** Largest weight on a masked cell (0 when none). */
  maxLeak: number;
}

/** Masked cells that carry weight, per head and in all; a null mask has none. */
export function countLeaks(probs: Float32Array, mask: Uint8Array | null, heads: number, queries: number, keys: number, threshold = LEAK_THRESHOLD): LeakCount {
  const perHead = new Array<number>(heads).fill(0);
  let maxLeak = 0;
  if (mask === null) return { total: 0, perHead, maxLeak };
  const size = queries * keys;
  for (let h = 0; h < heads; h++) {
    const offset = h * size;
    let count = 0;
    for (let i = 0; i < size; i++) {
      if (mask[i] !== 0) continue;
      const weight = probs[offset + i];
      if (weight > threshold) {
        count++;
        if (weight > maxLeak) maxLeak = weight;
      }
    }
    perHead[h] = count;
  }
  return { total: perHead.reduce((a, b) => a + b, 0), perHead, maxLeak };
}

/** Cells of a [Q, K] mask that are blocked. */
export function countBlocked(mask: Uint8Array | null): number {
  if (mask === null) return 0;
  let count = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] === 0) count++;
  return count;
}

/**
 * The cells a block must not attend to: its own mask, and for a decoder's self-attention also every
 * future key (key > query), whatever mask the model applied. A model whose causal mask is wrong
 * then shows its leaks, instead of a mask that agrees with its own mistake.
 */
export function expectedMask(kind: string, mask: Uint8Array | null, queries: number, keys: number): Uint8Array | null {
  if (kind !== 'decoder-self') return mask;
  const cells = mask ? mask.slice() : new Uint8Array(queries * keys).fill(1);
  for (let q = 0; q < queries; q++) {
    for (let k = q + 1; k < keys; k++) cells[q * keys + k] = 0;
  }
  return cells;
}
