/**
 * @file Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): how
 * much each output token of a stream draws on each input token through all its self-attention
 * layers, counting the residual connection as attention to oneself.
 *
 * Per layer l: A_l = mean of the heads' [T, T] weights; Â_l = row-normalise(0.5·A_l + 0.5·I), the
 * paper's equal weighting of the attention path and the residual (skip) path; then
 * R = Â_L · … · Â_2 · Â_1, so the first layer is applied first to the input: R[q][k] is the share
 * of output token q that flows from input token k.
 *
 * Only square self-attention chains roll out: an encoder-decoder gets the encoder's rollout and the
 * decoder's self-attention rollout. Cross-attention is left out, since it maps decoder queries onto
 * encoder keys (a [T_dec, T_enc] matrix) and is not part of a square T × T product; the paper
 * defines rollout for a single stack.
 */
import type { AttentionBlock, AttentionTrace, StreamName } from '../../shared/trace';
import { isSelfAttention } from './headStats';
import type { Rollout } from '../../shared/analysis';

/** Weight of the residual (identity) path in each layer's matrix, as in the paper. */
const RESIDUAL_WEIGHT = 0.5;

/** Â = row-normalise((1 − r)·mean_h(A_h) + r·I), [T, T] in float64. */
function layerMatrix(block: AttentionBlock): Float64Array {
  const { heads, queries: size, probs } = block;
  const matrix = new Float64Array(size * size);
  for (let head = 0; head < heads; head++) {
    const offset = head * size * size;
    for (let i = 0; i < size * size; i++) matrix[i] += probs[offset + i] / heads;
  }
  for (let query = 0; query < size; query++) {
    let sum = 0;
    for (let key = 0; key < size; key++) {
      const cell = query * size + key;
      matrix[cell] = (1 - RESIDUAL_WEIGHT) * matrix[cell] + (key === query ? RESIDUAL_WEIGHT : 0);
      sum += matrix[cell];
    }
    // Rows already sum to 1 for a healthy softmax; normalising keeps broken rows (wrong softmax
    // axis, emptied rows) from scaling the whole product. A row summing to ≤ 0 or NaN is left as is.
    if (sum > 0) for (let key = 0; key < size; key++) matrix[query * size + key] /= sum;
  }
  return matrix;
}

/** a · b for [n, n] matrices. */
function multiply(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const product = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) product[i * n + j] += aik * b[k * n + j];
    }
  }
  return product;
}

function streamRollout(trace: AttentionTrace, stream: StreamName): Rollout | null {
  const chain = trace.blocks
    .filter((block) => block.queryStream === stream && block.keyStream === stream && block.kind !== 'cross')
    .sort((a, b) => a.layer - b.layer); // Array.prototype.sort is stable: graph order breaks ties
  if (chain.length === 0) return null;
  const size = chain[0].queries;
  // L products of T × T matrices cost L·T³: at 1024 tokens and 12 layers, seconds on the critical path.
  if (size > MAX_ROLLOUT_TOKENS) return null;
  // A block that is not T × T (or of another length) cannot be chained: no rollout rather than a wrong one.
  if (!chain.every((block) => isSelfAttention(block) && block.queries === size)) return null;
  let rollout: Float64Array | null = null;
  for (const block of chain) {
    const layer = layerMatrix(block);
    rollout = rollout ? multiply(layer, rollout, size) : layer;
  }
  return { stream, tokens: size, values: Float32Array.from(rollout ?? []) };
}

/** Longest stream rollout is computed for (see the cost note in streamRollout). */
export const MAX_ROLLOUT_TOKENS = 512;

/** The rollout of each stream that has self-attention, in the trace's stream order. */
export function computeRollout(trace: AttentionTrace): Rollout[] {
  const streams: StreamName[] = trace.streams.length > 0 ? trace.streams.map((s) => s.name) : ['encoder', 'decoder'];
  return streams.map((stream) => streamRollout(trace, stream)).filter((rollout): rollout is Rollout => rollout !== null);
}
