/**
 * @file The tied language-model head and the cross-entropy loss, forward and backward.
 *
 *   logits = h · Eᵀ          [rows, vocab], E the embedding table (tied, paper §3.4; lmHead.ts)
 *   loss   = −Σ_rows log softmax(logits)[target] · weight
 *   dlogits = (softmax(logits) − onehot(target)) · weight
 *
 * `weight` is 1 / (tokens in the whole batch), so each shard's loss and gradients are already its
 * share of the batch mean and shards just add up. Rows whose target is negative are ignored.
 */
import { gemm, into, whole } from './kernels';

/** logits [rows, vocab] = h [rows, d] · table [vocab, d]ᵀ */
export function tiedHeadForward(logits: Float64Array, hidden: Float64Array, table: Float64Array, rows: number, width: number, vocab: number): void {
  gemm(into(logits, vocab), whole(hidden, width), whole(table, width), rows, vocab, width, false);
}

/** dHidden = dLogits · table; dTable += dLogitsᵀ · h. */
export function tiedHeadBackward(
  dLogits: Float64Array, hidden: Float64Array, table: Float64Array, dHidden: Float64Array, dTable: Float64Array, rows: number, width: number, vocab: number,
): void {
  gemm(into(dHidden, width), whole(dLogits, vocab), whole(table, width, true), rows, width, vocab, false);
  gemm(into(dTable, width), whole(dLogits, vocab, true), whole(hidden, width, true), vocab, width, rows, true);
}

/**
 * Replaces logits by their gradient and returns Σ −log p(target) · weight (natural log).
 * Pass `keepLogits` true to get the loss only (evaluation).
 */
export function softmaxCrossEntropy(logits: Float64Array, targets: Int32Array, vocab: number, weight: number, keepLogits = false): number {
  let loss = 0;
  for (let row = 0; row < targets.length; row++) {
    const base = row * vocab;
    const target = targets[row];
    if (target < 0) {
      if (!keepLogits) logits.fill(0, base, base + vocab);
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (logits[base + v] > max) max = logits[base + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v] - max);
    const logSum = Math.log(sum) + max;
    loss += (logSum - logits[base + target]) * weight;
    if (keepLogits) continue;
    for (let v = 0; v < vocab; v++) logits[base + v] = Math.exp(logits[base + v] - logSum) * weight;
    logits[base + target] -= weight;
  }
  return loss;
}
