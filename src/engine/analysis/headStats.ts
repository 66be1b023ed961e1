/**
 * @file Per-head statistics of every attention block (HeadStats in types.ts), plus the small mask
 * helpers the rollout and the diagnostics share.
 *
 * Positions are the 0-based query and key indices of the block, so "the token itself" is key q and
 * "the previous token" key q − 1 (self-attention has queries = keys in every trace we make). Every
 * mean runs over the rows with at least one allowed key: a row the mask empties entirely says
 * nothing about the head. A mean over no rows is 0. A head with any NaN/±Infinity weight gets NaN
 * for every statistic: a number computed around the bad values would look plausible and be wrong
 * (the `non-finite` diagnostic points at it).
 */
import { type AttentionBlock, type AttentionTrace, attentionRow, headProbs, maskAllows } from '../../shared/trace';
import { entropyBits } from '../../shared/entropy';
import type { HeadStats } from '../../shared/analysis';

/** Whether key `key` may be attended by query `query` (everything, when there is no mask). */
export function isAllowed(block: AttentionBlock, query: number, key: number): boolean {
  return maskAllows(block, query, key);
}

/** Allowed keys of each query row. */
export function allowedCounts(block: AttentionBlock): Int32Array {
  const counts = new Int32Array(block.queries);
  for (let query = 0; query < block.queries; query++) {
    let count = 0;
    for (let key = 0; key < block.keys; key++) if (isAllowed(block, query, key)) count++;
    counts[query] = count;
  }
  return counts;
}

/** Self-attention over one stream (the only blocks with a diagonal, a rollout and induction). */
export function isSelfAttention(block: AttentionBlock): boolean {
  return block.kind !== 'cross' && block.queryStream === block.keyStream && block.queries === block.keys;
}

/** Whether every weight of one head is a finite number. */
export function headIsFinite(block: AttentionBlock, head: number): boolean {
  const probs = headProbs(block, head);
  for (let i = 0; i < probs.length; i++) if (!Number.isFinite(probs[i])) return false;
  return true;
}

export { entropyBits as rowEntropy } from '../../shared/entropy';

/**
 * For each query q of a self-attention block, the key an induction head would attend to: j + 1,
 * where j is the most recent earlier occurrence of q's token id with j ≤ q − 2 (j = q − 1 would
 * make the successor q itself), or −1 where there is none.
 *
 * A row whose target would be q − 1 (the pattern "x ? x": the most recent occurrence is two back)
 * is also −1: there the token after the previous occurrence is simply the previous token, so a
 * previous-token head scores exactly as an induction head would, and the row says nothing about
 * induction. Such rows are left out rather than moved to an older occurrence: an induction head
 * attends to the most recent match, so an older successor would be an arbitrary target. (Text
 * with a separator token between symbols, such as space-separated letters under a byte
 * tokenizer, is all such rows for its separators.)
 *
 * Null when the block is not self-attention or the stream does not match it.
 */
export function inductionTargets(trace: AttentionTrace, block: AttentionBlock): Int32Array | null {
  if (!isSelfAttention(block)) return null;
  const tokens = trace.streams.find((stream) => stream.name === block.queryStream)?.tokens;
  if (!tokens || tokens.length !== block.queries) return null;
  const targets = new Int32Array(block.queries).fill(-1);
  for (let query = 2; query < block.queries; query++) {
    for (let earlier = query - 2; earlier >= 0; earlier--) {
      if (tokens[earlier].id === tokens[query].id) {
        if (earlier + 1 < query - 1) targets[query] = earlier + 1;
        break;
      }
    }
  }
  return targets;
}

const mean = (sum: number, count: number): number => (count > 0 ? sum / count : 0);

function headStats(block: AttentionBlock, blockIndex: number, head: number, counts: Int32Array, targets: Int32Array | null): HeadStats {
  const base = { blockIndex, layer: block.layer, kind: block.kind, head };
  if (!headIsFinite(block, head)) {
    const nan = Number.NaN;
    const repeats = targets !== null && targets.some((target) => target >= 0);
    return { ...base, entropy: nan, minEntropy: nan, meanDistance: nan, prevToken: nan, sink: nan, diagonal: nan, induction: repeats ? nan : null };
  }
  const { queries, keys } = block;
  let rows = 0;
  let entropySum = 0;
  let minEntropy = Number.POSITIVE_INFINITY;
  let distanceSum = 0;
  let sinkSum = 0;
  let prevSum = 0;
  let prevRows = 0;
  let diagonalSum = 0;
  let diagonalRows = 0;
  let inductionSum = 0;
  let inductionRows = 0;
  for (let query = 0; query < queries; query++) {
    if (counts[query] === 0) continue;
    const row = attentionRow(block, head, query);
    rows++;
    const entropy = entropyBits(row);
    entropySum += entropy;
    minEntropy = Math.min(minEntropy, entropy);
    for (let key = 0; key < keys; key++) distanceSum += row[key] * Math.abs(query - key);
    sinkSum += row[0];
    if (query >= 1 && query - 1 < keys) {
      prevSum += row[query - 1];
      prevRows++;
    }
    if (query < keys) {
      diagonalSum += row[query];
      diagonalRows++;
    }
    // A target the mask blocks (e.g. padding) is weight the head could not give: not counted.
    const target = targets ? targets[query] : -1;
    if (target >= 0 && isAllowed(block, query, target)) {
      inductionSum += row[target];
      inductionRows++;
    }
  }
  return {
    ...base,
    entropy: mean(entropySum, rows),
    minEntropy: rows > 0 ? minEntropy : 0,
    meanDistance: mean(distanceSum, rows),
    prevToken: mean(prevSum, prevRows),
    sink: mean(sinkSum, rows),
    diagonal: mean(diagonalSum, diagonalRows),
    induction: inductionRows > 0 ? inductionSum / inductionRows : null,
  };
}

/** Statistics of every head of every block, in block order then head order. */
export function computeHeadStats(trace: AttentionTrace): HeadStats[] {
  const stats: HeadStats[] = [];
  trace.blocks.forEach((block, blockIndex) => {
    const counts = allowedCounts(block);
    const targets = inductionTargets(trace, block);
    for (let head = 0; head < block.heads; head++) stats.push(headStats(block, blockIndex, head, counts, targets));
  });
  return stats;
}
