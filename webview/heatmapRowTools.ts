/**
 * @file The heatmap's What-if row tools (issue 23), beside heatmap.ts (which keeps the viewport):
 * a line above the view with a token search box (Enter: next match, Shift+Enter: previous), the
 * "→ Next" toggle for the predictions beside the row labels, and, while rows are shift-clicked
 * together, their list with a Mean/Sum switch and Clear; a strip under the view, aligned with its
 * columns, draws those rows' mean (or sum) attention per key in the heatmap's colours, with a
 * tooltip per key. Row labels get a tooltip with the row's top-k next tokens and logit lens. The
 * numbers come from rowSelection.ts and predictionLabels.ts (pure, unit-tested).
 */
import type { Token } from '../src/shared/trace';
import { type ColorScale, scaleIndex } from './colorScale';
import type { TooltipLine } from './heatmapTooltip';
import type { Viewport } from './heatmapViewport';
import { tokenLabel } from './labels';
import { predictionLines, type RowPredictions } from './predictionLabels';
import { aggregateRows, describeRows, findTokenRows, nextMatch, type RowAggregate, shiftClickRows } from './rowSelection';

/** What the tools read from, and ask of, the heatmap view. */
export interface RowToolsHost {
  /** The query tokens on show (the search looks in them). */
  queryTokens(): readonly Token[];
  /** The row selected now (a search goes on from it). */
  selectedRow(): number | null;
  /** Brings a row the search found into view, readable, and selects it. */
  showRow(query: number): void;
  /** The notes were switched on or off: the labels are laid out again. */
  notesChanged(): void;
  /** The rows read together changed: their labels are marked again and the strip redrawn. */
  rowsChanged(): void;
  showTooltip(lines: readonly TooltipLine[], event: MouseEvent): void;
  hideTooltip(): void;
}

/** What the strip draws: the block's weights on show and where the view is. */
export interface StripFrame {
  /** [queries, keys] of the head on show, or null while the block loads. */
  weights: Float32Array | null;
  keys: number;
  keyTokens: readonly Token[];
  scale: ColorScale;
  viewport: Viewport;
  /** The view's width, device px. */
  width: number;
  ratio: number;
}

/** The strip's height, CSS px (a label line). */
const STRIP_HEIGHT = 14;

function styled<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, style: Partial<CSSStyleDeclaration>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  Object.assign(node.style, style);
  return node;
}

function toolButton(className: string, text: string, title: string, run: () => void): HTMLButtonElement {
  const node = styled('button', `zoom-button ${className}`, { flexShrink: '0' });
  node.type = 'button';
  node.textContent = text;
  node.title = title;
  node.addEventListener('click', run);
  return node;
}

