/**
 * @file Sinusoidal position encodings (Vaswani et al. 2017, §3.5).
 *
 *   PE(pos, 2k)   = sin(pos / 10000^(2k / d))
 *   PE(pos, 2k+1) = cos(pos / 10000^(2k / d))
 *
 * with pos and the dimension index 0-based. The lecture's slide writes the same vector with a
 * 1-based pair index i = k + 1, i.e. sin(pos / 10000^(2i/d)) for i = 1..d/2, shifted by one pair;
 * we follow the paper. Self-attention is blind to order; adding these vectors to the token
 * embeddings is what tells the model where each token is, and their periods let it extrapolate.
 */
import { type Matrix, zeros } from './matrix';

/** One element of the encoding, in float64, straight from the formula. */
export function sinusoidalPosition(position: number, dimension: number, dModel: number): number {
  const pairIndex = Math.floor(dimension / 2);
  const angle = position / Math.pow(10000, (2 * pairIndex) / dModel);
  return dimension % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
}

/** The [length, d] table for positions 0..length-1. */
export function sinusoidalPositions(length: number, dModel: number): Matrix {
  const table = zeros(length, dModel);
  for (let k = 0; k < dModel / 2; k++) {
    const frequency = 1 / Math.pow(10000, (2 * k) / dModel);
    for (let position = 0; position < length; position++) {
      const angle = position * frequency;
      table.data[position * dModel + 2 * k] = Math.sin(angle);
      table.data[position * dModel + 2 * k + 1] = Math.cos(angle);
    }
  }
  return table;
}
