/**
 * @file Exports a built-in Transformer to ONNX (opset 17) with the same weights, as plain primitive
 * ops laid out the way PyTorch exporters write them (MatMul → Div → Add mask → Softmax → MatMul),
 * so the generic tapper finds its attention like any user's export, and parity with the reference
 * model proves both paths.
 *
 * Inputs (int64, batch 1, Hugging Face names): `input_ids` [1, S] for the first stack,
 * `attention_mask` [1, S] (1 keep, 0 padding) when there is an encoder, and `decoder_input_ids`
 * [1, T] for an encoder-decoder. Output: `logits` [1, T, vocab] of the last stack.
 * Initializers keep the tensor names of README "Weights"; linear weights are stored transposed
 * ([in, out], what MatMul wants), and positions are a precomputed sinusoid table sliced to length.
 * Metadata `attention_lens.config` and `attention_lens.tokenizer` let the CLI run the file on text.
 *
 * Planted faults (`ExportFaultOptions.faults`, for the diagnostics' tests and for teaching): each
 * breaks the graph the way a real export goes wrong; none is planted by default, and without faults
 * the file is byte-identical to one exported before faults existed.
 */
import type { onnx } from 'onnx-proto';
import { hasBias, kvHeadsOf, type TransformerConfig } from '../reference/config';
import { rotaryTables } from '../reference/rope';
import { sinusoidalPositions } from '../reference/positions';
import type { WeightSource } from '../reference/weights';
import { ElementType, GraphBuilder } from './builder';
import { type ExportAttention, finishFused, GroupQueryWriter } from './exportGroupQuery';

export const EXPORT_OPSET = 17;
/** Rows of the exported position table: the most tokens the engine ever runs. */
export const EXPORT_MAX_POSITIONS = 8192;
/** Added to blocked scores: exp(-1e9 - max) is exactly 0 in float32, like the reference's skip. */
const BLOCKED_BIAS = -1e9;

import type { ExportFault } from './exportFaults';

export { EXPORT_FAULTS, type ExportFault } from './exportFaults';

export interface ExportFaultOptions {
  /** Bugs to plant (see ExportFault); default none. */
  faults?: readonly ExportFault[];
  /** 'fused' writes decoder self-attention as com.microsoft GroupQueryAttention (exportGroupQuery.ts); default 'plain'. */
  attention?: ExportAttention;
}

export interface ExportMetadata {
  /** JSON of the TransformerConfig. */
  config: string;
  /** JSON: {"type":"bytes"} or {"type":"huggingface","json":<tokenizer.json text>}. */
  tokenizer: string;
  /** Preset name and weight origin, for people reading the file. */
  description: string;
  /** What the export was built from (exportCache.ts's key), recorded so a cached file says what it is. */
  sourceDigest?: string;
}

class Exporter {
  readonly g = new GraphBuilder();
  private readonly d: number;
  private readonly headWidth: number;
  private readonly scalars = new Map<string, string>();
  private readonly faults: ReadonlySet<ExportFault>;
  /** The query projection that `nan-weight` poisons: the first self-attention of the first stack. */
  private readonly poisonedLinear: string;
  private readonly groupQuery: GroupQueryWriter | null;

  constructor(private readonly config: TransformerConfig, private readonly weights: WeightSource, faults: readonly ExportFault[], attention: ExportAttention) {
    this.groupQuery = attention === 'fused' ? new GroupQueryWriter(this, config) : null;
    this.d = config.dModel;
    this.headWidth = config.dModel / config.heads;
    this.faults = new Set(faults);
    this.poisonedLinear = `${config.encoderLayers > 0 ? 'encoder' : 'decoder'}.layers.0.self_attention.query`;
  }

