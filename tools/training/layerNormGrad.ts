/**
 * @file Layer normalization, forward and backward, over rows of width d.
 *
 *   x̂ = (x − μ) / σ,  σ = sqrt(var + ε) (biased variance, as the reference),  y = γ ⊙ x̂ + β
 *
 * Backward, with g = dy ⊙ γ:  dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / σ,  dγ += Σ dy ⊙ x̂,  dβ += Σ dy.
 * The forward keeps x̂ and 1/σ per row: all the backward needs.
 */

export interface LayerNormCache {
  /** [rows, d] x̂ */
  readonly normalized: Float64Array;
  /** [rows] 1/σ */
  readonly inverseStd: Float64Array;
}

export function layerNormCache(rows: number, width: number): LayerNormCache {
  return { normalized: new Float64Array(rows * width), inverseStd: new Float64Array(rows) };
}

export function layerNormForward(
  out: Float64Array, x: Float64Array, gain: Float64Array, bias: Float64Array, rows: number, width: number, epsilon: number, cache: LayerNormCache,
): void {
  const { normalized, inverseStd } = cache;
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let mean = 0;
    for (let c = 0; c < width; c++) mean += x[base + c];
    mean /= width;
    let variance = 0;
    for (let c = 0; c < width; c++) {
      const centred = x[base + c] - mean;
      variance += centred * centred;
    }
    variance /= width;
    const scale = 1 / Math.sqrt(variance + epsilon);
    inverseStd[r] = scale;
    for (let c = 0; c < width; c++) {
      const value = (x[base + c] - mean) * scale;
      normalized[base + c] = value;
      out[base + c] = value * gain[c] + bias[c];
    }
  }
}

/** dx = (or +=, with `accumulate`) the input gradient; dGain and dBias are always accumulated. */
export function layerNormBackward(
  dOut: Float64Array, gain: Float64Array, cache: LayerNormCache, rows: number, width: number,
  dx: Float64Array, dGain: Float64Array, dBias: Float64Array, accumulate: boolean,
): void {
  const { normalized, inverseStd } = cache;
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let meanGrad = 0;
    let meanGradDotX = 0;
    for (let c = 0; c < width; c++) {
      const dy = dOut[base + c];
      const g = dy * gain[c];
      meanGrad += g;
      meanGradDotX += g * normalized[base + c];
      dGain[c] += dy * normalized[base + c];
      dBias[c] += dy;
    }
    meanGrad /= width;
    meanGradDotX /= width;
    const scale = inverseStd[r];
    for (let c = 0; c < width; c++) {
      const value = (dOut[base + c] * gain[c] - meanGrad - normalized[base + c] * meanGradDotX) * scale;
      dx[base + c] = accumulate ? dx[base + c] + value : value;
    }
  }
}
