/**
 * @file The SwiGLU feed-forward network (Shazeer 2020), the one of Llama, Qwen and Mistral:
 * FFN(x) = W_down · (SiLU(W_gate · x) ⊙ (W_up · x)). One projection decides, feature by feature,
 * how much of the other passes (a gated linear unit, with SiLU(z) = z·σ(z) as the gate); it trains
 * better than ReLU or GELU for the same number of parameters.
 */
import { type Matrix, linear } from './matrix';
import type { WeightSource } from './weights';

/** SiLU (swish): z · σ(z). */
export function silu(z: number): number {
  return z / (1 + Math.exp(-z));
}

interface Linear {
  weight: Matrix;
  bias: Float32Array | null;
}

function projection(weights: WeightSource, name: string, outFeatures: number, inFeatures: number, bias: boolean): Linear {
  return {
    weight: { rows: outFeatures, cols: inFeatures, data: weights.tensor(`${name}.weight`, [outFeatures, inFeatures]) },
    bias: bias ? weights.tensor(`${name}.bias`, [outFeatures]) : null,
  };
}

export class SwiGLUFeedForward {
  private readonly gate: Linear;
  private readonly up: Linear;
  private readonly down: Linear;

  constructor(weights: WeightSource, prefix: string, dModel: number, dFF: number, bias: boolean) {
    this.gate = projection(weights, `${prefix}.gate`, dFF, dModel, bias);
    this.up = projection(weights, `${prefix}.up`, dFF, dModel, bias);
    this.down = projection(weights, `${prefix}.down`, dModel, dFF, bias);
  }

  /** [T, d] → [T, d] */
  forward(x: Matrix): Matrix {
    const gated = linear(x, this.gate.weight, this.gate.bias); // [T, d_ff]
    const up = linear(x, this.up.weight, this.up.bias); // [T, d_ff]
    for (let i = 0; i < gated.data.length; i++) gated.data[i] = silu(gated.data[i]) * up.data[i];
    return linear(gated, this.down.weight, this.down.bias);
  }
}
