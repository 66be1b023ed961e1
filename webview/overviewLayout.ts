/**
 * @file How big the overview's thumbnails are: the largest cell that lets every head column of a
 * row fit the width the view has (the side bar is about 300 px: a 12 × 12 grid must fit there),
 * between a minimum that still shows a pattern and the full size of the wide editor view. Pure.
 */

/** A cell's side at full size, px (48 px of thumbnail, 3 px padding and 1 px border each side). */
export const CELL_MAX = 56;
/** The smallest cell, px: below it the grid scrolls sideways instead. */
export const CELL_MIN = 14;
/** Under this cell side the labels abbreviate ("L3", "3") and badges become dots. */
export const CELL_COMPACT = 40;
/** The gap between grid tracks, px, at full size and when compact. */
export const GAP_FULL = 4;
export const GAP_COMPACT = 2;
/** The gap column between KV-head groups, px. */
export const GROUP_GAP = 6;

export interface OverviewFit {
  /** A cell's side, px. */
  cell: number;
  /** The grid's gap, px. */
  gap: number;
  /** The padding plus border inside a cell, px per side. */
  inset: number;
  /** The thumbnail's largest side inside a cell, px. */
  thumb: number;
}

/**
 * The cell side for a row of `columns` head cells (and `groupGaps` gap columns between KV groups)
 * after a label column `labelWidth` wide, in `width` px. `compact` picks the smaller gap and inset.
 */
export function fitCells(width: number, labelWidth: number, columns: number, groupGaps: number, compact: boolean): OverviewFit {
  const gap = compact ? GAP_COMPACT : GAP_FULL;
  const inset = compact ? 2 : 4;
  // The gaps between the label column, the head columns and the group gap columns.
  const gaps = columns + groupGaps;
  const free = width - labelWidth - gap * gaps - GROUP_GAP * groupGaps;
  const cell = Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor(free / Math.max(1, columns))));
  return { cell, gap, inset, thumb: cell - 2 * inset };
}
