/**
 * @file Token embedding plus sinusoidal positions, forward and backward.
 *
 *   x[t] = E[id_t] · s + PE[t mod T]      s = sqrt(d) when the config scales embeddings, else 1
 *
 * Positions are a constant table (positions.ts), so their add passes the gradient straight
 * through; only the embedding rows that were looked up get a gradient: dE[id_t] += s · dx[t].
 * Rows are [sequences · T] tokens, each sequence starting again at position 0.
 */
import { sinusoidalPositions } from '../../src/engine/reference/positions';

/** The [T, d] position table in float64, the same numbers the reference model adds. */
export function positionTable(length: number, width: number): Float64Array {
  return Float64Array.from(sinusoidalPositions(length, width).data);
}

/** out [rows, d] = table[ids] · scale + positions[row mod T]; `positions` is [T, d]. */
export function embedForward(
  out: Float64Array, ids: Int32Array, table: Float64Array, scale: number, positions: Float64Array, sequenceLength: number, width: number,
): void {
  for (let row = 0; row < ids.length; row++) {
    const source = ids[row] * width;
    const position = (row % sequenceLength) * width;
    const target = row * width;
    for (let c = 0; c < width; c++) out[target + c] = table[source + c] * scale + positions[position + c];
  }
}

/** dTable[ids[row]] += scale · dOut[row], in row order (so repeated ids sum in a fixed order). */
export function embedBackward(dOut: Float64Array, ids: Int32Array, dTable: Float64Array, scale: number, width: number): void {
  for (let row = 0; row < ids.length; row++) {
    const target = ids[row] * width;
    const source = row * width;
    for (let c = 0; c < width; c++) dTable[target + c] += scale * dOut[source + c];
  }
}
