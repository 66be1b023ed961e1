/**
 * @file The attention heatmap: queries as rows, keys as columns, on a canvas the size of the view.
 * Every frame is drawn from the weights for the visible window only (heatmapRender.ts), so it stays
 * crisp at any zoom and device pixel ratio; the zoom and pan geometry lives in heatmapViewport.ts,
 * the input (wheel, drag, keys, toolbar) in heatmapZoom.ts, the minimap in minimap.ts. Token labels
 * are DOM elements in gutters beside the view, for the visible rows and columns, per token or per
 * word (heatmapWords.ts; thin gaps then part the words' cells); the colour legend sits beside the
 * view, which never scrolls, so it stays in sight. Hover (of a cell or a row label) and selection
 * highlights; a tooltip. The What-if row tools (heatmapRowTools.ts): the top-1 next token after
 * each row label, a token search, and rows shift-clicked together with their mean attention in a
 * strip under the view.
 */
import type { HeatmapCallbacks, HeatmapInput } from './heatmapInput';
import { HeatmapLabels } from './heatmapLabels';
import { placeBand } from './heatmapBands';
import { type CellSource, drawOverlays, drawWordSeparators, fillView, FrameCache, pixelColours, type PooledLevels } from './heatmapRender';
import { RowTools } from './heatmapRowTools';
import { showCellTooltip, showTooltip } from './heatmapTooltip';
import {
  type BlockShape, cellAtPoint, centreOnThumbnail, clampViewport, fitCell, fittedViewport, LABEL_SPACING, minimapRect, overflows, panBy, poolLevel, reveal,
  type ViewBox, viewBoxFor, type Viewport, visibleRange, zoomAbout, zoomLimits, zoomTo,
} from './heatmapViewport';
import { attachZoomInput, ZoomToolbar, type ZoomTarget } from './heatmapZoom';
import { axisTexts, type WordAxis, wordAxis, wordOf } from './heatmapWords';
import type { Measure } from './labels';
import { labelWidth, rowNotes } from './predictionLabels';
import { labelGutters, LEGEND_WIDTH, MAX_CELL } from './layout';
import { Legend } from './legend';
import { Minimap } from './minimap';
import type { ThemeColors } from './theme';
import { blockedCellColor, withAlpha } from './theme';

export type { HeatmapCallbacks, HeatmapInput } from './heatmapInput';

/** The view's height as a share of the window at most: the controls and the chart keep the rest. */
const MAX_VIEW_HEIGHT = 0.8;
/** Height the toolbar and the row tools' line above the view take, CSS px. */
const TOOLBAR_HEIGHT = 50;
/** Word separators from this cell size, device px (smaller cells would be mostly gap). */
const MIN_SEPARATED_CELL = 4;

function div(className: string): HTMLDivElement {
  const node = document.createElement('div');
  node.className = className;
  return node;
}

export class HeatmapView implements ZoomTarget {
  readonly element: HTMLElement;
  private readonly toolbar = new ZoomToolbar(this);
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
  private readonly minimap = new Minimap((x, y) => this.setViewport(centreOnThumbnail(this.viewport, this.box, this.shape, this.minimap.size, x, y)));
  private readonly labels = new HeatmapLabels(this.rows, this.columns, (query) => this.hover(query), (query, shift) => (shift ? this.rowTools.shiftClick(query) : this.callbacks.onSelect(query)));
  private readonly rowTools = new RowTools({
    queryTokens: () => this.input?.queryTokens ?? [],
    selectedRow: () => this.selected,
    showRow: (query) => this.showRow(query),
    notesChanged: () => this.input && this.render(this.input, this.lastWidth),
    rowsChanged: () => this.drawFrame(),
    showTooltip: (lines, event) => showTooltip(this.tooltip, this.element, lines, event),
    hideTooltip: () => (this.tooltip.hidden = true),
  });
  /** Labels per word (else per token), and the axes' words while they are. */
  private words = false;
  private rowWords: WordAxis | null = null;
  private columnWords: WordAxis | null = null;
  private measureText: Measure = (text) => Array.from(text).length * 7;
  private readonly frameCache = new FrameCache();
  private input: HeatmapInput | undefined;
  private lastWidth = 0;
  private shape: BlockShape = { rows: 1, cols: 1 };
  private ratio = 1;
  private box: ViewBox = { width: 1, height: 1 };
  private fitSize = 1;
  private limits = { min: 1, max: 1 };
  private viewport: Viewport = { cell: 1, x: 0, y: 0 };
  /** The view follows the fit when the space changes (until the user zooms). */
  private fitted = true;
  private frameRequest = 0;
  private frames = 0;
  private hovered: number | null = null;
  private selected: number | null = null;
  private selectedKey: number | null = null;
  private readonly endedDrag: () => boolean;

