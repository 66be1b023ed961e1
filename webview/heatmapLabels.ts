/**
 * @file The heatmap's token labels: DOM elements in the gutters left of and above the view, for the
 * visible rows and columns only. Per token, every one once cells are LABEL_SPACING px and every
 * n-th (a round n) below; per word (the Words toggle), one label centred on the visible part of each
 * word's span, for the words whose middles lie LABEL_SPACING px apart (wordGroups.ts
 * labelledGroups), so panning keeps the same words labelled. Label nodes still in view after a zoom
 * or pan are kept and only moved, so a frame creates few nodes; widths are measured once per text
 * and font. The pointer over a row label hovers that row, as over its cells; a click selects it
 * and a shift-click adds it to (or takes it out of) the rows read together. A row label may carry a
 * note after its text (the top-1 next token, "→e", dimmed), shown when the gutter has room for it.
 */
import { labelledGroups, type WordGroup } from '../src/shared/wordGroups';
import { LABEL_SPACING, labelIndices, labelStride, type VisibleRange } from './heatmapViewport';
import type { Measure } from './labels';
import { fitLabel } from './predictionLabels';

/** Label text: the editor font, small. */
const LABEL_FONT_SIZE = 11;
export const LINE_HEIGHT = 14;

/** One axis's labels: a text per token, or per word with the words' spans. */
export interface AxisTexts {
  /** Per token, or per word when `words` is given (then `texts[g]` is word g's). */
  texts: readonly string[];
  words: readonly WordGroup[] | null;
  /** Per item of `texts`: a note shown after it when there is room ('' or absent: none). */
  notes?: readonly string[];
}

/** A label to place: items [start, end) of the axis (a token: end = start + 1), keyed by `start`. */
interface Placed {
  start: number;
  end: number;
  text: string;
  note: string;
  /** Middle of the label, CSS px from the view's edge. */
  middle: number;
}

export class HeatmapLabels {
  private readonly measureContext = document.createElement('canvas').getContext('2d');
  /** Label widths by text, for the font in `measuredFont` (a 1024-token axis has few distinct labels). */
  private readonly widths = new Map<string, number>();
  private measuredFont = '';
  private rowAxis: AxisTexts = { texts: [], words: null };
  private columnAxis: AxisTexts = { texts: [], words: null };
  private gutters = { rowGutter: 28, columnGutter: 16 };
  /** The words labelled at a cell size, per axis (the choice walks the whole axis: kept until the zoom changes). */
  private labelled: { cell: number; rows: number[]; columns: number[] } | null = null;
  /** The nodes on show, by the first row or column they label. */
  rowNodes = new Map<number, HTMLElement>();
  private columnNodes = new Map<number, HTMLElement>();

  /**
   * @param rows the left gutter
   * @param columns the top gutter
   * @param onHoverRow the pointer went onto a row label (the query it stands for) or off the labels (null)
   * @param onClickRow a row label was clicked (`shift`: with Shift held)
   */
  constructor(private readonly rows: HTMLElement, private readonly columns: HTMLElement, onHoverRow: (query: number | null) => void, onClickRow?: (query: number, shift: boolean) => void) {
    let hovered: number | null = null;
    const hover = (query: number | null): void => {
      if (query === hovered) return;
      hovered = query;
      onHoverRow(query);
    };
    rows.addEventListener('mouseover', (event) => {
      const node = event.target instanceof Element ? event.target.closest<HTMLElement>('.token-label') : null;
      hover(node ? labelQuery(node) : null);
    });
    rows.addEventListener('mouseleave', () => hover(null));
    rows.addEventListener('click', (event) => {
      const node = event.target instanceof Element ? event.target.closest<HTMLElement>('.token-label') : null;
      const query = node ? labelQuery(node) : null;
      if (query !== null) onClickRow?.(query, event.shiftKey);
    });
  }

  /** A measurer for the labels' font in the editor font family. */
  measure(fontFamily: string): Measure {
    const context = this.measureContext;
    if (!context) return (text) => Array.from(text).length * 7;
    const font = `${LABEL_FONT_SIZE}px ${fontFamily}`;
    if (font !== this.measuredFont || this.widths.size > 20_000) {
      this.widths.clear();
      this.measuredFont = font;
    }
    return (text) => {
      let width = this.widths.get(text);
      if (width === undefined) {
        context.font = font;
        width = context.measureText(text).width;
        this.widths.set(text, width);
      }
      return width;
    };
  }

  /** New texts, words or gutters: the nodes kept between frames are dropped. */
  reset(rowAxis: AxisTexts, columnAxis: AxisTexts, gutters: { rowGutter: number; columnGutter: number }): void {
    this.rowAxis = rowAxis;
    this.columnAxis = columnAxis;
    this.gutters = gutters;
    this.labelled = null;
    this.rowNodes = new Map();
    this.columnNodes = new Map();
    this.rows.replaceChildren();
    this.columns.replaceChildren();
    const mode = rowAxis.words ? 'words' : 'tokens';
    this.rows.dataset.mode = mode;
    this.columns.dataset.mode = mode;
  }

