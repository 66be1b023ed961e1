/**
 * @file Drawing the heatmap's visible window from the weights, at any zoom: every device pixel of
 * the canvas gets the colour of the cell under it (cells of one device px or more), or of the
 * strongest cell it covers (smaller cells, through max-pooled levels). Nothing is drawn as a scaled
 * bitmap, so cells stay crisp at every zoom and device pixel ratio, and a zoom step costs the view's
 * pixels, not the block's cells (a 2048² block has 4 M cells; a 700 px view has 0.5 M pixels).
 */
import { type ColorScale, LEAK_THRESHOLD, packedTable, packRgb, type Rgb, SCALE_STEPS } from './colorScale';
import { poolLevel, type Viewport } from './heatmapViewport';

/** One matrix to draw: [rows, cols] weights, row-major, and its mask (0 = blocked). */
export interface CellSource {
  rows: number;
  cols: number;
  weights: Float32Array;
  mask: Uint8Array | null;
}

/** Packed RGBA pixels for a scale: the table, the blocked colour and the error colour (NaN). */
export interface PixelColours {
  table: Uint32Array;
  /** SCALE_STEPS - 1 divided by the scale's maximum. */
  factor: number;
  blocked: number;
  error: number;
}

export function pixelColours(scale: ColorScale, blockedRgb: Rgb): PixelColours {
  const factor = (SCALE_STEPS - 1) / scale.max;
  return { table: packedTable(scale), factor: Number.isFinite(factor) ? factor : 0, blocked: packRgb(blockedRgb[0], blockedRgb[1], blockedRgb[2]), error: packRgb(255, 0, 255) };
}

/**
 * Cell codes: 0 for a blocked cell without weight, 1 + the scale's index for a weight, ERROR_CODE
 * for NaN. Ordered so that the largest code of a group is its strongest cell (a leak included, and
 * NaN above all), which makes max-pooling codes the same as pooling weights.
 */
const ERROR_CODE = SCALE_STEPS + 1;

/** One level: [rows, cols] codes, each the largest of 2^L × 2^L cells. */
interface Level {
  rows: number;
  cols: number;
  codes: Uint16Array;
}

/**
 * A matrix's cells as colour codes, and its max-pooled levels, built on first use and kept with
 * it (one pass over the block; every frame after reads two bytes a pixel). Max, not mean: one
 * strong weight (a sink column, the previous-token diagonal) stays visible when zoomed out, as it
 * was with one pixel per cell, and a leak keeps its colour for the same reason.
 */
export class PooledLevels {
  private readonly levels: Level[] = [];
  /** Code → packed pixel. */
  readonly palette: Uint32Array;

  constructor(readonly source: CellSource, readonly colours: PixelColours) {
    this.palette = new Uint32Array(ERROR_CODE + 1);
    this.palette[0] = colours.blocked;
    this.palette.set(colours.table.subarray(0, SCALE_STEPS), 1);
    this.palette[ERROR_CODE] = colours.error;
  }

  /** Whether these levels draw `source` in `colours`. */
  matches(source: CellSource, colours: PixelColours): boolean {
    return this.source.weights === source.weights && this.source.mask === source.mask && this.colours.table === colours.table
      && this.colours.factor === colours.factor && this.colours.blocked === colours.blocked;
  }

  /** Level `n` (0: the cells themselves). */
  level(n: number): Level {
    while (this.levels.length <= n) this.levels.push(this.levels.length === 0 ? this.cells() : halve(this.levels[this.levels.length - 1]));
    return this.levels[n];
  }

  private cells(): Level {
    const { rows, cols, weights, mask } = this.source;
    const codes = new Uint16Array(rows * cols);
    const top = SCALE_STEPS - 1;
    const factor = this.colours.factor;
    // scaleIndex inlined, as paintCells does, so the colours are exactly the overview's and the export's.
    for (let i = 0; i < codes.length; i++) {
      const weight = weights[i];
      codes[i] = weight !== weight ? ERROR_CODE
        : mask !== null && mask[i] === 0 && !(weight > LEAK_THRESHOLD) ? 0
          : 1 + (Math.max(0, Math.min(top, weight * factor + 0.5)) | 0);
    }
    return { rows, cols, codes };
  }
}

