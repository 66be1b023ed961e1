/**
 * Small decoder-only Transformers whose weight products are quantized the ways real exports are, for
 * test/unit/quantizedModels.test.ts. The attention itself (Q·Kᵀ, Softmax, ·V) stays float, as every
 * quantizer leaves it (onnxruntime.quantization.quantize_dynamic quantizes only MatMuls by a constant).
 *
 * Token and learned position embeddings (64 positions), then each layer: LayerNormalization → Q, K, V projections (+ bias) → heads → Q·Kᵀ / √d → + causal bias →
 * Softmax → ·V → output projection → residual; LayerNormalization → fc1 → Relu → fc2 → residual. A
 * final LayerNormalization and an LM head projection give `logits`. Every projection is written as:
 *   - 'float': MatMul by a float initializer;
 *   - 'dynamic-int8' (what quantize_dynamic writes): x → DynamicQuantizeLinear (one per activation,
 *     shared by the projections that read it) → MatMulInteger(x_q, W_q int8, x_zero_point, W_zero_point)
 *     → Cast(float) → Mul(x_scale · W_scale); per tensor, or per output column with `perChannel`;
 *   - 'int4' (what the onnxruntime-genai builder writes, MatMul4BitsQuantizer): com.microsoft
 *     MatMulNBits(x, B, scales[, zero_points]) with K, N, bits = 4, block_size; asymmetric (packed uint8
 *     zero points) or symmetric (no zero_points input: the kernel's default 8); genai's packed QKV
 *     (one projection to [Q | K | V], then Split; with GroupQueryAttention the packed tensor is its query)
 *     with `packedQkv`;
 *   - 'qdq' (static QDQ): QuantizeLinear → DequantizeLinear on the activation, DequantizeLinear of an
 *     int8 weight, then a float MatMul.
 *
 * MatMulNBits packing, per onnxruntime's ContribOperators.md (and its CPU/WASM kernel): W is [N, K]
 * (the transposed [K, N] MatMul weight); K is cut in k_blocks = ⌈K / block_size⌉ blocks; B is uint8
 * [N, k_blocks, block_size · 4 / 8], two 4-bit codes a byte, the lower k in the low nibble; scales are
 * [N · k_blocks]; zero_points are uint8 [N · ⌈k_blocks · 4 / 8⌉], two a byte in the same order, each
 * row padded to a whole byte; W[n, k] = (code − zero_point) · scale of k's block.
 *
 * `dequantized` is the same model with each quantized weight replaced by the float weight it stands
 * for (activations unquantized): for 'int4' it must give the same logits, which checks the packing.
 */
import { onnx } from 'onnx-proto';
import { ElemType, type ModelProto } from '../../src/engine/onnx/model';

export type Projection = 'float' | 'dynamic-int8' | 'int4' | 'qdq';

export interface QuantizedDecoderOptions {
  projection: Projection;
  /** dynamic-int8: one scale and zero point per output column (quantize_dynamic's per_channel). */
  perChannel?: boolean;
  /** int4: no zero_points input (symmetric, the kernel's default zero point 8). */
  symmetric?: boolean;
  /** int4: one MatMulNBits to [Q | K | V], then Split (with GroupQueryAttention: the packed tensor is its query). */
  packedQkv?: boolean;
  /**
   * 'group-query': each attention is one com.microsoft GroupQueryAttention (kv_num_heads = heads / 2,
   * no rotary), as the genai builder writes it around its MatMulNBits projections; default 'softmax'.
   */
  attention?: 'softmax' | 'group-query';
  /** Q, K and V projections without biases (Llama, Mistral); default with. */
  noQkvBias?: boolean;
  /** No 1/√d on the scores (a model that forgot it: the tapper must say so). */
  unscaled?: boolean;
  /** int4 block size (a power of 2, at least 16); default 16. */
  blockSize?: number;
  layers?: number;
  heads?: number;
  dModel?: number;
  dFF?: number;
  vocab?: number;
  seed?: number;
}

export interface QuantizedDecoder {
  model: ModelProto;
  /** The same model computed with float weights (each quantized weight dequantized). */
  dequantized: ModelProto;
  heads: number;
  layers: number;
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32) * 2 - 1;
  };
}

