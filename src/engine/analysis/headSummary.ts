/**
 * @file Per-head summaries for the CLI and quick views: the strongest token→token edge and the
 * mean row entropy of each head of each block.
 */
import { type AttentionBlock, attentionRow } from '../../shared/trace';
import { entropyBits } from '../../shared/entropy';

export interface HeadSummary {
  head: number;
  /** The largest weight among rows that had a choice (at least two allowed keys). */
  strongest: { query: number; key: number; weight: number } | null;
  /** Mean Shannon entropy of the rows, in bits (0 = one-hot, log2(K) = uniform). */
  meanEntropyBits: number;
}

/** Allowed keys in row `query` (all of them when there is no mask). */
function allowedCount(block: AttentionBlock, query: number): number {
  if (!block.mask) return block.keys;
  let count = 0;
  for (let key = 0; key < block.keys; key++) count += block.mask[query * block.keys + key];
  return count;
}

export function summarizeHeads(block: AttentionBlock): HeadSummary[] {
  const { heads, queries, keys } = block;
  const rowsWithChoice = Array.from({ length: queries }, (_, query) => allowedCount(block, query) >= 2);
  const summaries: HeadSummary[] = [];
  for (let head = 0; head < heads; head++) {
    let strongest: HeadSummary['strongest'] = null;
    let entropySum = 0;
    for (let query = 0; query < queries; query++) {
      const row = attentionRow(block, head, query);
      entropySum += entropyBits(row);
      if (!rowsWithChoice[query]) continue;
      for (let key = 0; key < keys; key++) {
        if (!strongest || row[key] > strongest.weight) strongest = { query, key, weight: row[key] };
      }
    }
    summaries.push({ head, strongest, meanEntropyBits: queries > 0 ? entropySum / queries : 0 });
  }
  return summaries;
}
