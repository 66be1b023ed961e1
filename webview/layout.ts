/**
 * @file The heatmap's geometry from the space it has: cell size (whole device pixels, so every cell
 * is drawn and equal), label gutters and which labels fit. Pure, so it is unit-tested.
 */

export interface LayoutInput {
  /** Width the figure may use, CSS px. */
  availableWidth: number;
  queries: number;
  keys: number;
  devicePixelRatio: number;
  /** Widest row (query) label, CSS px, unelided. */
  rowLabelWidth: number;
  /** Widest column (key) label, CSS px, unelided. */
  columnLabelWidth: number;
  /** Height of one line of label text, CSS px. */
  lineHeight: number;
}

export interface HeatmapLayout {
  /** Cell size in device pixels (≥ 1) and in CSS px. */
  cellDevice: number;
  cell: number;
  /** Canvas backing size, device px, and its CSS size. */
  canvasWidthDevice: number;
  canvasHeightDevice: number;
  width: number;
  height: number;
  /** Left gutter for row labels and top gutter for column labels, CSS px (0 when hidden). */
  rowGutter: number;
  columnGutter: number;
  /** Label every n-th row / column; 0 = no labels. */
  rowLabelStep: number;
  columnLabelStep: number;
  /** The grid is wider than the space (cells at their 1-pixel minimum): the figure scrolls. */
  overflows: boolean;
}

/** Largest cell, CSS px: a 1-token heatmap is one big square, not the whole panel. */
export const MAX_CELL = 40;
/** Largest canvas side in device px: Chromium stops drawing canvases much past 16k px a side. */
export const MAX_CANVAS_SIDE = 8192;
/** Legend column beside the heatmap, CSS px (bar and tick text), plus the gap before it. */
export const LEGEND_WIDTH = 52;
/** Labels thinner than every n-th are not worth showing. */
export const MAX_LABEL_STEP = 32;
const MIN_ROW_GUTTER = 28;
const MAX_COLUMN_GUTTER = 72;

export function computeLayout(input: LayoutInput): HeatmapLayout {
  const queries = Math.max(1, input.queries);
  const keys = Math.max(1, input.keys);
  const ratio = input.devicePixelRatio > 0 ? input.devicePixelRatio : 1;
  const available = Math.max(80, input.availableWidth);
  // Row labels get at most ~28% of the width (a narrow side panel still keeps most for the grid).
  const rowGutterCap = Math.max(MIN_ROW_GUTTER, Math.floor(available * 0.28));
  const rowGutterWanted = Math.min(rowGutterCap, Math.max(MIN_ROW_GUTTER, Math.ceil(input.rowLabelWidth) + 8));
  const sizeFor = (gutter: number): number => {
    const gridWidth = available - gutter - LEGEND_WIDTH;
    const fit = Math.floor((gridWidth * ratio) / keys);
    const cap = Math.min(Math.floor(MAX_CELL * ratio), Math.floor(MAX_CANVAS_SIDE / Math.max(queries, keys)));
    return Math.max(1, Math.min(fit, cap));
  };
  let cellDevice = sizeFor(rowGutterWanted);
  let cell = cellDevice / ratio;
  const labelStep = (size: number): number => {
    const step = Math.max(1, Math.ceil(input.lineHeight / size));
    return step > MAX_LABEL_STEP ? 0 : step;
  };
  const rowLabelStep = labelStep(cell);
  const rowGutter = rowLabelStep > 0 ? rowGutterWanted : 0;
  if (rowGutter !== rowGutterWanted) {
    cellDevice = sizeFor(rowGutter);
    cell = cellDevice / ratio;
  }
  const columnLabelStep = labelStep(cell);
  const columnGutter = columnLabelStep > 0 ? Math.min(MAX_COLUMN_GUTTER, Math.max(16, Math.ceil(input.columnLabelWidth) + 6)) : 0;
  const canvasWidthDevice = keys * cellDevice;
  const canvasHeightDevice = queries * cellDevice;
  return {
    cellDevice,
    cell,
    canvasWidthDevice,
    canvasHeightDevice,
    width: canvasWidthDevice / ratio,
    height: canvasHeightDevice / ratio,
    rowGutter,
    columnGutter,
    rowLabelStep: rowLabelStep > 0 ? labelStep(cell) : 0,
    columnLabelStep,
    overflows: rowGutter + canvasWidthDevice / ratio + LEGEND_WIDTH > available + 0.5,
  };
}

/**
 * The label gutters beside the zoomable heatmap: always kept (labels appear as the view zooms in,
 * and a gutter that came and went would move the view under the pointer). Row labels get at most
 * ~28% of the width; column labels (vertical) at most MAX_COLUMN_GUTTER.
 */
export function labelGutters(availableWidth: number, rowLabelWidth: number, columnLabelWidth: number): { rowGutter: number; columnGutter: number } {
  const available = Math.max(80, availableWidth);
  const rowGutterCap = Math.max(MIN_ROW_GUTTER, Math.floor(available * 0.28));
  return {
    rowGutter: Math.min(rowGutterCap, Math.max(MIN_ROW_GUTTER, Math.ceil(rowLabelWidth) + 8)),
    columnGutter: Math.min(MAX_COLUMN_GUTTER, Math.max(16, Math.ceil(columnLabelWidth) + 6)),
  };
}

/** The cell under a point given relative to the canvas's top-left corner, CSS px; null outside. */
export function cellAt(layout: Pick<HeatmapLayout, 'cell'>, queries: number, keys: number, x: number, y: number): { query: number; key: number } | null {
  const key = Math.floor(x / layout.cell);
  const query = Math.floor(y / layout.cell);
  if (x < 0 || y < 0 || key >= keys || query >= queries) return null;
  return { query, key };
}
