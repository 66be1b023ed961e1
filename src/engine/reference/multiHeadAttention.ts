/**
 * @file Multi-head attention (paper §3.2.2): project to queries, keys and values, split the width
 * into `heads` slices of d_k = d_model / heads, attend in each slice independently, concatenate the
 * heads' outputs and mix them with W_O. Each head can learn a different relation between tokens.
 *
 * Two later refinements, both optional:
 * - grouped-query attention (Ainslie et al. 2023): only `kvHeads` key/value heads are projected,
 *   each shared by heads / kvHeads query heads (query head h reads key/value head
 *   ⌊h / (heads / kvHeads)⌋). The keys and values a decoder must keep shrink by that factor;
 *   multi-query attention is kvHeads = 1, plain multi-head attention kvHeads = heads.
 * - rotary positions (rope.ts): queries and keys are rotated by their positions before Q·Kᵀ.
 *
 * A head can be ablated (gated off): its slice of the concatenation, its α·V before W_O, is replaced
 * by zeros or by its mean over the query positions, so one sees what the model does without it.
 */
import type { AblationMode } from '../../shared/trace';
import { valueNorms, weightByValueNorms } from '../analysis/valueWeighted';
import { scaledDotProductAttention } from './attention';
import type { AttentionMask } from './masks';
import { type Matrix, columnSlice, linear, setColumns, zeros } from './matrix';
import { applyRotary, rotaryTables } from './rope';
import type { WeightSource } from './weights';

export interface MultiHeadResult {
  /** [Q, d_model] after W_O. */
  output: Matrix;
  /** [heads, Q, K] attention probabilities. */
  probs: Float32Array;
  /** [heads, Q, K] scaled scores before masking. */
  scores: Float32Array;
  /**
   * [heads, Q, K] α · ‖v_k^h W_O^h‖ (analysis/valueWeighted.ts), when asked for: how much of each
   * key's output-projected value reaches each query, not only how much weight it gets.
   */
  valueWeighted?: Float32Array;
}

export interface AttentionShape {
  dModel: number;
  heads: number;
  /** Key/value heads (grouped-query attention); default `heads`. */
  kvHeads?: number;
  /** Which projections have a bias; default all of them. */
  bias?: { query: boolean; key: boolean; value: boolean; output: boolean };
  /** Rotary positions with this base θ; default none (positions come with the embeddings). */
  ropeTheta?: number;
}

/** Heads whose output is replaced before W_O, and with what. */
export interface HeadGate {
  heads: ReadonlySet<number>;
  mode: AblationMode;
}

/** [Q, w] → [Q, w] with every row the mean of the rows: a head's output averaged over the query positions. */
function meanOverRows(matrix: Matrix): Matrix {
  const mean = new Float64Array(matrix.cols);
  for (let r = 0; r < matrix.rows; r++) for (let c = 0; c < matrix.cols; c++) mean[c] += matrix.data[r * matrix.cols + c];
  const out = zeros(matrix.rows, matrix.cols);
  for (let r = 0; r < matrix.rows; r++) for (let c = 0; c < matrix.cols; c++) out.data[r * matrix.cols + c] = mean[c] / matrix.rows;
  return out;
}

interface Projection {
  weight: Matrix;
  bias: Float32Array | null;
}

function projection(weights: WeightSource, name: string, outFeatures: number, inFeatures: number, bias: boolean): Projection {
  return {
    weight: { rows: outFeatures, cols: inFeatures, data: weights.tensor(`${name}.weight`, [outFeatures, inFeatures]) },
    bias: bias ? weights.tensor(`${name}.bias`, [outFeatures]) : null,
  };
}

/** Which key/value head each query head reads: h ↦ ⌊h / (heads / kvHeads)⌋. */
export function kvHeadOfQueryHead(heads: number, kvHeads: number): number[] {
  const group = heads / kvHeads;
  return Array.from({ length: heads }, (_, head) => Math.floor(head / group));
}

export class MultiHeadAttention {
  private readonly query: Projection;
  private readonly key: Projection;
  private readonly value: Projection;
  private readonly output: Projection;
  private readonly headWidth: number;
  readonly dModel: number;
  readonly heads: number;
  readonly kvHeads: number;
  /** Query head → the key/value head it reads. */
  readonly kvHeadOf: readonly number[];
  private readonly ropeTheta: number | undefined;

