/**
 * @file Position-wise feed-forward network (paper §3.3): FFN(x) = W2 · act(W1 · x + b1) + b2,
 * applied to every token alone. Attention only mixes tokens linearly; this adds the non-linearity.
 */
import { type Matrix, linear } from './matrix';
import type { WeightSource } from './weights';

export type Activation = 'relu' | 'gelu';

/** GELU, tanh approximation (as GPT-2 uses). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

export function relu(x: number): number {
  return x > 0 ? x : 0;
}

export class FeedForward {
  private readonly fc1: { weight: Matrix; bias: Float32Array | null };
  private readonly fc2: { weight: Matrix; bias: Float32Array | null };
  private readonly activate: (x: number) => number;

  constructor(weights: WeightSource, prefix: string, dModel: number, dFF: number, activation: Activation, bias = true) {
    this.fc1 = {
      weight: { rows: dFF, cols: dModel, data: weights.tensor(`${prefix}.fc1.weight`, [dFF, dModel]) },
      bias: bias ? weights.tensor(`${prefix}.fc1.bias`, [dFF]) : null,
    };
    this.fc2 = {
      weight: { rows: dModel, cols: dFF, data: weights.tensor(`${prefix}.fc2.weight`, [dModel, dFF]) },
      bias: bias ? weights.tensor(`${prefix}.fc2.bias`, [dModel]) : null,
    };
    this.activate = activation === 'gelu' ? gelu : relu;
  }

  /** [T, d] → [T, d] */
  forward(x: Matrix): Matrix {
    const hidden = linear(x, this.fc1.weight, this.fc1.bias); // [T, d_ff]
    for (let i = 0; i < hidden.data.length; i++) hidden.data[i] = this.activate(hidden.data[i]);
    return linear(hidden, this.fc2.weight, this.fc2.bias);
  }
}
