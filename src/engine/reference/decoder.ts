/**
 * @file The decoder stack (paper §3.1): N identical layers, each masked (causal) self-attention,
 * then, in an encoder-decoder, cross-attention whose queries come from the decoder and whose keys
 * and values come from the encoder output, then a feed-forward network; each wrapped in residual +
 * layer norm. A decoder-only model (GPT) is the same without the cross-attention.
 */
import { makeAttention, makeFeedForward, makeNorm, type Norm, type PositionwiseNetwork } from './components';
import type { TransformerConfig } from './config';
import type { AttentionMask } from './masks';
import type { Matrix } from './matrix';
import type { MultiHeadAttention } from './multiHeadAttention';
import { type ForwardContext, recordLayerState } from './recorder';
import { attentionSublayer, feedForwardSublayer, type SublayerSite } from './sublayers';
import type { WeightSource } from './weights';

/** The encoder side a cross-attention block reads. */
export interface EncoderMemory {
  /** [S, d] encoder output. */
  output: Matrix;
  /** [T, S] which encoder positions each decoder token may read (padding). */
  mask: AttentionMask;
}

export class DecoderLayer {
  private readonly selfAttention: MultiHeadAttention;
  private readonly crossAttention: MultiHeadAttention | null;
  private readonly feedForward: PositionwiseNetwork;
  private readonly normSelfAttention: Norm;
  private readonly normCrossAttention: Norm | null;
  private readonly normFeedForward: Norm;

  constructor(weights: WeightSource, private readonly config: TransformerConfig, readonly index: number) {
    const prefix = `decoder.layers.${index}`;
    const hasCross = config.kind === 'encoder-decoder';
    this.selfAttention = makeAttention(weights, `${prefix}.self_attention`, config, true);
    this.crossAttention = hasCross ? makeAttention(weights, `${prefix}.cross_attention`, config, false) : null;
    this.feedForward = makeFeedForward(weights, `${prefix}.feed_forward`, config);
    this.normSelfAttention = makeNorm(weights, `${prefix}.norm_self_attention`, config);
    this.normCrossAttention = hasCross ? makeNorm(weights, `${prefix}.norm_cross_attention`, config) : null;
    this.normFeedForward = makeNorm(weights, `${prefix}.norm_feed_forward`, config);
  }

  /** x [T, d] → [T, d]; `causal` is the [T, T] self-attention mask. */
  forward(x: Matrix, causal: AttentionMask, memory: EncoderMemory | null, context: ForwardContext): Matrix {
    const site: SublayerSite = { context, stream: 'decoder', layer: this.index, placement: this.config.normPlacement };
    let stream = attentionSublayer(site, this.selfAttention, this.normSelfAttention, 'decoder-self', x, null, causal);
    if (this.crossAttention && this.normCrossAttention) {
      if (!memory) throw new Error('an encoder-decoder layer needs the encoder output');
      stream = attentionSublayer(site, this.crossAttention, this.normCrossAttention, 'cross', stream, memory.output, memory.mask);
    }
    return feedForwardSublayer(site, this.feedForward, this.normFeedForward, stream);
  }
}

export class Decoder {
  private readonly layers: DecoderLayer[];
  /** Read by the logit lens, which puts every layer's output through it. */
  readonly finalNorm: Norm | null;

  constructor(weights: WeightSource, config: TransformerConfig) {
    this.layers = Array.from({ length: config.decoderLayers }, (_, index) => new DecoderLayer(weights, config, index));
    this.finalNorm = config.normPlacement === 'pre' ? makeNorm(weights, 'decoder.final_norm', config) : null;
  }

  forward(embedded: Matrix, causal: AttentionMask, memory: EncoderMemory | null, context: ForwardContext): Matrix {
    let x = embedded;
    for (const [index, layer] of this.layers.entries()) {
      x = layer.forward(x, causal, memory, context);
      recordLayerState(context, 'decoder', index, x);
    }
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }
}
