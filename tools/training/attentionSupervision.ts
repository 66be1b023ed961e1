/**
 * @file Optional auxiliary losses on chosen heads' attention: "attend to the previous token" or
 * "attend to the token after the last earlier occurrence of this one" (an induction head), with the
 * same targets analysis/headStats.ts scores heads by.
 *
 * Why it exists: on two cores in under 30 minutes (~4 M bytes), an induction head does not form by
 * itself in this model. Measured with the shipped recipe minus the supervision (4500 steps, 25%
 * synthetic repeated segments): the best previous-token head reached 0.59 and the best induction
 * score stayed at 0.03; toy runs on repeated segments alone stayed on their loss plateau for
 * thousands of steps, even with a previous-token head given. With the induction head supervised on
 * the synthetic sequences, it forms within ~600 steps, and a sharp previous-token head (0.998)
 * forms below it without a target of its own, because the induction head's keys need it.
 * The auxiliary loss is added to the language-model loss; a supervised head still computes its
 * attention from the learned Q·K like every other head, so the pattern a user sees is what the
 * weights do on any text. The card names the supervised heads.
 *
 * The shipped recipe uses it as a hint for the first 1500 of 4000 steps only (recipe
 * `supervisionSteps`). Once it stops, the language-model loss alone keeps the circuit: the
 * induction score settles from 0.72 to 0.43 and stays there, the previous-token head at 0.997, and
 * the model's copying of a repeated sequence improves (the shipped-model test ablates both heads).
 */
import type { BatchShape } from './batches';

export type SupervisedPattern = 'previous-token' | 'induction';

export interface HeadSupervision {
  layer: number;
  head: number;
  pattern: SupervisedPattern;
  /** Multiplies the mean −log P[target] per byte of the batch. */
  weight: number;
  /** Supervise only the synthetic (repeated random segments) sequences, or every sequence. */
  sequences: 'all' | 'synthetic';
}

/**
 * Target key of every row ([S · T], −1: none) of a batch, for one supervision.
 * previous-token: t − 1. induction: j + 1 for the most recent j ≤ t − 2 with ids[j] = ids[t].
 */
export function supervisionTargets(supervision: HeadSupervision, ids: Int32Array, shape: BatchShape, synthetic: Uint8Array | null): Int32Array {
  const { sequences, length: T } = shape;
  const keys = new Int32Array(sequences * T).fill(-1);
  for (let sequence = 0; sequence < sequences; sequence++) {
    if (supervision.sequences === 'synthetic' && !(synthetic && synthetic[sequence])) continue;
    const base = sequence * T;
    for (let t = 1; t < T; t++) {
      if (supervision.pattern === 'previous-token') {
        keys[base + t] = t - 1;
        continue;
      }
      for (let earlier = t - 2; earlier >= 0; earlier--) {
        if (ids[base + earlier] === ids[base + t]) {
          keys[base + t] = earlier + 1;
          break;
        }
      }
    }
  }
  return keys;
}
