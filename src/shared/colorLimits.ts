/**
 * @file Where a heatmap's colour scale tops out, per head and for the mean of heads, and the pure
 * matrix helpers it needs. The panel computes these for any block it is given; the engine computes
 * them once per block after a run (analysis.colorLimits), in the worker, so the panel can paint a
 * 1024² block as soon as it arrives instead of first scanning it twice.
 *
 * Layout: probs [H, Q, K] row-major, element (h, q, k) at (h·Q + q)·K + k; mask [Q, K], 1 allowed.
 */
import type { BlockColorLimits, ColorLimit, HeadChoice } from './analysis';
import type { AttentionTrace } from './trace';

export type { BlockColorLimits, ColorLimit, HeadChoice } from './analysis';

/** [Q, K] weights of one head (a view, no copy) or the mean over heads (a new array). */
export function headMatrix(probs: Float32Array, heads: number, queries: number, keys: number, head: HeadChoice): Float32Array {
  const size = queries * keys;
  if (head !== 'mean') return probs.subarray(head * size, (head + 1) * size);
  const mean = new Float32Array(size);
  if (heads <= 0) return mean;
  // Head by head over a chunk of cells, summing in doubles: the same sums, in the same order, as
  // meanAt (four heads at a time), but streaming through memory instead of striding across it.
  const sums = meanScratch;
  for (let start = 0; start < size; start += sums.length) {
    const count = Math.min(sums.length, size - start);
    sums.fill(0, 0, count);
    let head = 0;
    for (; head + 3 < heads; head += 4) {
      const o0 = head * size + start;
      const o1 = o0 + size;
      const o2 = o1 + size;
      const o3 = o2 + size;
      for (let j = 0; j < count; j++) sums[j] += probs[o0 + j] + probs[o1 + j] + probs[o2 + j] + probs[o3 + j];
    }
    for (; head < heads; head++) {
      const offset = head * size + start;
      for (let j = 0; j < count; j++) sums[j] += probs[offset + j];
    }
    for (let j = 0; j < count; j++) mean[start + j] = sums[j] / heads;
  }
  return mean;
}

const meanScratch = new Float64Array(4096);

/** The mean over heads of cell i (heads summed in a double, four at a time). */
function meanAt(probs: Float32Array, i: number, size: number, heads: number): number {
  const end = heads * size;
  let sum = 0;
  let offset = i;
  for (; offset + 3 * size < end; offset += 4 * size) sum += probs[offset] + probs[offset + size] + probs[offset + 2 * size] + probs[offset + 3 * size];
  for (; offset < end; offset += size) sum += probs[offset];
  return sum / heads;
}

/**
 * headMatrix and colorLimit together: for the mean of heads, in one pass over the heads (the mean's
 * histogram is built as it is written), which matters for a 1024² block of many heads.
 */
