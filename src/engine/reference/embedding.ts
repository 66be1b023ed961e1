/**
 * @file Token embedding: one learned d_model vector per vocabulary id, multiplied by sqrt(d_model)
 * (paper §3.4) so that it is not drowned by the position encoding added next.
 */
import { UserFacingError } from '../../shared/errors';
import { type Matrix, zeros } from './matrix';

export class TokenEmbedding {
  /** @param table [vocab, d] — the same matrix the LM head uses as its output projection. */
  constructor(readonly table: Matrix, readonly scale: number) {}

  /** [T] ids → [T, d] vectors. */
  forward(ids: readonly number[]): Matrix {
    const d = this.table.cols;
    const out = zeros(ids.length, d);
    ids.forEach((id, position) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.table.rows) {
        throw new UserFacingError(
          `Token id ${id} at position ${position} is outside the model's vocabulary of ${this.table.rows}.`,
          'Use the tokenizer that belongs to this model.',
        );
      }
      const source = this.table.data.subarray(id * d, (id + 1) * d);
      for (let c = 0; c < d; c++) {
        out.data[position * d + c] = source[c] * this.scale;
      }
    });
    return out;
  }
}
