/**
 * @file The overview: every layer × head of one family of blocks (encoder self, decoder self or
 * cross) as small heatmap thumbnails (block-averaged to at most THUMB_SIDE cells a side, one canvas
 * each), a row per layer, a column per head, with badges for notable heads. Every cell exists in the
 * DOM at once; a layer's probabilities are asked for only when its row scrolls into view.
 * OverviewTab fills it from PanelSession's trace and blocks.
 */
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds, type HeadStats, type TraceDiagnostic } from '../src/shared/analysis';
import type { BlockOverview } from '../src/shared/protocol';
import { type ColorMapName } from '../src/shared/protocol';
import { colorLimit } from './attention';
import { makeColorScale, paintCells } from './colorScale';
import type { BlockFamily } from './blockFamilies';
import { headBadges, uniformEntropy } from './headBadges';
import { blockHeadsText, familyKvGroups, headLabel, headSpoken, isGrouped, kvHeadOf, overviewKvLine } from './kvGroups';
import { CELL_COMPACT, fitCells } from './overviewLayout';
import { downsample, downsampleMask } from './thumbnails';
import type { PanelSession } from './session';
import type { ShownTrace } from './shownTrace';
import type { Tabs } from './tabs';
import { blockedCellColor, type ThemeColors } from './theme';

/** A thumbnail's largest side, in cells (= canvas pixels). */
export const THUMB_SIDE = 48;

export interface OverviewCallbacks {
  /** The block's data, when it has arrived. */
  data(blockIndex: number): { probs: Float32Array; mask: Uint8Array | null } | null;
  /** Ask the host for a block (cached and de-duplicated by the caller). */
  request(blockIndex: number): void;
  /** A cell was chosen: open it in the heatmap. */
  open(blockIndex: number, head: number): void;
  /** The family picker changed. */
  familyChanged(key: string): void;
}

export interface OverviewInput {
  blocks: readonly BlockOverview[];
  families: readonly BlockFamily[];
  familyKey: string;
  /** True for encoder-decoder models: the family picker is shown. */
  encDec: boolean;
  layerLabel(blockIndex: number): string;
  stats: readonly HeadStats[];
  diagnostics: readonly TraceDiagnostic[];
  thresholds: Pick<DiagnosticThresholds, 'uniformEntropyRatio'>;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A label with its full and abbreviated text (fit() shows one; the full one is its tooltip). */
function abbreviated(node: HTMLElement, full: string, short: string): HTMLElement {
  node.textContent = full;
  node.title = full;
  node.dataset.full = full;
  node.dataset.short = short;
  return node;
}

export class OverviewView {
  readonly element = el('section', 'overview');
  private readonly familySelect = el('select');
  private readonly familyPicker = el('label', 'picker');
  private readonly hint = el('p', 'view-hint', 'Each thumbnail is one head (rows: queries, columns: keys). Click one to open it in the heatmap.');
  /** Grouped-query attention: "14 query heads, 2 KV heads: …" (hidden for ordinary multi-head attention). */
  private readonly kvLine = el('p', 'view-hint overview-kv');
  private readonly scroller = el('div', 'overview-scroll');
  private readonly grid = el('div', 'overview-grid');
  private input: OverviewInput | undefined;
  private theme: ThemeColors | undefined;
  private colorMap: ColorMapName = 'viridis';
  private readonly visibleRows = new Set<number>();
  private readonly drawn = new Set<number>();
  private active = false;
  /** Head columns and gap columns (between KV groups) of the grid on show, for fit(). */
  private columns = { heads: 0, gaps: 0 };
  private readonly observer: IntersectionObserver;
  /**
   * Speed instrumentation (bench/webview.ts): performance.now() when the overview started filling
   * rows it shows (the first block request, or the first draw from already-received data, once rows
   * are in view), or null when nothing is pending. When every cell of every row in view (the
   * IntersectionObserver's, 120 px margin included) is drawn, #overview gets data-render-ms (that
   * span: host round trips, the panel's handling of each block, downsampling and drawing) and
   * data-render-cells (how many thumbnails that covers). Rows that scroll in later start a new span.
   */
  private fillStartedAt: number | null = null;

