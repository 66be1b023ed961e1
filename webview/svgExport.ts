/**
 * @file The heatmap as a standalone SVG document (the SVG export), and the file names exports
 * suggest. Pure.
 */
import type { BlockKind, StreamName } from '../src/shared/trace';
import { type ColorScale, type Rgb, LEAK_THRESHOLD, scaleColor } from './colorScale';
import { formatWeight } from './labels';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

export function hexColor([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export interface SvgHeatmapInput {
  title: string;
  rowLabels: readonly string[];
  columnLabels: readonly string[];
  /** [rows, cols] weights. */
  weights: Float32Array;
  rows: number;
  cols: number;
  mask: Uint8Array | null;
  scale: ColorScale;
  background: Rgb;
  foreground: string;
  /** Colour of blocked cells that carry no weight. */
  blockedRgb: Rgb;
  /** Outline of leaking cells. */
  leakColor: string;
  /** Cell size in SVG units (default: 16 up to 40 tokens, then smaller, at least 2). */
  cell?: number;
  fontFamily?: string;
}

/** The default cell size: labels stay readable for short inputs, the image stays near 1000 px. */
export function svgCellSize(rows: number, cols: number): number {
  return Math.max(2, Math.min(16, Math.floor(960 / Math.max(1, rows, cols))));
}

/**
 * The heatmap as a standalone SVG document: a title, row (query) and column (key) labels, one
 * rect per run of equal-coloured cells in a row (so a 512-token map stays a few MB), blocked
 * cells in the blocked colour, leaking cells outlined, and a legend from 0 to the scale's top.
 */
export function heatmapSvg(input: SvgHeatmapInput): string {
  const { rows, cols, weights, mask, scale } = input;
  const cell = input.cell ?? svgCellSize(rows, cols);
  const font = escapeXml(input.fontFamily ?? 'monospace');
  const labelsShown = cell >= 8;
  const fontSize = Math.min(11, cell - 2);
  const longest = (labels: readonly string[]): number => labels.reduce((m, l) => Math.max(m, Array.from(l).length), 0);
  const rowGutter = labelsShown ? Math.min(160, longest(input.rowLabels) * fontSize * 0.62 + 10) : 0;
  const colGutter = labelsShown ? Math.min(160, longest(input.columnLabels) * fontSize * 0.62 + 10) : 0;
  const titleHeight = 24;
  const legendWidth = 60;
  const left = Math.ceil(rowGutter) + 8;
  const top = titleHeight + Math.ceil(colGutter) + 4;
  const gridWidth = cols * cell;
  const gridHeight = rows * cell;
  // Wide enough for the title too (13 px bold: about 8 px a character).
  const width = Math.ceil(Math.max(left + gridWidth + legendWidth, 16 + Array.from(input.title).length * 8));
  const height = top + Math.max(gridHeight, 80) + 8;
  const fg = escapeXml(input.foreground);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${font}">`);
  out.push(`<title>${escapeXml(input.title)}</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="${hexColor(input.background)}"/>`);
  out.push(`<text x="8" y="16" font-size="13" font-weight="600" fill="${fg}">${escapeXml(input.title)}</text>`);
  if (labelsShown) {
    out.push(`<g font-size="${fontSize}" fill="${fg}">`);
    input.rowLabels.forEach((label, q) => {
      out.push(`<text x="${left - 4}" y="${top + q * cell + cell / 2}" text-anchor="end" dominant-baseline="central">${escapeXml(label)}</text>`);
    });
    input.columnLabels.forEach((label, k) => {
      const x = left + k * cell + cell / 2;
      const y = top - 4;
      out.push(`<text transform="translate(${x} ${y}) rotate(-90)" dominant-baseline="central">${escapeXml(label)}</text>`);
    });
    out.push('</g>');
  }
  const blocked = hexColor(input.blockedRgb);
  const colorAt = (i: number): string => {
    const w = weights[i];
    if (mask !== null && mask[i] === 0 && !(w > LEAK_THRESHOLD)) return blocked;
    return hexColor(scaleColor(scale, w));
  };
  out.push('<g shape-rendering="crispEdges">');
  const leaks: string[] = [];
  for (let q = 0; q < rows; q++) {
    let start = 0;
    let color = cols > 0 ? colorAt(q * cols) : '';
    for (let k = 1; k <= cols; k++) {
      const next = k < cols ? colorAt(q * cols + k) : '';
      if (next !== color) {
        out.push(`<rect x="${left + start * cell}" y="${top + q * cell}" width="${(k - start) * cell}" height="${cell}" fill="${color}"/>`);
        start = k;
        color = next;
      }
    }
    if (mask !== null) {
      for (let k = 0; k < cols; k++) {
        const i = q * cols + k;
        if (mask[i] === 0 && weights[i] > LEAK_THRESHOLD) leaks.push(`<rect x="${left + k * cell + 0.5}" y="${top + q * cell + 0.5}" width="${cell - 1}" height="${cell - 1}"/>`);
      }
    }
  }
  out.push('</g>');
  if (leaks.length > 0) out.push(`<g fill="none" stroke="${escapeXml(input.leakColor)}" stroke-width="1">${leaks.join('')}</g>`);
  // Legend: a vertical gradient of the scale, top = max.
  const legendX = left + gridWidth + 12;
  const legendHeight = Math.max(60, Math.min(220, gridHeight));
  const stops: string[] = [];
  for (let i = 0; i <= 10; i++) stops.push(`<stop offset="${i / 10}" stop-color="${hexColor(scaleColor(scale, scale.max * (1 - i / 10)))}"/>`);
  out.push(`<defs><linearGradient id="legend" x1="0" y1="0" x2="0" y2="1">${stops.join('')}</linearGradient></defs>`);
  out.push(`<rect x="${legendX}" y="${top}" width="10" height="${legendHeight}" fill="url(#legend)"/>`);
  out.push(`<g font-size="10" fill="${fg}">`);
  out.push(`<text x="${legendX + 14}" y="${top + 8}">${scale.clipped ? '≥' : ''}${formatWeight(scale.max)}</text>`);
  out.push(`<text x="${legendX + 14}" y="${top + legendHeight}">0</text>`);
  out.push('</g></svg>');
  return out.join('\n');
}

/** A file name for an export: "attention-decoder-L2-head1". */
export function exportName(parts: { stream: StreamName; layer: number; kind: BlockKind; head: number | 'mean' }): string {
  const kind = parts.kind === 'cross' ? '-cross' : '';
  return `attention-${parts.stream}-L${parts.layer}${kind}-${parts.head === 'mean' ? 'mean' : `head${parts.head}`}`;
}

