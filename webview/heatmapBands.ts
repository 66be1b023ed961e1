/**
 * @file The heatmap's highlight bands (the hovered and the selected row, the selected column) placed
 * over the view: centred on their row or column, at least 2 CSS px thick, hidden when it is out of view.
 */
import type { Viewport, VisibleRange } from './heatmapViewport';

/** Where the view is: its viewport (device px), the device pixel ratio, the cells in view, and whether a block is on show. */
export interface BandView {
  viewport: Viewport;
  ratio: number;
  range: VisibleRange;
  shown: boolean;
}

/** Places `band` on row (or, `vertical`, column) `index`; null, no block or out of view hides it. */
export function placeBand(band: HTMLElement, index: number | null, vertical: boolean, view: BandView): void {
  const { viewport, ratio, range } = view;
  const inView = index !== null && (vertical ? index >= range.colStart && index < range.colEnd : index >= range.rowStart && index < range.rowEnd);
  if (!view.shown || index === null || !inView) {
    band.hidden = true;
    return;
  }
  band.hidden = false;
  const cell = viewport.cell / ratio;
  const thickness = Math.max(2, cell);
  const origin = Math.round(vertical ? viewport.x : viewport.y) / ratio;
  const offset = index * cell - origin - (thickness - cell) / 2;
  if (vertical) {
    band.style.left = `${offset}px`;
    band.style.width = `${thickness}px`;
  } else {
    band.style.top = `${offset}px`;
    band.style.height = `${thickness}px`;
  }
}
