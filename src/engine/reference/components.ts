/**
 * @file Which building block a configuration asks for: the paper's (layer norm, the ReLU/GELU
 * network, multi-head attention, sinusoidal positions) or a later one (RMSNorm, SwiGLU,
 * grouped-query attention, rotary positions). The stacks ask here and stay the same.
 */
import { hasBias, kvHeadsOf, type TransformerConfig } from './config';
import { FeedForward } from './feedForward';
import { LayerNorm } from './layerNorm';
import type { Matrix } from './matrix';
import { MultiHeadAttention } from './multiHeadAttention';
import { RMSNorm } from './rmsNorm';
import { SwiGLUFeedForward } from './swiglu';
import type { WeightSource } from './weights';

/** A norm of the residual stream: [T, d] → [T, d]. */
export interface Norm {
  forward(x: Matrix): Matrix;
}

/** A network applied to every token alone: [T, d] → [T, d]. */
export interface PositionwiseNetwork {
  forward(x: Matrix): Matrix;
}

export function makeNorm(weights: WeightSource, prefix: string, config: TransformerConfig): Norm {
  return config.norm === 'rms'
    ? new RMSNorm(weights, prefix, config.dModel, config.layerNormEpsilon)
    : new LayerNorm(weights, prefix, config.dModel, config.layerNormEpsilon);
}

export function makeFeedForward(weights: WeightSource, prefix: string, config: TransformerConfig): PositionwiseNetwork {
  return config.feedForward === 'swiglu'
    ? new SwiGLUFeedForward(weights, prefix, config.dModel, config.dFF, hasBias(config, 'feed-forward'))
    : new FeedForward(weights, prefix, config.dModel, config.dFF, config.activation, hasBias(config, 'feed-forward'));
}

/** Rotary positions apply to self-attention, where queries and keys share positions. */
export function makeAttention(weights: WeightSource, prefix: string, config: TransformerConfig, self: boolean): MultiHeadAttention {
  return new MultiHeadAttention(weights, prefix, {
    dModel: config.dModel,
    heads: config.heads,
    kvHeads: kvHeadsOf(config),
    bias: { query: hasBias(config, 'query'), key: hasBias(config, 'key'), value: hasBias(config, 'value'), output: hasBias(config, 'output') },
    ...(self && config.positions === 'rope' ? { ropeTheta: config.ropeTheta ?? 1e4 } : {}),
  });
}
