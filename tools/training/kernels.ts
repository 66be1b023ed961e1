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
 * and a 2x5 block of C is accumulated in 10 locals. The summation order depends only on the
 * shapes, so results are bit-for-bit reproducible.
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

/** Columns k0..k0+kc of this many rows, for the k-blocks below. */
const K_BLOCK = 256;

/**
 * Copies rows [0, rows) and columns [k0, k0 + kc) of the logical [rows, K] operand as `height`-row
 * panels interleaved by k: row r of a panel, column k, lands at panel start + (k − k0) · height + r.
 * Rows past `rows` in the last panel are zero, so edge blocks run through the same kernel. Each
 * layout is read in its memory order (rows of a normal operand, columns of a transposed one).
 */
function packPanels(source: Operand, rows: number, k0: number, kc: number, height: number, target: Float64Array, at: number): void {
  const { data, offset, stride } = source;
  const padded = Math.ceil(rows / height) * height;
  if (source.transposed) {
    // Element (r, k) is at offset + k · stride + r: for each k, the rows are neighbours.
    const panelSize = height * kc;
    for (let k = 0; k < kc; k++) {
      const from = offset + (k0 + k) * stride;
      let q = at + k * height;
      for (let first = 0; first < padded; first += height, q += panelSize) {
        for (let r = 0; r < height; r++) target[q + r] = first + r < rows ? data[from + first + r] : 0;
      }
    }
    return;
  }
  for (let r = 0; r < padded; r++) {
    let q = at + Math.floor(r / height) * height * kc + (r % height);
    if (r >= rows) {
      for (let k = 0; k < kc; k++, q += height) target[q] = 0;
      continue;
    }
    let p = offset + r * stride + k0;
    const end = p + kc;
    while (p < end) {
      target[q] = data[p++];
      q += height;
    }
  }
}

/**
 * C (+)= A · Bᵀ with A logically [M, K] and B logically [N, K]. With `accumulate` false, C is
 * overwritten. K = 0 gives zeros (or leaves C unchanged when accumulating).
 *
 * K is cut into blocks of 256 so the packed operands stay in cache; within a block the larger
 * packed operand is the outer loop, so the smaller one is re-read from cache, not memory.
 */
export function gemm(c: Target, a: Operand, b: Operand, M: number, N: number, K: number, accumulate: boolean): void {
  if (M === 0 || N === 0) return;
  if (K === 0) {
    if (!accumulate) for (let m = 0; m < M; m++) c.data.fill(0, c.offset + m * c.stride, c.offset + m * c.stride + N);
    return;
  }
  const aRows = Math.ceil(M / 2) * 2;
  const bRows = Math.ceil(N / 5) * 5;
  for (let k0 = 0; k0 < K; k0 += K_BLOCK) {
    const kc = Math.min(K_BLOCK, K - k0);
    const P = scratchOf((aRows + bRows) * kc);
    const bStart = aRows * kc;
    packPanels(a, M, k0, kc, 2, P, 0);
    packPanels(b, N, k0, kc, 5, P, bStart);
    const add = accumulate || k0 > 0;
    if (aRows >= bRows) {
      for (let i = 0; i < M; i += 2) {
        for (let j = 0; j < N; j += 5) block(c, P, i * kc, bStart + j * kc, kc, i, j, M, N, add);
      }
    } else {
      for (let j = 0; j < N; j += 5) {
        for (let i = 0; i < M; i += 2) block(c, P, i * kc, bStart + j * kc, kc, i, j, M, N, add);
      }
    }
  }
}

/** One 2x5 block of C from a packed A panel at `pa` and a packed B panel at `pb`, kc deep. */
function block(c: Target, P: Float64Array, pa: number, pb: number, kc: number, i: number, j: number, M: number, N: number, add: boolean): void {
  const end = pa + 2 * kc;
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
  const row0 = c.offset + i * c.stride + j;
  store(c.data, row0, width, add, c00, c01, c02, c03, c04);
  if (i + 1 < M) store(c.data, row0 + c.stride, width, add, c10, c11, c12, c13, c14);
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
