/**
 * @file Images for "Export PNG": a heatmap (a block's head or mean, or the rollout) drawn again from
 * its weights, whole (not the part the view shows) at twice the resolution of the cell size the SVG
 * export uses, with its full title, token labels and colour legend, so the image stands alone and
 * stays sharp when zoomed; and the overview's thumbnails on a labelled grid.
 */
import { type ColorScale, LEAK_THRESHOLD, paintCells, type Rgb, rgbCss, SCALE_STEPS } from './colorScale';
import { formatWeight } from './labels';
import { svgCellSize } from './svgExport';
import type { ThemeColors } from './theme';

/** Image pixels per layout pixel: a PNG at twice the resolution of the layout (sharp on HiDPI screens and in print). */
export const PNG_SCALE = 2;
/** The grid's longest side in image pixels at most: a 2048-token block is 8192 px, well inside a canvas's limits. */
export const PNG_MAX_GRID = 8192;

export interface HeatmapImageInput {
  title: string;
  /** [rows, cols] weights. */
  weights: Float32Array;
  mask: Uint8Array | null;
  rows: number;
  cols: number;
  rowLabels: readonly string[];
  columnLabels: readonly string[];
  scale: ColorScale;
  theme: ThemeColors;
  /** Colour of blocked cells that carry no weight. */
  blockedRgb: Rgb;
}

/** Where the parts of the image go, in image pixels. Pure. */
export interface PngLayout {
  /** Image pixels per cell (whole, so every cell is the same square). */
  cell: number;
  /** Every `labelStep`-th token is labelled (1: all); 0: none. */
  labelStep: number;
  font: number;
  titleFont: number;
  titleHeight: number;
  gridLeft: number;
  gridTop: number;
  width: number;
  height: number;
}

/**
 * @param measure the width, in layout pixels at the label and title fonts, of the widest row label,
 *   column label and of the title
 */
export function pngLayout(rows: number, cols: number, measure: { rowLabel: number; columnLabel: number; title: number }): PngLayout {
  const s = PNG_SCALE;
  const cell = Math.max(1, Math.min(s * svgCellSize(rows, cols), Math.floor(PNG_MAX_GRID / Math.max(1, rows, cols))));
  // Labels as the SVG export draws them: all of them once a cell is 8 layout px, else one in enough
  // cells to make 14 px, and none when that would be fewer than one in 32.
  const labelStep = cell >= 8 * s ? 1 : Math.ceil((14 * s) / cell) <= 32 ? Math.ceil((14 * s) / cell) : 0;
  const maxLabel = 160 * s;
  const rowGutter = labelStep > 0 ? Math.min(maxLabel, Math.ceil(measure.rowLabel * s)) + 10 * s : 0;
  const colGutter = labelStep > 0 ? Math.min(maxLabel, Math.ceil(measure.columnLabel * s)) + 8 * s : 0;
  const pad = 10 * s;
  const titleHeight = 26 * s;
  const legendWidth = 60 * s;
  const gridLeft = pad + rowGutter;
  const gridTop = titleHeight + colGutter;
  // Wide enough for the whole title: it is never cut.
  const width = Math.ceil(Math.max(gridLeft + cols * cell + legendWidth + pad, 2 * pad + measure.title * s));
  const height = Math.ceil(gridTop + Math.max(rows * cell, 80 * s) + pad);
  return { cell, labelStep, font: 11 * s, titleFont: 13 * s, titleHeight, gridLeft, gridTop, width, height };
}

function fitText(context: CanvasRenderingContext2D, text: string, max: number): string {
  if (context.measureText(text).width <= max) return text;
  let cut = text;
  while (cut.length > 0 && context.measureText(`${cut}…`).width > max) cut = cut.slice(0, -1);
  return cut.length > 0 ? `${cut}…` : '';
}

