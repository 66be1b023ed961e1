/**
 * @file Matrix products for training, on row-major Float64Arrays.
 *
 * Training keeps every activation, gradient and parameter in float64: V8 computes in doubles
 * anyway, so float64 storage costs no speed (it saves the float32 → float64 conversion on every
 * read), and it makes the finite-difference gradient checks exact to ~1e-9. The shipped weights are
 * rounded to float32 once, at the end.
 *
 * One product covers the three a linear layer needs (forward x·Wᵀ, backward dY·W and dYᵀ·X):
 *
 *   C[M, N] (+)= A[M, K] · B[N, K]ᵀ
 *
 * where each operand is read through a stride, normal or transposed:
 *   A element (m, k) at a.offset + m * a.stride + k   (transposed: a.offset + k * a.stride + m)
 *   B element (n, k) at b.offset + n * b.stride + k   (transposed: b.offset + k * b.stride + n)
 *   C element (m, n) at c.offset + m * c.stride + n
 * Strides let a caller hand in one head's columns of a [T, d] matrix without copying them.
 *
 * The kernel is the reference model's (src/engine/reference/matrix.ts explains the why): operands
 * are packed into one float64 scratch array as panels interleaved by k (2 rows of A, 5 rows of B),
 * and a 2x5 block of C is accumulated in 10 locals. Here all of B is packed once and each pair of
 * A rows is packed just before use, so the scratch stays small and B stays in L2 while A streams.
 * The summation order depends only on the shapes, so results are bit-for-bit reproducible.
 */

/** Where a matrix operand lives in its array. */
export interface Operand {
  readonly data: Float64Array;
  readonly offset: number;
  /** Distance between consecutive rows of the stored (row-major) matrix. */
  readonly stride: number;
  /** Read the stored matrix transposed. */
  readonly transposed?: boolean;
}

/** The output of a product: row-major with a stride. */
export interface Target {
  readonly data: Float64Array;
  readonly offset: number;
  readonly stride: number;
}

let scratch = new Float64Array(1 << 16);

function scratchOf(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(Math.max(size, scratch.length * 2));
  return scratch;
}

/**
 * Copies rows [first, first + count) of the logical [rows, K] operand as `height`-row panels
 * interleaved by k: row r of a panel, column k, lands at panel start + k * height + r. Writes are
 * sequential; rows past `count` in the last panel are zero, so edge blocks run through the same kernel.
 */
function packPanels(source: Operand, first: number, count: number, K: number, height: number, target: Float64Array, at: number): void {
  const { data, offset, stride } = source;
  let q = at;
  for (let panel = 0; panel < count; panel += height) {
    const rows = Math.min(height, count - panel);
    const firstRow = first + panel;
    if (rows === 2 && height === 2 && !source.transposed) {
      // The common case of every A row pair, unrolled: it runs once per pair of output rows.
      let p0 = offset + firstRow * stride;
      let p1 = p0 + stride;
      const end = q + 2 * K;
      while (q < end) {
        target[q] = data[p0++];
        target[q + 1] = data[p1++];
        q += 2;
      }
      continue;
    }
    // Transposed: the panel's rows are neighbours in memory; normal: they are `stride` apart.
    const step = source.transposed ? 1 : stride;
    for (let k = 0; k < K; k++) {
      const base = source.transposed ? offset + k * stride + firstRow : offset + firstRow * stride + k;
      for (let r = 0; r < rows; r++) target[q + r] = data[base + r * step];
      for (let r = rows; r < height; r++) target[q + r] = 0;
      q += height;
    }
  }
}

/**
 * C (+)= A · Bᵀ with A logically [M, K] and B logically [N, K]. With `accumulate` false, C is
 * overwritten. K = 0 gives zeros (or leaves C unchanged when accumulating).
 */
export function gemm(c: Target, a: Operand, b: Operand, M: number, N: number, K: number, accumulate: boolean): void {
  if (M === 0 || N === 0) return;
  const bPanels = Math.ceil(N / 5);
  const aStart = bPanels * 5 * K;
  const P = scratchOf(aStart + 2 * K);
  packPanels(b, 0, N, K, 5, P, 0);
  const C = c.data;
  for (let i = 0; i < M; i += 2) {
    const rowsHere = Math.min(2, M - i);
    packPanels(a, i, rowsHere, K, 2, P, aStart);
    const row0 = c.offset + i * c.stride;
    const row1 = row0 + c.stride;
    for (let j = 0; j < N; j += 5) {
      let pa = aStart;
      let pb = j * K;
      const end = aStart + 2 * K;
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
      const width = Math.min(5, N - j);
      store(C, row0 + j, width, accumulate, c00, c01, c02, c03, c04);
      if (rowsHere === 2) store(C, row1 + j, width, accumulate, c10, c11, c12, c13, c14);
    }
  }
}

function store(C: Float64Array, at: number, width: number, accumulate: boolean, v0: number, v1: number, v2: number, v3: number, v4: number): void {
  if (accumulate) {
    C[at] += v0;
    if (width > 1) C[at + 1] += v1;
    if (width > 2) C[at + 2] += v2;
    if (width > 3) C[at + 3] += v3;
    if (width > 4) C[at + 4] += v4;
  } else {
    C[at] = v0;
    if (width > 1) C[at + 1] = v1;
    if (width > 2) C[at + 2] = v2;
    if (width > 3) C[at + 3] = v3;
    if (width > 4) C[at + 4] = v4;
  }
}

/** A whole row-major [rows, cols] array as an operand. */
export function whole(data: Float64Array, cols: number, transposed = false): Operand {
  return { data, offset: 0, stride: cols, transposed };
}

/** A whole row-major array as a product target. */
export function into(data: Float64Array, cols: number): Target {
  return { data, offset: 0, stride: cols };
}

/** y[rows, out] = x[rows, in] · W[out, in]ᵀ (+ b): nn.Linear's forward. */
export function linearForward(y: Float64Array, x: Float64Array, weight: Float64Array, bias: Float64Array | null, rows: number, inFeatures: number, outFeatures: number): void {
  gemm(into(y, outFeatures), whole(x, inFeatures), whole(weight, inFeatures), rows, outFeatures, inFeatures, false);
  if (bias) {
    for (let r = 0; r < rows; r++) {
      const base = r * outFeatures;
      for (let o = 0; o < outFeatures; o++) y[base + o] += bias[o];
    }
  }
}

/**
 * The backward of y = x · Wᵀ + b, given dY [rows, out]:
 *   dX = dY · W          (written into dx, or added when `accumulateInput`; skipped when dx is null)
 *   dW += dYᵀ · X        (always accumulated: a weight's gradient sums over every use)
 *   db += Σ_rows dY
 */
export function linearBackward(
  dy: Float64Array, x: Float64Array, weight: Float64Array,
  dx: Float64Array | null, dWeight: Float64Array, dBias: Float64Array | null,
  rows: number, inFeatures: number, outFeatures: number, accumulateInput = false,
): void {
  if (dx) gemm(into(dx, inFeatures), whole(dy, outFeatures), whole(weight, inFeatures, true), rows, inFeatures, outFeatures, accumulateInput);
  gemm(into(dWeight, inFeatures), whole(dy, outFeatures, true), whole(x, inFeatures, true), outFeatures, inFeatures, rows, true);
  if (dBias) {
    for (let r = 0; r < rows; r++) {
      const base = r * outFeatures;
      for (let o = 0; o < outFeatures; o++) dBias[o] += dy[base + o];
    }
  }
}
