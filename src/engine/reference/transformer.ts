/**
 * @file The whole built-in Transformer: embedding + positions, the encoder and/or decoder stack,
 * and the LM head, assembled from a validated config and a weight source. This is the readable
 * oracle the ONNX paths are checked against.
 */
import type { CancellationCheck } from '../../shared/errors';
import type { AttentionBlock, ResidualStep } from '../../shared/trace';
import { type TransformerConfig, validateConfig } from './config';
import { Decoder, type EncoderMemory } from './decoder';
import { TokenEmbedding } from './embedding';
import { Encoder } from './encoder';
import { LanguageModelHead } from './lmHead';
import { causalMask, paddingMask } from './masks';
import { type Matrix, add } from './matrix';
import { sinusoidalPositions } from './positions';
import { type ForwardContext, type HeadAblation, type LayerState, recordResidual } from './recorder';
import type { WeightSource } from './weights';

export interface ForwardInput {
  /** Encoder input ids (encoder and encoder-decoder models). */
  encoderIds?: readonly number[];
  /** True where an encoder token is padding: masked as a key everywhere. */
  encoderPadding?: readonly boolean[];
  /** Decoder input ids (decoder and encoder-decoder models). */
  decoderIds?: readonly number[];
}

export interface ForwardOutput {
  blocks: AttentionBlock[];
  residual: ResidualStep[];
  /** [S, d] final encoder states, when there is an encoder. */
  encoderOutput: Matrix | null;
  /** [T, d] final decoder states, when there is a decoder. */
  decoderOutput: Matrix | null;
  /** Every layer's output, in order, when the run asked for them (the logit lens); else empty. */
  layerStates: LayerState[];
}

export class Transformer {
  readonly embedding: TokenEmbedding;
  readonly encoder: Encoder | null;
  readonly decoder: Decoder | null;
  readonly head: LanguageModelHead;

  constructor(readonly config: TransformerConfig, weights: WeightSource) {
    validateConfig(config);
    const table = { rows: config.vocabSize, cols: config.dModel, data: weights.tensor('embedding.weight', [config.vocabSize, config.dModel]) };
    this.embedding = new TokenEmbedding(table, config.scaleEmbedding ? Math.sqrt(config.dModel) : 1);
    this.encoder = config.encoderLayers > 0 ? new Encoder(weights, config) : null;
    this.decoder = config.decoderLayers > 0 ? new Decoder(weights, config) : null;
    this.head = new LanguageModelHead(table);
  }

  /**
   * Token embeddings plus sinusoidal positions: the residual stream's starting point. With rotary
   * positions nothing is added here: attention rotates its queries and keys instead.
   */
  embed(ids: readonly number[]): Matrix {
    const tokens = this.embedding.forward(ids);
    return this.config.positions === 'rope' ? tokens : add(tokens, sinusoidalPositions(ids.length, this.config.dModel));
  }

  /** What the first residual step holds: with rotary positions, the token embeddings alone. */
  private embeddingLabel(): string {
    return this.config.positions === 'rope' ? 'embedding' : 'embedding + positions';
  }

  /**
   * @param keepLayerStates keep each layer's output vectors (the logit lens reads them)
   * @param ablation heads whose output is zeroed or replaced by its mean (an ablation run)
   * @param valueWeighted give each block its value-weighted attention too (analysis/valueWeighted.ts)
   */
  forward(input: ForwardInput, cancel: CancellationCheck, includeScores = false, keepLayerStates = false, ablation?: HeadAblation, valueWeighted = false): ForwardOutput {
    const context: ForwardContext = {
      cancel, includeScores, blocks: [], residual: [], ...(keepLayerStates ? { layerStates: [] } : {}), ...(ablation ? { ablation } : {}), ...(valueWeighted ? { valueWeighted } : {}),
    };
    let memory: EncoderMemory | null = null;
    let encoderOutput: Matrix | null = null;
    let decoderOutput: Matrix | null = null;

    if (this.encoder) {
      const ids = input.encoderIds;
      if (!ids || ids.length === 0) throw new Error('this model needs encoder input ids');
      const padding = input.encoderPadding ?? ids.map(() => false);
      const embedded = this.embed(ids);
      recordResidual(context, 'encoder', null, 'embedding', embedded, this.embeddingLabel());
      encoderOutput = this.encoder.forward(embedded, paddingMask(ids.length, padding), context);
      if (this.decoder) {
        const decoderLength = input.decoderIds?.length ?? 0;
        memory = { output: encoderOutput, mask: paddingMask(decoderLength, padding) };
      }
    }
    if (this.decoder) {
      const ids = input.decoderIds;
      if (!ids || ids.length === 0) throw new Error('this model needs decoder input ids');
      const embedded = this.embed(ids);
      recordResidual(context, 'decoder', null, 'embedding', embedded, this.embeddingLabel());
      decoderOutput = this.decoder.forward(embedded, causalMask(ids.length, this.config.slidingWindow), memory, context);
    }
    return { blocks: context.blocks, residual: context.residual, encoderOutput, decoderOutput, layerStates: context.layerStates ?? [] };
  }
}