/** The whole heatmap with its title, labels and legend as a PNG data URL. */
export function heatmapPng(input: HeatmapImageInput): string {
  const { rows, cols, theme } = input;
  const measure = document.createElement('canvas').getContext('2d');
  if (!measure) throw new Error('The image could not be drawn: no 2D canvas.');
  const widest = (labels: readonly string[]): number => labels.reduce((m, l) => Math.max(m, measure.measureText(l).width), 0);
  measure.font = `11px ${theme.editorFontFamily}`;
  const rowLabel = widest(input.rowLabels);
  const columnLabel = widest(input.columnLabels);
  measure.font = `600 13px ${theme.fontFamily}`;
  const layout = pngLayout(rows, cols, { rowLabel, columnLabel, title: measure.measureText(input.title).width });
  const { cell, gridLeft: x0, gridTop: y0 } = layout;
  const s = PNG_SCALE;
  const canvas = document.createElement('canvas');
  canvas.width = layout.width;
  canvas.height = layout.height;
  const context = canvas.getContext('2d');
  if (!context) throw new Error('The image could not be drawn: no 2D canvas.');
  context.fillStyle = rgbCss(theme.background);
  context.fillRect(0, 0, layout.width, layout.height);
  context.fillStyle = theme.foreground;
  context.font = `600 ${layout.titleFont}px ${theme.fontFamily}`;
  context.textBaseline = 'middle';
  context.fillText(input.title, 10 * s, layout.titleHeight / 2);
  // The cells: one pixel each from the weights, then scaled by a whole factor without smoothing.
  const cells = document.createElement('canvas');
  cells.width = cols;
  cells.height = rows;
  const cellContext = cells.getContext('2d');
  if (cellContext && rows > 0 && cols > 0) {
    const image = cellContext.createImageData(cols, rows);
    paintCells(input.scale, input.weights.subarray(0, rows * cols), input.mask, input.blockedRgb, image.data);
    cellContext.putImageData(image, 0, 0);
    context.imageSmoothingEnabled = false;
    context.drawImage(cells, x0, y0, cols * cell, rows * cell);
  }
  // Masked cells that carry weight (leaks) are outlined, as in the view and the SVG.
  if (input.mask && cell >= 4) {
    context.strokeStyle = theme.error;
    context.lineWidth = s;
    for (let i = 0; i < rows * cols; i++) {
      if (input.mask[i] === 0 && input.weights[i] > LEAK_THRESHOLD) context.strokeRect(x0 + (i % cols) * cell + s / 2, y0 + Math.floor(i / cols) * cell + s / 2, cell - s, cell - s);
    }
  }
  if (layout.labelStep > 0) {
    const maxLabel = 160 * s;
    context.fillStyle = theme.foreground;
    context.font = `${layout.font}px ${theme.editorFontFamily}`;
    context.textAlign = 'right';
    for (let q = 0; q < rows; q += layout.labelStep) context.fillText(fitText(context, input.rowLabels[q] ?? '', maxLabel), x0 - 5 * s, y0 + q * cell + cell / 2);
    context.textAlign = 'left';
    for (let k = 0; k < cols; k += layout.labelStep) {
      context.save();
      context.translate(x0 + k * cell + cell / 2, y0 - 4 * s);
      context.rotate(-Math.PI / 2);
      context.fillText(fitText(context, input.columnLabels[k] ?? '', maxLabel), 0, 0);
      context.restore();
    }
  }
  // Legend: the scale's table as a bar, max on top.
  const legendX = x0 + cols * cell + 12 * s;
  const barHeight = Math.max(60 * s, Math.min(220 * s, rows * cell));
  const bar = new ImageData(1, SCALE_STEPS);
  for (let i = 0; i < SCALE_STEPS; i++) {
    const t = (SCALE_STEPS - 1 - i) * 3;
    bar.data.set([input.scale.table[t], input.scale.table[t + 1], input.scale.table[t + 2], 255], i * 4);
  }
  const barCanvas = document.createElement('canvas');
  barCanvas.width = 1;
  barCanvas.height = SCALE_STEPS;
  barCanvas.getContext('2d')?.putImageData(bar, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(barCanvas, legendX, y0, 10 * s, barHeight);
  context.font = `${10 * s}px ${theme.fontFamily}`;
  context.fillStyle = theme.description;
  context.textAlign = 'left';
  context.textBaseline = 'top';
  context.fillText(`${input.scale.clipped ? '≥' : ''}${formatWeight(input.scale.max)}`, legendX + 14 * s, y0);
  context.textBaseline = 'bottom';
  context.fillText('0', legendX + 14 * s, y0 + barHeight);
  return canvas.toDataURL('image/png');
}

/** The overview's thumbnails on one canvas: row labels on the left, head labels on top. */
export function overviewPng(title: string, cells: readonly HTMLElement[], rowLabel: (blockIndex: number) => string, theme: ThemeColors): string {
  const blocks = [...new Set(cells.map((c) => Number(c.dataset.blockIndex)))];
  const heads = Math.max(1, ...cells.map((c) => Number(c.dataset.head) + 1));
  const thumb = 64;
  const gap = 6;
  const labelWidth = 110;
  const top = 46;
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d');
  if (!context) return canvas.toDataURL('image/png');
  context.font = `600 13px ${theme.fontFamily}`;
  // Wide enough for the whole title; drawn at PNG_SCALE like the heatmap.
  const width = Math.ceil(Math.max(labelWidth + heads * (thumb + gap) + gap, 2 * gap + context.measureText(title).width));
  const height = top + blocks.length * (thumb + gap) + gap;
  canvas.width = width * PNG_SCALE;
  canvas.height = height * PNG_SCALE;
  context.scale(PNG_SCALE, PNG_SCALE);
  context.fillStyle = rgbCss(theme.background);
  context.fillRect(0, 0, width, height);
  context.fillStyle = theme.foreground;
  context.font = `600 13px ${theme.fontFamily}`;
  context.textBaseline = 'middle';
  context.fillText(title, gap, 13);
  context.font = `11px ${theme.fontFamily}`;
  context.textAlign = 'center';
  for (let h = 0; h < heads; h++) context.fillText(`H${h}`, labelWidth + h * (thumb + gap) + thumb / 2, top - 10);
  context.imageSmoothingEnabled = false;
  blocks.forEach((blockIndex, row) => {
    const y = top + row * (thumb + gap);
    context.textAlign = 'right';
    context.fillStyle = theme.foreground;
    context.fillText(rowLabel(blockIndex), labelWidth - 8, y + thumb / 2);
    for (const cell of cells.filter((c) => Number(c.dataset.blockIndex) === blockIndex)) {
      const source = cell.querySelector('canvas');
      if (!source || !cell.dataset.drawn) continue;
      const scale = thumb / Math.max(source.width, source.height);
      context.drawImage(source, labelWidth + Number(cell.dataset.head) * (thumb + gap), y, source.width * scale, source.height * scale);
    }
  });
  return canvas.toDataURL('image/png');
}
