/**
 * A second, deliberately plain implementation of the Transformer forward pass, used only as an
 * oracle in tests: float64 numbers, nested arrays, triple loops, written straight from the paper's
 * equations and reading the same named weights. It shares no code with src/engine/reference.
 * The later refinements (RMSNorm, rotary positions, SwiGLU, grouped-query attention, a sliding
 * window) are written from their papers' formulas too.
 */
import type { TransformerConfig } from '../../src/engine/reference/config';
import type { WeightSource } from '../../src/engine/reference/weights';

type Vector = number[];
type Mat = number[][];

export interface NaiveBlock {
  kind: 'encoder-self' | 'decoder-self' | 'cross';
  layer: number;
  /** [head][query][key] */
  probs: number[][][];
}

export interface NaiveResult {
  blocks: NaiveBlock[];
  /** One entry per residual step, in the order the trace records them: per-token L2 norms. */
  residualNorms: number[][];
  encoderOutput: Mat | null;
  decoderOutput: Mat | null;
}

function tensor(weights: WeightSource, name: string, shape: number[]): Float32Array {
  return weights.tensor(name, shape);
}

function matrixOf(values: Float32Array, rows: number, cols: number): Mat {
  return Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * cols, (r + 1) * cols)));
}

/** y = x W^T + b with W stored [out][in]. */
function affine(x: Mat, weight: Mat, bias: Vector): Mat {
  return x.map((row) => weight.map((wRow, o) => wRow.reduce((sum, w, i) => sum + w * row[i], bias[o])));
}

function layerNorm(x: Mat, gain: Vector, bias: Vector, epsilon: number): Mat {
  return x.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + epsilon)) * gain[i] + bias[i]);
  });
}

function norms(x: Mat): number[] {
  return x.map((row) => Math.sqrt(row.reduce((a, b) => a + b * b, 0)));
}

function plus(a: Mat, b: Mat): Mat {
  return a.map((row, r) => row.map((v, c) => v + b[r][c]));
}