/** The next coarser level: the max of each 2 × 2. */
function halve(level: Level): Level {
  const outRows = Math.ceil(level.rows / 2);
  const outCols = Math.ceil(level.cols / 2);
  const codes = new Uint16Array(outRows * outCols);
  const { cols, rows } = level;
  const source = level.codes;
  for (let r = 0; r < outRows; r++) {
    const top = 2 * r * cols;
    const bottom = 2 * r + 1 < rows ? top + cols : top;
    const out = r * outCols;
    for (let c = 0; c < outCols; c++) {
      const k = 2 * c;
      const right = k + 1 < cols ? k + 1 : k;
      codes[out + c] = Math.max(source[top + k], source[top + right], source[bottom + k], source[bottom + right]);
    }
  }
  return { rows: outRows, cols: outCols, codes };
}

/**
 * Fills `out` (width × height packed RGBA pixels, row-major) with the view. Index order: the source
 * is [rows, cols]; pixel (x, y) shows cell (floor((vx + x) / s), floor((vy + y) / s)) of the level
 * the cell size needs, s being that level's cell in device px. Pixels past the block stay 0
 * (transparent). Rows of pixels over the same cells are copied, not recomputed.
 */
export function fillView(out: Uint32Array, width: number, height: number, viewport: Viewport, levels: PooledLevels): void {
  const n = poolLevel(viewport.cell);
  const s = viewport.cell * 2 ** n;
  const { rows, cols, codes } = levels.level(n);
  const palette = levels.palette;
  const x0 = Math.round(viewport.x);
  const y0 = Math.round(viewport.y);
  const columnOf = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    const k = Math.floor((x0 + x) / s);
    columnOf[x] = k < cols ? k : -1;
  }
  let previous = -1;
  for (let y = 0; y < height; y++) {
    const offset = y * width;
    const q = Math.floor((y0 + y) / s);
    if (q >= rows) {
      out.fill(0, offset, offset + width);
      previous = -1;
      continue;
    }
    if (q === previous) {
      out.copyWithin(offset, offset - width, offset);
      continue;
    }
    previous = q;
    const base = q * cols;
    for (let x = 0; x < width; x++) {
      const k = columnOf[x];
      out[offset + x] = k < 0 ? 0 : palette[codes[base + k]];
    }
  }
}

/** Leak outlines only where a cell is big enough to show one, and not thousands of them. */
const MAX_LEAK_OUTLINES = 4096;

/** What the overlays need besides the cells: colours from the theme. */
export interface OverlayStyle {
  /** Hatching over blocked cells (anchored to the block by drawOverlays), null when none can be made. */
  hatch: CanvasPattern | null;
  leak: string;
  /** High contrast themes: a cell border colour; null elsewhere. */
  border: string | null;
}

/**
 * Hatching over blocked cells (from 3 device px a cell), red outlines round leaking ones (from 4)
 * and, in high contrast, cell borders (from 8), for the visible cells only.
 */
export function drawOverlays(
  context: CanvasRenderingContext2D, viewport: Viewport, range: { rowStart: number; rowEnd: number; colStart: number; colEnd: number }, source: CellSource, style: OverlayStyle,
): void {
  const size = viewport.cell;
  if (size < 3) return;
  const x0 = Math.round(viewport.x);
  const y0 = Math.round(viewport.y);
  const { rowStart, rowEnd, colStart, colEnd } = range;
  const { cols, weights, mask } = source;
  if (mask !== null) {
    // Blocked cells without weight as horizontal runs per row: one path, one fill.
    const hatch = new Path2D();
    const leaks: Array<[number, number]> = [];
    for (let q = rowStart; q < rowEnd; q++) {
      let runStart = -1;
      for (let k = colStart; k <= colEnd; k++) {
        const i = q * cols + k;
        const isBlocked = k < colEnd && mask[i] === 0 && !(weights[i] > LEAK_THRESHOLD);
        if (k < colEnd && mask[i] === 0 && weights[i] > LEAK_THRESHOLD && leaks.length < MAX_LEAK_OUTLINES) leaks.push([q, k]);
        if (isBlocked && runStart < 0) runStart = k;
        if (!isBlocked && runStart >= 0) {
          hatch.rect(runStart * size - x0, q * size - y0, (k - runStart) * size, size);
          runStart = -1;
        }
      }
    }
    if (style.hatch) {
      // Anchored to the block, so the stripes move with the cells when the view pans.
      style.hatch.setTransform(new DOMMatrix([1, 0, 0, 1, -x0, -y0]));
      context.fillStyle = style.hatch;
      context.fill(hatch);
    }
    if (leaks.length > 0 && size >= 4) {
      context.strokeStyle = style.leak;
      context.lineWidth = Math.max(1, Math.floor(size / 8));
      const inset = context.lineWidth / 2;
      for (const [q, k] of leaks) context.strokeRect(k * size - x0 + inset, q * size - y0 + inset, size - 2 * inset, size - 2 * inset);
    }
  }
  if (style.border !== null && size >= 8) {
    // High contrast: cell borders, so every cell reads as its own square.
    context.strokeStyle = style.border;
    context.lineWidth = 1;
    context.beginPath();
    const right = colEnd * size - x0;
    const bottom = rowEnd * size - y0;
    for (let k = Math.max(1, colStart); k < colEnd; k++) {
      context.moveTo(k * size - x0 + 0.5, rowStart * size - y0);
      context.lineTo(k * size - x0 + 0.5, bottom);
    }
    for (let q = Math.max(1, rowStart); q < rowEnd; q++) {
      context.moveTo(colStart * size - x0, q * size - y0 + 0.5);
      context.lineTo(right, q * size - y0 + 0.5);
    }
    context.stroke();
  }
}