export class RowTools {
  /** The line above the view (search, the notes' toggle, the rows read together). */
  readonly bar = styled('div', 'heatmap-find', { display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: '4px', margin: '0 0 4px', fontSize: '11px', minWidth: '0' });
  /** The strip's cells in the heatmap's grid: its name under the row labels, the strip under the view, an empty cell under the legend. */
  readonly stripLabel = styled('div', 'rows-strip-label', { textAlign: 'right', padding: '4px 6px 0 0', fontSize: '11px', lineHeight: `${STRIP_HEIGHT}px`, whiteSpace: 'nowrap', overflow: 'hidden' });
  readonly stripWrap = styled('div', 'rows-strip', { paddingTop: '4px', overflow: 'hidden' });
  readonly stripEnd = document.createElement('div');
  readonly strip = styled('canvas', 'rows-strip-canvas', { display: 'block', cursor: 'crosshair' });
  private readonly search = styled('input', 'heatmap-search', {
    flex: '1 1 7em', minWidth: '5em', maxWidth: '16em', font: 'inherit', padding: '1px 4px',
    color: 'var(--vscode-input-foreground)', background: 'var(--vscode-input-background)', border: '1px solid var(--vscode-input-border, var(--vscode-panel-border, transparent))',
  });
  private readonly found = styled('span', 'find-count', { color: 'var(--vscode-descriptionForeground)', whiteSpace: 'nowrap' });
  private readonly notesButton = toolButton('toggle-next', '\u2192 Next', 'Show each row\'s most likely next token after its label; hover a row label for the top-k and the logit lens', () => this.setNotes(!this.notes));
  private readonly rowsLine = styled('span', 'rows-together', { display: 'inline-flex', alignItems: 'center', gap: '4px', minWidth: '0' });
  private readonly rowsText = styled('span', 'rows-text', { overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap', minWidth: '0' });
  private readonly modeButton = toolButton('rows-mode', 'Mean', 'The strip under the heatmap: the mean of the rows\' attention per key (click: their sum)', () => this.setMode(this.mode === 'mean' ? 'sum' : 'mean'));
  /** The rows read together (shift-click), ascending. */
  rows: number[] = [];
  mode: RowAggregate = 'mean';
  /** The top-1 next token beside the row labels (when the trace has predictions). */
  notes = true;
  private predictions: RowPredictions | null = null;
  /** The combined row of the last strip drawn, and what it was made from. */
  private combined: { weights: Float32Array; rows: string; mode: RowAggregate; values: Float32Array } | null = null;
  private frame: StripFrame | null = null;

  constructor(private readonly host: RowToolsHost) {
    this.search.type = 'search';
    this.search.placeholder = 'Find token\u2026';
    this.search.title = 'Find a token by its text (Enter: next match, Shift+Enter: previous); its row is shown and selected';
    this.search.setAttribute('aria-label', 'Find a token');
    this.search.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      this.find(event.shiftKey);
    });
    this.search.addEventListener('input', () => {
      this.found.textContent = '';
    });
    this.notesButton.hidden = true;
    this.rowsLine.hidden = true;
    this.rowsLine.append(this.rowsText, this.modeButton, toolButton('rows-clear', '\u2715', 'Clear the rows read together', () => this.setRows([])));
    this.bar.append(this.search, this.found, this.notesButton, this.rowsLine);
    this.stripWrap.append(this.strip);
    this.stripLabel.hidden = true;
    this.stripWrap.hidden = true;
    this.stripEnd.hidden = true;
    this.strip.addEventListener('mousemove', (event) => this.onStripPointer(event));
    this.strip.addEventListener('mouseleave', () => this.host.hideTooltip());
  }

  /** A new block or trace: its predictions (null: none, the toggle hides), and rows it lacks dropped. */
  setBlock(predictions: RowPredictions | null, queries: number): void {
    this.predictions = predictions;
    this.notesButton.hidden = predictions === null;
    this.notesButton.setAttribute('aria-pressed', String(this.notes));
    if (this.rows.some((row) => row >= queries)) this.setRows(this.rows.filter((row) => row < queries), false);
  }

  /** The notes beside the row labels, when the trace has predictions and they are switched on. */
  get notesShown(): boolean {
    return this.predictions !== null && this.notes;
  }

  setNotes(on: boolean): void {
    this.notes = on;
    this.notesButton.setAttribute('aria-pressed', String(on));
    this.host.notesChanged();
  }

  /** A shift-click on a row (its label or a cell): it joins the rows read together, or leaves them. */
  shiftClick(query: number): void {
    this.setRows(shiftClickRows(this.rows, this.host.selectedRow(), query));
  }

  setRows(rows: number[], notify = true): void {
    this.rows = rows;
    const any = rows.length > 0;
    this.rowsLine.hidden = !any;
    this.stripLabel.hidden = !any;
    this.stripWrap.hidden = !any;
    this.stripEnd.hidden = !any;
    this.rowsText.textContent = any ? `${rows.length === 1 ? '1 row' : `${rows.length} rows`}: ${describeRows(rows)}` : '';
    this.rowsText.title = rows.map((row) => `#${row} ${tokenLabel(this.host.queryTokens()[row])}`).join('\n');
    this.strip.dataset.rows = rows.join(',');
    this.showMode();
    if (notify) this.host.rowsChanged();
  }

  setMode(mode: RowAggregate): void {
    this.mode = mode;
    this.showMode();
    this.host.rowsChanged();
  }

  private showMode(): void {
    this.modeButton.textContent = this.mode === 'mean' ? 'Mean' : 'Sum';
    this.stripLabel.textContent = this.mode === 'mean' ? 'mean' : 'sum';
    this.stripLabel.title = `${this.mode === 'mean' ? 'Mean' : 'Sum'} of the attention of rows ${describeRows(this.rows)}, per key`;
    this.strip.dataset.mode = this.mode;
  }

