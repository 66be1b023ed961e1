/**
 * @file Value-weighted attention (Kobayashi et al. 2020, "Attention is not only a weight"): how much
 * of key j actually reaches query i through head h is the norm of its weighted, output-projected
 * value vector, ‖α[h,i,j] · v_j^h W_O^h‖ = α[h,i,j] · ‖v_j^h W_O^h‖, not α alone. A head may give a
 * key a large weight and still move almost nothing when that key's value is small after W_O.
 *
 * - v_j^h: key j's value vector in head h, its bias included (with grouped-query attention, the
 *   KV head that query head h reads).
 * - W_O^h: the rows of the output projection that read head h's slice of the concatenation.
 * - W_O's bias is left out: it is added once to the sum of every head, so it belongs to no head
 *   and no key (the paper leaves it out for the same reason).
 *
 * Both the reference model (multiHeadAttention.ts) and ONNX graphs compute the norms here, so the
 * two agree by construction on everything but their inputs.
 */

/**
 * Key j's values of KV head g: element (g, j, c) at `offset + g·headStride + j·keyStride + c`.
 * [K, kvHeads·d_k] (the reference) is headStride d_k, keyStride kvHeads·d_k; [kvHeads, K, d_k]
 * (an ONNX graph's V before α·V) is headStride K·d_k, keyStride d_k.
 */
export interface ValueLayout {
  data: ArrayLike<number>;
  offset?: number;
  headStride: number;
  keyStride: number;
}

/**
 * The output projection: element (in i, out o) at `i·inStride + o·outStride`. nn.Linear's [out, in]
 * (the reference) is inStride 1, outStride inFeatures; a MatMul initializer [in, out] is inStride
 * outFeatures, outStride 1.
 */
export interface OutputProjectionLayout {
  data: ArrayLike<number>;
  inFeatures: number;
  outFeatures: number;
  inStride: number;
  outStride: number;
}

export interface HeadGeometry {
  heads: number;
  /** d_k: each head's slice of the concatenation, and of W_O's input rows. */
  headWidth: number;
  keys: number;
  /** Query head → the KV head it reads (identity without grouped-query attention). */
  kvHeadOf: readonly number[];
}

/**
 * [heads, keys]: ‖v_j^h W_O^h‖ for every head h and key j, in float64 (stored as float32).
 *
 * Through each head's Gram matrix G_h = W_O^h W_O^hᵀ [d_k, d_k]: ‖v W_O^h‖² = v G_h vᵀ, so a key
 * costs d_k² instead of d_k · d_out, and W_O is read once per head in order (the direct product
 * took 0.2-0.5 s per paper-base block at 128 tokens, strided over W_O; this one 56-94 ms, on the
 * shared 2-core machine). G_h is positive semi-definite, so the sum is ≥ 0 up to rounding, which
 * is clamped.
 */
export function valueNorms(values: ValueLayout, projection: OutputProjectionLayout, geometry: HeadGeometry): Float32Array {
  const { heads, headWidth, keys, kvHeadOf } = geometry;
  const { outFeatures } = projection;
  if (projection.inFeatures !== heads * headWidth) throw new Error(`valueNorms: W_O reads ${projection.inFeatures} features, the heads give ${heads}×${headWidth}`);
  const out = new Float32Array(heads * keys);
  const rows = new Float64Array(headWidth * outFeatures); // W_O^h, [d_k, d_out], contiguous
  const gram = new Float64Array(headWidth * headWidth);
  const value = new Float64Array(headWidth);
  const base = values.offset ?? 0;
  for (let head = 0; head < heads; head++) {
    for (let c = 0; c < headWidth; c++) {
      const from = (head * headWidth + c) * projection.inStride;
      for (let o = 0; o < outFeatures; o++) rows[c * outFeatures + o] = projection.data[from + o * projection.outStride];
    }
    for (let a = 0; a < headWidth; a++) {
      for (let b = a; b < headWidth; b++) {
        let sum = 0;
        for (let o = 0; o < outFeatures; o++) sum += rows[a * outFeatures + o] * rows[b * outFeatures + o];
        gram[a * headWidth + b] = sum;
        gram[b * headWidth + a] = sum;
      }
    }
    const kvBase = base + kvHeadOf[head] * values.headStride;
    for (let key = 0; key < keys; key++) {
      const start = kvBase + key * values.keyStride;
      for (let c = 0; c < headWidth; c++) value[c] = values.data[start + c];
      let squared = 0;
      for (let a = 0; a < headWidth; a++) {
        let row = 0;
        for (let b = 0; b < headWidth; b++) row += gram[a * headWidth + b] * value[b];
        squared += value[a] * row;
      }
      out[head * keys + key] = Math.sqrt(Math.max(0, squared));
    }
  }
  return out;
}

/**
 * [heads, queries, keys]: α[h,i,j] · ‖v_j^h W_O^h‖. A cell whose α is exactly 0 (a masked key)
 * stays exactly 0, so the masks read the same on either view.
 */
export function weightByValueNorms(probs: Float32Array, norms: Float32Array, heads: number, queries: number, keys: number): Float32Array {
  if (probs.length !== heads * queries * keys || norms.length !== heads * keys) throw new Error(`weightByValueNorms: ${probs.length} weights and ${norms.length} norms for [${heads}, ${queries}, ${keys}]`);
  const out = new Float32Array(probs.length);
  for (let head = 0; head < heads; head++) {
    for (let query = 0; query < queries; query++) {
      const row = (head * queries + query) * keys;
      for (let key = 0; key < keys; key++) {
        const alpha = probs[row + key];
        out[row + key] = alpha === 0 ? 0 : alpha * norms[head * keys + key];
      }
    }
  }
  return out;
}

/**
 * Per head and query, the key with the largest value-weighted share, and whether it differs from
 * α's argmax: where the two views disagree is what the view is for (the CLI prints a count).
 */
export function argmaxDisagreements(probs: Float32Array, weighted: Float32Array, heads: number, queries: number, keys: number): number[] {
  const counts = new Array<number>(heads).fill(0);
  for (let head = 0; head < heads; head++) {
    for (let query = 0; query < queries; query++) {
      const row = (head * queries + query) * keys;
      let bestAlpha = 0;
      let bestWeighted = 0;
      for (let key = 1; key < keys; key++) {
        if (probs[row + key] > probs[row + bestAlpha]) bestAlpha = key;
        if (weighted[row + key] > weighted[row + bestWeighted]) bestWeighted = key;
      }
      if (bestAlpha !== bestWeighted) counts[head]++;
    }
  }
  return counts;
}
