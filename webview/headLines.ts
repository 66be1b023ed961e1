/**
 * @file The head view's lines: every (head, query, key) whose weight is worth a line. Pure.
 */
import { probIndex } from '../src/shared/trace';

export interface HeadLine {
  head: number;
  query: number;
  key: number;
  weight: number;
}

/**
 * The lines of the head view: every (head, query, key) of the visible heads whose weight is at
 * least minWeight, restricted to one query's or one key's lines when focused. Ordered by head,
 * then query, then key. probs: [heads, queries, keys].
 */
export function headLines(
  probs: Float32Array, heads: number, queries: number, keys: number, visible: ReadonlySet<number>, minWeight: number,
  focus: { side: 'query' | 'key'; index: number } | null = null,
): HeadLine[] {
  const lines: HeadLine[] = [];
  const shape = { queries, keys };
  for (let h = 0; h < heads; h++) {
    if (!visible.has(h)) continue;
    for (let q = 0; q < queries; q++) {
      if (focus?.side === 'query' && focus.index !== q) continue;
      const offset = probIndex(shape, h, q, 0);
      for (let k = 0; k < keys; k++) {
        if (focus?.side === 'key' && focus.index !== k) continue;
        const weight = probs[offset + k];
        if (weight >= minWeight) lines.push({ head: h, query: q, key: k, weight });
      }
    }
  }
  return lines;
}

/** The head view draws up to this many tokens a side; longer inputs get the heatmap instead. */
export const HEAD_VIEW_MAX_TOKENS = 64;
