/**
 * @file Residual connections: each sub-layer (attention or feed-forward) adds its result to the
 * stream it read, x + f(x), so the identity path carries information and gradient straight through.
 *
 * Where the layer norm sits is the one real design choice:
 *   post-LN (the paper):  x ← LN(x + f(x))
 *   pre-LN  (GPT-2):      x ← x + f(LN(x))
 * Either way, `sum` is the stream right after the add: the residual norms in the trace are its
 * per-token L2 norms (for post-LN, before the norm re-scales it).
 */
import type { Norm } from './components';
import { type Matrix, add } from './matrix';

export interface ResidualResult<Extra> {
  /** What the next sub-layer reads. */
  next: Matrix;
  /** x + f(…), right after the add. */
  sum: Matrix;
  /** Whatever else the sub-layer returned (attention probabilities). */
  extra: Extra;
}

export function residualSublayer<Extra>(
  x: Matrix,
  norm: Norm,
  placement: 'post' | 'pre',
  sublayer: (input: Matrix) => { output: Matrix; extra: Extra },
): ResidualResult<Extra> {
  if (placement === 'pre') {
    const { output, extra } = sublayer(norm.forward(x));
    const sum = add(x, output);
    return { next: sum, sum, extra };
  }
  const { output, extra } = sublayer(x);
  const sum = add(x, output);
  return { next: norm.forward(sum), sum, extra };
}