  constructor(private readonly callbacks: HeatmapCallbacks) {
    this.element = document.createElement('figure');
    this.element.className = 'heatmap-figure';
    this.canvas.id = 'heatmap';
    this.canvas.setAttribute('role', 'img');
    this.wrap.tabIndex = 0;
    this.wrap.setAttribute('aria-label', 'Attention heatmap: + and − zoom, 0 fits, arrows pan when zoomed in; arrow up and down (Shift when zoomed) choose a query row');
    this.tooltip.setAttribute('role', 'tooltip');
    this.tooltip.hidden = true;
    this.loading.textContent = 'Loading block…';
    this.loading.hidden = true;
    this.hoverBand.hidden = true;
    this.selectedBand.hidden = true;
    this.columnBand.hidden = true;
    this.corner.textContent = 'q \\ k';
    this.corner.title = 'Rows: queries · columns: keys';
    this.wrap.append(this.canvas, this.columnBand, this.selectedBand, this.hoverBand, this.loading, this.minimap.element);
    const { stripLabel, stripWrap, stripEnd, bar } = this.rowTools;
    this.grid.append(this.corner, this.columns, div('heatmap-spacer'), this.rows, this.wrap, this.legend.element, stripLabel, stripWrap, stripEnd);
    this.scroller.append(this.grid);
    this.element.append(this.toolbar.element, bar, this.scroller, this.tooltip);
    this.rowTools.attachLabelTooltips(this.rows);
    // Zoom input first, so its keys are taken before the row keys below see them.
    this.endedDrag = attachZoomInput(this.wrap, this);
    this.wrap.addEventListener('mousemove', (event) => this.onPointer(event));
    this.wrap.addEventListener('mouseleave', () => this.onLeave());
    this.wrap.addEventListener('click', (event) => {
      if (this.endedDrag()) return;
      const cell = this.cellFromEvent(event);
      if (cell && event.shiftKey) this.rowTools.shiftClick(cell.query);
      else if (cell) this.callbacks.onSelect(this.selected === cell.query ? null : cell.query);
    });
    this.wrap.addEventListener('keydown', (event) => this.onKey(event));
    // The view's height follows the window's, which the panel's size watch (widths only) misses.
    let height = window.innerHeight;
    window.addEventListener('resize', () => {
      if (window.innerHeight === height || !this.input) return;
      height = window.innerHeight;
      this.render(this.input, this.lastWidth);
    });
  }