  constructor(private readonly callbacks: OverviewCallbacks) {
    this.element.id = 'overview';
    this.element.setAttribute('aria-label', 'Overview of all layers and heads');
    this.familySelect.id = 'overview-blocks';
    this.familySelect.setAttribute('aria-label', 'Blocks the overview shows');
    this.familyPicker.append(el('span', undefined, 'Blocks'), this.familySelect);
    this.familySelect.addEventListener('change', () => this.callbacks.familyChanged(this.familySelect.value));
    this.grid.setAttribute('role', 'grid');
    this.scroller.append(this.grid);
    const controls = el('div', 'pickers');
    controls.append(this.familyPicker);
    this.kvLine.id = 'overview-kv';
    this.kvLine.hidden = true;
    this.element.append(controls, this.kvLine, this.hint, this.scroller);
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const blockIndex = Number((entry.target as HTMLElement).dataset.blockIndex);
        if (entry.isIntersecting) this.visibleRows.add(blockIndex);
        else this.visibleRows.delete(blockIndex);
      }
      this.loadVisible();
    }, { rootMargin: '120px' });
    this.grid.addEventListener('click', (event) => {
      const cell = (event.target as HTMLElement).closest<HTMLElement>('.overview-cell');
      if (cell) this.callbacks.open(Number(cell.dataset.blockIndex), Number(cell.dataset.head));
    });
    this.grid.addEventListener('keydown', (event) => this.onKey(event));
    // The thumbnails follow the width the view has (the side bar dragged, the editor view resized).
    let lastWidth = -1;
    new ResizeObserver(() => {
      const width = this.scroller.clientWidth;
      if (width !== lastWidth) {
        lastWidth = width;
        this.fit();
      }
    }).observe(this.scroller);
  }

  /** Builds the grid (cells empty until their data arrives). */
  render(input: OverviewInput, theme: ThemeColors, colorMap: ColorMapName): void {
    this.input = input;
    this.theme = theme;
    this.colorMap = colorMap;
    this.observer.disconnect();
    this.visibleRows.clear();
    this.drawn.clear();
    this.fillStartedAt = null;
    this.familyPicker.hidden = !input.encDec || input.families.length <= 1;
    this.familySelect.replaceChildren(...input.families.map((family) => {
      const option = el('option', undefined, family.label);
      option.value = family.key;
      return option;
    }));
    this.familySelect.value = input.familyKey;
    const family = input.families.find((candidate) => candidate.key === input.familyKey);
    const familyBlocks = (family?.blockIndices ?? []).map((index) => input.blocks[index]);
    const heads = familyBlocks.length > 0 ? Math.max(...familyBlocks.map((block) => block.heads)) : 0;
    const groups = familyKvGroups(familyBlocks, heads);
    const grouped = groups.some((group) => group.kvHead !== null);
    const widest = familyBlocks.find((block) => block.heads === heads);
    // Grouped-query attention: a column per query head, grouped by the KV head the heads share,
    // a gap column between groups and the group's label above its heads.
    this.grid.style.gridTemplateColumns = `auto ${groups.map((group) => `repeat(${group.heads.length}, var(--overview-cell, 56px))`).join(' 6px ')}`;
    this.columns = { heads: groups.reduce((sum, group) => sum + group.heads.length, 0), gaps: groups.length - 1 };
    const headsText = widest && grouped ? blockHeadsText(widest) : `${heads} heads`;
    this.grid.setAttribute('aria-label', family ? `${family.label}: ${family.blockIndices.length} layers × ${headsText}` : 'No blocks');
    const kvLine = overviewKvLine(familyBlocks, heads);
    this.kvLine.hidden = kvLine === null;
    this.kvLine.textContent = kvLine ?? '';
    const nodes: HTMLElement[] = [];
    const separator = (className: string): HTMLElement => el('div', `overview-kv-gap ${className}`);
    if (grouped) {
      nodes.push(el('div', 'overview-corner'));
      groups.forEach((group, g) => {
        if (g > 0) nodes.push(separator('header'));
        const label = el('div', 'overview-kv-label', group.label);
        label.style.gridColumn = `span ${group.heads.length}`;
        label.style.textAlign = 'center';
        label.style.borderBottom = '1px solid var(--vscode-panel-border, var(--vscode-widget-border, currentColor))';
        label.title = `Query heads ${group.heads.join(', ')} read key/value head ${group.kvHead}`;
        nodes.push(label);
      });
    }
    nodes.push(abbreviated(el('div', 'overview-corner'), 'layer', ''));
    const columns = groups.map((group) => group.heads);
    columns.forEach((list, g) => {
      if (g > 0) nodes.push(separator('header'));
      for (const h of list) nodes.push(abbreviated(el('div', 'overview-head-label'), `H${h}`, String(h)));
    });
    const rows: HTMLElement[] = [];
    for (const blockIndex of family?.blockIndices ?? []) {
      const block = input.blocks[blockIndex];
      const label = abbreviated(el('div', 'overview-layer-label'), input.layerLabel(blockIndex), `L${block.layer}`);
      label.dataset.blockIndex = String(blockIndex);
      nodes.push(label);
      rows.push(label);
      const uniform = uniformEntropy(block);
      columns.forEach((list, g) => {
        if (g > 0) nodes.push(separator('row'));
        for (const h of list) nodes.push(h < block.heads ? this.cell(input, block, blockIndex, h, uniform) : el('div'));
      });
    }
    if (grouped) {
      for (const gap of nodes.filter((node) => node.classList.contains('overview-kv-gap'))) {
        gap.style.alignSelf = 'stretch';
        gap.style.borderLeft = '1px dashed var(--vscode-panel-border, var(--vscode-widget-border, currentColor))';
        gap.style.marginLeft = '2px';
      }
    }
    this.grid.replaceChildren(...nodes);
    const first = this.grid.querySelector<HTMLElement>('.overview-cell');
    if (first) first.tabIndex = 0;
    for (const row of rows) this.observer.observe(row);
    this.fit();
  }

  /**
   * Sizes the cells to the width the view has (fitCells): full labels while the cells stay large,
   * abbreviated ones ("L3", "3") and badge dots below CELL_COMPACT. Nothing while hidden (width 0).
   */
  private fit(): void {
    const width = this.scroller.clientWidth;
    const corner = this.grid.querySelector<HTMLElement>('.overview-corner');
    if (width === 0 || !corner || this.columns.heads === 0) return;
    const measure = (compact: boolean): ReturnType<typeof fitCells> => {
      this.grid.classList.toggle('compact', compact);
      for (const node of Array.from(this.grid.querySelectorAll<HTMLElement>('[data-short]'))) node.textContent = (compact ? node.dataset.short : node.dataset.full) ?? '';
      return fitCells(width, corner.getBoundingClientRect().width, this.columns.heads, this.columns.gaps, compact);
    };
    let fit = measure(false);
    if (fit.cell < CELL_COMPACT) fit = measure(true);
    this.grid.style.setProperty('--overview-cell', `${fit.cell}px`);
    this.grid.style.setProperty('--overview-inset', `${fit.inset - 1}px`);
    this.grid.style.setProperty('--overview-thumb', `${fit.thumb}px`);
    this.grid.style.gap = `${fit.gap}px`;
    this.element.dataset.cell = String(fit.cell);
  }

  /** One thumbnail: its canvas (drawn when the block arrives) and the head's badges. */
  private cell(input: OverviewInput, block: BlockOverview, blockIndex: number, h: number, uniform: number): HTMLElement {
    const cell = el('button', 'overview-cell');
    cell.type = 'button';
    cell.dataset.blockIndex = String(blockIndex);
    cell.dataset.head = String(h);
    const kv = kvHeadOf(block, h);
    if (kv !== null && isGrouped(block)) cell.dataset.kvHead = String(kv);
    cell.tabIndex = -1;
    const canvas = el('canvas', 'overview-thumb');
    const side = Math.max(block.queries, block.keys);
    canvas.width = Math.min(block.keys, THUMB_SIDE);
    canvas.height = Math.min(block.queries, THUMB_SIDE);
    // A share of the cell's thumbnail side (--overview-thumb, set by fit()).
    canvas.style.width = `calc(var(--overview-thumb, ${THUMB_SIDE}px) * ${(block.keys / side).toFixed(4)})`;
    canvas.style.height = `calc(var(--overview-thumb, ${THUMB_SIDE}px) * ${(block.queries / side).toFixed(4)})`;
    const stats = input.stats.find((s) => s.blockIndex === blockIndex && s.head === h);
    const badges = stats ? headBadges(stats, uniform, input.diagnostics, input.thresholds) : [];
    const badgeRow = el('span', 'overview-badges');
    for (const badge of badges) {
      const node = el('span', `overview-badge ${badge.kind}`, badge.text);
      node.title = badge.title;
      badgeRow.append(node);
    }
    const description = [`${input.layerLabel(blockIndex)} ${headSpoken(block, h)}`, ...badges.map((b) => b.title.split('\n')[0])].join('; ');
    cell.setAttribute('aria-label', `${description}. Open in the heatmap`);
    cell.title = [`${input.layerLabel(blockIndex)} · ${headLabel(block, h)}`, ...badges.map((b) => b.title)].join('\n');
    cell.classList.toggle('has-problem', badges.some((b) => b.kind === 'problem'));
    cell.append(canvas, badgeRow);
    return cell;
  }

  /** Shown or hidden: rows are loaded only while the overview is on screen. */
  setActive(active: boolean): void {
    this.active = active;
    // A fill the user left before it finished is not timed.
    if (!active) this.fillStartedAt = null;
    this.loadVisible();
  }

  /** A block arrived: draw its thumbnails if the grid shows it. */
  blockArrived(blockIndex: number): void {
    // Rows out of view (or the overview hidden) draw when they come into view (loadVisible).
    if (this.active && this.visibleRows.has(blockIndex)) this.drawBlock(blockIndex);
  }

  /** New colours: redraw what is drawn. */
  restyle(theme: ThemeColors, colorMap: ColorMapName): void {
    this.theme = theme;
    this.colorMap = colorMap;
    const drawn = [...this.drawn];
    this.drawn.clear();
    if (drawn.length > 0 && this.active) this.startFill();
    for (const blockIndex of drawn) this.drawBlock(blockIndex);
  }

  /** The thumbnails as they are, for the PNG export. */
  cells(): HTMLElement[] {
    return Array.from(this.grid.querySelectorAll<HTMLElement>('.overview-cell'));
  }

  private loadVisible(): void {
    if (!this.active || !this.input) return;
    for (const blockIndex of [...this.visibleRows].sort((a, b) => a - b)) {
      if (this.drawn.has(blockIndex)) continue;
      this.startFill();
      if (this.callbacks.data(blockIndex)) this.drawBlock(blockIndex);
      else this.callbacks.request(blockIndex);
    }
  }

  private startFill(): void {
    if (this.fillStartedAt !== null) return;
    this.fillStartedAt = performance.now();
    delete this.element.dataset.renderMs;
    delete this.element.dataset.renderCells;
  }

  /** After a block is drawn: is every row in view drawn now? Then the fill's time is recorded. */
  private checkFilled(): void {
    if (this.fillStartedAt === null || !this.active) return;
    let cells = 0;
    for (const blockIndex of this.visibleRows) {
      if (!this.drawn.has(blockIndex)) return;
      cells += this.input?.blocks[blockIndex]?.heads ?? 0;
    }
    this.element.dataset.renderMs = (performance.now() - this.fillStartedAt).toFixed(2);
    this.element.dataset.renderCells = String(cells);
    this.fillStartedAt = null;
  }

  private drawBlock(blockIndex: number): void {
    const input = this.input;
    const theme = this.theme;
    const data = this.callbacks.data(blockIndex);
    const block = input?.blocks[blockIndex];
    if (!input || !theme || !data || !block) return;
    const cells = this.grid.querySelectorAll<HTMLElement>(`.overview-cell[data-block-index="${blockIndex}"]`);
    if (cells.length === 0) return;
    const size = block.queries * block.keys;
    const mask = data.mask ? downsampleMask(data.mask, block.queries, block.keys, THUMB_SIDE) : null;
    const blocked = blockedCellColor(theme);
    for (const cell of cells) {
      const head = Number(cell.dataset.head);
      const canvas = cell.querySelector('canvas');
      const context = canvas?.getContext('2d');
      if (!canvas || !context) continue;
      const small = downsample(data.probs.subarray(head * size, (head + 1) * size), block.queries, block.keys, THUMB_SIDE);
      // The same robust limit as the heatmap: a causal head's first row (weight 1) does not wash out the rest.
      const limit = colorLimit(small.values, mask);
      const scale = makeColorScale(this.colorMap, theme.kind, limit.max, theme.background, limit.clipped);
      const image = context.createImageData(small.cols, small.rows);
      paintCells(scale, small.values, mask, blocked, image.data);
      context.putImageData(image, 0, 0);
      cell.dataset.drawn = `${small.rows}x${small.cols}`;
    }
    this.drawn.add(blockIndex);
    this.checkFilled();
  }

  /** Arrow keys move between cells (one tab stop for the grid); Enter/Space open (native button). */
  private onKey(event: KeyboardEvent): void {
    const target = (event.target as HTMLElement).closest<HTMLElement>('.overview-cell');
    if (!target || event.altKey || event.ctrlKey || event.metaKey) return;
    const cells = this.cells();
    const heads = cells.filter((c) => c.dataset.blockIndex === target.dataset.blockIndex).length || 1;
    const index = cells.indexOf(target);
    let next = -1;
    if (event.key === 'ArrowRight') next = index + 1;
    else if (event.key === 'ArrowLeft') next = index - 1;
    else if (event.key === 'ArrowDown') next = index + heads;
    else if (event.key === 'ArrowUp') next = index - heads;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = cells.length - 1;
    else return;
    event.preventDefault();
    event.stopPropagation();
    const cell = cells[Math.max(0, Math.min(cells.length - 1, next))];
    for (const c of cells) c.tabIndex = c === cell ? 0 : -1;
    cell.focus();
  }
}