export function headMatrixWithLimit(
  probs: Float32Array, heads: number, queries: number, keys: number, head: HeadChoice, mask: Uint8Array | null,
): { weights: Float32Array } & ColorLimit {
  if (head !== 'mean' || heads <= 0) {
    const weights = headMatrix(probs, heads, queries, keys, head);
    return { weights, ...colorLimit(weights, mask) };
  }
  const size = queries * keys;
  const weights = new Float32Array(size);
  const bits = new Uint32Array(weights.buffer);
  const bins = quantileBins.fill(0);
  let count = 0;
  let maxBits = 0;
  let negative = false;
  for (let i = 0; i < size; i++) {
    weights[i] = meanAt(probs, i, size, heads);
    if (mask !== null && mask[i] === 0) continue;
    const pattern = bits[i];
    if (pattern < 0x7f800000) {
      count++;
      bins[pattern >>> 16]++;
      if (pattern > maxBits) maxBits = pattern;
    } else if (pattern >= 0x80000000 && pattern < 0xff800000) {
      negative = true;
    }
  }
  return { weights, ...(negative ? colorLimitSorted(weights, mask) : limitFromBins(weights, bits, mask, bins, count, maxBits)) };
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
export function colorLimit(weights: Float32Array, mask: Uint8Array | null): ColorLimit {
  // Exact, without sorting every cell (a 1024² block is a million). A non-negative float32's bit
  // pattern orders like its value, so its top 16 bits are a histogram bin: one pass counts, bounds
  // and bins the allowed finite weights, a second collects the one bin that holds the quantile,
  // and only that bin is sorted. Negative weights (never probabilities) take a slower exact path.
  const bits = new Uint32Array(weights.buffer, weights.byteOffset, weights.length);
  const bins = quantileBins.fill(0);
  let count = 0;
  let maxBits = 0;
  for (let i = 0; i < bits.length; i++) {
    if (mask !== null && mask[i] === 0) continue;
    const pattern = bits[i];
    if (pattern < 0x7f800000) {
      count++;
      bins[pattern >>> 16]++;
      if (pattern > maxBits) maxBits = pattern;
    } else if (pattern >= 0x80000000 && pattern < 0xff800000) {
      return colorLimitSorted(weights, mask);
    }
  }
  return limitFromBins(weights, bits, mask, bins, count, maxBits);
}

/** colorLimit's end, from the histogram of the allowed finite (non-negative) weights' top 16 bits. */
function limitFromBins(
  weights: Float32Array, bits: Uint32Array, mask: Uint8Array | null, bins: Uint32Array, count: number, maxBits: number,
): ColorLimit {
  patternScratch[0] = maxBits;
  const trueMax = floatScratch[0];
  if (count < ROBUST_MIN_CELLS || trueMax === 0) return { max: trueMax, clipped: false };
  const rank = Math.min(count - 1, Math.floor(ROBUST_QUANTILE * (count - 1)));
  let bin = 0;
  let before = 0;
  while (before + bins[bin] <= rank) before += bins[bin++];
  const members = new Float32Array(bins[bin]);
  let n = 0;
  for (let i = 0; i < bits.length && n < members.length; i++) {
    if ((mask === null || mask[i] !== 0) && bits[i] >>> 16 === bin) members[n++] = weights[i];
  }
  const limit = members.sort()[rank - before];
  return limit > 0 && limit < trueMax ? { max: limit, clipped: true } : { max: trueMax, clipped: false };
}

const quantileBins = new Uint32Array(1 << 16);
const floatScratch = new Float32Array(1);
const patternScratch = new Uint32Array(floatScratch.buffer);

/** colorLimit by sorting the allowed finite weights: any signs. */
function colorLimitSorted(weights: Float32Array, mask: Uint8Array | null): ColorLimit {
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

/**
 * The cells a block must not attend to: its own mask, and for a decoder's self-attention also every
 * future key (key > query), whatever mask the model applied. A model whose causal mask is wrong
 * then shows its leaks, instead of a mask that agrees with its own mistake. With a sliding window
 * of W keys (`slidingWindow`), also every key more than W − 1 before the query (key ≤ query − W).
 */
export function expectedMask(kind: string, mask: Uint8Array | null, queries: number, keys: number, slidingWindow?: number): Uint8Array | null {
  const window = slidingWindow !== undefined && slidingWindow >= 1 && slidingWindow < keys ? Math.floor(slidingWindow) : 0;
  if (kind !== 'decoder-self' && window === 0) return mask;
  const cells = mask ? mask.slice() : new Uint8Array(queries * keys).fill(1);
  for (let q = 0; q < queries; q++) {
    if (kind === 'decoder-self' && q + 1 < keys) cells.fill(0, q * keys + q + 1, (q + 1) * keys);
    if (window > 0 && q - window + 1 > 0) cells.fill(0, q * keys, q * keys + Math.min(keys, q - window + 1));
  }
  return cells;
}

/** Every block's colour limits, judged on the cells the block must not attend to (expectedMask). */
export function computeColorLimits(trace: AttentionTrace): BlockColorLimits[] {
  return trace.blocks.map((block) => {
    const { heads, queries, keys, probs } = block;
    const size = queries * keys;
    const mask = expectedMask(block.kind, block.mask, queries, keys, block.slidingWindow);
    const perHead: ColorLimit[] = [];
    for (let head = 0; head < heads; head++) perHead.push(colorLimit(probs.subarray(head * size, (head + 1) * size), mask));
    const { max, clipped } = block.meanProbs
      ? colorLimit(block.meanProbs, mask)
      : headMatrixWithLimit(probs, heads, queries, keys, 'mean', mask);
    return { heads: perHead, mean: { max, clipped } };
  });
}