  /** The search's next (or previous) match after the selected row; says how many there are. */
  find(backwards = false): number | null {
    const matches = findTokenRows(this.host.queryTokens(), this.search.value);
    const next = nextMatch(matches, this.host.selectedRow(), backwards);
    this.found.textContent = this.search.value === '' ? '' : next === null ? 'no match' : `${matches.indexOf(next) + 1}/${matches.length}`;
    this.found.dataset.matches = String(matches.length);
    if (next !== null) this.host.showRow(next);
    return next;
  }

  /**
   * Row labels get a tooltip: the token (a word's label: its last token's row), and its top-k next
   * tokens and logit lens when the trace has them.
   */
  attachLabelTooltips(rows: HTMLElement): void {
    rows.addEventListener('mousemove', (event) => {
      const node = event.target instanceof Element ? event.target.closest<HTMLElement>('.token-label') : null;
      const query = node ? Number(node.dataset.end ?? node.dataset.index) : NaN;
      if (!Number.isInteger(query)) {
        this.host.hideTooltip();
        return;
      }
      this.host.showTooltip([['query', `${tokenLabel(this.host.queryTokens()[query])}  #${query}`], ...predictionLines(this.predictions, query)], event);
    });
    rows.addEventListener('mouseleave', () => this.host.hideTooltip());
  }

  /** Draws the strip for a frame (nothing while no rows are read together). */
  draw(frame: StripFrame): void {
    this.frame = frame;
    if (this.rows.length === 0) return;
    const height = Math.round(STRIP_HEIGHT * frame.ratio);
    const width = Math.max(1, frame.width);
    if (this.strip.width !== width) this.strip.width = width;
    if (this.strip.height !== height) this.strip.height = height;
    this.strip.style.width = `${width / frame.ratio}px`;
    this.strip.style.height = `${STRIP_HEIGHT}px`;
    const context = this.strip.getContext('2d');
    if (!context) return;
    const values = this.values(frame);
    if (!values) {
      context.clearRect(0, 0, width, height);
      delete this.strip.dataset.drawn;
      return;
    }
    const image = context.createImageData(width, height);
    const { cell, x } = frame.viewport;
    const { table } = frame.scale;
    for (let px = 0; px < width; px++) {
      // The strongest key under the pixel, as the heatmap pools its cells when zoomed out.
      const first = Math.floor((px + x) / cell);
      const end = Math.min(frame.keys, Math.max(first + 1, Math.ceil((px + 1 + x) / cell)));
      let best = -1;
      for (let key = Math.max(0, first); key < end; key++) best = Math.max(best, scaleIndex(frame.scale, values[key]));
      if (best < 0) continue;
      for (let py = 0; py < height; py++) {
        const at = (py * width + px) * 4;
        image.data[at] = table[best * 3];
        image.data[at + 1] = table[best * 3 + 1];
        image.data[at + 2] = table[best * 3 + 2];
        image.data[at + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    this.strip.dataset.drawn = String(values.length);
  }

  /** The selected rows combined, made again when the weights, rows or mode change. */
  private values(frame: StripFrame): Float32Array | null {
    if (!frame.weights) return null;
    const rows = this.rows.join(',');
    const kept = this.combined;
    if (kept && kept.weights === frame.weights && kept.rows === rows && kept.mode === this.mode) return kept.values;
    const values = aggregateRows(frame.weights, frame.keys, this.rows, this.mode);
    this.combined = { weights: frame.weights, rows, mode: this.mode, values };
    return values;
  }

  private onStripPointer(event: MouseEvent): void {
    const frame = this.frame;
    const values = frame ? this.values(frame) : null;
    if (!frame || !values) return;
    const bounds = this.strip.getBoundingClientRect();
    const key = Math.floor(((event.clientX - bounds.left) * frame.ratio + frame.viewport.x) / frame.viewport.cell);
    if (key < 0 || key >= values.length) {
      this.host.hideTooltip();
      return;
    }
    this.host.showTooltip([
      ['key', `${tokenLabel(frame.keyTokens[key])}  #${key}`],
      [this.mode, values[key].toFixed(4)],
      ['rows', describeRows(this.rows)],
    ], event);
  }
}
