/**
 * @file The attention debugger's pure logic: thumbnail downsampling (block averages), the badges a
 * head earns from its statistics, sorting the statistics table, the head view's lines, the
 * diagnostics summary line and where a diagnostic points, and the heatmap as an SVG document. No
 * DOM, so all of it is unit-tested in Node.
 */
import type { HeadStats, TraceDiagnostic, DiagnosticSeverity, DiagnosticThresholds } from '../src/shared/analysis';
import { uniformEntropyBits } from '../src/shared/entropy';
import type { BlockKind, StreamName } from '../src/shared/trace';
import type { BlockOverview } from '../src/shared/protocol';
import { type ColorScale, type Rgb, LEAK_THRESHOLD, scaleColor } from './colorScale';
import { formatWeight } from './labels';

// ---- thumbnails ------------------------------------------------------------------------------

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

// ---- badges ----------------------------------------------------------------------------------

export interface HeadBadge {
  /** Short text on the thumbnail: prev, sink, diag, uni, ind, ⚠. */
  text: string;
  /** What it means, with the number. */
  title: string;
  kind: 'pattern' | 'problem';
}

/** Statistics above this share make a badge. */
export const BADGE_SHARE = 0.5;

/**
 * The mean entropy (bits) of uniform attention over the keys a block's rows may see: log2 K without
 * a mask; with a causal mask on a square block row q sees q + 1 keys, so the mean of log2(q + 1).
 */
export function uniformEntropy(block: Pick<BlockOverview, 'queries' | 'keys' | 'maskKind'>): number {
  const causal = (block.maskKind === 'causal' || block.maskKind === 'causal+padding') && block.queries === block.keys;
  if (!causal) return uniformEntropyBits(block.keys);
  let sum = 0;
  for (let q = 0; q < block.queries; q++) sum += uniformEntropyBits(q + 1);
  return block.queries > 0 ? sum / block.queries : 0;
}

function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}

/** The diagnostics that point at this head (or at its whole block). */
export function diagnosticsFor(stats: Pick<HeadStats, 'blockIndex' | 'head'>, diagnostics: readonly TraceDiagnostic[]): TraceDiagnostic[] {
  return diagnostics.filter((d) => d.blockIndex === stats.blockIndex && (d.head === null || d.head === stats.head));
}

/**
 * The badges of one head: patterns (mean weight on the previous token, the first token, itself,
 * the induction target above one half; near-uniform entropy) and ⚠ when an error or warning
 * diagnostic points at it (or at its whole block).
 */
export function headBadges(
  stats: HeadStats, uniform: number, diagnostics: readonly TraceDiagnostic[], thresholds: Pick<DiagnosticThresholds, 'uniformEntropyRatio'>,
): HeadBadge[] {
  const badges: HeadBadge[] = [];
  if (stats.prevToken > BADGE_SHARE) badges.push({ text: 'prev', title: `Previous-token head: ${percent(stats.prevToken)} of the weight on the token before`, kind: 'pattern' });
  if (stats.sink > BADGE_SHARE) badges.push({ text: 'sink', title: `Attention sink: ${percent(stats.sink)} of the weight on the first token`, kind: 'pattern' });
  if (stats.diagonal > BADGE_SHARE) badges.push({ text: 'diag', title: `Self head: ${percent(stats.diagonal)} of the weight on the token itself`, kind: 'pattern' });
  if (stats.induction !== null && stats.induction > BADGE_SHARE) badges.push({ text: 'ind', title: `Induction head: ${percent(stats.induction)} of the weight on the token after the previous occurrence`, kind: 'pattern' });
  const pointing = diagnosticsFor(stats, diagnostics);
  if ((uniform > 0 && stats.entropy >= thresholds.uniformEntropyRatio * uniform) || pointing.some((d) => d.code === 'uniform-head')) {
    badges.push({ text: 'uni', title: `Near-uniform: mean entropy ${stats.entropy.toFixed(2)} of at most ${uniform.toFixed(2)} bits`, kind: 'pattern' });
  }
  // Infos (a uniform head) are patterns, already badged; errors and warnings are problems.
  const problems = pointing.filter((d) => d.severity !== 'info');
  if (problems.length > 0) badges.push({ text: '⚠', title: problems.map((d) => `${d.code}: ${d.message}`).join('\n'), kind: 'problem' });
  return badges;
}

// ---- statistics table ------------------------------------------------------------------------

export type StatsColumn = 'layer' | 'kind' | 'head' | 'entropy' | 'minEntropy' | 'meanDistance' | 'prevToken' | 'sink' | 'diagonal' | 'induction';
export type SortDirection = 'ascending' | 'descending';

