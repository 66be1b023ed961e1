/**
 * @file Optional auxiliary losses on chosen heads' attention: "attend to the previous token" or
 * "attend to the token after the last earlier occurrence of this one" (an induction head), with the
 * same targets analysis/headStats.ts scores heads by.
 *
 * Why it exists: on two cores for 30 minutes (a few million bytes), these circuits do not form by
 * themselves in this model (see the card: without supervision the best previous-token head reached
 * ~0.6 and no induction head formed). The auxiliary loss is added to the language-model loss with a
 * small weight; the heads still compute their attention from the learned Q·K like every other head,
 * so the pattern a user sees is what the weights do on any text. The card says which heads were
 * supervised, so nobody mistakes them for emergent ones.
 */
import type { BatchShape } from './model';

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
