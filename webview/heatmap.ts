/**
 * @file The attention heatmap: queries as rows, keys as columns, drawn on a canvas with one pixel
 * per cell (an ImageData) scaled up without smoothing; blocked cells hatched, leaking cells outlined;
 * token labels as DOM elements in gutters beside it; hover and selection highlights; a tooltip.
 */
import type { Token } from '../src/shared/trace';
import type { BlockOverview } from '../src/shared/protocol';
import type { HeadChoice } from './attention';
import { type ColorScale, LEAK_THRESHOLD, paintCells } from './colorScale';
import { elide, type Measure, thinnedIndices, tokenLabel } from './labels';
import { outsideWindow } from './kvGroups';
import { cellAt, computeLayout, type HeatmapLayout, LEGEND_WIDTH } from './layout';
import { Legend } from './legend';
import type { ThemeColors } from './theme';
import { blockedCellColor, withAlpha } from './theme';

export interface HeatmapInput {
  block: BlockOverview;
  blockIndex: number;
  head: HeadChoice;
  /** [queries, keys] weights of the head shown, or null while the block loads. */
  weights: Float32Array | null;
  mask: Uint8Array | null;
  queryTokens: readonly Token[];
  keyTokens: readonly Token[];
  scale: ColorScale;
  theme: ThemeColors;
}

export interface HeatmapCallbacks {
  /** The pointer is over a query row (null: it left). */
  onHover(query: number | null): void;
  /** A row was clicked or chosen with the keyboard (null: selection cleared). */
  onSelect(query: number | null): void;
}

/** Label text: the editor font, small. */
const LABEL_FONT_SIZE = 11;
const LINE_HEIGHT = 14;
/** Leak outlines only where a cell is big enough to show one, and not thousands of them. */
const MAX_LEAK_OUTLINES = 4096;

