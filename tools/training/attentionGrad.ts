/**
 * @file Multi-head attention, forward and backward (paper §3.2): project to Q, K, V, split the
 * width into heads, softmax(Q·Kᵀ / sqrt(d_k) + mask)·V per head, merge the heads, project with W_O.
 *
 * Rows are [sequences · T] tokens; every sequence attends within itself. A mask is [T, T] (one
 * for every sequence, e.g. causal) or [sequences, T, T] (e.g. causal + that sequence's padding),
 * 1 = allowed. Blocked cells get probability exactly 0, like the reference; a row with no allowed
 * key attends to nothing (zero output, zero gradient).
 *
 * Per head, with P the probabilities and dO the gradient of the head's output:
 *   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dQ = dS·K / sqrt(d_k),  dK = dSᵀ·Q / sqrt(d_k)
 *
 * Speed: a causal mask blocks half of every score matrix. Query rows go in blocks of 32, and each
 * block only computes keys up to the last one any of its rows may see (and the key-side products
 * only queries from the first one that may see the block's keys), so a causal model does ~5/8 of
 * the full work. Cells skipped this way have probability 0, so the result is the same.
 */
import { gemm, linearBackward, linearForward } from './kernels';

const BLOCK = 32;

export interface AttentionWeights {
  queryWeight: Float64Array; queryBias: Float64Array;
  keyWeight: Float64Array; keyBias: Float64Array;
  valueWeight: Float64Array; valueBias: Float64Array;
  outputWeight: Float64Array; outputBias: Float64Array;
}

export interface AttentionShape {
  sequences: number;
  /** T, tokens per sequence. */
  length: number;
  /** d_model. */
  width: number;
  heads: number;
}

export interface AttentionCache {
  /** [rows, d] each. */
  readonly queries: Float64Array;
  readonly keys: Float64Array;
  readonly values: Float64Array;
  /** [sequences, heads, T, T] attention probabilities. */
  readonly probs: Float64Array;
  /** [rows, d] the heads' outputs side by side, before W_O. */
  readonly merged: Float64Array;
}

/**
 * An auxiliary loss on one head's attention (attentionSupervision.ts): −weight · Σ log P[row, key]
 * over the rows with a target key; the rows are [sequences · T], −1 where there is no target.
 */
export interface AttentionTargets {
  head: number;
  keys: Int32Array;
  weight: number;
}

/** The auxiliary loss of `targets` on the probabilities the last forward left in `cache`. */
export function attentionTargetLoss(cache: AttentionCache, shape: AttentionShape, targets: AttentionTargets): number {
  const T = shape.length;
  let loss = 0;
  for (let row = 0; row < targets.keys.length; row++) {
    const key = targets.keys[row];
    if (key < 0) continue;
    const sequence = Math.floor(row / T);
    const p = cache.probs[((sequence * shape.heads + targets.head) * T + (row % T)) * T + key];
    loss -= targets.weight * Math.log(Math.max(p, 1e-30));
  }
  return loss;
}

export function attentionCache(shape: AttentionShape): AttentionCache {
  const rows = shape.sequences * shape.length;
  return {
    queries: new Float64Array(rows * shape.width),
    keys: new Float64Array(rows * shape.width),
    values: new Float64Array(rows * shape.width),
    probs: new Float64Array(shape.sequences * shape.heads * shape.length * shape.length),
    merged: new Float64Array(rows * shape.width),
  };
}

/** For one sequence's [T, T] mask: per query block, the end of its keys; per key block, its first query. */
interface BlockRanges {
  keyEnd: Int32Array;
  queryStart: Int32Array;
}

function blockRanges(mask: Uint8Array, maskOffset: number, length: number): BlockRanges {
  const blocks = Math.ceil(length / BLOCK);
  const keyEnd = new Int32Array(blocks);
  const queryStart = new Int32Array(blocks).fill(length);
  for (let query = 0; query < length; query++) {
    for (let key = 0; key < length; key++) {
      if (!mask[maskOffset + query * length + key]) continue;
      const queryBlock = Math.floor(query / BLOCK);
      const keyBlock = Math.floor(key / BLOCK);
      keyEnd[queryBlock] = Math.max(keyEnd[queryBlock], key + 1);
      queryStart[keyBlock] = Math.min(queryStart[keyBlock], query);
    }
  }
  return { keyEnd, queryStart };
}