export const STATS_COLUMNS: ReadonlyArray<{ key: StatsColumn; label: string; title: string; numeric: boolean }> = [
  { key: 'layer', label: 'Layer', title: 'Layer (0-based)', numeric: false },
  { key: 'kind', label: 'Kind', title: 'Attention block', numeric: false },
  { key: 'head', label: 'Head', title: 'Head (0-based)', numeric: true },
  { key: 'entropy', label: 'Entropy', title: 'Mean row entropy, bits (0 = one key, log2 K = uniform)', numeric: true },
  { key: 'minEntropy', label: 'Min H', title: 'Smallest row entropy, bits', numeric: true },
  { key: 'meanDistance', label: 'Dist', title: 'Mean distance attended, tokens', numeric: true },
  { key: 'prevToken', label: 'Prev', title: 'Mean weight on the previous token', numeric: true },
  { key: 'sink', label: 'Sink', title: 'Mean weight on the first token', numeric: true },
  { key: 'diagonal', label: 'Diag', title: 'Mean weight on the token itself', numeric: true },
  { key: 'induction', label: 'Induct', title: 'Mean weight on the token after the previous occurrence where the previous token does not already point there (— when no row counts)', numeric: true },
];

const KIND_ORDER: Readonly<Record<BlockKind, number>> = { 'encoder-self': 0, self: 1, 'decoder-self': 2, cross: 3 };