  /** Lays out and redraws everything for new data, a new size or a new theme; the zoom stays while the block's shape does. */
  render(input: HeatmapInput, availableWidth: number): void {
    this.input = input;
    this.lastWidth = availableWidth;
    const { block } = input;
    const ratio = window.devicePixelRatio || 1;
    const measure = this.labels.measure(input.theme.editorFontFamily);
    this.measureText = measure;
    this.rowWords = this.words ? wordAxis(input.queryTokens) : null;
    this.columnWords = this.words ? wordAxis(input.keyTokens) : null;
    this.rowTools.setBlock(input.predictions ?? null, block.queries);
    const notes = input.predictions && this.rowTools.notesShown ? rowNotes(input.predictions.top, this.rowWords?.groups ?? null) : undefined;
    const rowAxis = { ...axisTexts(input.queryTokens, this.rowWords), notes };
    const columnAxis = axisTexts(input.keyTokens, this.columnWords);
    const widest = (labels: readonly string[], extra?: readonly string[]): number => labels.reduce((max, label, i) => Math.max(max, labelWidth(label, extra?.[i], measure)), 0);
    const gutters = labelGutters(availableWidth, widest(rowAxis.texts, notes), widest(columnAxis.texts));
    // New tokens, words, gutters or font: the label nodes kept between frames are rebuilt.
    this.labels.reset(rowAxis, columnAxis, gutters);
    this.toolbar.showWords(this.words);
    const shape = { rows: Math.max(1, block.queries), cols: Math.max(1, block.keys) };
    const available = {
      width: Math.floor(Math.max(40, availableWidth - gutters.rowGutter - LEGEND_WIDTH) * ratio),
      height: Math.floor(Math.max(120, Math.floor(window.innerHeight * MAX_VIEW_HEIGHT) - gutters.columnGutter - TOOLBAR_HEIGHT) * ratio),
    };
    const fit = fitCell(shape, available, MAX_CELL * ratio);
    const box = viewBoxFor(shape, available, fit);
    const limits = zoomLimits(fit, ratio);
    if (shape.rows !== this.shape.rows || shape.cols !== this.shape.cols || ratio !== this.ratio) this.fitted = true;
    if (this.fitted) {
      this.viewport = fittedViewport(fit);
    } else {
      // Zoomed in: keep the zoom and what is at the view's centre.
      const old = this.viewport;
      const cell = Math.min(limits.max, Math.max(limits.min, old.cell));
      const cx = (old.x + this.box.width / 2) / old.cell;
      const cy = (old.y + this.box.height / 2) / old.cell;
      this.viewport = clampViewport({ cell, x: cx * cell - box.width / 2, y: cy * cell - box.height / 2 }, box, shape);
      this.fitted = cell <= fit;
    }
    this.shape = shape;
    this.ratio = ratio;
    this.fitSize = fit;
    this.box = box;
    this.limits = limits;

    const width = box.width / ratio;
    const height = box.height / ratio;
    this.grid.style.gridTemplateColumns = `${gutters.rowGutter}px ${width}px ${LEGEND_WIDTH}px`;
    this.grid.style.gridTemplateRows = `${gutters.columnGutter}px auto`;
    this.corner.hidden = gutters.rowGutter < 28 || gutters.columnGutter < 14;
    this.wrap.style.width = `${width}px`;
    this.wrap.style.height = `${height}px`;
    // Resizing a canvas clears and reallocates it: only when the size changes (a frame repaints all).
    if (this.canvas.width !== box.width) this.canvas.width = box.width;
    if (this.canvas.height !== box.height) this.canvas.height = box.height;
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.canvas.dataset.blockIndex = String(input.blockIndex);
    this.canvas.dataset.layer = String(block.layer);
    this.canvas.dataset.stream = block.queryStream;
    this.canvas.dataset.head = String(input.head);
    this.canvas.setAttribute('aria-label', `Attention weights, ${block.queries} ${block.queryStream} queries by ${block.keys} ${block.keyStream} keys, ${input.head === 'mean' ? 'mean of heads' : `head ${input.head}`}`);
    this.legend.update(input.scale, height);
    this.loading.hidden = input.weights !== null;
    if (input.weights === null) {
      delete this.canvas.dataset.drawn;
      delete this.canvas.dataset.renderMs;
      delete this.canvas.dataset.renderBlock;
      this.minimap.clear();
    }
    this.drawFrame();
    // Tests (and screen readers) can tell a drawn heatmap from an empty canvas.
    if (input.weights !== null) {
      this.canvas.dataset.drawn = `${block.queries}x${block.keys}`;
      this.prepareMinimap(input);
    }
  }

  /**
   * Draws the minimap's thumbnail and makes the hatching once the page is idle, though neither
   * shows until the view zooms in: their canvas contexts and the pooled levels then cost the first
   * zoom steps nothing (making a canvas context alone took 40 ms of such a step in headless Chromium).
   */
  private prepareMinimap(input: HeatmapInput): void {
    const run = (): void => {
      if (this.input !== input || input.weights === null) return;
      const context = this.canvas.getContext('2d');
      if (context) this.hatch(context, input.theme);
      this.minimap.draw(this.shape, this.levelsFor(input, input.weights), this.ratio, { width: this.box.width / this.ratio, height: this.box.height / this.ratio });
    };
    if (typeof requestIdleCallback === 'function') requestIdleCallback(run, { timeout: 1000 });
    else setTimeout(run, 50);
  }

