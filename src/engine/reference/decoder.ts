/**
 * @file The decoder stack (paper §3.1): N identical layers, each masked (causal) self-attention,
 * then, in an encoder-decoder, cross-attention whose queries come from the decoder and whose keys
 * and values come from the encoder output, then a feed-forward network; each wrapped in residual +
 * layer norm. A decoder-only model (GPT) is the same without the cross-attention.
 */
import type { TransformerConfig } from './config';
import { FeedForward } from './feedForward';
import { LayerNorm } from './layerNorm';
import type { AttentionMask } from './masks';
import type { Matrix } from './matrix';
import { MultiHeadAttention } from './multiHeadAttention';
import type { ForwardContext } from './recorder';
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
  private readonly feedForward: FeedForward;
  private readonly normSelfAttention: LayerNorm;
  private readonly normCrossAttention: LayerNorm | null;
  private readonly normFeedForward: LayerNorm;

  constructor(weights: WeightSource, private readonly config: TransformerConfig, readonly index: number) {
    const prefix = `decoder.layers.${index}`;
    const d = config.dModel;
    const epsilon = config.layerNormEpsilon;
    const hasCross = config.kind === 'encoder-decoder';
    this.selfAttention = new MultiHeadAttention(weights, `${prefix}.self_attention`, d, config.heads);
    this.crossAttention = hasCross ? new MultiHeadAttention(weights, `${prefix}.cross_attention`, d, config.heads) : null;
    this.feedForward = new FeedForward(weights, `${prefix}.feed_forward`, d, config.dFF, config.activation);
    this.normSelfAttention = new LayerNorm(weights, `${prefix}.norm_self_attention`, d, epsilon);
    this.normCrossAttention = hasCross ? new LayerNorm(weights, `${prefix}.norm_cross_attention`, d, epsilon) : null;
    this.normFeedForward = new LayerNorm(weights, `${prefix}.norm_feed_forward`, d, epsilon);
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
  private readonly finalNorm: LayerNorm | null;

  constructor(weights: WeightSource, config: TransformerConfig) {
    this.layers = Array.from({ length: config.decoderLayers }, (_, index) => new DecoderLayer(weights, config, index));
    this.finalNorm = config.normPlacement === 'pre'
      ? new LayerNorm(weights, 'decoder.final_norm', config.dModel, config.layerNormEpsilon)
      : null;
  }

  forward(embedded: Matrix, causal: AttentionMask, memory: EncoderMemory | null, context: ForwardContext): Matrix {
    let x = embedded;
    for (const layer of this.layers) x = layer.forward(x, causal, memory, context);
    return this.finalNorm ? this.finalNorm.forward(x) : x;
  }
}