function maskOffsetOf(mask: Uint8Array, shape: AttentionShape, sequence: number): number {
  const cells = shape.length * shape.length;
  if (mask.length === cells) return 0;
  if (mask.length === shape.sequences * cells) return sequence * cells;
  throw new Error(`attention mask has ${mask.length} cells; expected ${cells} or ${shape.sequences * cells}`);
}

/** Ranges of each distinct mask, computed once per call (a shared causal mask: once). */
function rangesPerSequence(mask: Uint8Array, shape: AttentionShape): BlockRanges[] {
  const shared = mask.length === shape.length * shape.length ? blockRanges(mask, 0, shape.length) : null;
  return Array.from({ length: shape.sequences }, (_, sequence) => shared ?? blockRanges(mask, maskOffsetOf(mask, shape, sequence), shape.length));
}

let scratch = new Float64Array(0);
function scratchOf(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(size);
  return scratch;
}

/** y [rows, d] = MultiHead(x [rows, d]). */
export function attentionForward(y: Float64Array, x: Float64Array, weights: AttentionWeights, shape: AttentionShape, mask: Uint8Array, cache: AttentionCache): void {
  const { sequences, length: T, width: d, heads } = shape;
  const rows = sequences * T;
  const headWidth = d / heads;
  const scale = 1 / Math.sqrt(headWidth);
  linearForward(cache.queries, x, weights.queryWeight, weights.queryBias, rows, d, d);
  linearForward(cache.keys, x, weights.keyWeight, weights.keyBias, rows, d, d);
  linearForward(cache.values, x, weights.valueWeight, weights.valueBias, rows, d, d);
  const ranges = rangesPerSequence(mask, shape);
  const probs = cache.probs;
  probs.fill(0);
  for (let sequence = 0; sequence < sequences; sequence++) {
    const maskOffset = maskOffsetOf(mask, shape, sequence);
    const { keyEnd } = ranges[sequence];
    for (let head = 0; head < heads; head++) {
      const columns = sequence * T * d + head * headWidth; // where this head's slice of row 0 starts
      const probsOffset = (sequence * heads + head) * T * T;
      for (let first = 0; first < T; first += BLOCK) {
        const count = Math.min(BLOCK, T - first);
        const keys = keyEnd[first / BLOCK];
        if (keys === 0) continue; // no query of the block may attend: rows stay 0
        // scores[first.., 0..keys) = Q · Kᵀ, written straight into the probabilities' rows
        gemm({ data: probs, offset: probsOffset + first * T, stride: T },
          { data: cache.queries, offset: columns + first * d, stride: d },
          { data: cache.keys, offset: columns, stride: d },
          count, keys, headWidth, false);
        for (let query = first; query < first + count; query++) {
          softmaxRow(probs, probsOffset + query * T, keys, scale, mask, maskOffset + query * T);
        }
        // this head's output rows = P · V
        gemm({ data: cache.merged, offset: columns + first * d, stride: d },
          { data: probs, offset: probsOffset + first * T, stride: T },
          { data: cache.values, offset: columns, stride: d, transposed: true },
          count, headWidth, keys, false);
      }
    }
  }
  linearForward(y, cache.merged, weights.outputWeight, weights.outputBias, rows, d, d);
}

/** Scales the row's first `keys` scores, then softmax over the allowed ones; blocked cells become 0. */
function softmaxRow(row: Float64Array, at: number, keys: number, scale: number, mask: Uint8Array, maskAt: number): void {
  let max = -Infinity;
  for (let k = 0; k < keys; k++) {
    if (mask[maskAt + k]) {
      const value = row[at + k] * scale;
      row[at + k] = value;
      if (value > max) max = value;
    }
  }
  if (max === -Infinity) {
    row.fill(0, at, at + keys);
    return;
  }
  let sum = 0;
  for (let k = 0; k < keys; k++) {
    const value = mask[maskAt + k] ? Math.exp(row[at + k] - max) : 0;
    row[at + k] = value;
    sum += value;
  }
  const inverse = 1 / sum;
  for (let k = 0; k < keys; k++) row[at + k] *= inverse;
}

/**
 * Given dY [rows, d]: dx = (or += with `accumulate`) the input gradient; the weights' gradients
 * accumulate into `grads`. `work` is scratch of at least 4 · rows · d values. With `targets`, the
 * gradient of their auxiliary loss (attentionTargetLoss) is included.
 */
