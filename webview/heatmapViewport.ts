/**
 * @file The heatmap's zoom and pan as pure geometry, so it is unit-tested without a DOM: which cell
 * size fits the view, zooming about a point, panning, clamping to the block, which rows and columns
 * are visible, which of them get labels, where the minimap's rectangle lies.
 *
 * Units: the canvas is drawn in device pixels, so the viewport is too. `cell` is a cell's side in
 * device px; `x`/`y` are the device-px offsets of the view's top-left corner inside the whole block
 * drawn at that cell size. Cells of one device px or more have whole-pixel sides (every cell drawn
 * the same size, edges on pixel boundaries: crisp at any zoom); below one device px a pixel shows the
 * strongest of the cells it covers (heatmapRender.ts), so the cell size may be any fraction there.
 */

/** The block's shape: rows are queries, columns keys. */
export interface BlockShape {
  rows: number;
  cols: number;
}

/** The canvas's size in device px. */
export interface ViewBox {
  width: number;
  height: number;
}

export interface Viewport {
  /** A cell's side, device px (a whole number from 1 up; any fraction below 1). */
  cell: number;
  /** Device-px offset of the view's left and top edges in the whole block at this cell size. */
  x: number;
  y: number;
}

/** Half-open ranges of the rows and columns at least partly in view. */
export interface VisibleRange {
  rowStart: number;
  rowEnd: number;
  colStart: number;
  colEnd: number;
}

/** The largest cell, CSS px, that zooming in reaches (or the fit, if that is larger). */
export const MAX_ZOOM_CELL = 64;
/** Zoom factor of one key press or button press. */
export const ZOOM_STEP = 1.5;
/** A label for every row/column once cells are this big (CSS px: the labels' 11 px font). */
export const LABEL_SPACING = 11;

/**
 * The cell size that shows the whole block in `available` device px, no larger than `maxCell`:
 * a whole number of device px when at least one fits, else the exact fraction.
 */
export function fitCell(block: BlockShape, available: ViewBox, maxCell: number): number {
  const rows = Math.max(1, block.rows);
  const cols = Math.max(1, block.cols);
  const fit = Math.min(available.width / cols, available.height / rows);
  if (fit >= 1) return Math.max(1, Math.min(Math.floor(fit), Math.floor(Math.max(1, maxCell))));
  return Math.max(fit, 1e-6);
}

/** The canvas for a block at its fit: the block's size, never more than the space. */
export function viewBoxFor(block: BlockShape, available: ViewBox, cell: number): ViewBox {
  // The epsilon keeps float noise (2048 × (700 / 2048) = 700.0000001) from adding a pixel.
  return {
    width: Math.max(1, Math.min(Math.floor(available.width), Math.ceil(Math.max(1, block.cols) * cell - 1e-6))),
    height: Math.max(1, Math.min(Math.floor(available.height), Math.ceil(Math.max(1, block.rows) * cell - 1e-6))),
  };
}

/** The smallest and largest cell zooming reaches: the fit, and MAX_ZOOM_CELL CSS px (whole device px). */
export function zoomLimits(fit: number, devicePixelRatio: number): { min: number; max: number } {
  return { min: fit, max: Math.max(fit, Math.floor(MAX_ZOOM_CELL * Math.max(1, devicePixelRatio))) };
}

/**
 * A requested cell size made drawable: whole device px from 1 up (rounded in the direction of the
 * zoom, so a step from 1 px to 1.2 px still moves), within the limits.
 */
export function quantizeCell(wanted: number, current: number, limits: { min: number; max: number }): number {
  let cell = wanted;
  if (cell >= 1) cell = wanted > current ? Math.ceil(wanted - 1e-9) : Math.floor(wanted + 1e-9);
  else if (current < 1 && wanted > current && wanted > 1 - 1e-9) cell = 1;
  return Math.min(limits.max, Math.max(limits.min, cell));
}

/** The block's size in device px at a cell size. */
function extent(block: BlockShape, cell: number): { width: number; height: number } {
  return { width: Math.max(1, block.cols) * cell, height: Math.max(1, block.rows) * cell };
}

/** Keeps the view inside the block (whole device px, so cell edges stay on pixel boundaries). */
export function clampViewport(viewport: Viewport, box: ViewBox, block: BlockShape): Viewport {
  const size = extent(block, viewport.cell);
  const clamp = (value: number, span: number, view: number): number => Math.round(Math.max(0, Math.min(Math.max(0, span - view), value)));
  return { cell: viewport.cell, x: clamp(viewport.x, size.width, box.width), y: clamp(viewport.y, size.height, box.height) };
}

/** The whole block in view at the fit cell size. */
export function fittedViewport(fit: number): Viewport {
  return { cell: fit, x: 0, y: 0 };
}

/**
 * Zooms to `cell` keeping the block point under (px, py) (device px from the canvas's top-left)
 * where it is, as far as the block's edges allow.
 */
export function zoomTo(viewport: Viewport, box: ViewBox, block: BlockShape, cell: number, px: number, py: number): Viewport {
  const ratio = cell / viewport.cell;
  return clampViewport({ cell, x: (viewport.x + px) * ratio - px, y: (viewport.y + py) * ratio - py }, box, block);
}

/** Zooms by `factor` (> 1 in, < 1 out) about (px, py), within the limits. */
export function zoomAbout(viewport: Viewport, box: ViewBox, block: BlockShape, factor: number, px: number, py: number, limits: { min: number; max: number }): Viewport {
  const cell = quantizeCell(viewport.cell * factor, viewport.cell, limits);
  if (cell === viewport.cell) return viewport;
  return zoomTo(viewport, box, block, cell, px, py);
}

