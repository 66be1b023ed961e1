/**
 * @file Images of the current view for "Export PNG": the heatmap (or rollout) canvas composed with
 * its title, token labels and colour legend on an offscreen canvas, so the image stands alone; and
 * the overview's thumbnails on a labelled grid.
 */
import { type ColorScale, rgbCss, SCALE_STEPS } from './colorScale';
import { formatWeight } from './labels';
import type { ThemeColors } from './theme';

export interface HeatmapImageInput {
  title: string;
  /** The drawn heatmap canvas (device pixels, one square cell per query × key). */
  source: HTMLCanvasElement;
  rows: number;
  cols: number;
  rowLabels: readonly string[];
  columnLabels: readonly string[];
  scale: ColorScale;
  theme: ThemeColors;
}

function fitText(context: CanvasRenderingContext2D, text: string, max: number): string {
  if (context.measureText(text).width <= max) return text;
  let cut = text;
  while (cut.length > 0 && context.measureText(`${cut}…`).width > max) cut = cut.slice(0, -1);
  return cut.length > 0 ? `${cut}…` : '';
}

/** The heatmap with labels and legend as a PNG data URL. */
export function heatmapPng(input: HeatmapImageInput): string {
  const { source, rows, cols, theme } = input;
  const ratio = Math.max(1, window.devicePixelRatio || 1);
  const cell = source.width / Math.max(1, cols);
  const font = Math.round(11 * ratio);
  const measure = document.createElement('canvas').getContext('2d');
  if (!measure) return source.toDataURL('image/png');
  measure.font = `${font}px ${theme.editorFontFamily}`;
  const step = Math.max(1, Math.ceil((14 * ratio) / cell));
  const labelsShown = step <= 32;
  const maxLabel = 120 * ratio;
  const widest = (labels: readonly string[]): number => Math.min(maxLabel, labels.reduce((m, l) => Math.max(m, measure.measureText(l).width), 0));
  const rowGutter = labelsShown ? Math.ceil(widest(input.rowLabels)) + 10 * ratio : 0;
  const colGutter = labelsShown ? Math.ceil(widest(input.columnLabels)) + 8 * ratio : 0;
  const titleHeight = 26 * ratio;
  const pad = 10 * ratio;
  const legendWidth = 56 * ratio;
  const width = Math.ceil(pad + rowGutter + source.width + legendWidth + pad);
  const height = Math.ceil(titleHeight + colGutter + Math.max(source.height, 80 * ratio) + pad);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) return source.toDataURL('image/png');
  context.fillStyle = rgbCss(theme.background);
  context.fillRect(0, 0, width, height);
  context.fillStyle = theme.foreground;
  context.font = `600 ${Math.round(13 * ratio)}px ${theme.fontFamily}`;
  context.textBaseline = 'middle';
  context.fillText(fitText(context, input.title, width - 2 * pad), pad, titleHeight / 2);
  const x0 = pad + rowGutter;
  const y0 = titleHeight + colGutter;
  context.imageSmoothingEnabled = false;
  context.drawImage(source, x0, y0);
  if (labelsShown) {
    context.font = `${font}px ${theme.editorFontFamily}`;
    context.textAlign = 'right';
    for (let q = 0; q < rows; q += step) context.fillText(fitText(context, input.rowLabels[q] ?? '', maxLabel), x0 - 5 * ratio, y0 + q * cell + cell / 2);
    context.textAlign = 'left';
    for (let k = 0; k < cols; k += step) {
      context.save();
      context.translate(x0 + k * cell + cell / 2, y0 - 4 * ratio);
      context.rotate(-Math.PI / 2);
      context.fillText(fitText(context, input.columnLabels[k] ?? '', maxLabel), 0, 0);
      context.restore();
    }
  }
  // Legend: the scale's table as a bar, max on top.
  const legendX = x0 + source.width + 12 * ratio;
  const barHeight = Math.max(60 * ratio, Math.min(220 * ratio, source.height));
  const bar = context.createImageData(1, SCALE_STEPS);
  for (let i = 0; i < SCALE_STEPS; i++) {
    const s = (SCALE_STEPS - 1 - i) * 3;
    bar.data.set([input.scale.table[s], input.scale.table[s + 1], input.scale.table[s + 2], 255], i * 4);
  }
  const barCanvas = document.createElement('canvas');
  barCanvas.width = 1;
  barCanvas.height = SCALE_STEPS;
  barCanvas.getContext('2d')?.putImageData(bar, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(barCanvas, legendX, y0, 10 * ratio, barHeight);
  context.font = `${Math.round(10 * ratio)}px ${theme.fontFamily}`;
  context.fillStyle = theme.description;
  context.textAlign = 'left';
  context.textBaseline = 'top';
  context.fillText(`${input.scale.clipped ? '≥' : ''}${formatWeight(input.scale.max)}`, legendX + 14 * ratio, y0);
  context.textBaseline = 'bottom';
  context.fillText('0', legendX + 14 * ratio, y0 + barHeight);
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
  canvas.width = labelWidth + heads * (thumb + gap) + gap;
  canvas.height = top + blocks.length * (thumb + gap) + gap;
  const context = canvas.getContext('2d');
  if (!context) return canvas.toDataURL('image/png');
  context.fillStyle = rgbCss(theme.background);
  context.fillRect(0, 0, canvas.width, canvas.height);
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
