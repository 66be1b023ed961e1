/**
 * @file A decoder-only reference Transformer (decoder.ts, transformer.ts), forward and backward over
 * a batch of equal-length sequences, on the flat parameter buffer of parameters.ts.
 *
 * It computes the same function as the reference model: the same weights by the same names, token
 * embedding (× sqrt(d) when configured) + sinusoidal positions, N layers of causal self-attention
 * and feed-forward each in its residual + layer norm (pre-LN with a final norm, or post-LN), and
 * the LM head tied to the embedding. The tests check its logits against `Transformer.forward`.
 *
 * Rows are [sequences · T] tokens (dimension letters: S sequences, T tokens per sequence, d width,
 * F d_ff, V vocabulary). Every buffer lives in a workspace allocated once per batch shape.
 */
import { causalMask } from '../../src/engine/reference/masks';
import type { TransformerConfig } from '../../src/engine/reference/config';
import type { BatchShape } from './batches';
import { type AttentionCache, type AttentionTargets, type AttentionWeights, attentionBackward, attentionCache, attentionForward, attentionTargetLoss } from './attentionGrad';
import { type HeadSupervision, supervisionTargets } from './attentionSupervision';
import { softmaxCrossEntropy, tiedHeadBackward, tiedHeadForward } from './crossEntropy';
import { embedBackward, embedForward, positionTable } from './embeddingGrad';
import { type FeedForwardCache, type FeedForwardWeights, feedForwardBackward, feedForwardCache, feedForwardForward } from './feedForwardGrad';
import { type LayerNormCache, layerNormBackward, layerNormCache, layerNormForward } from './layerNormGrad';
import type { ParameterLayout } from './parameters';

interface NormWeights { gain: Float64Array; bias: Float64Array }

/** One layer's tensors inside a flat buffer (parameters or gradients). */
interface LayerTensors {
  attention: AttentionWeights;
  feedForward: FeedForwardWeights;
  normSelfAttention: NormWeights;
  normFeedForward: NormWeights;
}

interface ModelTensors {
  embedding: Float64Array;
  layers: LayerTensors[];
  finalNorm: NormWeights | null;
}

function tensorsOf(layout: ParameterLayout, buffer: Float64Array): ModelTensors {
  const view = (name: string): Float64Array => layout.view(buffer, name);
  const norm = (prefix: string): NormWeights => ({ gain: view(`${prefix}.weight`), bias: view(`${prefix}.bias`) });
  const config = layout.config;
  const layers = Array.from({ length: config.decoderLayers }, (_, index): LayerTensors => {
    const prefix = `decoder.layers.${index}`;
    const attention = `${prefix}.self_attention`;
    return {
      attention: {
        queryWeight: view(`${attention}.query.weight`), queryBias: view(`${attention}.query.bias`),
        keyWeight: view(`${attention}.key.weight`), keyBias: view(`${attention}.key.bias`),
        valueWeight: view(`${attention}.value.weight`), valueBias: view(`${attention}.value.bias`),
        outputWeight: view(`${attention}.output.weight`), outputBias: view(`${attention}.output.bias`),
      },
      feedForward: {
        fc1Weight: view(`${prefix}.feed_forward.fc1.weight`), fc1Bias: view(`${prefix}.feed_forward.fc1.bias`),
        fc2Weight: view(`${prefix}.feed_forward.fc2.weight`), fc2Bias: view(`${prefix}.feed_forward.fc2.bias`),
      },
      normSelfAttention: norm(`${prefix}.norm_self_attention`),
      normFeedForward: norm(`${prefix}.norm_feed_forward`),
    };
  });
  return { embedding: view('embedding.weight'), layers, finalNorm: config.normPlacement === 'pre' ? norm('decoder.final_norm') : null };
}

/** What one layer keeps from its forward pass for the backward. */
interface LayerWorkspace {
  /** [rows, d] what the attention read: LN(input) for pre-LN, input for post-LN. */
  attentionInput: Float64Array;
  attention: AttentionCache;
  /** [rows, d] the stream after the attention sub-layer (after its norm for post-LN). */
  afterAttention: Float64Array;
  /** [rows, d] what the FFN read. */
  feedForwardInput: Float64Array;
  feedForward: FeedForwardCache;
  normSelfAttention: LayerNormCache;
  normFeedForward: LayerNormCache;
}

