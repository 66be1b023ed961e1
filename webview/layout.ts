/**
 * @file The heatmap's fixed geometry: its largest cell, the legend's column and the label gutters
 * beside the zoomable view (heatmapViewport.ts does the zoom and the visible range).
 */

/** Largest cell, CSS px: a 1-token heatmap is one big square, not the whole panel. */
export const MAX_CELL = 40;

/** Legend column beside the heatmap, CSS px (bar and tick text), plus the gap before it. */
export const LEGEND_WIDTH = 52;

const MIN_ROW_GUTTER = 28;

const MAX_COLUMN_GUTTER = 72;

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
