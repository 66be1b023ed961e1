/**
 * @file The overview's thumbnails: a [rows, cols] matrix (and its mask) shrunk by averaging the
 * block of source cells each output cell covers. Pure.
 */

export interface Downsampled {
  values: Float32Array;
  rows: number;
  cols: number;
}

/** The source range [start, end) that output index i of n covers over a length of `size`. */
function span(i: number, n: number, size: number): [number, number] {
  const start = Math.floor((i * size) / n);
  const end = Math.max(start + 1, Math.floor(((i + 1) * size) / n));
  return [start, end];
}

/**
 * A [rows, cols] matrix shrunk to at most maxSide × maxSide by averaging the block of source cells
 * each output cell covers (blocks differ by at most one cell when the sizes do not divide). A
 * matrix that already fits is copied as is.
 */
export function downsample(values: ArrayLike<number>, rows: number, cols: number, maxSide: number): Downsampled {
  const outRows = Math.max(1, Math.min(rows, maxSide));
  const outCols = Math.max(1, Math.min(cols, maxSide));
  const out = new Float32Array(outRows * outCols);
  // Per output row: the source rows it covers summed column by column (one sequential pass over
  // the source, the bulk of the work), then those column sums summed over each output column's span.
  const columnEnds = new Int32Array(outCols);
  const widths = new Float64Array(outCols);
  for (let c = 0; c < outCols; c++) {
    const [c0, c1] = span(c, outCols, cols);
    columnEnds[c] = c1;
    widths[c] = c1 - c0;
  }
  const columnSums = new Float64Array(cols);
  for (let r = 0; r < outRows; r++) {
    const [r0, r1] = span(r, outRows, rows);
    columnSums.fill(0);
    for (let y = r0; y < r1; y++) {
      const row = y * cols;
      for (let x = 0; x < cols; x++) columnSums[x] += values[row + x];
    }
    let x = 0;
    for (let c = 0; c < outCols; c++) {
      let sum = 0;
      for (const end = columnEnds[c]; x < end; x++) sum += columnSums[x];
      out[r * outCols + c] = sum / ((r1 - r0) * widths[c]);
    }
  }
  return { values: out, rows: outRows, cols: outCols };
}

/** The mask shrunk the same way: an output cell is allowed (1) when any cell of its block is. */
export function downsampleMask(mask: Uint8Array, rows: number, cols: number, maxSide: number): Uint8Array {
  const outRows = Math.max(1, Math.min(rows, maxSide));
  const outCols = Math.max(1, Math.min(cols, maxSide));
  const out = new Uint8Array(outRows * outCols);
  for (let r = 0; r < outRows; r++) {
    const [r0, r1] = span(r, outRows, rows);
    for (let c = 0; c < outCols; c++) {
      const [c0, c1] = span(c, outCols, cols);
      let any = 0;
      for (let y = r0; y < r1 && !any; y++) for (let x = c0; x < c1; x++) if (mask[y * cols + x] !== 0) { any = 1; break; }
      out[r * outCols + c] = any;
    }
  }
  return out;
}
