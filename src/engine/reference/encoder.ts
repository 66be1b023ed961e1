/**
 * @file The encoder stack (paper §3.1): N identical layers, each bidirectional multi-head
 * self-attention then a feed-forward network, both wrapped in residual + layer norm. Every token
 * sees every other (non-padding) token.
 */
import { makeAttention, makeFeedForward, makeNorm, type Norm, type PositionwiseNetwork } from './components';
import type { TransformerConfig } from './config';
import type { AttentionMask } from './masks';
import type { Matrix } from './matrix';
import type { MultiHeadAttention } from './multiHeadAttention';
import { type ForwardContext, recordLayerState } from './recorder';
import { attentionSublayer, feedForwardSublayer, type SublayerSite } from './sublayers';
import type { WeightSource } from './weights';

export class EncoderLayer {
  private readonly selfAttention: MultiHeadAttention;
  private readonly feedForward: PositionwiseNetwork;
  private readonly normSelfAttention: Norm;
  private readonly normFeedForward: Norm;

  constructor(weights: WeightSource, private readonly config: TransformerConfig, readonly index: number) {
    const prefix = `encoder.layers.${index}`;
    this.selfAttention = makeAttention(weights, `${prefix}.self_attention`, config, true);
    this.feedForward = makeFeedForward(weights, `${prefix}.feed_forward`, config);
    this.normSelfAttention = makeNorm(weights, `${prefix}.norm_self_attention`, config);
    this.normFeedForward = makeNorm(weights, `${prefix}.norm_feed_forward`, config);
  }

  /** x [T, d] → [T, d] */
  forward(x: Matrix, mask: AttentionMask, context: ForwardContext): Matrix {
    const site: SublayerSite = { context, stream: 'encoder', layer: this.index, placement: this.config.normPlacement };
    const attended = attentionSublayer(site, this.selfAttention, this.normSelfAttention, 'encoder-self', x, null, mask);
    return feedForwardSublayer(site, this.feedForward, this.normFeedForward, attended);
  }
}

export class Encoder {
  private readonly layers: EncoderLayer[];
  /**
   * Pre-LN stacks end with a norm, since their stream is never normalised otherwise; the logit lens
   * puts every layer's output through it.
   */
  readonly finalNorm: Norm | null;

  constructor(weights: WeightSource, config: TransformerConfig) {
    this.layers = Array.from({ length: config.encoderLayers }, (_, index) => new EncoderLayer(weights, config, index));
    this.finalNorm = config.normPlacement === 'pre' ? makeNorm(weights, 'encoder.final_norm', config) : null;
  }

  /** embedded [T, d] (tokens + positions) → encoder output [T, d], the "memory" cross-attention reads. */
  forward(embedded: Matrix, mask: AttentionMask, context: ForwardContext): Matrix {
    let x = embedded;
    for (const [index, layer] of this.layers.entries()) {
      x = layer.forward(x, mask, context);
      recordLayerState(context, 'encoder', index, x);
    }
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }
}
