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
 * Why it is shaped this way (V8 does not vectorize, so this is all scalar float64 arithmetic):
 * every typed-array read costs an index add, a sign extension and a bounds check, far more than
 * the multiply-add it feeds, so the kernel is built around making reads cheap and few.
 * - Both operands are copied ("packed") as float64 into one scratch array, in panels whose rows
 *   are interleaved by k: a 2-row panel of A holds A[i][k], A[i+1][k] next to each other, a 5-row
 *   panel of B likewise. The inner loop then walks each panel with a single index, reads no
 *   float32 (no conversions), and touches one array (one set of length checks per step).
 * - A 2x5 block of C is accumulated in 10 locals: 7 reads feed 10 multiply-adds. Bigger blocks
 *   (4x4, 4x8) read less per multiply-add but run out of the 16 float registers and spill, and
 *   unrolling k does the same; measured on 128x512 · (512x512)ᵀ, 2x5 beat 4x4, 3x4, 2x4, 2x6.
 * - Indices are written `(p + 1) | 0`, which lets V8 drop the overflow checks on them.
 * - Panels are zero-padded, so edge rows and columns run through the same kernel and only the
 *   stores are guarded. Accumulation is in float64, as before.
 * B is packed one 5-row panel at a time (it is reused for every A panel, from L1), so the scratch
 * is M x K plus 5 x K floats even when B is a vocabulary-sized embedding.
 * Caveat: once any ArrayBuffer in the process has been detached (a transfer to or from a worker;
 * bench/run.ts's imports do it too), V8 adds a detached-buffer check to every typed-array read,
 * and this kernel, like every blocking tried, runs about 20% slower.
 */
export function matmulTransposed(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) {
    throw new Error(`matmulTransposed: inner sizes differ (${a.rows}x${a.cols} · (${b.rows}x${b.cols})ᵀ)`);
  }
  const M = a.rows;
  const N = b.rows;
  const K = a.cols;
  const out = zeros(M, N);
  const C = out.data;
  const aPanels = Math.ceil(M / 2);
  const bPanel = aPanels * 2 * K; // where the current panel of B lives in the scratch array
  const P = new Float64Array(bPanel + 5 * K);
  packPanels(a.data, 0, M, K, 2, P, 0);

  for (let j = 0; j < N; j += 5) {
    const width = Math.min(5, N - j);
    if (width === 5) {
      packPanelOf5(b.data, j * K, K, P, bPanel);
    } else {
      P.fill(0, bPanel); // zero padding for the last, partial panel
      packPanels(b.data, j, width, K, 5, P, bPanel);
    }
    for (let i = 0; i < M; i += 2) {
      let pa = i * K;
      let pb = bPanel;
      const end = pa + 2 * K;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0;
      while (pa < end) {
        const x0 = P[pa], x1 = P[(pa + 1) | 0];
        const y0 = P[pb], y1 = P[(pb + 1) | 0], y2 = P[(pb + 2) | 0], y3 = P[(pb + 3) | 0], y4 = P[(pb + 4) | 0];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3; c04 += x0 * y4;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3; c14 += x1 * y4;
        pa = (pa + 2) | 0;
        pb = (pb + 5) | 0;
      }
      storeRow(C, i * N + j, width, c00, c01, c02, c03, c04);
      if (i + 1 < M) storeRow(C, (i + 1) * N + j, width, c10, c11, c12, c13, c14);
    }
  }
  return out;
}

/**
 * Copies rows [first, first + count) of `source` [*, K] into `target` from `offset` on, as panels
 * of `height` rows interleaved by k: row r of a panel, column k, lands at panel start + k * height + r.
 */
function packPanels(
  source: Float32Array, first: number, count: number, K: number, height: number, target: Float64Array, offset: number,
): void {
  for (let r = 0; r < count; r++) {
    const panelStart = offset + Math.floor(r / height) * height * K + (r % height);
    const rowStart = (first + r) * K;
    for (let k = 0; k < K; k++) {
      target[panelStart + k * height] = source[rowStart + k];
    }
  }
}

/** packPanels for one full panel of 5 rows starting at `start`, writing the panel sequentially. */
function packPanelOf5(source: Float32Array, start: number, K: number, target: Float64Array, offset: number): void {
  let q = offset;
  for (let k = start; k < start + K; k++) {
    target[q] = source[k];
    target[q + 1] = source[k + K];
    target[q + 2] = source[k + 2 * K];
    target[q + 3] = source[k + 3 * K];
    target[q + 4] = source[k + 4 * K];
    q += 5;
  }
}

/** Writes the first `width` (1-5) of five values to C from `offset` on. */
function storeRow(C: Float32Array, offset: number, width: number, v0: number, v1: number, v2: number, v3: number, v4: number): void {
  C[offset] = v0;
  if (width > 1) C[offset + 1] = v1;
  if (width > 2) C[offset + 2] = v2;
  if (width > 3) C[offset + 3] = v3;
  if (width > 4) C[offset + 4] = v4;
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