function tensor(name: string, dataType: number, dims: number[], data: Float32Array | Int8Array | Int32Array | Uint8Array | BigInt64Array): onnx.TensorProto {
  return new onnx.TensorProto({ name, dataType, dims, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
}

function attributes(values: Record<string, number | number[]>): onnx.IAttributeProto[] {
  const Type = onnx.AttributeProto.AttributeType;
  return Object.entries(values).map(([name, value]) =>
    Array.isArray(value) ? { name, type: Type.INTS, ints: value } : Number.isInteger(value) ? { name, type: Type.INT, i: value } : { name, type: Type.FLOAT, f: value },
  );
}

/** Two graphs written side by side: the quantized one and its float twin share every node but the projections. */
class Graphs {
  readonly quantized: onnx.INodeProto[] = [];
  readonly float: onnx.INodeProto[] = [];
  readonly quantizedWeights: onnx.TensorProto[] = [];
  readonly floatWeights: onnx.TensorProto[] = [];
  private count = 0;

  name(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  /** A node in both graphs (or one, with `only`); returns its outputs. */
  node(op: string, inputs: string[], outputCount: number | string[] = 1, attrs: Record<string, number | number[]> = {}, only?: 'quantized' | 'float', domain = ''): string[] {
    const outputs = Array.isArray(outputCount) ? outputCount : Array.from({ length: outputCount }, () => this.name(op.toLowerCase()));
    const node = { opType: op, domain, name: this.name(`${op}_node`), input: inputs, output: outputs, attribute: attributes(attrs) };
    if (only !== 'float') this.quantized.push(node);
    if (only !== 'quantized') this.float.push(node);
    return outputs;
  }

  op(op: string, inputs: string[], attrs: Record<string, number | number[]> = {}): string {
    return this.node(op, inputs, 1, attrs)[0];
  }

  /** An initializer in both graphs (or one). */
  weight(hint: string, dataType: number, dims: number[], data: Float32Array | Int8Array | Int32Array | Uint8Array | BigInt64Array, only?: 'quantized' | 'float'): string {
    const name = this.name(hint);
    if (only !== 'float') this.quantizedWeights.push(tensor(name, dataType, dims, data));
    if (only !== 'quantized') this.floatWeights.push(tensor(name, dataType, dims, data));
    return name;
  }

  floats(hint: string, dims: number[], values: ArrayLike<number>): string {
    return this.weight(hint, ElemType.FLOAT, dims, Float32Array.from(values));
  }

  ints(values: number[]): string {
    return this.weight('shape', ElemType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)));
  }
}

/** Symmetric int8 of w [K, N] (row-major, N columns), per tensor or per output column: codes, and the scale of each column. */
function quantizeInt8(w: Float32Array, n: number, perChannel: boolean): { codes: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(perChannel ? n : 1);
  for (let i = 0; i < w.length; i++) {
    const slot = perChannel ? i % n : 0;
    scales[slot] = Math.max(scales[slot], Math.abs(w[i]) / 127);
  }
  const codes = Int8Array.from(w, (value, i) => Math.max(-127, Math.min(127, Math.round(value / scales[perChannel ? i % n : 0]))));
  return { codes, scales };
}

/** MatMulNBits' int4 form of w [K, N] (see the file comment), and the float weights it stands for. */
export function packInt4(w: Float32Array, k: number, n: number, blockSize: number, symmetric: boolean): { b: Uint8Array; scales: Float32Array; zeroPoints: Uint8Array | null; dequantized: Float32Array } {
  const blocks = Math.ceil(k / blockSize);
  const blob = blockSize / 2;
  const b = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroBytes = Math.ceil(blocks / 2);
  const zeroPoints = symmetric ? null : new Uint8Array(n * zeroBytes);
  const dequantized = new Float32Array(k * n);
  for (let column = 0; column < n; column++) {
    for (let block = 0; block < blocks; block++) {
      const first = block * blockSize;
      const last = Math.min(k, first + blockSize);
      let low = 0;
      let high = 0;
      for (let row = first; row < last; row++) {
        low = Math.min(low, w[row * n + column]);
        high = Math.max(high, w[row * n + column]);
      }
      const scale = symmetric ? Math.fround(Math.max(-low, high) / 7 || 1) : Math.fround((high - low) / 15 || 1);
      const zero = symmetric ? 8 : Math.max(0, Math.min(15, Math.round(-low / scale)));
      scales[column * blocks + block] = scale;
      if (zeroPoints) zeroPoints[column * zeroBytes + (block >> 1)] |= zero << ((block & 1) * 4);
      for (let row = first; row < first + blockSize; row++) {
        // Rows past K (the last block's padding) hold the zero point: they stand for 0.
        const code = row < last ? Math.max(0, Math.min(15, Math.round(w[row * n + column] / scale) + zero)) : zero;
        const offset = row - first;
        b[(column * blocks + block) * blob + (offset >> 1)] |= code << ((offset & 1) * 4);
        if (row < last) dequantized[row * n + column] = Math.fround((code - zero) * scale);
      }
    }
  }
  return { b, scales, zeroPoints, dequantized };
}

class DecoderWriter {
  readonly g = new Graphs();
  private readonly next: () => number;
  /** DynamicQuantizeLinear outputs per activation, shared as quantize_dynamic shares them. */
  private readonly dynamic = new Map<string, string[]>();
  private lengths: { seqlens: string; total: string } | null = null;

  constructor(private readonly options: QuantizedDecoderOptions) {
    this.next = random(options.seed ?? 5);
  }

  values(count: number, scale: number): Float32Array {
    return Float32Array.from({ length: count }, () => this.next() * scale);
  }

  /** x [.., K] · W [K, N] (+ bias), written the way `options.projection` says. */
  project(x: string, k: number, n: number, bias = true): string {
    const w = this.values(k * n, 1 / Math.sqrt(k));
    const { g } = this;
    // The quantized product and its float twin get one name, so the nodes after them are shared.
    const product = g.name('product');
    const floatTwin = (weights: Float32Array): void => {
      g.node('MatMul', [x, g.weight('w', ElemType.FLOAT, [k, n], weights, 'float')], [product], {}, 'float');
    };
    switch (this.options.projection) {
      case 'float':
        g.node('MatMul', [x, g.floats('w', [k, n], w)], [product]);
        break;
      case 'dynamic-int8': {
        const perChannel = this.options.perChannel ?? false;
        const { codes, scales } = quantizeInt8(w, n, perChannel);
        let quantizedX = this.dynamic.get(x);
        if (!quantizedX) {
          quantizedX = g.node('DynamicQuantizeLinear', [x], 3, {}, 'quantized');
          this.dynamic.set(x, quantizedX);
        }
        const [xq, xScale, xZero] = quantizedX;
        const wq = g.weight('w_quantized', ElemType.INT8, [k, n], codes, 'quantized');
        const wScale = g.weight('w_scale', ElemType.FLOAT, perChannel ? [n] : [], scales, 'quantized');
        const wZero = g.weight('w_zero_point', ElemType.INT8, perChannel ? [n] : [], new Int8Array(perChannel ? n : 1), 'quantized');
        const integer = g.node('MatMulInteger', [xq, wq, xZero, wZero], 1, {}, 'quantized')[0];
        const cast = g.node('Cast', [integer], 1, { to: ElemType.FLOAT }, 'quantized')[0];
        const scale = g.node('Mul', [xScale, wScale], 1, {}, 'quantized')[0];
        g.node('Mul', [cast, scale], [product], {}, 'quantized');
        floatTwin(Float32Array.from(codes, (code, i) => code * scales[perChannel ? i % n : 0]));
        break;
      }
      case 'int4': {
        const blockSize = this.options.blockSize ?? 16;
        const packed = packInt4(w, k, n, blockSize, this.options.symmetric ?? false);
        const blocks = Math.ceil(k / blockSize);
        const inputs = [x, g.weight('b', ElemType.UINT8, [n, blocks, blockSize / 2], packed.b, 'quantized'), g.weight('scales', ElemType.FLOAT, [n * blocks], packed.scales, 'quantized')];
        if (packed.zeroPoints) inputs.push(g.weight('zero_points', ElemType.UINT8, [packed.zeroPoints.length], packed.zeroPoints, 'quantized'));
        g.node('MatMulNBits', inputs, [product], { K: k, N: n, bits: 4, block_size: blockSize }, 'quantized', 'com.microsoft');
        floatTwin(packed.dequantized);
        break;
      }
      case 'qdq': {
        const { codes, scales } = quantizeInt8(w, n, false);
        const activationScale = g.weight('x_scale', ElemType.FLOAT, [], Float32Array.of(0.02), 'quantized');
        const activationZero = g.weight('x_zero_point', ElemType.UINT8, [], Uint8Array.of(128), 'quantized');
        const xq = g.node('QuantizeLinear', [x, activationScale, activationZero], 1, {}, 'quantized')[0];
        const xdq = g.node('DequantizeLinear', [xq, activationScale, activationZero], 1, {}, 'quantized')[0];
        const wq = g.weight('w_quantized', ElemType.INT8, [k, n], codes, 'quantized');
        const wdq = g.node('DequantizeLinear', [wq, g.weight('w_scale', ElemType.FLOAT, [], scales, 'quantized'), g.weight('w_zero_point', ElemType.INT8, [], new Int8Array(1), 'quantized')], 1, {}, 'quantized')[0];
        g.node('MatMul', [xdq, wdq], [product], {}, 'quantized');
        floatTwin(Float32Array.from(codes, (code) => code * scales[0]));
        break;
      }
    }
    return bias ? g.op('Add', [product, g.floats('bias', [n], this.values(n, 0.1))]) : product;
  }

  layerNorm(x: string, d: number): string {
    return this.g.op('LayerNormalization', [x, this.g.floats('gamma', [d], this.values(d, 0.2).map((v) => 1 + v)), this.g.floats('beta', [d], this.values(d, 0.1))], { axis: -1, epsilon: 1e-5 });
  }

  /** [1, S, H·D] → [1, H, S, D]. */
  heads(x: string, heads: number, width: number): string {
    return this.g.op('Transpose', [this.g.op('Reshape', [x, this.g.ints([0, 0, heads, width])])], { perm: [0, 2, 1, 3] });
  }

  attention(x: string, d: number, heads: number, causalBias: string): string {
    const { g } = this;
    const width = d / heads;
    let q: string;
    let k: string;
    let v: string;
    const grouped = this.options.attention === 'group-query';
    const kvWidth = grouped ? d / 2 : d;
    if (this.options.packedQkv && grouped) {
      // The genai builder hands the packed [Q | K | V] to GroupQueryAttention as its query, key and value absent.
      [q, k, v] = [this.project(x, d, d + 2 * kvWidth), '', ''];
    } else if (this.options.packedQkv) {
      [q, k, v] = g.node('Split', [this.project(x, d, 3 * d), g.ints([d, d, d])], 3, { axis: -1 });
    } else {
      const bias = !this.options.noQkvBias;
      [q, k, v] = [this.project(x, d, d, bias), this.project(x, d, kvWidth, bias), this.project(x, d, kvWidth, bias)];
    }
    if (grouped) {
      const { seqlens, total } = this.lengths as { seqlens: string; total: string };
      const context = g.node('GroupQueryAttention', [q, k, v, '', '', seqlens, total], 3, { num_heads: heads, kv_num_heads: heads / 2 }, undefined, 'com.microsoft')[0];
      return this.project(context, d, d);
    }
    const keysT = g.op('Transpose', [this.heads(k, heads, width)], { perm: [0, 1, 3, 2] });
    const product = g.op('MatMul', [this.heads(q, heads, width), keysT]);
    const scores = this.options.unscaled ? product : g.op('Div', [product, g.floats('sqrt_d', [], [Math.sqrt(width)])]);
    const probs = g.op('Softmax', [g.op('Add', [scores, causalBias])], { axis: -1 });
    const context = g.op('Transpose', [g.op('MatMul', [probs, this.heads(v, heads, width)])], { perm: [0, 2, 1, 3] });
    return this.project(g.op('Reshape', [context, g.ints([0, 0, d])]), d, d);
  }

  /** Positions 0..S−1 of the ids [1, S]. */
  positions(ids: string): string {
    const { g } = this;
    const length = g.op('Gather', [g.op('Shape', [ids]), g.weight('one', ElemType.INT64, [], BigInt64Array.of(1n))], { axis: 0 });
    return g.op('Range', [g.weight('zero', ElemType.INT64, [], BigInt64Array.of(0n)), length, g.weight('step', ElemType.INT64, [], BigInt64Array.of(1n))]);
  }

  /** [S, S] additive causal bias: 0 on and below the diagonal, −1e9 above. */
  causalBias(range: string): string {
    const { g } = this;
    const future = g.op('Greater', [g.op('Unsqueeze', [range, g.ints([0])]), g.op('Unsqueeze', [range, g.ints([1])])]);
    return g.op('Where', [future, g.floats('blocked', [], [-1e9]), g.floats('open', [], [0])]);
  }

  build(): QuantizedDecoder {
    const { options, g } = this;
    const d = options.dModel ?? 32;
    const heads = options.heads ?? 4;
    const dFF = options.dFF ?? 48;
    const vocab = options.vocab ?? 40;
    const layers = options.layers ?? 2;
    const ids = 'input_ids';
    const positions = this.positions(ids);
    const tokens = g.op('Gather', [g.floats('embedding', [vocab, d], this.values(vocab * d, 1)), ids], { axis: 0 });
    let x = g.op('Add', [tokens, g.op('Gather', [g.floats('positions', [64, d], this.values(64 * d, 0.5)), positions], { axis: 0 })]);
    const bias = options.attention === 'group-query' ? '' : this.causalBias(positions);
    if (options.attention === 'group-query') {
      // seqlens_k = S − 1 [1] and total_sequence_length = S, int32, from the ids (the genai builder reads attention_mask).
      const total = g.op('Cast', [g.op('Gather', [g.op('Shape', [ids]), g.weight('axis', ElemType.INT64, [], BigInt64Array.of(1n))], { axis: 0 })], { to: ElemType.INT32 });
      const last = g.op('Sub', [total, g.weight('one32', ElemType.INT32, [], Int32Array.of(1))]);
      this.lengths = { seqlens: g.op('Unsqueeze', [last, g.ints([0])]), total };
    }
    for (let layer = 0; layer < layers; layer++) {
      x = g.op('Add', [x, this.attention(this.layerNorm(x, d), d, heads, bias)]);
      const hidden = g.op('Relu', [this.project(this.layerNorm(x, d), d, dFF)]);
      x = g.op('Add', [x, this.project(hidden, dFF, d)]);
    }
    const logits = this.project(this.layerNorm(x, d), d, vocab, false);
    const model = (nodes: onnx.INodeProto[], initializer: onnx.TensorProto[], contrib: boolean): ModelProto =>
      onnx.ModelProto.decode(onnx.ModelProto.encode({
        irVersion: 8,
        producerName: 'attention-lens-tests',
        opsetImport: [{ domain: '', version: 17 }, ...(contrib ? [{ domain: 'com.microsoft', version: 1 }] : [])],
        graph: {
          name: `decoder_${options.projection}`,
          node: nodes,
          initializer,
          input: [{ name: ids, type: { tensorType: { elemType: ElemType.INT64, shape: { dim: [{ dimValue: 1 }, { dimParam: 'sequence' }] } } } }],
          output: [{ name: logits, type: { tensorType: { elemType: ElemType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimParam: 'sequence' }, { dimValue: vocab }] } } } }],
        },
      }).finish());
    const grouped = options.attention === 'group-query';
    return { model: model(g.quantized, g.quantizedWeights, grouped || options.projection === 'int4'), dequantized: model(g.float, g.floatWeights, grouped), heads, layers };
  }
}

/** A small decoder whose projections are quantized as `options.projection` says (see the file comment). */
export function quantizedDecoder(options: QuantizedDecoderOptions): QuantizedDecoder {
  return new DecoderWriter(options).build();
}