/** The Overview tab: the overview of the trace on show, its blocks asked for through the session. */
export class OverviewTab {
  readonly view: OverviewView;

  /** @param open a thumbnail was chosen: open its head in the heatmap. */
  constructor(private readonly session: PanelSession, private readonly theme: () => ThemeColors, private readonly tabs: Tabs, open: (blockIndex: number, head: number) => void) {
    this.view = new OverviewView({
      data: (blockIndex) => session.shown?.blocks.get(blockIndex) ?? null,
      request: (blockIndex) => session.requestBlock(blockIndex),
      open,
      familyChanged: (key) => {
        if (!session.shown) return;
        session.chooseFamily(key);
        this.render(session.shown);
      },
    });
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') this.render(event.shown);
      else if (event.type === 'blockArrived') this.view.blockArrived(event.blockIndex);
      else if (event.type === 'configured' && event.recolor) this.restyle();
    });
    tabs.onChange((name) => this.view.setActive(name === 'overview'));
  }

  /** New colours (theme or colour map): redraws the thumbnails drawn so far. */
  restyle(): void {
    this.view.restyle(this.theme(), this.session.colorMap);
  }

  private render(shown: ShownTrace): void {
    const analysis = shown.trace.analysis;
    this.view.render({
      blocks: shown.trace.blocks,
      families: shown.families,
      familyKey: shown.familyKey,
      encDec: shown.encDec,
      layerLabel: (blockIndex) => shown.layerLabel(blockIndex),
      stats: analysis?.headStats ?? [],
      diagnostics: analysis?.diagnostics ?? [],
      thresholds: analysis?.thresholds ?? DEFAULT_THRESHOLDS,
    }, this.theme(), this.session.colorMap);
    this.view.setActive(this.tabs.current === 'overview');
  }
}
