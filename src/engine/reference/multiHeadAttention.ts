/**
 * @file Multi-head attention (paper §3.2.2): project to queries, keys and values, split the width
 * into `heads` slices of d_k = d_model / heads, attend in each slice independently, concatenate the
 * heads' outputs and mix them with W_O. Each head can learn a different relation between tokens.
 */
import { scaledDotProductAttention } from './attention';
import type { AttentionMask } from './masks';
import { type Matrix, columnSlice, linear, setColumns, zeros } from './matrix';
import type { WeightSource } from './weights';

export interface MultiHeadResult {
  /** [Q, d_model] after W_O. */
  output: Matrix;
  /** [heads, Q, K] attention probabilities. */
  probs: Float32Array;
  /** [heads, Q, K] scaled scores before masking. */
  scores: Float32Array;
}

interface Projection {
  weight: Matrix;
  bias: Float32Array;
}

function projection(weights: WeightSource, name: string, d: number): Projection {
  return {
    weight: { rows: d, cols: d, data: weights.tensor(`${name}.weight`, [d, d]) },
    bias: weights.tensor(`${name}.bias`, [d]),
  };
}

export class MultiHeadAttention {
  private readonly query: Projection;
  private readonly key: Projection;
  private readonly value: Projection;
  private readonly output: Projection;
  private readonly headWidth: number;

  /** @param prefix e.g. "decoder.layers.0.cross_attention" */
  constructor(weights: WeightSource, prefix: string, readonly dModel: number, readonly heads: number) {
    this.headWidth = dModel / heads;
    this.query = projection(weights, `${prefix}.query`, dModel);
    this.key = projection(weights, `${prefix}.key`, dModel);
    this.value = projection(weights, `${prefix}.value`, dModel);
    this.output = projection(weights, `${prefix}.output`, dModel);
  }

  /**
   * @param queryInput [Q, d] the stream asking (decoder for cross-attention)
   * @param keyValueInput [K, d] the stream answered from (same as queryInput for self-attention,
   *        the encoder output for cross-attention)
   */
  forward(queryInput: Matrix, keyValueInput: Matrix, mask: AttentionMask): MultiHeadResult {
    const Q = queryInput.rows;
    const K = keyValueInput.rows;
    const queries = linear(queryInput, this.query.weight, this.query.bias); // [Q, d]
    const keys = linear(keyValueInput, this.key.weight, this.key.bias); // [K, d]
    const values = linear(keyValueInput, this.value.weight, this.value.bias); // [K, d]
    const concatenated = zeros(Q, this.dModel); // [Q, d], head h in columns h*d_k..(h+1)*d_k
    const probs = new Float32Array(this.heads * Q * K);
    const scores = new Float32Array(this.heads * Q * K);
    for (let head = 0; head < this.heads; head++) {
      const start = head * this.headWidth;
      const result = scaledDotProductAttention(
        columnSlice(queries, start, this.headWidth),
        columnSlice(keys, start, this.headWidth),
        columnSlice(values, start, this.headWidth),
        mask,
      );
      setColumns(concatenated, result.output, start);
      probs.set(result.probs.data, head * Q * K);
      scores.set(result.scores.data, head * Q * K);
    }
    return { output: linear(concatenated, this.output.weight, this.output.bias), probs, scores };
  }
}
