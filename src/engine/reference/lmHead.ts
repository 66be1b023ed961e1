/**
 * @file The language-model head: the last hidden vector times the (shared) embedding matrix gives
 * one logit per vocabulary entry, and a softmax turns them into next-token probabilities.
 */
import { type Matrix, matmulTransposed } from './matrix';

export interface Prediction {
  id: number;
  probability: number;
}

export class LanguageModelHead {
  /** @param embedding [vocab, d], tied with the input embedding (paper §3.4). */
  constructor(private readonly embedding: Matrix) {}

  /** hidden [T, d] → logits [T, vocab]. */
  logits(hidden: Matrix): Matrix {
    return matmulTransposed(hidden, this.embedding);
  }

  /** The `count` most likely ids after one hidden vector [d]. `allowedIds` restricts to ids a tokenizer can produce. */
  topPredictions(hiddenRow: Float32Array, count: number, allowedIds: number): Prediction[] {
    const logits = this.logits({ rows: 1, cols: hiddenRow.length, data: hiddenRow }).data.subarray(0, allowedIds);
    let max = -Infinity;
    for (const logit of logits) max = Math.max(max, logit);
    let sum = 0;
    for (const logit of logits) sum += Math.exp(logit - max);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, count);
    return order.map((id) => ({ id, probability: Math.exp(logits[id] - max) / sum }));
  }
}
