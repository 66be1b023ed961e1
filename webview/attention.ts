/**
 * @file Numbers the panel derives from one block's data: the matrix of a head or of the mean of
 * heads, its maximum, and leaks (masked cells that still carry weight). Pure.
 *
 * Layout: probs [H, Q, K] row-major, element (h, q, k) at (h·Q + q)·K + k; mask [Q, K], 1 allowed.
 */
import { LEAK_THRESHOLD } from './colorScale';

import type { HeadChoice } from '../src/shared/colorLimits';

export type { HeadChoice };

export { colorLimit, expectedMask, headMatrix, headMatrixWithLimit, matrixMax, ROBUST_MIN_CELLS, ROBUST_QUANTILE } from '../src/shared/colorLimits';

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