function div(className: string): HTMLDivElement {
  const node = document.createElement('div');
  node.className = className;
  return node;
}

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly scroller = div('heatmap-scroll');
  private readonly grid = div('heatmap-grid');
  private readonly corner = div('heatmap-corner');
  private readonly columns = div('heatmap-cols');
  private readonly rows = div('heatmap-rows');
  private readonly wrap = div('heatmap-canvas-wrap');
  readonly canvas = document.createElement('canvas');
  private readonly hoverBand = div('row-highlight hover');
  private readonly selectedBand = div('row-highlight selected');
  private readonly columnBand = div('col-highlight');
  private readonly loading = div('heatmap-loading');
  private readonly tooltip = div('tooltip');
  private readonly legend = new Legend();
  private readonly measureContext = document.createElement('canvas').getContext('2d');
  /** Label widths by text, for the font in `measuredFont` (a 1024-token axis has few distinct labels). */
  private readonly widths = new Map<string, number>();
  private measuredFont = '';
  /** The cells' image, one pixel per cell, kept between draws of the same shape. */
  private image: ImageData | undefined;
  /** Where the image is scaled up from when cells are bigger than a device pixel. */
  private readonly bitmap = document.createElement('canvas');
  private input: HeatmapInput | undefined;
  private layout: HeatmapLayout | undefined;
  private rowLabels = new Map<number, HTMLElement>();
  private hovered: number | null = null;
  private selected: number | null = null;
  private selectedKey: number | null = null;

  constructor(private readonly callbacks: HeatmapCallbacks) {
    this.element = document.createElement('figure');
    this.element.className = 'heatmap-figure';
    this.canvas.id = 'heatmap';
    this.canvas.setAttribute('role', 'img');
    this.wrap.tabIndex = 0;
    this.wrap.setAttribute('aria-label', 'Attention heatmap: arrow up and down choose a query row');
    this.tooltip.setAttribute('role', 'tooltip');
    this.tooltip.hidden = true;
    this.loading.textContent = 'Loading block…';
    this.loading.hidden = true;
    this.hoverBand.hidden = true;
    this.selectedBand.hidden = true;
    this.columnBand.hidden = true;
    this.corner.textContent = 'q \\ k';
    this.corner.title = 'Rows: queries · columns: keys';
    this.wrap.append(this.canvas, this.columnBand, this.selectedBand, this.hoverBand, this.loading);
    this.grid.append(this.corner, this.columns, div('heatmap-spacer'), this.rows, this.wrap, this.legend.element);
    this.scroller.append(this.grid);
    this.element.append(this.scroller, this.tooltip);
    this.wrap.addEventListener('mousemove', (event) => this.onPointer(event));
    this.wrap.addEventListener('mouseleave', () => this.onLeave());
    this.wrap.addEventListener('click', (event) => {
      const cell = this.cellFromEvent(event);
      if (cell) this.callbacks.onSelect(this.selected === cell.query ? null : cell.query);
    });
    this.wrap.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** Redraws everything for new data, a new size or a new theme. */
  render(input: HeatmapInput, availableWidth: number): void {
    this.input = input;
    const { block } = input;
    const measure = this.measure(input.theme);
    const rowLabels = input.queryTokens.map((token) => tokenLabel(token));
    const columnLabels = input.keyTokens.map((token) => tokenLabel(token));
    const widest = (labels: string[]): number => labels.reduce((max, label) => Math.max(max, measure(label)), 0);
    const layout = computeLayout({
      availableWidth,
      queries: block.queries,
      keys: block.keys,
      devicePixelRatio: window.devicePixelRatio || 1,
      rowLabelWidth: widest(rowLabels),
      columnLabelWidth: widest(columnLabels),
      lineHeight: LINE_HEIGHT,
    });
    this.layout = layout;
    this.grid.style.gridTemplateColumns = `${layout.rowGutter}px ${layout.width}px ${LEGEND_WIDTH}px`;
    this.grid.style.gridTemplateRows = `${layout.columnGutter}px auto`;
    this.corner.hidden = layout.rowGutter < 28 || layout.columnGutter < 14;
    this.wrap.style.width = `${layout.width}px`;
    this.wrap.style.height = `${layout.height}px`;
    // Resizing a canvas clears and reallocates it: only when the size changes (draw() repaints all).
    if (this.canvas.width !== layout.canvasWidthDevice) this.canvas.width = layout.canvasWidthDevice;
    if (this.canvas.height !== layout.canvasHeightDevice) this.canvas.height = layout.canvasHeightDevice;
    this.canvas.style.width = `${layout.width}px`;
    this.canvas.style.height = `${layout.height}px`;
    this.canvas.dataset.blockIndex = String(input.blockIndex);
    this.canvas.dataset.layer = String(block.layer);
    this.canvas.dataset.stream = block.queryStream;
    this.canvas.dataset.head = String(input.head);
    this.canvas.setAttribute('aria-label', `Attention weights, ${block.queries} ${block.queryStream} queries by ${block.keys} ${block.keyStream} keys, ${input.head === 'mean' ? 'mean of heads' : `head ${input.head}`}`);
    this.element.classList.toggle('overflows', layout.overflows);

    this.renderLabels(rowLabels, columnLabels, layout, measure);
    this.legend.update(input.scale, layout.height);
    if (input.weights === null) {
      delete this.canvas.dataset.drawn;
      delete this.canvas.dataset.renderMs;
      delete this.canvas.dataset.renderBlock;
      this.loading.hidden = false;
      this.canvas.getContext('2d')?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    } else {
      this.loading.hidden = true;
      this.draw(input, input.weights, layout);
      // Tests (and screen readers) can tell a drawn heatmap from an empty canvas.
      this.canvas.dataset.drawn = `${block.queries}x${block.keys}`;
    }
    this.updateBands();
  }

  /** The persistent selection (a query row and/or a key column, e.g. from the editor cursor). */
  setSelection(query: number | null, key: number | null, scroll: boolean): void {
    this.selected = query;
    this.selectedKey = key;
    this.updateBands();
    if (scroll) {
      const target = query !== null ? this.selectedBand : key !== null ? this.columnBand : null;
      target?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  }

  get selectedQuery(): number | null {
    return this.selected;
  }

  private measure(theme: ThemeColors): Measure {
    const context = this.measureContext;
    if (!context) return (text) => Array.from(text).length * 7;
    const font = `${LABEL_FONT_SIZE}px ${theme.editorFontFamily}`;
    if (font !== this.measuredFont || this.widths.size > 20_000) {
      this.widths.clear();
      this.measuredFont = font;
    }
    context.font = font;
    return (text) => {
      let width = this.widths.get(text);
      if (width === undefined) {
        width = context.measureText(text).width;
        this.widths.set(text, width);
      }
      return width;
    };
  }

  /** An ImageData of the cells' shape, reused while the shape stays (a 1024² one is 4 MB). */
  private cellImage(context: CanvasRenderingContext2D, width: number, height: number): ImageData {
    if (!this.image || this.image.width !== width || this.image.height !== height) this.image = context.createImageData(width, height);
    return this.image;
  }

  private renderLabels(rowLabels: string[], columnLabels: string[], layout: HeatmapLayout, measure: Measure): void {
    this.rowLabels.clear();
    const rowNodes: HTMLElement[] = [];
    if (layout.rowLabelStep > 0) {
      for (const q of thinnedIndices(rowLabels.length, layout.rowLabelStep)) {
        const label = this.label(rowLabels[q], layout.rowGutter - 8, measure, q);
        label.style.top = `${q * layout.cell + layout.cell / 2 - LINE_HEIGHT / 2}px`;
        this.rowLabels.set(q, label);
        rowNodes.push(label);
      }
    }
    this.rows.replaceChildren(...rowNodes);
    this.rows.hidden = layout.rowLabelStep === 0;
    const columnNodes: HTMLElement[] = [];
    if (layout.columnLabelStep > 0) {
      for (const k of thinnedIndices(columnLabels.length, layout.columnLabelStep)) {
        const label = this.label(columnLabels[k], layout.columnGutter - 4, measure, k);
        label.style.left = `${k * layout.cell + layout.cell / 2 - LINE_HEIGHT / 2}px`;
        columnNodes.push(label);
      }
    }
    this.columns.replaceChildren(...columnNodes);
    this.columns.hidden = layout.columnLabelStep === 0;
  }

  private label(text: string, width: number, measure: Measure, index: number): HTMLElement {
    const node = document.createElement('span');
    node.className = 'token-label';
    node.textContent = elide(text, width, measure);
    node.title = text;
    node.dataset.index = String(index);
    return node;
  }

  private draw(input: HeatmapInput, weights: Float32Array, layout: HeatmapLayout): void {
    const { block, mask, theme } = input;
    const { queries, keys } = block;
    const context = this.canvas.getContext('2d');
    if (!context) return;
    const blocked = blockedCellColor(theme);
    const image = this.cellImage(context, keys, queries);
    paintCells(input.scale, weights, mask, blocked, image.data);
    const size = layout.cellDevice;
    if (size === 1) {
      // One device pixel per cell: the image is the canvas, no scaling pass.
      context.putImageData(image, 0, 0);
    } else {
      const bitmap = this.bitmap;
      if (bitmap.width !== keys || bitmap.height !== queries) {
        bitmap.width = keys;
        bitmap.height = queries;
      }
      const bitmapContext = bitmap.getContext('2d');
      if (!bitmapContext) return;
      bitmapContext.putImageData(image, 0, 0);
      context.imageSmoothingEnabled = false;
      context.clearRect(0, 0, this.canvas.width, this.canvas.height);
      context.drawImage(bitmap, 0, 0, layout.canvasWidthDevice, layout.canvasHeightDevice);
    }

    // Hatching shows from 3 device px a cell, leak outlines from 4: smaller cells skip the scan.
    if (mask !== null && size >= 3) {
      // Hatch every blocked cell that carries no weight, as horizontal runs per row.
      const hatch = new Path2D();
      const leaks: Array<[number, number]> = [];
      for (let q = 0; q < queries; q++) {
        let runStart = -1;
        for (let k = 0; k <= keys; k++) {
          const i = q * keys + k;
          const isBlocked = k < keys && mask[i] === 0 && !(weights[i] > LEAK_THRESHOLD);
          if (k < keys && mask[i] === 0 && weights[i] > LEAK_THRESHOLD && leaks.length < MAX_LEAK_OUTLINES) leaks.push([q, k]);
          if (isBlocked && runStart < 0) runStart = k;
          if (!isBlocked && runStart >= 0) {
            hatch.rect(runStart * size, q * size, (k - runStart) * size, size);
            runStart = -1;
          }
        }
      }
      const pattern = this.hatchPattern(context, theme);
      if (pattern) {
        context.fillStyle = pattern;
        context.fill(hatch);
      }
      if (leaks.length > 0 && size >= 4) {
        context.strokeStyle = theme.error;
        context.lineWidth = Math.max(1, Math.floor(size / 8));
        const inset = context.lineWidth / 2;
        for (const [q, k] of leaks) context.strokeRect(k * size + inset, q * size + inset, size - 2 * inset, size - 2 * inset);
      }
    }
    if (theme.contrastBorder !== null && size >= 8) {
      // High contrast: cell borders, so every cell reads as its own square.
      context.strokeStyle = withAlpha(theme.contrastBorder, 0.6);
      context.lineWidth = 1;
      context.beginPath();
      for (let k = 1; k < keys; k++) {
        context.moveTo(k * size + 0.5, 0);
        context.lineTo(k * size + 0.5, queries * size);
      }
      for (let q = 1; q < queries; q++) {
        context.moveTo(0, q * size + 0.5);
        context.lineTo(keys * size, q * size + 0.5);
      }
      context.stroke();
    }
  }

  private hatchPattern(context: CanvasRenderingContext2D, theme: ThemeColors): CanvasPattern | null {
    const ratio = window.devicePixelRatio || 1;
    const tile = document.createElement('canvas');
    const n = Math.max(4, Math.round(5 * ratio));
    tile.width = n;
    tile.height = n;
    const tileContext = tile.getContext('2d');
    if (!tileContext) return null;
    tileContext.strokeStyle = withAlpha(theme.contrastBorder ?? theme.description, theme.contrastBorder ? 0.9 : 0.45);
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

  private cellFromEvent(event: MouseEvent): { query: number; key: number } | null {
    if (!this.input || !this.layout) return null;
    const bounds = this.canvas.getBoundingClientRect();
    return cellAt(this.layout, this.input.block.queries, this.input.block.keys, event.clientX - bounds.left, event.clientY - bounds.top);
  }

  private onPointer(event: MouseEvent): void {
    const input = this.input;
    const cell = this.cellFromEvent(event);
    if (!input || !cell) {
      this.onLeave();
      return;
    }
    if (this.hovered !== cell.query) {
      this.hovered = cell.query;
      this.updateBands();
      this.callbacks.onHover(cell.query);
    }
    this.showTooltip(input, cell.query, cell.key, event);
  }

  private onLeave(): void {
    this.tooltip.hidden = true;
    if (this.hovered !== null) {
      this.hovered = null;
      this.updateBands();
      this.callbacks.onHover(null);
    }
  }

  private onKey(event: KeyboardEvent): void {
    if (!this.input || event.altKey || event.ctrlKey || event.metaKey) return;
    const queries = this.input.block.queries;
    let next: number | null | undefined;
    if (event.key === 'ArrowDown') next = this.selected === null ? 0 : Math.min(queries - 1, this.selected + 1);
    else if (event.key === 'ArrowUp') next = this.selected === null ? queries - 1 : Math.max(0, this.selected - 1);
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = queries - 1;
    else if (event.key === 'Escape') next = null;
    if (next === undefined) return;
    event.preventDefault();
    event.stopPropagation();
    this.callbacks.onSelect(next);
  }

  private showTooltip(input: HeatmapInput, query: number, key: number, event: MouseEvent): void {
    const { block, weights, mask } = input;
    const queryText = tokenLabel(input.queryTokens[query]);
    const keyText = tokenLabel(input.keyTokens[key]);
    const lines: Array<[string, string]> = [
      ['query', `${queryText}  #${query}`],
      ['key', `${keyText}  #${key}`],
    ];
    const i = query * block.keys + key;
    const isMasked = mask !== null && mask[i] === 0;
    const weight = weights ? weights[i] : NaN;
    const weightText = weights ? `${weight.toFixed(4)}${isMasked ? (outsideWindow(block, query, key) ? ' (masked: outside the window)' : ' (masked)') : ''}` : 'loading…';
    lines.push(['weight', weightText]);
    this.tooltip.replaceChildren(...lines.map(([name, value]) => {
      const row = document.createElement('div');
      const label = document.createElement('span');
      label.className = 'tooltip-key';
      label.textContent = name;
      const text = document.createElement('span');
      text.textContent = value;
      if (name === 'weight' && isMasked) text.className = weight > LEAK_THRESHOLD ? 'tooltip-leak' : 'tooltip-masked';
      row.append(label, text);
      return row;
    }));
    this.tooltip.hidden = false;
    const figure = this.element.getBoundingClientRect();
    const x = event.clientX - figure.left;
    const y = event.clientY - figure.top;
    const width = this.tooltip.offsetWidth;
    const height = this.tooltip.offsetHeight;
    let left = x + 14;
    if (left + width > figure.width) left = Math.max(0, x - width - 14);
    let top = y + 14;
    if (top + height > figure.height && y - height - 14 >= 0) top = y - height - 14;
    this.tooltip.style.left = `${left}px`;
    this.tooltip.style.top = `${top}px`;
  }

  private updateBands(): void {
    const layout = this.layout;
    const place = (band: HTMLElement, index: number | null, vertical: boolean): void => {
      if (!layout || index === null) {
        band.hidden = true;
        return;
      }
      band.hidden = false;
      const thickness = Math.max(2, layout.cell);
      const offset = index * layout.cell - (thickness - layout.cell) / 2;
      if (vertical) {
        band.style.left = `${offset}px`;
        band.style.width = `${thickness}px`;
      } else {
        band.style.top = `${offset}px`;
        band.style.height = `${thickness}px`;
      }
    };
    place(this.hoverBand, this.hovered, false);
    place(this.selectedBand, this.selected, false);
    place(this.columnBand, this.selectedKey, true);
    for (const [q, label] of this.rowLabels) {
      label.classList.toggle('hovered', q === this.hovered);
      label.classList.toggle('selected', q === this.selected);
    }
  }
}