/** Moves the view by (dx, dy) device px. */
export function panBy(viewport: Viewport, box: ViewBox, block: BlockShape, dx: number, dy: number): Viewport {
  return clampViewport({ cell: viewport.cell, x: viewport.x + dx, y: viewport.y + dy }, box, block);
}

/** The rows and columns at least partly in view. */
export function visibleRange(viewport: Viewport, box: ViewBox, block: BlockShape): VisibleRange {
  const { cell, x, y } = viewport;
  return {
    rowStart: Math.max(0, Math.floor(y / cell + 1e-9)),
    rowEnd: Math.min(block.rows, Math.ceil((y + box.height) / cell - 1e-9)),
    colStart: Math.max(0, Math.floor(x / cell + 1e-9)),
    colEnd: Math.min(block.cols, Math.ceil((x + box.width) / cell - 1e-9)),
  };
}

/** The block is bigger than the view on either side: there is somewhere to pan (and a minimap). */
export function overflows(viewport: Viewport, box: ViewBox, block: BlockShape): boolean {
  const size = extent(block, viewport.cell);
  return size.width > box.width + 0.5 || size.height > box.height + 0.5;
}

/** The cell under a point given in device px from the canvas's top-left corner; null outside the block. */
export function cellAtPoint(viewport: Viewport, block: BlockShape, px: number, py: number): { query: number; key: number } | null {
  if (px < 0 || py < 0) return null;
  const key = Math.floor((viewport.x + px) / viewport.cell);
  const query = Math.floor((viewport.y + py) / viewport.cell);
  if (key >= block.cols || query >= block.rows) return null;
  return { query, key };
}

/**
 * Label every n-th row/column: 1 when cells are at least `spacing` CSS px, else the smallest of
 * 2, 5, 10, 20, 50, … that leaves `spacing` px per label. Round strides keep the same tokens labelled
 * while panning, and say at a glance which indices are shown.
 */
export function labelStride(cellCss: number, spacing = LABEL_SPACING): number {
  if (!(cellCss > 0)) return Number.POSITIVE_INFINITY;
  const wanted = spacing / cellCss;
  if (wanted <= 1 + 1e-9) return 1;
  let power = 1;
  for (;;) {
    for (const factor of [1, 2, 5]) if (factor * power >= wanted - 1e-9 && factor * power > 1) return factor * power;
    power *= 10;
  }
}

/** The multiples of `stride` in [start, end). */
export function labelIndices(start: number, end: number, stride: number): number[] {
  const indices: number[] = [];
  if (!(stride >= 1) || !Number.isFinite(stride)) return indices;
  for (let i = Math.ceil(start / stride) * stride; i < end; i += stride) indices.push(i);
  return indices;
}

/** Pans just enough that a row and/or a column (null: that axis stays) are in view, centring what was out of it. */
export function reveal(viewport: Viewport, box: ViewBox, block: BlockShape, row: number | null, col: number | null): Viewport {
  const range = visibleRange(viewport, box, block);
  const { cell } = viewport;
  let { x, y } = viewport;
  // A cell counts as in view only when whole (the edges' partial cells would hide a band).
  if (row !== null && (row * cell < y || (row + 1) * cell > y + box.height || row < range.rowStart || row >= range.rowEnd)) y = (row + 0.5) * cell - box.height / 2;
  if (col !== null && (col * cell < x || (col + 1) * cell > x + box.width || col < range.colStart || col >= range.colEnd)) x = (col + 0.5) * cell - box.width / 2;
  if (x === viewport.x && y === viewport.y) return viewport;
  return clampViewport({ cell, x, y }, box, block);
}

/** A thumbnail of the block no larger than `maxSide` on its longer side (CSS px, at least 1 a side). */
export function thumbnailSize(block: BlockShape, maxSide: number): { width: number; height: number } {
  const scale = maxSide / Math.max(1, block.rows, block.cols);
  return { width: Math.max(1, Math.round(Math.max(1, block.cols) * scale)), height: Math.max(1, Math.round(Math.max(1, block.rows) * scale)) };
}

/** The view's rectangle on a thumbnail of `thumb` px (same units out). */
export function minimapRect(viewport: Viewport, box: ViewBox, block: BlockShape, thumb: { width: number; height: number }): { left: number; top: number; width: number; height: number } {
  const size = extent(block, viewport.cell);
  const sx = thumb.width / size.width;
  const sy = thumb.height / size.height;
  return {
    left: viewport.x * sx,
    top: viewport.y * sy,
    width: Math.min(thumb.width, box.width * sx),
    height: Math.min(thumb.height, box.height * sy),
  };
}

/** The view centred on the block point under (tx, ty) of a thumbnail of `thumb` px. */
export function centreOnThumbnail(viewport: Viewport, box: ViewBox, block: BlockShape, thumb: { width: number; height: number }, tx: number, ty: number): Viewport {
  const size = extent(block, viewport.cell);
  return clampViewport({ cell: viewport.cell, x: (tx / thumb.width) * size.width - box.width / 2, y: (ty / thumb.height) * size.height - box.height / 2 }, box, block);
}

/**
 * Which pooled level draws a cell size: 0 (the cells themselves) from 1 device px up, else L with
 * 2^L cells a side per level cell, the finest whose cells are at least a device px (so under 2), so
 * every level cell (and the strongest weight in it) owns at least one pixel.
 */
export function poolLevel(cell: number): number {
  if (cell >= 1) return 0;
  return Math.max(0, Math.ceil(Math.log2(1 / cell) - 1e-9));
}