  /** The persistent selection (a query row and/or a key column, e.g. from the editor cursor). */
  setSelection(query: number | null, key: number | null, scroll: boolean): void {
    this.selected = query;
    this.selectedKey = key;
    if (scroll && this.input) {
      const next = reveal(this.viewport, this.box, this.shape, query, key);
      if (next !== this.viewport) {
        this.viewport = next;
        this.drawFrame();
      }
    }
    this.updateBands();
    if (scroll) {
      // The panel scrolls so the band is on screen (the view itself panned to it above).
      const target = query !== null ? this.selectedBand : key !== null ? this.columnBand : null;
      if (target && !target.hidden) target.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  }

  get selectedQuery(): number | null {
    return this.selected;
  }

  // ---- ZoomTarget: what the wheel, drags, keys and the toolbar ask for ----------------------------

  zoomBy(factor: number, clientX?: number, clientY?: number): boolean {
    if (!this.input) return false;
    const bounds = this.canvas.getBoundingClientRect();
    const px = clientX === undefined ? this.box.width / 2 : (clientX - bounds.left) * this.ratio;
    const py = clientY === undefined ? this.box.height / 2 : (clientY - bounds.top) * this.ratio;
    return this.setViewport(zoomAbout(this.viewport, this.box, this.shape, factor, px, py, this.limits));
  }

  panBy(dx: number, dy: number): boolean {
    return this.input !== undefined && this.setViewport(panBy(this.viewport, this.box, this.shape, dx * this.ratio, dy * this.ratio));
  }

  fit(): void {
    this.setViewport(fittedViewport(this.fitSize));
  }

  actualSize(): void {
    const cell = Math.min(this.limits.max, Math.max(this.limits.min, 1));
    this.setViewport(zoomTo(this.viewport, this.box, this.shape, cell, this.box.width / 2, this.box.height / 2));
  }

  canPan(axis: 'x' | 'y'): boolean {
    return axis === 'x' ? this.shape.cols * this.viewport.cell > this.box.width + 0.5 : this.shape.rows * this.viewport.cell > this.box.height + 0.5;
  }

  canZoomOut(): boolean {
    return this.viewport.cell > this.limits.min;
  }

  toggleWords(): void {
    this.setWords(!this.words);
    this.callbacks.onWordsChange?.(this.words);
  }

  /** Labels per word or per token (the panel's saved choice, or the toggle). */
  setWords(words: boolean): void {
    if (words === this.words) return;
    this.words = words;
    this.toolbar.showWords(words);
    if (this.input) this.render(this.input, this.lastWidth);
  }

  /** Moves the view; the frame is drawn at the next animation frame (wheel events come faster). */
  private setViewport(next: Viewport): boolean {
    const current = this.viewport;
    if (!this.input || (next.cell === current.cell && next.x === current.x && next.y === current.y)) return false;
    this.viewport = next;
    this.fitted = next.cell <= this.fitSize;
    this.tooltip.hidden = true;
    if (this.frameRequest === 0) {
      this.frameRequest = requestAnimationFrame(() => {
        this.frameRequest = 0;
        this.drawFrame();
      });
    }
    return true;
  }

  // ---- drawing ------------------------------------------------------------------------------------

  /** One frame: the visible cells, their overlays, labels, highlights, minimap and toolbar. */
  private drawFrame(): void {
    const input = this.input;
    if (!input) return;
    const start = performance.now();
    const { viewport, box, shape, ratio } = this;
    const range = visibleRange(viewport, box, shape);
    const context = this.canvas.getContext('2d');
    const zoomed = overflows(viewport, box, shape);
    if (input.weights !== null && context) {
      const levels = this.levelsFor(input, input.weights);
      const source = levels.source;
      const image = this.frameCache.image(context, box);
      fillView(image.pixels, box.width, box.height, viewport, levels);
      context.putImageData(image.data, 0, 0);
      if (poolLevel(viewport.cell) === 0) {
        const theme = input.theme;
        drawOverlays(context, viewport, range, source, {
          hatch: this.hatch(context, theme),
          leak: theme.error,
          border: theme.contrastBorder !== null ? withAlpha(theme.contrastBorder, 0.6) : null,
        });
      }
      if (this.rowWords && this.columnWords && viewport.cell >= MIN_SEPARATED_CELL) {
        const [r, g, b] = input.theme.background;
        drawWordSeparators(context, viewport, box, shape, this.rowWords.starts, this.columnWords.starts, `rgb(${r}, ${g}, ${b})`, Math.max(1, Math.floor(ratio)));
      }
      if (zoomed) this.minimap.draw(shape, levels, ratio, { width: box.width / ratio, height: box.height / ratio });
      this.rowTools.draw({ weights: input.weights, keys: shape.cols, keyTokens: input.keyTokens, scale: input.scale, viewport, width: box.width, ratio });
    } else {
      context?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    }
    this.minimap.element.hidden = !zoomed || input.weights === null;
    if (zoomed) this.minimap.place(minimapRect(viewport, box, shape, this.minimap.size));
    this.labels.render(range, viewport.cell / ratio, Math.round(viewport.x) / ratio, Math.round(viewport.y) / ratio, { width: box.width / ratio, height: box.height / ratio }, this.measureText);
    this.updateBands();
    const cellCss = viewport.cell / ratio;
    this.toolbar.update({
      rows: [range.rowStart, range.rowEnd], cols: [range.colStart, range.colEnd], totalRows: shape.rows, totalCols: shape.cols,
      cellCss, fitted: viewport.cell === this.fitSize, actual: viewport.cell === 1,
    });
    this.element.classList.toggle('zoomed', zoomed);
    // For tests and the bench: what is in view, the cell size and this frame's drawing time.
    const dataset = this.canvas.dataset;
    dataset.cell = String(Number(cellCss.toFixed(4)));
    dataset.cellDevice = String(Number(viewport.cell.toFixed(4)));
    dataset.rows = `${range.rowStart}-${range.rowEnd - 1}`;
    dataset.cols = `${range.colStart}-${range.colEnd - 1}`;
    dataset.zoomed = String(zoomed);
    dataset.frames = String(++this.frames);
    dataset.frameMs = (performance.now() - start).toFixed(2);
  }

  /** The colour codes and pooled levels of the matrix on show, made again when it or its colours change. */
  private levelsFor(input: HeatmapInput, weights: Float32Array): PooledLevels {
    const source: CellSource = { rows: this.shape.rows, cols: this.shape.cols, weights, mask: input.mask };
    return this.frameCache.levels(source, pixelColours(input.scale, blockedCellColor(input.theme)));
  }

  /** The hatching for blocked cells, made once per colour and pixel ratio. */
  private hatch(context: CanvasRenderingContext2D, theme: ThemeColors): CanvasPattern | null {
    return this.frameCache.hatch(context, withAlpha(theme.contrastBorder ?? theme.description, theme.contrastBorder ? 0.9 : 0.45), this.ratio);
  }

  // ---- pointer, keys, tooltip --------------------------------------------------------------------

  private cellFromEvent(event: MouseEvent): { query: number; key: number } | null {
    if (!this.input) return null;
    const bounds = this.canvas.getBoundingClientRect();
    return cellAtPoint(this.viewport, this.shape, (event.clientX - bounds.left) * this.ratio, (event.clientY - bounds.top) * this.ratio);
  }

  private onPointer(event: MouseEvent): void {
    const input = this.input;
    const cell = this.cellFromEvent(event);
    if (!input || !cell || this.wrap.classList.contains('panning')) {
      this.onLeave();
      return;
    }
    this.hover(cell.query);
    const words = this.words ? { query: wordOf(this.rowWords, cell.query), key: wordOf(this.columnWords, cell.key) } : undefined;
    showCellTooltip(this.tooltip, this.element, input, cell.query, cell.key, event, words);
  }

  private onLeave(): void {
    this.tooltip.hidden = true;
    this.hover(null);
  }

  /** The pointer is on a query row (its cells or its label), or on none: the band and the editor follow. */
  private hover(query: number | null): void {
    if (this.hovered === query) return;
    this.hovered = query;
    this.updateBands();
    this.callbacks.onHover(query);
  }

  private onKey(event: KeyboardEvent): void {
    if (!this.input || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
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
    // The row chosen stays in view when zoomed in.
    if (next !== null) this.setViewport(reveal(this.viewport, this.box, this.shape, next, null));
    this.callbacks.onSelect(next);
  }

  /** A row the search found: zoomed in until rows are labelled, panned into view, and selected. */
  private showRow(query: number): void {
    const cell = Math.min(this.limits.max, Math.max(this.viewport.cell, LABEL_SPACING * this.ratio));
    const zoomed = cell === this.viewport.cell ? this.viewport : zoomTo(this.viewport, this.box, this.shape, cell, this.box.width / 2, (query + 0.5) * this.viewport.cell - this.viewport.y);
    this.setViewport(reveal(zoomed, this.box, this.shape, query, null));
    this.callbacks.onSelect(query);
  }

  /** Hover and selection bands over the view, hidden when their row or column is out of it. */
  private updateBands(): void {
    const range = visibleRange(this.viewport, this.box, this.shape);
    const at = { viewport: this.viewport, ratio: this.ratio, range, shown: this.input !== undefined };
    placeBand(this.hoverBand, this.hovered, false, at);
    placeBand(this.selectedBand, this.selected, false, at);
    placeBand(this.columnBand, this.selectedKey, true, at);
    this.labels.mark(this.hovered, this.selected, this.rowTools.rows);
  }
}