interface Workspace {
  shape: BatchShape;
  mask: Uint8Array;
  positions: Float64Array;
  layers: LayerWorkspace[];
  /** [rows, d] the stream after the last layer, and after the final norm (pre-LN). */
  stream: Float64Array;
  finalHidden: Float64Array;
  finalNorm: LayerNormCache;
  /** [rows, V] logits, then their gradient. */
  logits: Float64Array;
  /** [rows, d] gradient buffers and a sub-layer output. */
  dStream: Float64Array;
  dBranch: Float64Array;
  branch: Float64Array;
  /** scratch for the attention backward (4 · rows · d) and the FFN backward (rows · F). */
  work: Float64Array;
}

export class DecoderTrainingModel {
  private workspace: Workspace | null = null;
  private readonly embeddingScale: number;

  /** The auxiliary attention loss of the last forward (0 without supervision). */
  auxiliaryLoss = 0;

  constructor(readonly config: TransformerConfig, readonly layout: ParameterLayout, readonly supervision: readonly HeadSupervision[] = []) {
    if (config.kind !== 'decoder') throw new Error(`training supports decoder models (got ${config.kind})`);
    const layers = supervision.map((entry) => entry.layer);
    if (new Set(layers).size !== layers.length) throw new Error('supervise at most one head per layer');
    this.embeddingScale = config.scaleEmbedding ? Math.sqrt(config.dModel) : 1;
  }

  private workspaceFor(shape: BatchShape): Workspace {
    const current = this.workspace;
    if (current && current.shape.sequences === shape.sequences && current.shape.length === shape.length) return current;
    const { dModel: d, dFF, vocabSize, heads } = this.config;
    const rows = shape.sequences * shape.length;
    const matrix = (): Float64Array => new Float64Array(rows * d);
    const attentionShape = { sequences: shape.sequences, length: shape.length, width: d, heads };
    const layers = Array.from({ length: this.config.decoderLayers }, (): LayerWorkspace => ({
      attentionInput: matrix(),
      attention: attentionCache(attentionShape),
      afterAttention: matrix(),
      feedForwardInput: matrix(),
      feedForward: feedForwardCache(rows, dFF),
      normSelfAttention: layerNormCache(rows, d),
      normFeedForward: layerNormCache(rows, d),
    }));
    const workspace: Workspace = {
      shape: { ...shape },
      mask: causalMask(shape.length).cells ?? new Uint8Array(0),
      positions: positionTable(shape.length, d),
      layers,
      stream: matrix(),
      finalHidden: matrix(),
      finalNorm: layerNormCache(rows, d),
      logits: new Float64Array(rows * vocabSize),
      dStream: matrix(),
      dBranch: matrix(),
      branch: matrix(),
      work: new Float64Array(Math.max(4 * rows * d, rows * dFF)),
    };
    this.workspace = workspace;
    return workspace;
  }