export function attentionBackward(
  dy: Float64Array, x: Float64Array, weights: AttentionWeights, grads: AttentionWeights, shape: AttentionShape,
  mask: Uint8Array, cache: AttentionCache, dx: Float64Array, accumulate: boolean, work: Float64Array,
  targets: AttentionTargets | null = null,
): void {
  const { sequences, length: T, width: d, heads } = shape;
  const rows = sequences * T;
  const headWidth = d / heads;
  const scale = 1 / Math.sqrt(headWidth);
  const dMerged = work.subarray(0, rows * d);
  const dQueries = work.subarray(rows * d, 2 * rows * d);
  const dKeys = work.subarray(2 * rows * d, 3 * rows * d);
  const dValues = work.subarray(3 * rows * d, 4 * rows * d);
  linearBackward(dy, cache.merged, weights.outputWeight, dMerged, grads.outputWeight, grads.outputBias, rows, d, d);
  const ranges = rangesPerSequence(mask, shape);
  const dScores = scratchOf(T * T);
  const probs = cache.probs;
  for (let sequence = 0; sequence < sequences; sequence++) {
    const { keyEnd, queryStart } = ranges[sequence];
    for (let head = 0; head < heads; head++) {
      const columns = sequence * T * d + head * headWidth;
      const probsOffset = (sequence * heads + head) * T * T;
      dScores.fill(0, 0, T * T);
      for (let first = 0; first < T; first += BLOCK) {
        const count = Math.min(BLOCK, T - first);
        const keys = keyEnd[first / BLOCK];
        if (keys === 0) {
          for (let query = first; query < first + count; query++) dQueries.fill(0, columns + query * d, columns + query * d + headWidth);
          continue;
        }
        // dP[first.., 0..keys) = dO · Vᵀ
        gemm({ data: dScores, offset: first * T, stride: T },
          { data: dMerged, offset: columns + first * d, stride: d },
          { data: cache.values, offset: columns, stride: d },
          count, keys, headWidth, false);
        for (let query = first; query < first + count; query++) {
          const at = probsOffset + query * T;
          const dAt = query * T;
          let dot = 0;
          for (let k = 0; k < keys; k++) dot += probs[at + k] * dScores[dAt + k];
          for (let k = 0; k < keys; k++) dScores[dAt + k] = probs[at + k] * (dScores[dAt + k] - dot) * scale;
          // −w·log P[target] through the softmax: dS = w · (P − onehot(target)), times the 1/sqrt(d_k) scale.
          const target = targets && targets.head === head ? targets.keys[sequence * T + query] : -1;
          if (targets && target >= 0) {
            for (let k = 0; k < keys; k++) dScores[dAt + k] += targets.weight * probs[at + k] * scale;
            dScores[dAt + target] -= targets.weight * scale;
          }
        }
        // dQ rows = dS · K
        gemm({ data: dQueries, offset: columns + first * d, stride: d },
          { data: dScores, offset: first * T, stride: T },
          { data: cache.keys, offset: columns, stride: d, transposed: true },
          count, headWidth, keys, false);
      }
      for (let first = 0; first < T; first += BLOCK) {
        const count = Math.min(BLOCK, T - first);
        const start = queryStart[first / BLOCK];
        const queries = T - start;
        if (queries <= 0) {
          for (let key = first; key < first + count; key++) {
            dKeys.fill(0, columns + key * d, columns + key * d + headWidth);
            dValues.fill(0, columns + key * d, columns + key * d + headWidth);
          }
          continue;
        }
        // dK rows = dSᵀ · Q and dV rows = Pᵀ · dO, over the queries that may see these keys
        gemm({ data: dKeys, offset: columns + first * d, stride: d },
          { data: dScores, offset: start * T + first, stride: T, transposed: true },
          { data: cache.queries, offset: columns + start * d, stride: d, transposed: true },
          count, headWidth, queries, false);
        gemm({ data: dValues, offset: columns + first * d, stride: d },
          { data: probs, offset: probsOffset + start * T + first, stride: T, transposed: true },
          { data: dMerged, offset: columns + start * d, stride: d, transposed: true },
          count, headWidth, queries, false);
      }
    }
  }
  linearBackward(dQueries, x, weights.queryWeight, dx, grads.queryWeight, grads.queryBias, rows, d, d, accumulate);
  linearBackward(dKeys, x, weights.keyWeight, dx, grads.keyWeight, grads.keyBias, rows, d, d, true);
  linearBackward(dValues, x, weights.valueWeight, dx, grads.valueWeight, grads.valueBias, rows, d, d, true);
}