function sortValue(stats: HeadStats, column: StatsColumn): number | string | null {
  if (column === 'kind') return stats.kind;
  const value = stats[column];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * The rows sorted by a column (a new array; stable, so ties keep the model's order). Missing
 * values (null induction, NaN) go last in both directions; kinds sort in model order.
 */
export function sortStats(stats: readonly HeadStats[], column: StatsColumn, direction: SortDirection): HeadStats[] {
  const sign = direction === 'ascending' ? 1 : -1;
  return stats
    .map((row, index) => ({ row, index }))
    .sort((a, b) => {
      const x = sortValue(a.row, column);
      const y = sortValue(b.row, column);
      if (x === null || y === null) {
        if (x === null && y === null) return a.index - b.index;
        return x === null ? 1 : -1;
      }
      let order: number;
      if (typeof x === 'string' || typeof y === 'string') order = (KIND_ORDER[x as BlockKind] ?? 9) - (KIND_ORDER[y as BlockKind] ?? 9);
      else order = x - y;
      return order !== 0 ? sign * order : a.index - b.index;
    })
    .map(({ row }) => row);
}

/** A table cell's text: three decimals, — for a missing value. */
export function formatStat(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '—' : value.toFixed(3);
}

/** "enc self", "dec self", "cross", "self". */
export function kindLabel(kind: BlockKind): string {
  switch (kind) {
    case 'encoder-self': return 'enc self';
    case 'decoder-self': return 'dec self';
    case 'cross': return 'cross';
    default: return 'self';
  }
}

// ---- head view -------------------------------------------------------------------------------

export interface HeadLine {
  head: number;
  query: number;
  key: number;
  weight: number;
}

/**
 * The lines of the head view: every (head, query, key) of the visible heads whose weight is at
 * least minWeight, restricted to one query's or one key's lines when focused. Ordered by head,
 * then query, then key.
 */
export function headLines(
  probs: Float32Array, heads: number, queries: number, keys: number, visible: ReadonlySet<number>, minWeight: number,
  focus: { side: 'query' | 'key'; index: number } | null = null,
): HeadLine[] {
  const lines: HeadLine[] = [];
  for (let h = 0; h < heads; h++) {
    if (!visible.has(h)) continue;
    for (let q = 0; q < queries; q++) {
      if (focus?.side === 'query' && focus.index !== q) continue;
      const offset = (h * queries + q) * keys;
      for (let k = 0; k < keys; k++) {
        if (focus?.side === 'key' && focus.index !== k) continue;
        const weight = probs[offset + k];
        if (weight >= minWeight) lines.push({ head: h, query: q, key: k, weight });
      }
    }
  }
  return lines;
}

/** The head view draws up to this many tokens a side; longer inputs get the heatmap instead. */
export const HEAD_VIEW_MAX_TOKENS = 64;

// ---- diagnostics -----------------------------------------------------------------------------

const SEVERITY_RANK: Readonly<Record<DiagnosticSeverity, number>> = { error: 0, warning: 1, info: 2 };

export function severityIcon(severity: DiagnosticSeverity): string {
  return severity === 'error' ? '✖' : severity === 'warning' ? '⚠' : 'ℹ';
}

/** Errors first, then warnings, then infos; within a severity, model order. */
export function sortDiagnostics(diagnostics: readonly TraceDiagnostic[]): TraceDiagnostic[] {
  return diagnostics
    .map((d, index) => ({ d, index }))
    .sort((a, b) => SEVERITY_RANK[a.d.severity] - SEVERITY_RANK[b.d.severity] || a.index - b.index)
    .map(({ d }) => d);
}

export interface SeverityCounts {
  error: number;
  warning: number;
  info: number;
}

export function countSeverities(diagnostics: readonly TraceDiagnostic[]): SeverityCounts {
  const counts: SeverityCounts = { error: 0, warning: 0, info: 0 };
  for (const d of diagnostics) counts[d.severity]++;
  return counts;
}

/** "decoder layer 2 head 1", "layer 0", "encoder layer 1" (the stream named only when asked). */
export function diagnosticLocation(d: Pick<TraceDiagnostic, 'layer' | 'head' | 'stream'>, withStream: boolean): string {
  const parts: string[] = [];
  if (d.layer !== null) parts.push(`${withStream && d.stream ? `${d.stream} ` : ''}layer ${d.layer}`);
  else if (withStream && d.stream) parts.push(`${d.stream}`);
  if (d.head !== null) parts.push(`head ${d.head}`);
  return parts.join(' ');
}

export interface DiagnosticSummary {
  /** "⚠ 1 error, 2 warnings: mask-leak in layer 2 head 1" or "No problems found". */
  text: string;
  /** The worst severity present, null when there is nothing. */
  severity: DiagnosticSeverity | null;
  /** The diagnostic the summary names (the first of the worst severity). */
  first: TraceDiagnostic | null;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The one-line summary the header shows on every view. */
export function diagnosticSummary(diagnostics: readonly TraceDiagnostic[], withStream: boolean): DiagnosticSummary {
  if (diagnostics.length === 0) return { text: 'No problems found', severity: null, first: null };
  const counts = countSeverities(diagnostics);
  const first = sortDiagnostics(diagnostics)[0];
  const parts: string[] = [];
  if (counts.error > 0) parts.push(plural(counts.error, 'error'));
  if (counts.warning > 0) parts.push(plural(counts.warning, 'warning'));
  if (counts.info > 0) parts.push(`${counts.info} info`);
  const where = diagnosticLocation(first, withStream);
  return {
    text: `${severityIcon(first.severity)} ${parts.join(', ')}: ${first.code}${where ? ` in ${where}` : ''}`,
    severity: first.severity,
    first,
  };
}

/**
 * The block a diagnostic opens: its own, else the first self-attention block of its stream and
 * layer (a residual norm problem names a layer, not a block); null when nothing fits.
 */
export function diagnosticBlock(d: TraceDiagnostic, blocks: ReadonlyArray<Pick<BlockOverview, 'layer' | 'kind' | 'queryStream'>>): number | null {
  if (d.blockIndex !== null && d.blockIndex < blocks.length) return d.blockIndex;
  if (d.layer === null) return null;
  const sameLayer = blocks
    .map((block, index) => ({ block, index }))
    .filter(({ block }) => block.layer === d.layer && (d.stream === null || block.queryStream === d.stream));
  const self = sameLayer.find(({ block }) => block.kind !== 'cross') ?? sameLayer[0];
  return self ? self.index : null;
}

// ---- overview selection ----------------------------------------------------------------------

/** The overview grids an encoder-decoder offers (what the "Blocks" picker lists). */
export interface BlockFamily {
  key: string;
  label: string;
  stream: StreamName;
  kind: BlockKind;
  /** Block indices by layer, ascending. */
  blockIndices: number[];
}

/** Blocks grouped by (query stream, kind), in model order: encoder self, decoder self, cross. */
export function blockFamilies(blocks: ReadonlyArray<Pick<BlockOverview, 'layer' | 'kind' | 'queryStream'>>): BlockFamily[] {
  const families = new Map<string, BlockFamily>();
  blocks.forEach((block, index) => {
    const key = `${block.queryStream}:${block.kind}`;
    let family = families.get(key);
    if (!family) {
      const label = block.kind === 'cross' ? 'Cross-attention' : `${block.queryStream === 'encoder' ? 'Encoder' : 'Decoder'} self-attention`;
      family = { key, label, stream: block.queryStream, kind: block.kind, blockIndices: [] };
      families.set(key, family);
    }
    family.blockIndices.push(index);
  });
  const rank = (f: BlockFamily): number => (f.stream === 'encoder' ? 0 : 1) * 10 + KIND_ORDER[f.kind];
  const list = [...families.values()].sort((a, b) => rank(a) - rank(b));
  for (const family of list) family.blockIndices.sort((a, b) => blocks[a].layer - blocks[b].layer || a - b);
  return list;
}

// ---- SVG export ------------------------------------------------------------------------------

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