/** A tile of diagonal stripes for blocked cells, `ratio` device px per CSS px. */
export function hatchPattern(context: CanvasRenderingContext2D, colour: string, ratio: number): CanvasPattern | null {
  const tile = document.createElement('canvas');
  const n = Math.max(4, Math.round(5 * ratio));
  tile.width = n;
  tile.height = n;
  const tileContext = tile.getContext('2d');
  if (!tileContext) return null;
  tileContext.strokeStyle = colour;
  tileContext.lineWidth = Math.max(1, ratio * 0.8);
  tileContext.beginPath();
  // A diagonal that tiles seamlessly: the main one plus the two corner stubs.
  tileContext.moveTo(0, n);
  tileContext.lineTo(n, 0);
  tileContext.moveTo(-1, 1);
  tileContext.lineTo(1, -1);
  tileContext.moveTo(n - 1, n + 1);
  tileContext.lineTo(n + 1, n - 1);
  tileContext.stroke();
  return context.createPattern(tile, 'repeat');
}

/**
 * Thin gaps between words (the Words labels) across the visible cells, in `colour` (the
 * background: the cells of a word read as one block). `rowStarts` and `colStarts` are the tokens
 * that begin a word, ascending (token 0 left out: the block's edge needs no line).
 */
export function drawWordSeparators(
  context: CanvasRenderingContext2D, viewport: Viewport, view: { width: number; height: number }, block: { rows: number; cols: number },
  rowStarts: readonly number[], colStarts: readonly number[], colour: string, lineWidth: number,
): void {
  const size = viewport.cell;
  const x0 = Math.round(viewport.x);
  const y0 = Math.round(viewport.y);
  // The lines stop at the block's edge when the view is larger than the block.
  const right = Math.min(view.width, block.cols * size - x0);
  const bottom = Math.min(view.height, block.rows * size - y0);
  const half = Math.floor(lineWidth / 2);
  context.fillStyle = colour;
  for (const k of colStarts) {
    const x = k * size - x0;
    if (x > right) break;
    if (x > 0) context.fillRect(x - half, 0, lineWidth, bottom);
  }
  for (const q of rowStarts) {
    const y = q * size - y0;
    if (y > bottom) break;
    if (y > 0) context.fillRect(0, y - half, right, lineWidth);
  }
}

/** What one view's frames keep between them: its pixels, the pooled levels of its matrix, the hatching. */
export class FrameCache {
  /** The view's pixels, kept between frames of the same size (a 1000² view is 4 MB). */
  private pixels: { data: ImageData; pixels: Uint32Array } | undefined;
  private pooled: PooledLevels | null = null;
  private hatching: { key: string; pattern: CanvasPattern | null } | null = null;

  /** The matrix's levels, made again when it or its colours change. */
  levels(source: CellSource, colours: PixelColours): PooledLevels {
    if (!this.pooled || !this.pooled.matches(source, colours)) this.pooled = new PooledLevels(source, colours);
    return this.pooled;
  }

  /** The view-sized ImageData, reused while the size stays. */
  image(context: CanvasRenderingContext2D, box: { width: number; height: number }): { data: ImageData; pixels: Uint32Array } {
    if (!this.pixels || this.pixels.data.width !== box.width || this.pixels.data.height !== box.height) {
      const data = context.createImageData(box.width, box.height);
      this.pixels = { data, pixels: new Uint32Array(data.data.buffer, data.data.byteOffset, box.width * box.height) };
    }
    return this.pixels;
  }

  /** The hatching in `colour`, made once per colour and pixel ratio. */
  hatch(context: CanvasRenderingContext2D, colour: string, ratio: number): CanvasPattern | null {
    const key = `${colour}@${ratio}`;
    if (this.hatching?.key !== key) this.hatching = { key, pattern: hatchPattern(context, colour, ratio) };
    return this.hatching.pattern;
  }
}