  /** Runs the forward pass; afterwards workspace.logits holds [rows, V] logits. */
  private forward(params: Float64Array, ids: Int32Array, shape: BatchShape): Workspace {
    const space = this.workspaceFor(shape);
    const { dModel: d, dFF, heads, normPlacement, activation, layerNormEpsilon: epsilon, vocabSize } = this.config;
    const rows = shape.sequences * shape.length;
    if (ids.length !== rows) throw new Error(`expected ${rows} ids, got ${ids.length}`);
    const tensors = tensorsOf(this.layout, params);
    const attentionShape = { sequences: shape.sequences, length: shape.length, width: d, heads };
    const feedForwardShape = { rows, width: d, hidden: dFF, activation };

    let stream = space.stream;
    embedForward(stream, ids, tensors.embedding, this.embeddingScale, space.positions, shape.length, d);
    tensors.layers.forEach((layer, index) => {
      const cache = space.layers[index];
      if (normPlacement === 'pre') {
        // x ← x + Attn(LN(x)); x ← x + FFN(LN(x))
        layerNormForward(cache.attentionInput, stream, layer.normSelfAttention.gain, layer.normSelfAttention.bias, rows, d, epsilon, cache.normSelfAttention);
        attentionForward(space.branch, cache.attentionInput, layer.attention, attentionShape, space.mask, cache.attention);
        for (let i = 0; i < stream.length; i++) cache.afterAttention[i] = stream[i] + space.branch[i];
        layerNormForward(cache.feedForwardInput, cache.afterAttention, layer.normFeedForward.gain, layer.normFeedForward.bias, rows, d, epsilon, cache.normFeedForward);
        feedForwardForward(space.branch, cache.feedForwardInput, layer.feedForward, feedForwardShape, cache.feedForward);
        for (let i = 0; i < stream.length; i++) stream[i] = cache.afterAttention[i] + space.branch[i];
      } else {
        // x ← LN(x + Attn(x)); x ← LN(x + FFN(x))
        cache.attentionInput.set(stream);
        attentionForward(space.branch, cache.attentionInput, layer.attention, attentionShape, space.mask, cache.attention);
        for (let i = 0; i < stream.length; i++) space.branch[i] += stream[i];
        layerNormForward(cache.afterAttention, space.branch, layer.normSelfAttention.gain, layer.normSelfAttention.bias, rows, d, epsilon, cache.normSelfAttention);
        cache.feedForwardInput.set(cache.afterAttention);
        feedForwardForward(space.branch, cache.feedForwardInput, layer.feedForward, feedForwardShape, cache.feedForward);
        for (let i = 0; i < stream.length; i++) space.branch[i] += cache.afterAttention[i];
        layerNormForward(stream, space.branch, layer.normFeedForward.gain, layer.normFeedForward.bias, rows, d, epsilon, cache.normFeedForward);
      }
    });
    if (tensors.finalNorm) {
      layerNormForward(space.finalHidden, stream, tensors.finalNorm.gain, tensors.finalNorm.bias, rows, d, epsilon, space.finalNorm);
      stream = space.finalHidden;
    } else {
      space.finalHidden.set(stream);
    }
    tiedHeadForward(space.logits, space.finalHidden, tensors.embedding, rows, d, vocabSize);
    return space;
  }

  /** [rows, V] logits of every position (a copy). */
  logits(params: Float64Array, ids: Int32Array, shape: BatchShape): Float64Array {
    return this.forward(params, ids, shape).logits.slice();
  }

  /** [rows, d] the decoder output after the final norm (what the reference calls decoderOutput), a copy. */
  decoderOutput(params: Float64Array, ids: Int32Array, shape: BatchShape): Float64Array {
    return this.forward(params, ids, shape).finalHidden.slice();
  }

  /**
   * Σ −log p(target) · weight over the rows with a target ≥ 0 (no gradients); the auxiliary
   * attention loss, when supervised, goes to `auxiliaryLoss`.
   */
  loss(params: Float64Array, ids: Int32Array, targets: Int32Array, shape: BatchShape, weight: number, synthetic: Uint8Array | null = null): number {
    const space = this.forward(params, ids, shape);
    this.auxiliaryLoss = this.auxiliaryLossOf(space, this.attentionTargets(ids, shape, weight, synthetic));
    return softmaxCrossEntropy(space.logits, targets, this.config.vocabSize, weight, true);
  }

  private auxiliaryLossOf(space: Workspace, supervised: ReadonlyArray<{ layer: number; targets: AttentionTargets }>): number {
    const shape = { sequences: space.shape.sequences, length: space.shape.length, width: this.config.dModel, heads: this.config.heads };
    return supervised.reduce((sum, { layer, targets }) => sum + attentionTargetLoss(space.layers[layer].attention, shape, targets), 0);
  }

  /** The supervised heads' targets for this batch, each row weighted like a byte of the LM loss. */
  private attentionTargets(ids: Int32Array, shape: BatchShape, weight: number, synthetic: Uint8Array | null): Array<{ layer: number; targets: AttentionTargets }> {
    return this.supervision.map((supervision) => ({
      layer: supervision.layer,
      targets: { head: supervision.head, keys: supervisionTargets(supervision, ids, shape, synthetic), weight: supervision.weight * weight },
    }));
  }

