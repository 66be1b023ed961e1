/**
 * @file The position-wise feed-forward network, forward and backward:
 *
 *   h = x · W1ᵀ + b1      [rows, d_ff]
 *   a = act(h)            GELU (tanh form, as feedForward.ts) or ReLU
 *   y = a · W2ᵀ + b2      [rows, d]
 *
 * GELU's derivative, with u = c · (h + 0.044715 h³), c = sqrt(2/π):
 *   act'(h) = ½ (1 + tanh u) + ½ h (1 − tanh² u) · c · (1 + 3 · 0.044715 h²)
 */
import type { Activation } from '../../src/engine/reference/feedForward';
import { linearBackward, linearForward } from './kernels';

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** out = act(h), element-wise; for GELU, `tanh` keeps tanh(u) for the backward (Math.tanh is costly). */
export function activationForward(out: Float64Array, h: Float64Array, activation: Activation, tanh: Float64Array): void {
  if (activation === 'gelu') {
    for (let i = 0; i < h.length; i++) {
      const x = h[i];
      const t = Math.tanh(GELU_C * (x + GELU_CUBIC * x * x * x));
      tanh[i] = t;
      out[i] = 0.5 * x * (1 + t);
    }
  } else {
    for (let i = 0; i < h.length; i++) out[i] = h[i] > 0 ? h[i] : 0;
  }
}

/** dh = dOut ⊙ act'(h), written into `dh` (which may be `dOut`); `tanh` as the forward left it. */
export function activationBackward(dh: Float64Array, dOut: Float64Array, h: Float64Array, activation: Activation, tanh: Float64Array): void {
  if (activation === 'gelu') {
    for (let i = 0; i < h.length; i++) {
      const x = h[i];
      const t = tanh[i];
      const derivative = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_CUBIC * x * x);
      dh[i] = dOut[i] * derivative;
    }
  } else {
    // ReLU'(0) is taken as 0, like PyTorch.
    for (let i = 0; i < h.length; i++) dh[i] = h[i] > 0 ? dOut[i] : 0;
  }
}

export interface FeedForwardWeights {
  fc1Weight: Float64Array; fc1Bias: Float64Array; fc2Weight: Float64Array; fc2Bias: Float64Array;
}

/** What the backward needs: h before and a after the activation, and GELU's tanh, all [rows, d_ff]. */
export interface FeedForwardCache {
  readonly preActivation: Float64Array;
  readonly activated: Float64Array;
  readonly tanh: Float64Array;
}

export function feedForwardCache(rows: number, hidden: number): FeedForwardCache {
  return { preActivation: new Float64Array(rows * hidden), activated: new Float64Array(rows * hidden), tanh: new Float64Array(rows * hidden) };
}

export interface FeedForwardShape { rows: number; width: number; hidden: number; activation: Activation }

/** y [rows, d] = FFN(x [rows, d]). */
export function feedForwardForward(y: Float64Array, x: Float64Array, weights: FeedForwardWeights, shape: FeedForwardShape, cache: FeedForwardCache): void {
  const { rows, width, hidden, activation } = shape;
  linearForward(cache.preActivation, x, weights.fc1Weight, weights.fc1Bias, rows, width, hidden);
  activationForward(cache.activated, cache.preActivation, activation, cache.tanh);
  linearForward(y, cache.activated, weights.fc2Weight, weights.fc2Bias, rows, hidden, width);
}

/**
 * dx = (or += with `accumulate`) the input gradient; weight gradients accumulate into `grads`.
 * `scratch` is a [rows, d_ff] buffer for the hidden gradient.
 */
export function feedForwardBackward(
  dy: Float64Array, x: Float64Array, weights: FeedForwardWeights, grads: FeedForwardWeights, shape: FeedForwardShape,
  cache: FeedForwardCache, dx: Float64Array, accumulate: boolean, scratch: Float64Array,
): void {
  const { rows, width, hidden, activation } = shape;
  const dHidden = scratch.subarray(0, rows * hidden);
  linearBackward(dy, cache.activated, weights.fc2Weight, dHidden, grads.fc2Weight, grads.fc2Bias, rows, hidden, width);
  activationBackward(dHidden, dHidden, cache.preActivation, activation, cache.tanh);
  linearBackward(dHidden, x, weights.fc1Weight, dx, grads.fc1Weight, grads.fc1Bias, rows, width, hidden, accumulate);
}