  scalar(value: number): string {
    const key = String(value);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.g.floatTensor(`const_${key.replace(/[^\w]/g, '_')}`, [], [value]);
      this.scalars.set(key, name);
    }
    return name;
  }

  private readonly intConstants = new Map<string, string>();

  /** A 1-D int64 constant, shared by every node that needs the same values. */
  ints(name: string, values: number[]): string {
    const key = values.join(',');
    let tensor = this.intConstants.get(key);
    if (!tensor) {
      tensor = this.g.int64Tensor(name, [values.length], values);
      this.intConstants.set(key, tensor);
    }
    return tensor;
  }

  /** y = x · Wᵀ + b with W [out, in] from the weights, stored transposed as [in, out]; no b when the model has none. */
  linear(x: string, name: string, outFeatures: number, inFeatures: number, bias = true): string {
    const weight = this.weights.tensor(`${name}.weight`, [outFeatures, inFeatures]);
    const transposed = new Float32Array(weight.length);
    for (let o = 0; o < outFeatures; o++) {
      for (let i = 0; i < inFeatures; i++) transposed[i * outFeatures + o] = weight[o * inFeatures + i];
    }
    // Output feature 0 belongs to head 0, so one NaN poisons exactly one head of this block.
    if (this.faults.has('nan-weight') && name === this.poisonedLinear) transposed[0] = Number.NaN;
    const w = this.g.floatTensor(`${name}.weight`, [inFeatures, outFeatures], transposed);
    const product = this.g.op('MatMul', [x, w], `${name}.matmul`);
    if (!bias) return product;
    const b = this.g.floatTensor(`${name}.bias`, [outFeatures], this.weights.tensor(`${name}.bias`, [outFeatures]));
    return this.g.op('Add', [product, b], `${name}.out`);
  }

  /** The model's norm: layer normalization, or RMSNorm (x / √(mean(x²) + ε) · g) in primitive ops. */
  layerNorm(x: string, name: string): string {
    if (this.config.norm === 'rms') {
      const gain = this.g.floatTensor(`${name}.weight`, [this.d], this.weights.tensor(`${name}.weight`, [this.d]));
      const meanSquare = this.g.op('ReduceMean', [this.g.op('Mul', [x, x], `${name}.square`)], `${name}.mean_square`, { axes: [-1], keepdims: 1 });
      const rms = this.g.op('Sqrt', [this.g.op('Add', [meanSquare, this.scalar(this.config.layerNormEpsilon)], `${name}.plus_epsilon`)], `${name}.rms`);
      return this.g.op('Mul', [this.g.op('Div', [x, rms], `${name}.normalized`), gain], `${name}.out`);
    }
    const gain = this.g.floatTensor(`${name}.weight`, [this.d], this.weights.tensor(`${name}.weight`, [this.d]));
    const bias = this.g.floatTensor(`${name}.bias`, [this.d], this.weights.tensor(`${name}.bias`, [this.d]));
    return this.g.op('LayerNormalization', [x, gain, bias], `${name}.out`, { axis: -1, epsilon: this.config.layerNormEpsilon });
  }

  /** Token embedding (× √d when configured) plus the sinusoid table's first T rows (none with rotary positions). */
  embed(ids: string, embeddingTable: string, positionTable: string | null, stream: string): string {
    let embedded = this.g.op('Gather', [embeddingTable, ids], `${stream}.embedding`, { axis: 0 }); // [1, T, d]
    if (this.config.scaleEmbedding) embedded = this.g.op('Mul', [embedded, this.scalar(Math.sqrt(this.d))], `${stream}.embedding_scaled`);
    if (!positionTable) return embedded;
    const length = this.sequenceLength(ids, stream);
    const positions = this.g.op('Slice', [positionTable, this.ints('zero', [0]), length, this.ints('axis0', [0])], `${stream}.positions`); // [T, d]
    return this.g.op('Add', [embedded, positions], `${stream}.embedded`);
  }

  /** [1] int64 holding the length of a [1, T] ids input. */
  sequenceLength(ids: string, stream: string): string {
    const shape = this.g.op('Shape', [ids], `${stream}.shape`);
    return this.g.op('Slice', [shape, this.ints('one', [1]), this.ints('two', [2]), this.ints('axis0', [0])], `${stream}.length`);
  }

  /**
   * [T, T] additive causal bias: 0 where key <= query, -1e9 above the diagonal (key <= query + 1 with
   * `causal-off-by-one`), and with a sliding window W also where key <= query − W.
   */
  causalBias(ids: string, stream: string): string {
    const range = this.streamPositions(ids, stream);
    const rows = this.g.op('Unsqueeze', [range, this.ints('axis1', [1])], `${stream}.query_positions`); // [T, 1]
    const cols = this.g.op('Unsqueeze', [range, this.ints('axis0', [0])], `${stream}.key_positions`); // [1, T]
    // The planted off-by-one compares against query + 1, the classic `>=` vs `>` slip.
    const limit = this.faults.has('causal-off-by-one')
      ? this.g.op('Add', [rows, this.g.int64Tensor('causal_shift', [], [1])], `${stream}.query_positions_plus_one`)
      : rows;
    let blocked = this.g.op('Greater', [cols, limit], `${stream}.future`); // [T, T] bool
    const window = this.config.slidingWindow;
    if (window !== undefined) {
      const oldest = this.g.op('Sub', [rows, this.g.int64Tensor('window_reach', [], [window - 1])], `${stream}.window_start`);
      const tooOld = this.g.op('Less', [cols, oldest], `${stream}.before_window`);
      blocked = this.g.op('Or', [blocked, tooOld], `${stream}.blocked`);
    }
    return this.g.op('Where', [blocked, this.scalar(BLOCKED_BIAS), this.scalar(0)], `${stream}.causal_bias`);
  }

  /** [1, 1, 1, S] additive padding bias from attention_mask [1, S]: -1e9 where the mask is 0. */
  paddingBias(mask: string): string {
    const asFloat = this.g.op('Cast', [mask], 'attention_mask.float', { to: ElementType.FLOAT });
    const inverted = this.g.op('Sub', [this.scalar(1), asFloat], 'attention_mask.inverted');
    const bias = this.g.op('Mul', [inverted, this.scalar(BLOCKED_BIAS)], 'attention_mask.bias');
    return this.g.op('Unsqueeze', [bias, this.ints('axes12', [1, 2])], 'attention_mask.bias4d');
  }

  /** Position ids [T] of each stream: one Range, shared by the causal bias and the rotary positions. */
  private readonly positionsOf = new Map<string, string>();

  streamPositions(ids: string, stream: string): string {
    let range = this.positionsOf.get(stream);
    if (!range) {
      const length = this.g.op('Squeeze', [this.sequenceLength(ids, stream), this.ints('axis0', [0])], `${stream}.length_scalar`);
      range = this.g.op('Range', [this.g.int64Tensor('range_start', [], [0]), length, this.g.int64Tensor('range_step', [], [1])], `${stream}.range`);
      this.positionsOf.set(stream, range);
    }
    return range;
  }
  private rotary: { cos: string; sin: string } | null = null;

  /** The rotary tables [EXPORT_MAX_POSITIONS, d_k/2] as constants, made once. */
  rotaryTables(): { cos: string; sin: string } {
    if (!this.rotary) {
      const tables = rotaryTables(EXPORT_MAX_POSITIONS, this.headWidth, this.config.ropeTheta ?? 1e4);
      this.rotary = {
        cos: this.g.floatTensor('rope.cos', [EXPORT_MAX_POSITIONS, this.headWidth / 2], Float32Array.from(tables.cos)),
        sin: this.g.floatTensor('rope.sin', [EXPORT_MAX_POSITIONS, this.headWidth / 2], Float32Array.from(tables.sin)),
      };
    }
    return this.rotary;
  }

  /** Rotates x [1, heads, T, d_k] by its positions (rope.ts's halves convention). */
  rotate(x: string, positions: string, name: string): string {
    const half = this.headWidth / 2;
    const { cos: cosTable, sin: sinTable } = this.rotaryTables();
    const cos = this.g.op('Gather', [cosTable, positions], `${name}.cos`, { axis: 0 }); // [T, d_k/2]
    const sin = this.g.op('Gather', [sinTable, positions], `${name}.sin`, { axis: 0 });
    const axis = this.ints('axis_last', [-1]);
    const first = this.g.op('Slice', [x, this.ints('zero', [0]), this.ints('half_width', [half]), axis], `${name}.x1`);
    const second = this.g.op('Slice', [x, this.ints('half_width', [half]), this.ints('head_width', [this.headWidth]), axis], `${name}.x2`);
    const out1 = this.g.op('Sub', [this.g.op('Mul', [first, cos], `${name}.x1_cos`), this.g.op('Mul', [second, sin], `${name}.x2_sin`)], `${name}.out1`);
    const out2 = this.g.op('Add', [this.g.op('Mul', [second, cos], `${name}.x2_cos`), this.g.op('Mul', [first, sin], `${name}.x1_sin`)], `${name}.out2`);
    return this.g.op('Concat', [out1, out2], `${name}.rotated`, { axis: -1 });
  }

  /**
   * Multi-head attention, per head softmax(Q·Kᵀ/√d_k + bias)·V, then W_O. With grouped-query
   * attention, the kvHeads key/value heads are repeated to one per query head first (what Hugging
   * Face's repeat_kv does), so the product and the Softmax are the plain ones.
   */
  attention(queryInput: string, keyValueInput: string, name: string, bias: string | null, positions: string | null = null): string {
    const heads = this.config.heads;
    const kvHeads = kvHeadsOf(this.config);
    const kvWidth = kvHeads * this.headWidth;
    const toHeads = (x: string, part: 'query' | 'key' | 'value', count: number, width: number, permutation = [0, 2, 1, 3]): string => {
      const projected = this.linear(x, `${name}.${part}`, width, this.d, hasBias(this.config, part));
      const reshaped = this.g.op('Reshape', [projected, this.ints(`heads_shape_${count}`, [0, -1, count, this.headWidth])], `${name}.${part}.heads`);
      return this.g.op('Transpose', [reshaped], `${name}.${part}.transposed`, { perm: permutation });
    };
    let q = toHeads(queryInput, 'query', heads, this.d); // [1, H, T, d_k]
    let v = toHeads(keyValueInput, 'value', kvHeads, kvWidth); // [1, kvH, S, d_k]
    let kT: string;
    if (!positions && kvHeads === heads) {
      kT = toHeads(keyValueInput, 'key', heads, this.d, [0, 2, 3, 1]); // [1, H, d_k, S]: the paper's graph, as exported before
    } else {
      let k = toHeads(keyValueInput, 'key', kvHeads, kvWidth); // [1, kvH, S, d_k]
      if (positions) {
        q = this.rotate(q, positions, `${name}.query.rope`);
        k = this.rotate(k, positions, `${name}.key.rope`);
      }
      if (kvHeads < heads) {
        k = this.repeatHeads(k, kvHeads, heads / kvHeads, `${name}.key`);
        v = this.repeatHeads(v, kvHeads, heads / kvHeads, `${name}.value`);
      }
      kT = this.g.op('Transpose', [k], `${name}.key.for_scores`, { perm: [0, 1, 3, 2] }); // [1, H, d_k, S]
    }
    const scores = this.g.op('MatMul', [q, kT], `${name}.scores`); // [1, H, T, S]
    let scaled = this.faults.has('missing-scale') ? scores : this.g.op('Div', [scores, this.scalar(Math.sqrt(this.headWidth))], `${name}.scaled`);
    if (bias) scaled = this.g.op('Add', [scaled, bias], `${name}.masked`);
    const probs = this.g.op('Softmax', [scaled], `${name}.probs`, { axis: this.faults.has('softmax-wrong-axis') ? -2 : -1 });
    const context = this.g.op('MatMul', [probs, v], `${name}.context`); // [1, H, T, d_k]
    const merged = this.g.op('Transpose', [context], `${name}.context.transposed`, { perm: [0, 2, 1, 3] });
    const concatenated = this.g.op('Reshape', [merged, this.ints('merge_shape', [0, -1, this.d])], `${name}.concat`);
    return this.linear(concatenated, `${name}.output`, this.d, this.d, hasBias(this.config, 'output'));
  }

  /** [1, kvHeads, S, d_k] → [1, kvHeads·group, S, d_k], each key/value head repeated `group` times in a row. */
  repeatHeads(x: string, kvHeads: number, group: number, name: string): string {
    const widened = this.g.op('Unsqueeze', [x, this.ints('axis2', [2])], `${name}.grouped`); // [1, kvH, 1, S, d_k]
    const shape = this.g.op('Shape', [x], `${name}.shape`);
    const length = this.g.op('Slice', [shape, this.ints('two', [2]), this.ints('three', [3]), this.ints('axis0', [0])], `${name}.length`);
    const target = this.g.op('Concat', [this.ints('one', [1]), this.ints(`kv_group_${kvHeads}_${group}`, [kvHeads, group]), length, this.ints('head_width', [this.headWidth])], `${name}.expand_shape`, { axis: 0 });
    const expanded = this.g.op('Expand', [widened, target], `${name}.expanded`);
    return this.g.op('Reshape', [expanded, this.ints(`heads_4d_${kvHeads * group}`, [1, kvHeads * group, -1, this.headWidth])], `${name}.repeated`);
  }

  feedForward(x: string, name: string): string {
    const bias = hasBias(this.config, 'feed-forward');
    if (this.config.feedForward === 'swiglu') {
      const gate = this.linear(x, `${name}.gate`, this.config.dFF, this.d, bias);
      const up = this.linear(x, `${name}.up`, this.config.dFF, this.d, bias);
      const silu = this.g.op('Mul', [gate, this.g.op('Sigmoid', [gate], `${name}.gate.sigmoid`)], `${name}.silu`);
      return this.linear(this.g.op('Mul', [silu, up], `${name}.gated`), `${name}.down`, this.d, this.config.dFF, bias);
    }
    const hidden = this.linear(x, `${name}.fc1`, this.config.dFF, this.d, bias);
    const activated = this.config.activation === 'relu' ? this.g.op('Relu', [hidden], `${name}.relu`) : this.gelu(hidden, name);
    return this.linear(activated, `${name}.fc2`, this.d, this.config.dFF, bias);
  }

  /** GELU, tanh form (opset 17 has no Gelu op): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  gelu(x: string, name: string): string {
    const cube = this.g.op('Mul', [this.g.op('Mul', [x, x], `${name}.x2`), x], `${name}.x3`);
    const inner = this.g.op('Add', [x, this.g.op('Mul', [cube, this.scalar(0.044715)], `${name}.cubic`)], `${name}.inner`);
    const tanh = this.g.op('Tanh', [this.g.op('Mul', [inner, this.scalar(Math.sqrt(2 / Math.PI))], `${name}.scaled_inner`)], `${name}.tanh`);
    const onePlus = this.g.op('Add', [tanh, this.scalar(1)], `${name}.one_plus`);
    return this.g.op('Mul', [this.g.op('Mul', [x, this.scalar(0.5)], `${name}.half`), onePlus], `${name}.gelu`);
  }

  /** Residual + layer norm around a sub-layer, post-LN or pre-LN as configured. */
  sublayer(x: string, normName: string, body: (input: string) => string, name: string): string {
    if (this.config.normPlacement === 'pre') {
      return this.g.op('Add', [x, body(this.layerNorm(x, normName))], `${name}.residual`);
    }
    const sum = this.g.op('Add', [x, body(x)], `${name}.residual`);
    return this.layerNorm(sum, normName);
  }

  stack(x: string, stack: 'encoder' | 'decoder', selfBias: string | null, memory: { output: string; bias: string | null } | null): string {
    const layers = stack === 'encoder' ? this.config.encoderLayers : this.config.decoderLayers;
    let stream = x;
    for (let i = 0; i < layers; i++) {
      const prefix = `${stack}.layers.${i}`;
      const positions = this.config.positions === 'rope' ? this.positionsOf.get(stack) ?? null : null; // made by build()
      const fused = stack === 'decoder' ? this.groupQuery : null;
      stream = this.sublayer(stream, `${prefix}.norm_self_attention`, (input) => fused?.attention(input, `${prefix}.self_attention`) ?? this.attention(input, input, `${prefix}.self_attention`, selfBias, positions), `${prefix}.self_attention`);
      if (memory) {
        stream = this.sublayer(stream, `${prefix}.norm_cross_attention`, (input) => this.attention(input, memory.output, `${prefix}.cross_attention`, memory.bias), `${prefix}.cross_attention`);
      }
      stream = this.sublayer(stream, `${prefix}.norm_feed_forward`, (input) => this.feedForward(input, `${prefix}.feed_forward`), `${prefix}.feed_forward`);
    }
    return this.config.normPlacement === 'pre' ? this.layerNorm(stream, `${stack}.final_norm`) : stream;
  }

  build(metadata: ExportMetadata): onnx.ModelProto {
    const { config, g } = this;
    const vocab = config.vocabSize;
    const embedding = g.floatTensor('embedding.weight', [vocab, this.d], this.weights.tensor('embedding.weight', [vocab, this.d]));
    const positions = config.positions === 'rope' ? null : g.floatTensor('positions.sinusoid', [EXPORT_MAX_POSITIONS, this.d], sinusoidalPositions(EXPORT_MAX_POSITIONS, this.d).data);
    const hasEncoder = config.encoderLayers > 0;
    const hasDecoder = config.decoderLayers > 0;
    const firstIds = g.input('input_ids', ElementType.INT64, [1, 'sequence']);
    if (config.positions === 'rope') this.streamPositions(firstIds, hasEncoder ? 'encoder' : 'decoder');
    let hidden: string;
    let length: string;
    if (hasEncoder) {
      const mask = g.input('attention_mask', ElementType.INT64, [1, 'sequence']);
      const padding = this.paddingBias(mask);
      const encoded = this.stack(this.embed(firstIds, embedding, positions, 'encoder'), 'encoder', padding, null);
      if (hasDecoder) {
        const decoderIds = g.input('decoder_input_ids', ElementType.INT64, [1, 'decoder_sequence']);
        if (config.positions === 'rope') this.streamPositions(decoderIds, 'decoder');
        hidden = this.stack(this.embed(decoderIds, embedding, positions, 'decoder'), 'decoder', this.causalBias(decoderIds, 'decoder'), { output: encoded, bias: padding });
        length = 'decoder_sequence';
      } else {
        hidden = encoded;
        length = 'sequence';
      }
    } else {
      hidden = this.stack(this.embed(firstIds, embedding, positions, 'decoder'), 'decoder', this.causalBias(firstIds, 'decoder'), null);
      length = 'sequence';
    }
    // LM head tied to the embedding: Gemm with transB reads the [vocab, d] table without a copy.
    const flat = g.op('Reshape', [hidden, this.ints('flat_shape', [-1, this.d])], 'lm_head.input');
    const flatLogits = g.op('Gemm', [flat, embedding], 'lm_head.logits', { transB: 1 });
    g.node('Unsqueeze', [flatLogits, this.ints('axis0', [0])], 'logits');
    g.output('logits', ElementType.FLOAT, [1, length, vocab]);
    return g.build({
      graphName: 'attention_lens_builtin',
      opset: EXPORT_OPSET,
      producer: 'attention-lens',
      docString: metadata.description,
      metadata: {
        'attention_lens.config': metadata.config,
        'attention_lens.tokenizer': metadata.tokenizer,
        'attention_lens.description': metadata.description,
        ...(metadata.sourceDigest ? { 'attention_lens.source_digest': metadata.sourceDigest } : {}),
      },
    });
  }
}

/** The model as ONNX; `options.faults` plants deliberate bugs (see ExportFault), none by default; `options.attention` picks plain or fused attention. */
export function exportTransformer(config: TransformerConfig, weights: WeightSource, metadata: ExportMetadata, options: ExportFaultOptions = {}): onnx.ModelProto {
  const attention = options.attention ?? 'plain';
  const model = new Exporter(config, weights, options.faults ?? [], attention).build(metadata);
  return attention === 'fused' ? finishFused(model) : model;
}