export function naiveForward(
  config: TransformerConfig,
  weights: WeightSource,
  input: { encoderIds?: number[]; encoderPadding?: boolean[]; decoderIds?: number[] },
): NaiveResult {
  const d = config.dModel;
  const dk = d / config.heads;
  const blocks: NaiveBlock[] = [];
  const residualNorms: number[][] = [];
  const embeddingTable = tensor(weights, 'embedding.weight', [config.vocabSize, d]);
  const biasOf = (part: string): boolean => {
    const bias = config.projectionBias ?? 'all';
    return bias === 'all' || (bias === 'qkv' && ['query', 'key', 'value'].includes(part));
  };
  const linearOf = (name: string, out: number, inn: number, bias = true) => ({
    w: matrixOf(tensor(weights, `${name}.weight`, [out, inn]), out, inn),
    b: bias ? Array.from(tensor(weights, `${name}.bias`, [out])) : new Array<number>(out).fill(0),
  });
  const rms = config.norm === 'rms';
  const normOf = (name: string) => ({
    g: Array.from(tensor(weights, `${name}.weight`, [d])),
    b: rms ? new Array<number>(d).fill(0) : Array.from(tensor(weights, `${name}.bias`, [d])),
  });
  /** Layer norm, or RMSNorm: x / sqrt(mean(x²) + ε) · g. */
  const normalize = (x: Mat, n: { g: Vector; b: Vector }): Mat => (rms
    ? x.map((row) => {
      const meanSquare = row.reduce((a, v) => a + v * v, 0) / row.length;
      return row.map((v, i) => (v / Math.sqrt(meanSquare + config.layerNormEpsilon)) * n.g[i]);
    })
    : layerNorm(x, n.g, n.b, config.layerNormEpsilon));
  const rope = config.positions === 'rope';
  const kvHeads = config.kvHeads ?? config.heads;

  const embed = (ids: number[]): Mat => ids.map((id, pos) => Array.from({ length: d }, (_, i) => {
    const scale = config.scaleEmbedding ? Math.sqrt(d) : 1;
    const k = Math.floor(i / 2);
    const angle = pos / 10000 ** ((2 * k) / d);
    return embeddingTable[id * d + i] * scale + (rope ? 0 : i % 2 === 0 ? Math.sin(angle) : Math.cos(angle));
  }));

  /** RoPE of one head's features at position p: pairs (i, i + dk/2) turned by p·θ^(−2i/dk). */
  const rotate = (features: Vector, position: number): Vector => {
    const half = dk / 2;
    const theta = config.ropeTheta ?? 10000;
    const out = features.slice();
    for (let i = 0; i < half; i++) {
      const angle = position * theta ** ((-2 * i) / dk);
      out[i] = features[i] * Math.cos(angle) - features[i + half] * Math.sin(angle);
      out[i + half] = features[i + half] * Math.cos(angle) + features[i] * Math.sin(angle);
    }
    return out;
  };

  const attention = (prefix: string, queriesIn: Mat, keysIn: Mat, allowed: (q: number, k: number) => boolean, self = true) => {
    const kvWidth = kvHeads * dk;
    const wq = linearOf(`${prefix}.query`, d, d, biasOf('query'));
    const wk = linearOf(`${prefix}.key`, kvWidth, d, biasOf('key'));
    const wv = linearOf(`${prefix}.value`, kvWidth, d, biasOf('value'));
    const wo = linearOf(`${prefix}.output`, d, d, biasOf('output'));
    const Q = affine(queriesIn, wq.w, wq.b);
    const K = affine(keysIn, wk.w, wk.b);
    const V = affine(keysIn, wv.w, wv.b);
    const probs: number[][][] = [];
    const concat: Mat = Q.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < config.heads; h++) {
      // Grouped-query attention: heads / kvHeads consecutive query heads share key/value head g.
      const g = Math.floor(h / (config.heads / kvHeads));
      const headProbs: number[][] = [];
      for (let q = 0; q < Q.length; q++) {
        let queryPart = Q[q].slice(h * dk, (h + 1) * dk);
        if (rope && self) queryPart = rotate(queryPart, q);
        const scores = K.map((keyRow, k) => {
          let keyPart = keyRow.slice(g * dk, (g + 1) * dk);
          if (rope && self) keyPart = rotate(keyPart, k);
          let s = 0;
          for (let i = 0; i < dk; i++) s += queryPart[i] * keyPart[i];
          return s / Math.sqrt(dk);
        });
        const max = Math.max(...scores.filter((_, k) => allowed(q, k)));
        const exps = scores.map((s, k) => (allowed(q, k) ? Math.exp(s - max) : 0));
        const total = exps.reduce((a, b) => a + b, 0);
        const row = exps.map((e) => e / total);
        headProbs.push(row);
        for (let i = 0; i < dk; i++) {
          concat[q][h * dk + i] = row.reduce((sum, p, k) => sum + p * V[k][g * dk + i], 0);
        }
      }
      probs.push(headProbs);
    }
    return { out: affine(concat, wo.w, wo.b), probs };
  };

  const feedForward = (prefix: string, x: Mat): Mat => {
    const bias = biasOf('feed-forward');
    if (config.feedForward === 'swiglu') {
      // down(SiLU(gate·x) ⊙ up·x), SiLU(z) = z / (1 + e^(−z)).
      const gate = affine(x, linearOf(`${prefix}.gate`, config.dFF, d, bias).w, linearOf(`${prefix}.gate`, config.dFF, d, bias).b);
      const up = affine(x, linearOf(`${prefix}.up`, config.dFF, d, bias).w, linearOf(`${prefix}.up`, config.dFF, d, bias).b);
      const down = linearOf(`${prefix}.down`, d, config.dFF, bias);
      return affine(gate.map((row, r) => row.map((z, c) => (z / (1 + Math.exp(-z))) * up[r][c])), down.w, down.b);
    }
    const fc1 = linearOf(`${prefix}.fc1`, config.dFF, d, bias);
    const fc2 = linearOf(`${prefix}.fc2`, d, config.dFF, bias);
    const act = config.activation === 'relu'
      ? (v: number) => Math.max(0, v)
      : (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    return affine(affine(x, fc1.w, fc1.b).map((row) => row.map(act)), fc2.w, fc2.b);
  };

  /** Residual + layer norm around f, as config.normPlacement says; records the norm after the add. */
  const sublayer = (x: Mat, normName: string, f: (input: Mat) => Mat): Mat => {
    const n = normOf(normName);
    if (config.normPlacement === 'pre') {
      const sum = plus(x, f(normalize(x, n)));
      residualNorms.push(norms(sum));
      return sum;
    }
    const sum = plus(x, f(x));
    residualNorms.push(norms(sum));
    return normalize(sum, n);
  };

  const finalNorm = (x: Mat, name: string): Mat => {
    if (config.normPlacement !== 'pre') return x;
    return normalize(x, normOf(name));
  };

  let encoderOutput: Mat | null = null;
  const padding = input.encoderPadding ?? input.encoderIds?.map(() => false) ?? [];
  if (config.encoderLayers > 0 && input.encoderIds) {
    let x = embed(input.encoderIds);
    residualNorms.push(norms(x));
    for (let layer = 0; layer < config.encoderLayers; layer++) {
      const prefix = `encoder.layers.${layer}`;
      x = sublayer(x, `${prefix}.norm_self_attention`, (inp) => {
        const result = attention(`${prefix}.self_attention`, inp, inp, (_q, k) => !padding[k]);
        blocks.push({ kind: 'encoder-self', layer, probs: result.probs });
        return result.out;
      });
      x = sublayer(x, `${prefix}.norm_feed_forward`, (inp) => feedForward(`${prefix}.feed_forward`, inp));
    }
    encoderOutput = finalNorm(x, 'encoder.final_norm');
  }
  let decoderOutput: Mat | null = null;
  if (config.decoderLayers > 0 && input.decoderIds) {
    let x = embed(input.decoderIds);
    residualNorms.push(norms(x));
    for (let layer = 0; layer < config.decoderLayers; layer++) {
      const prefix = `decoder.layers.${layer}`;
      x = sublayer(x, `${prefix}.norm_self_attention`, (inp) => {
        const window = config.slidingWindow ?? Number.POSITIVE_INFINITY;
        const result = attention(`${prefix}.self_attention`, inp, inp, (q, k) => k <= q && q - k < window);
        blocks.push({ kind: 'decoder-self', layer, probs: result.probs });
        return result.out;
      });
      if (encoderOutput) {
        const memory = encoderOutput;
        x = sublayer(x, `${prefix}.norm_cross_attention`, (inp) => {
          const result = attention(`${prefix}.cross_attention`, inp, memory, (_q, k) => !padding[k], false);
          blocks.push({ kind: 'cross', layer, probs: result.probs });
          return result.out;
        });
      }
      x = sublayer(x, `${prefix}.norm_feed_forward`, (inp) => feedForward(`${prefix}.feed_forward`, inp));
    }
    decoderOutput = finalNorm(x, 'decoder.final_norm');
  }
  return { blocks, residualNorms, encoderOutput, decoderOutput };
}
