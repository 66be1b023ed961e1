/**
 * @file The few matrix operations the reference Transformer needs, on row-major Float32Arrays.
 *
 * Index order: a Matrix of `rows` x `cols` stores element (r, c) at `r * cols + c`.
 * Weights are kept as PyTorch's nn.Linear keeps them, `[out, in]`, so `x · Wᵀ` is a product of
 * rows with rows: `matmulTransposed` reads both operands sequentially, which is what makes the
 * plain-JS kernel fast enough for the paper-sized model.
 */

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

export function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float32Array(rows * cols) };
}

export function fromRows(values: readonly (readonly number[])[]): Matrix {
  const rows = values.length;
  const cols = rows === 0 ? 0 : values[0].length;
  const data = new Float32Array(rows * cols);
  values.forEach((row, r) => {
    if (row.length !== cols) {
      throw new Error(`fromRows: row ${r} has ${row.length} values, expected ${cols}`);
    }
    data.set(row, r * cols);
  });
  return { rows, cols, data };
}

export function row(matrix: Matrix, index: number): Float32Array {
  return matrix.data.subarray(index * matrix.cols, (index + 1) * matrix.cols);
}

export function transpose(matrix: Matrix): Matrix {
  const out = zeros(matrix.cols, matrix.rows);
  for (let r = 0; r < matrix.rows; r++) {
    for (let c = 0; c < matrix.cols; c++) {
      out.data[c * matrix.rows + r] = matrix.data[r * matrix.cols + c];
    }
  }
  return out;
}

/**
 * C = A · Bᵀ, with A [M, K] and B [N, K] (so C [M, N]).
 *
 * 4x4 register blocking: each pass over k feeds 16 accumulators from 8 loads, instead of 1 from 2.
 * Edges that do not fill a 4x4 tile fall back to plain dot products.
 */
export function matmulTransposed(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) {
    throw new Error(`matmulTransposed: inner sizes differ (${a.rows}x${a.cols} · (${b.rows}x${b.cols})ᵀ)`);
  }
  const M = a.rows;
  const N = b.rows;
  const K = a.cols;
  const A = a.data;
  const B = b.data;
  const out = zeros(M, N);
  const C = out.data;
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);

  for (let i = 0; i < M4; i += 4) {
    const a0 = i * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    for (let j = 0; j < N4; j += 4) {
      const b0 = j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
        const y0 = B[b0 + k], y1 = B[b1 + k], y2 = B[b2 + k], y3 = B[b3 + k];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      const o0 = i * N + j;
      const o1 = o0 + N;
      const o2 = o1 + N;
      const o3 = o2 + N;
      C[o0] = c00; C[o0 + 1] = c01; C[o0 + 2] = c02; C[o0 + 3] = c03;
      C[o1] = c10; C[o1 + 1] = c11; C[o1 + 2] = c12; C[o1 + 3] = c13;
      C[o2] = c20; C[o2 + 1] = c21; C[o2 + 2] = c22; C[o2 + 3] = c23;
      C[o3] = c30; C[o3 + 1] = c31; C[o3 + 2] = c32; C[o3 + 3] = c33;
    }
  }
  // Right edge (columns N4..N) for the blocked rows, then the bottom rows for all columns.
  for (let i = 0; i < M4; i++) {
    for (let j = N4; j < N; j++) {
      C[i * N + j] = dot(A, i * K, B, j * K, K);
    }
  }
  for (let i = M4; i < M; i++) {
    for (let j = 0; j < N; j++) {
      C[i * N + j] = dot(A, i * K, B, j * K, K);
    }
  }
  return out;
}

function dot(x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, length: number): number {
  let sum = 0;
  for (let k = 0; k < length; k++) {
    sum += x[xOffset + k] * y[yOffset + k];
  }
  return sum;
}

/** y = x · Wᵀ + b, the affine map of nn.Linear: x [T, in], W [out, in], b [out]. */
export function linear(x: Matrix, weight: Matrix, bias: Float32Array | null): Matrix {
  const out = matmulTransposed(x, weight);
  if (bias) {
    if (bias.length !== out.cols) {
      throw new Error(`linear: bias has ${bias.length} values, expected ${out.cols}`);
    }
    for (let r = 0; r < out.rows; r++) {
      const base = r * out.cols;
      for (let c = 0; c < out.cols; c++) {
        out.data[base + c] += bias[c];
      }
    }
  }
  return out;
}

/** Element-wise a + b (a new matrix). */
export function add(a: Matrix, b: Matrix): Matrix {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new Error(`add: shapes differ (${a.rows}x${a.cols} vs ${b.rows}x${b.cols})`);
  }
  const out = zeros(a.rows, a.cols);
  for (let i = 0; i < out.data.length; i++) {
    out.data[i] = a.data[i] + b.data[i];
  }
  return out;
}

/** Columns [start, start + width) of every row, copied: one head's slice of a [T, d] matrix. */
export function columnSlice(matrix: Matrix, start: number, width: number): Matrix {
  const out = zeros(matrix.rows, width);
  for (let r = 0; r < matrix.rows; r++) {
    out.data.set(matrix.data.subarray(r * matrix.cols + start, r * matrix.cols + start + width), r * width);
  }
  return out;
}

/** Writes `part` into columns [start, start + part.cols) of `target`: the inverse of columnSlice. */
export function setColumns(target: Matrix, part: Matrix, start: number): void {
  for (let r = 0; r < part.rows; r++) {
    target.data.set(part.data.subarray(r * part.cols, (r + 1) * part.cols), r * target.cols + start);
  }
}

/** L2 norm of every row: the per-token size of a [T, d] residual stream. */
export function rowNorms(matrix: Matrix): Float32Array {
  const norms = new Float32Array(matrix.rows);
  for (let r = 0; r < matrix.rows; r++) {
    let sum = 0;
    const base = r * matrix.cols;
    for (let c = 0; c < matrix.cols; c++) {
      const value = matrix.data[base + c];
      sum += value * value;
    }
    norms[r] = Math.sqrt(sum);
  }
  return norms;
}
