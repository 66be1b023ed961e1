/**
 * @file RMSNorm (Zhang & Sennrich 2019), the norm of Llama, Qwen and Mistral: each token's vector
 * is divided by its root mean square and given a learned gain, x / sqrt(mean(x²) + ε) · g. Unlike
 * layer normalization it does not subtract the mean and has no bias: cheaper, and it keeps the
 * residual stream's scale in check just as well.
 */
import { type Matrix, zeros } from './matrix';
import type { WeightSource } from './weights';

export class RMSNorm {
  private readonly gain: Float32Array;

  constructor(weights: WeightSource, prefix: string, readonly width: number, readonly epsilon: number) {
    this.gain = weights.tensor(`${prefix}.weight`, [width]);
  }

  /** [T, d] → [T, d] */
  forward(x: Matrix): Matrix {
    const out = zeros(x.rows, x.cols);
    for (let r = 0; r < x.rows; r++) {
      const base = r * x.cols;
      let squares = 0;
      for (let c = 0; c < x.cols; c++) squares += x.data[base + c] * x.data[base + c];
      const inverseRms = 1 / Math.sqrt(squares / x.cols + this.epsilon);
      for (let c = 0; c < x.cols; c++) out.data[base + c] = x.data[base + c] * inverseRms * this.gain[c];
    }
    return out;
  }
}