  /**
   * Places the labels of a frame. `cell` is a cell's side in CSS px, `x0`/`y0` the CSS-px offsets of
   * the view in the block, `view` its CSS size. A token whose middle is out of view gets no label, a
   * word none when none of it is in view, and labels are kept inside the gutter, so none is cut at
   * the view's edges.
   */
  render(range: VisibleRange, cell: number, x0: number, y0: number, view: { width: number; height: number }, measure: Measure): void {
    const stride = labelStride(cell);
    const inside = (position: number, size: number): number => Math.max(0, Math.min(size - LINE_HEIGHT, position));
    const rows = this.placed(this.rowAxis, 'rows', range.rowStart, range.rowEnd, cell, y0, view.height, stride);
    this.rowNodes = this.place(rows, this.rowNodes, this.rows, this.gutters.rowGutter - 8, this.rowAxis.words !== null, measure, (node, middle) => {
      node.style.top = `${inside(middle - LINE_HEIGHT / 2, view.height)}px`;
    });
    const columns = this.placed(this.columnAxis, 'columns', range.colStart, range.colEnd, cell, x0, view.width, stride);
    this.columnNodes = this.place(columns, this.columnNodes, this.columns, this.gutters.columnGutter - 4, this.columnAxis.words !== null, measure, (node, middle) => {
      node.style.left = `${inside(middle - LINE_HEIGHT / 2, view.width)}px`;
    });
    // Tests read the stride: every label (1) or every n-th (per token; per word it is 1).
    const shown = this.rowAxis.words ? 1 : stride;
    this.rows.dataset.stride = String(shown);
    this.columns.dataset.stride = String(shown);
  }

  /** The labels of one axis in view: tokens at the stride, or the labelled words. */
  private placed(axis: AxisTexts, which: 'rows' | 'columns', first: number, end: number, cell: number, origin: number, size: number, stride: number): Placed[] {
    const out: Placed[] = [];
    if (!axis.words) {
      for (const index of labelIndices(first, end, stride)) {
        const middle = index * cell + cell / 2 - origin;
        if (middle >= 0 && middle <= size) out.push({ start: index, end: index + 1, text: axis.texts[index] ?? '', note: axis.notes?.[index] ?? '', middle });
      }
      return out;
    }
    if (this.labelled?.cell !== cell) {
      this.labelled = { cell, rows: labelledGroups(this.rowAxis.words ?? [], cell, LABEL_SPACING), columns: labelledGroups(this.columnAxis.words ?? [], cell, LABEL_SPACING) };
    }
    let last = Number.NEGATIVE_INFINITY;
    for (const g of this.labelled[which]) {
      const word = axis.words[g];
      if (!word || word.end <= first) continue;
      if (word.start >= end) break;
      // The middle of the word's part in view, so a long word cut by the view's edge keeps its label.
      const from = Math.max(0, word.start * cell - origin);
      const to = Math.min(size, word.end * cell - origin);
      if (to <= from) continue;
      const middle = (from + to) / 2;
      // A label moved in from a cut word may come too close to its neighbour: the neighbour wins.
      if (middle - last < LABEL_SPACING - 1e-9) continue;
      last = middle;
      out.push({ start: word.start, end: word.end, text: axis.texts[g] ?? '', note: axis.notes?.[g] ?? '', middle });
    }
    return out;
  }

  private place(
    labels: Placed[], old: Map<number, HTMLElement>, parent: HTMLElement, width: number, words: boolean, measure: Measure, position: (node: HTMLElement, middle: number) => void,
  ): Map<number, HTMLElement> {
    const next = new Map<number, HTMLElement>();
    for (const item of labels) {
      const node = old.get(item.start) ?? label(item, width, words, measure);
      position(node, item.middle);
      next.set(item.start, node);
    }
    for (const [index, node] of old) if (!next.has(index)) node.remove();
    for (const node of next.values()) if (node.parentElement !== parent) parent.append(node);
    return next;
  }

  /** Marks the hovered and the selected row's label (a word's when the row is in it), and the rows read together. */
  mark(hovered: number | null, selected: number | null, together: readonly number[] = []): void {
    for (const node of this.rowNodes.values()) {
      const start = Number(node.dataset.index);
      const last = Number(node.dataset.end ?? node.dataset.index);
      node.classList.toggle('hovered', hovered !== null && hovered >= start && hovered <= last);
      node.classList.toggle('selected', selected !== null && selected >= start && selected <= last);
      const inRows = together.some((row) => row >= start && row <= last);
      node.classList.toggle('in-rows', inRows);
      // A bar at the label's start (panel.css has no rule for it yet; the focus colour of the theme).
      node.style.boxShadow = inRows ? 'inset 3px 0 0 var(--vscode-focusBorder)' : '';
    }
  }
}

/** The query a row label stands for: its token, or a word's last token (which has read the whole word). */
function labelQuery(node: HTMLElement): number | null {
  const query = Number(node.dataset.end ?? node.dataset.index);
  return Number.isInteger(query) ? query : null;
}

function label(item: Placed, width: number, words: boolean, measure: Measure): HTMLElement {
  const node = document.createElement('span');
  node.className = 'token-label';
  const fitted = fitLabel(item.text, item.note, width, measure);
  node.textContent = fitted.text;
  if (fitted.note !== '') {
    const note = document.createElement('span');
    note.className = 'token-next';
    note.textContent = fitted.note;
    // Dimmer than the token: the token is what the row is, the note what the model makes of it.
    note.style.opacity = '0.6';
    node.append(note);
  }
  // Tests read the whole note (the one shown may be elided).
  if (item.note !== '') node.dataset.next = item.note;
  node.dataset.index = String(item.start);
  if (words) {
    // Tests (and the hover) read the word's tokens: data-index to data-end, both included.
    node.dataset.end = String(item.end - 1);
    node.dataset.word = item.text;
    node.title = item.end - item.start > 1 ? `${item.text}: tokens #${item.start}–#${item.end - 1}` : `${item.text}: token #${item.start}`;
  } else {
    node.title = item.text;
  }
  return node;
}
