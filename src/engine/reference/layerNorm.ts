/**
 * @file Layer normalization (Ba et al. 2016): each token's vector is shifted to mean 0 and scaled
 * to variance 1 across its d_model features, then given a learned gain and bias. It keeps the
 * residual stream's scale in check so training is faster and steadier.
 */
import { type Matrix, zeros } from './matrix';
import type { WeightSource } from './weights';

export class LayerNorm {
  private readonly gain: Float32Array;
  private readonly bias: Float32Array;

  constructor(weights: WeightSource, prefix: string, readonly width: number, readonly epsilon: number) {
    this.gain = weights.tensor(`${prefix}.weight`, [width]);
    this.bias = weights.tensor(`${prefix}.bias`, [width]);
  }

  /** [T, d] → [T, d]; variance is the biased (population) one, as in PyTorch. */
  forward(x: Matrix): Matrix {
    const out = zeros(x.rows, x.cols);
    for (let r = 0; r < x.rows; r++) {
      const base = r * x.cols;
      let mean = 0;
      for (let c = 0; c < x.cols; c++) mean += x.data[base + c];
      mean /= x.cols;
      let variance = 0;
      for (let c = 0; c < x.cols; c++) {
        const centred = x.data[base + c] - mean;
        variance += centred * centred;
      }
      variance /= x.cols;
      const inverseStd = 1 / Math.sqrt(variance + this.epsilon);
      for (let c = 0; c < x.cols; c++) {
        out.data[base + c] = (x.data[base + c] - mean) * inverseStd * this.gain[c] + this.bias[c];
      }
    }
    return out;
  }
}