  /**
   * The loss as in `loss`, and the gradient of loss + auxiliaryLoss with respect to every
   * parameter added into `grads` (a buffer of the parameter layout). `supervise` false leaves the
   * auxiliary loss out (0).
   */
  lossAndGradients(params: Float64Array, grads: Float64Array, ids: Int32Array, targets: Int32Array, shape: BatchShape, weight: number, synthetic: Uint8Array | null = null, supervise = true): number {
    const space = this.forward(params, ids, shape);
    const supervised = supervise ? this.attentionTargets(ids, shape, weight, synthetic) : [];
    this.auxiliaryLoss = this.auxiliaryLossOf(space, supervised);
    // One head per layer at most may be supervised (attentionBackward takes one target set).
    const targetsOfLayer = (layer: number): AttentionTargets | null => supervised.find((entry) => entry.layer === layer)?.targets ?? null;
    const { dModel: d, dFF, heads, normPlacement, activation, vocabSize } = this.config;
    const rows = shape.sequences * shape.length;
    const tensors = tensorsOf(this.layout, params);
    const gradients = tensorsOf(this.layout, grads);
    const attentionShape = { sequences: shape.sequences, length: shape.length, width: d, heads };
    const feedForwardShape = { rows, width: d, hidden: dFF, activation };
    const loss = softmaxCrossEntropy(space.logits, targets, vocabSize, weight);

    const dStream = space.dStream;
    const dBranch = space.dBranch;
    tiedHeadBackward(space.logits, space.finalHidden, tensors.embedding, dStream, gradients.embedding, rows, d, vocabSize);
    if (tensors.finalNorm && gradients.finalNorm) {
      dBranch.set(dStream);
      layerNormBackward(dBranch, tensors.finalNorm.gain, space.finalNorm, rows, d, dStream, gradients.finalNorm.gain, gradients.finalNorm.bias, false);
    }
    for (let index = tensors.layers.length - 1; index >= 0; index--) {
      const layer = tensors.layers[index];
      const grad = gradients.layers[index];
      const cache = space.layers[index];
      if (normPlacement === 'pre') {
        // dStream is d(output). FFN branch: d(afterAttention) = dStream + LN'(FFN'(dStream)).
        feedForwardBackward(dStream, cache.feedForwardInput, layer.feedForward, grad.feedForward, feedForwardShape, cache.feedForward, dBranch, false, space.work);
        layerNormBackward(dBranch, layer.normFeedForward.gain, cache.normFeedForward, rows, d, dStream, grad.normFeedForward.gain, grad.normFeedForward.bias, true);
        // Attention branch: d(input) = d(afterAttention) + LN'(Attn'(d(afterAttention))).
        attentionBackward(dStream, cache.attentionInput, layer.attention, grad.attention, attentionShape, space.mask, cache.attention, dBranch, false, space.work, targetsOfLayer(index));
        layerNormBackward(dBranch, layer.normSelfAttention.gain, cache.normSelfAttention, rows, d, dStream, grad.normSelfAttention.gain, grad.normSelfAttention.bias, true);
      } else {
        // dStream is d(LN(afterAttention + FFN(afterAttention))).
        layerNormBackward(dStream, layer.normFeedForward.gain, cache.normFeedForward, rows, d, dStream, grad.normFeedForward.gain, grad.normFeedForward.bias, false);
        feedForwardBackward(dStream, cache.feedForwardInput, layer.feedForward, grad.feedForward, feedForwardShape, cache.feedForward, dStream, true, space.work);
        layerNormBackward(dStream, layer.normSelfAttention.gain, cache.normSelfAttention, rows, d, dStream, grad.normSelfAttention.gain, grad.normSelfAttention.bias, false);
        attentionBackward(dStream, cache.attentionInput, layer.attention, grad.attention, attentionShape, space.mask, cache.attention, dStream, true, space.work, targetsOfLayer(index));
      }
    }
    embedBackward(dStream, ids, gradients.embedding, this.embeddingScale, d);
    return loss;
  }
}
