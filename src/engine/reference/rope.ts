/**
 * @file Rotary position embedding, RoPE (Su et al. 2021), the positions of Llama, Qwen and most
 * decoders since: instead of adding a position vector to the token, each query and key is rotated
 * by an angle proportional to its position, pair of features by pair of features. The dot product
 * of a rotated query and key then depends only on how far apart they are, so attention sees
 * relative positions, and nothing is added to the residual stream.
 *
 * Convention (Hugging Face's and ONNX Runtime's non-interleaved one): a head of width D is split
 * into halves x1 = x[0, D/2) and x2 = x[D/2, D); feature i of each half turns at frequency
 * θ^(−2i/D), and at position p
 *   out1 = x1·cos(p·f) − x2·sin(p·f),   out2 = x2·cos(p·f) + x1·sin(p·f).
 */
import type { Matrix } from './matrix';

/** The rotation angles' cosines and sines, [positions, D/2] each, in float64 from the formula. */
export interface RotaryTables {
  cos: Float64Array;
  sin: Float64Array;
  halfWidth: number;
}

export function rotaryTables(positions: number, headWidth: number, theta: number): RotaryTables {
  const halfWidth = headWidth / 2;
  const cos = new Float64Array(positions * halfWidth);
  const sin = new Float64Array(positions * halfWidth);
  for (let i = 0; i < halfWidth; i++) {
    const frequency = Math.pow(theta, (-2 * i) / headWidth);
    for (let position = 0; position < positions; position++) {
      cos[position * halfWidth + i] = Math.cos(position * frequency);
      sin[position * halfWidth + i] = Math.sin(position * frequency);
    }
  }
  return { cos, sin, halfWidth };
}

/**
 * Rotates every head of x [T, heads·D] in place, token t at position t (positions start at 0).
 * Row t of x is head 0's D features, then head 1's, and so on.
 */
export function applyRotary(x: Matrix, heads: number, tables: RotaryTables): void {
  const half = tables.halfWidth;
  const width = 2 * half;
  for (let t = 0; t < x.rows; t++) {
    for (let head = 0; head < heads; head++) {
      const base = t * x.cols + head * width;
      for (let i = 0; i < half; i++) {
        const c = tables.cos[t * half + i];
        const s = tables.sin[t * half + i];
        const x1 = x.data[base + i];
        const x2 = x.data[base + half + i];
        x.data[base + i] = x1 * c - x2 * s;
        x.data[base + half + i] = x2 * c + x1 * s;
      }
    }
  }
}
