/**
 * @file AdamW (Loshchilov & Hutter 2019), as PyTorch's torch.optim.AdamW computes it:
 *
 *   θ ← θ − lr · λ · θ                                  (decoupled weight decay, only where `decays`)
 *   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
 *   θ ← θ − lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + ε)
 *
 * plus clipping of the gradient's global L2 norm, summed in buffer order so it is reproducible.
 */
import type { ParameterLayout } from './parameters';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Scale the whole gradient down to this L2 norm when it is larger; 0 turns clipping off. */
  clipNorm: number;
  /**
   * Learning-rate multipliers by parameter group: a tensor whose name contains a key gets the
   * rate × that factor (the first key that matches). Empty: one rate for everything.
   */
  learningRateScales: Record<string, number>;
}

export const DEFAULT_ADAMW: AdamWSettings = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, clipNorm: 1, learningRateScales: {} };

export class AdamW {
  readonly firstMoment: Float64Array;
  readonly secondMoment: Float64Array;
  /** 1 where weight decay applies, 0 elsewhere. */
  private readonly decayMask: Uint8Array;
  /** Each element's learning-rate multiplier. */
  private readonly rateScale: Float64Array;
  private step = 0;

  constructor(layout: ParameterLayout, readonly settings: AdamWSettings = DEFAULT_ADAMW) {
    this.firstMoment = new Float64Array(layout.size);
    this.secondMoment = new Float64Array(layout.size);
    this.decayMask = new Uint8Array(layout.size);
    this.rateScale = new Float64Array(layout.size).fill(1);
    const scales = Object.entries(settings.learningRateScales);
    for (const slot of layout.slots) {
      if (slot.decays) this.decayMask.fill(1, slot.offset, slot.offset + slot.size);
      const scale = scales.find(([key]) => slot.name.includes(key));
      if (scale) this.rateScale.fill(scale[1], slot.offset, slot.offset + slot.size);
    }
  }

  /** Updates `params` in place from `grads` (which is clipped in place). Returns the norm before clipping. */
  update(params: Float64Array, grads: Float64Array, learningRate: number): number {
    const { beta1, beta2, epsilon, weightDecay, clipNorm } = this.settings;
    const norm = globalNorm(grads);
    if (clipNorm > 0 && norm > clipNorm) {
      const scale = clipNorm / norm;
      for (let i = 0; i < grads.length; i++) grads[i] *= scale;
    }
    this.step++;
    const correction1 = 1 - Math.pow(beta1, this.step);
    const correction2 = 1 - Math.pow(beta2, this.step);
    const m = this.firstMoment;
    const v = this.secondMoment;
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const rate = learningRate * this.rateScale[i];
      if (this.decayMask[i]) params[i] *= 1 - rate * weightDecay;
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      params[i] -= (rate * (m[i] / correction1)) / (Math.sqrt(v[i] / correction2) + epsilon);
    }
    return norm;
  }

  get steps(): number {
    return this.step;
  }
}

/** L2 norm of a whole buffer, summed in index order. */
export function globalNorm(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  return Math.sqrt(sum);
}