  /**
   * @param prefix e.g. "decoder.layers.0.cross_attention"
   * @param shape d_model and heads (the paper's), or an AttentionShape with the later refinements
   */
  constructor(weights: WeightSource, prefix: string, shape: AttentionShape | number, heads?: number) {
    const resolved: AttentionShape = typeof shape === 'number' ? { dModel: shape, heads: heads ?? 1 } : shape;
    this.dModel = resolved.dModel;
    this.heads = resolved.heads;
    this.kvHeads = resolved.kvHeads ?? resolved.heads;
    this.headWidth = this.dModel / this.heads;
    this.kvHeadOf = kvHeadOfQueryHead(this.heads, this.kvHeads);
    this.ropeTheta = resolved.ropeTheta;
    const bias = resolved.bias ?? { query: true, key: true, value: true, output: true };
    const kvWidth = this.kvHeads * this.headWidth;
    this.query = projection(weights, `${prefix}.query`, this.dModel, this.dModel, bias.query);
    this.key = projection(weights, `${prefix}.key`, kvWidth, this.dModel, bias.key);
    this.value = projection(weights, `${prefix}.value`, kvWidth, this.dModel, bias.value);
    this.output = projection(weights, `${prefix}.output`, this.dModel, this.dModel, bias.output);
  }

  /**
   * @param queryInput [Q, d] the stream asking (decoder for cross-attention)
   * @param keyValueInput [K, d] the stream answered from (same as queryInput for self-attention,
   *        the encoder output for cross-attention)
   * @param gate heads whose output is zeroed or replaced by its mean before W_O (an ablation run)
   * @param withValueWeighted also compute the value-weighted attention (the values' norms after W_O, times α)
   */
  forward(queryInput: Matrix, keyValueInput: Matrix, mask: AttentionMask, gate?: HeadGate, withValueWeighted = false): MultiHeadResult {
    const Q = queryInput.rows;
    const K = keyValueInput.rows;
    const queries = linear(queryInput, this.query.weight, this.query.bias); // [Q, d]
    const keys = linear(keyValueInput, this.key.weight, this.key.bias); // [K, kvHeads·d_k]
    const values = linear(keyValueInput, this.value.weight, this.value.bias); // [K, kvHeads·d_k]
    if (this.ropeTheta !== undefined) {
      // Token t is at position t in both streams (self-attention is where rotary positions apply).
      const tables = rotaryTables(Math.max(Q, K), this.headWidth, this.ropeTheta);
      applyRotary(queries, this.heads, tables);
      applyRotary(keys, this.kvHeads, tables);
    }
    const concatenated = zeros(Q, this.dModel); // [Q, d], head h in columns h*d_k..(h+1)*d_k
    const probs = new Float32Array(this.heads * Q * K);
    const scores = new Float32Array(this.heads * Q * K);
    for (let head = 0; head < this.heads; head++) {
      const start = head * this.headWidth;
      const kvStart = this.kvHeadOf[head] * this.headWidth;
      const result = scaledDotProductAttention(
        columnSlice(queries, start, this.headWidth),
        columnSlice(keys, kvStart, this.headWidth),
        columnSlice(values, kvStart, this.headWidth),
        mask,
      );
      // Zero ablation leaves the head's columns at 0; mean ablation writes its mean row everywhere.
      if (!gate?.heads.has(head)) setColumns(concatenated, result.output, start);
      else if (gate.mode === 'mean') setColumns(concatenated, meanOverRows(result.output), start);
      probs.set(result.probs.data, head * Q * K);
      scores.set(result.scores.data, head * Q * K);
    }
    const output = linear(concatenated, this.output.weight, this.output.bias);
    if (!withValueWeighted) return { output, probs, scores };
    // Values [K, kvHeads·d_k] (bias included); W_O as nn.Linear keeps it, [out, in]. Its bias is
    // added once to all heads together, so no head's contribution holds it.
    const norms = valueNorms(
      { data: values.data, headStride: this.headWidth, keyStride: values.cols },
      { data: this.output.weight.data, inFeatures: this.dModel, outFeatures: this.dModel, inStride: 1, outStride: this.dModel },
      { heads: this.heads, headWidth: this.headWidth, keys: K, kvHeadOf: this.kvHeadOf },
    );
    return { output, probs, scores, valueWeighted: weightByValueNorms(probs, norms, this.heads, Q, K) };
  }
}
