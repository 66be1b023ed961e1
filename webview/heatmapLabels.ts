/**
 * @file The heatmap's token labels: DOM elements in the gutters left of and above the view, for the
 * visible rows and columns only, every one once cells are LABEL_SPACING px and every n-th (a round
 * n) below. Label nodes still in view after a zoom or pan are kept and only moved, so a frame
 * creates few nodes; widths are measured once per text and font.
 */
import { labelIndices, labelStride, type VisibleRange } from './heatmapViewport';
import { elide, type Measure } from './labels';

/** Label text: the editor font, small. */
const LABEL_FONT_SIZE = 11;
export const LINE_HEIGHT = 14;

export class HeatmapLabels {
  private readonly measureContext = document.createElement('canvas').getContext('2d');
  /** Label widths by text, for the font in `measuredFont` (a 1024-token axis has few distinct labels). */
  private readonly widths = new Map<string, number>();
  private measuredFont = '';
  private rowTexts: readonly string[] = [];
  private columnTexts: readonly string[] = [];
  private gutters = { rowGutter: 28, columnGutter: 16 };
  /** The nodes on show, by row or column index. */
  rowNodes = new Map<number, HTMLElement>();
  private columnNodes = new Map<number, HTMLElement>();

  /**
   * @param rows the left gutter
   * @param columns the top gutter
   */
  constructor(private readonly rows: HTMLElement, private readonly columns: HTMLElement) {}

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

  /** New texts or gutters: the nodes kept between frames are dropped. */
  reset(rowTexts: readonly string[], columnTexts: readonly string[], gutters: { rowGutter: number; columnGutter: number }): void {
    this.rowTexts = rowTexts;
    this.columnTexts = columnTexts;
    this.gutters = gutters;
    this.rowNodes = new Map();
    this.columnNodes = new Map();
    this.rows.replaceChildren();
    this.columns.replaceChildren();
  }

  /**
   * Places the labels of a frame. `cell` is a cell's side in CSS px, `x0`/`y0` the CSS-px offsets of
   * the view in the block, `view` its CSS size. A row or column whose middle is out of view gets no
   * label, and labels are kept inside the gutter, so none is cut at the view's edges.
   */
  render(range: VisibleRange, cell: number, x0: number, y0: number, view: { width: number; height: number }, measure: Measure): void {
    const stride = labelStride(cell);
    const centred = (indices: number[], origin: number, size: number): number[] => indices.filter((i) => {
      const middle = i * cell + cell / 2 - origin;
      return middle >= 0 && middle <= size;
    });
    const inside = (position: number, size: number): number => Math.max(0, Math.min(size - LINE_HEIGHT, position));
    const place = (
      indices: number[], texts: readonly string[], old: Map<number, HTMLElement>, parent: HTMLElement, width: number, position: (node: HTMLElement, index: number) => void,
    ): Map<number, HTMLElement> => {
      const next = new Map<number, HTMLElement>();
      for (const index of indices) {
        const node = old.get(index) ?? label(texts[index] ?? '', width, index, measure);
        position(node, index);
        next.set(index, node);
      }
      for (const [index, node] of old) if (!next.has(index)) node.remove();
      for (const node of next.values()) if (node.parentElement !== parent) parent.append(node);
      return next;
    };
    const rows = centred(labelIndices(range.rowStart, range.rowEnd, stride), y0, view.height);
    this.rowNodes = place(rows, this.rowTexts, this.rowNodes, this.rows, this.gutters.rowGutter - 8, (node, q) => {
      node.style.top = `${inside(q * cell - y0 + cell / 2 - LINE_HEIGHT / 2, view.height)}px`;
    });
    const columns = centred(labelIndices(range.colStart, range.colEnd, stride), x0, view.width);
    this.columnNodes = place(columns, this.columnTexts, this.columnNodes, this.columns, this.gutters.columnGutter - 4, (node, k) => {
      node.style.left = `${inside(k * cell - x0 + cell / 2 - LINE_HEIGHT / 2, view.width)}px`;
    });
    // Tests read the stride: every label (1) or every n-th.
    this.rows.dataset.stride = String(stride);
    this.columns.dataset.stride = String(stride);
  }

  /** Marks the hovered and the selected row's label. */
  mark(hovered: number | null, selected: number | null): void {
    for (const [q, node] of this.rowNodes) {
      node.classList.toggle('hovered', q === hovered);
      node.classList.toggle('selected', q === selected);
    }
  }
}

function label(text: string, width: number, index: number, measure: Measure): HTMLElement {
  const node = document.createElement('span');
  node.className = 'token-label';
  node.textContent = elide(text, width, measure);
  node.title = text;
  node.dataset.index = String(index);
  return node;
}
