/**
 * @file The heatmap's zoom and pan input: the wheel zooms about the pointer, a drag pans, keys zoom
 * (+ − 0 1) and pan (arrows) while the heatmap has focus, and a toolbar offers −, +, Fit and 1:1
 * with a line saying what is in view, and the Words toggle (labels per word; W). The view
 * (heatmap.ts) owns the viewport and the labels; this module only turns input into its requests.
 */

/** What the input asks of the view. Points are client px, distances CSS px. */
export interface ZoomTarget {
  /** Zooms by `factor` about a client point (the view's centre when none); false when nothing changed. */
  zoomBy(factor: number, clientX?: number, clientY?: number): boolean;
  /** Pans by CSS px; false when the block's edge was already there. */
  panBy(dx: number, dy: number): boolean;
  fit(): void;
  /** One cell per device pixel. */
  actualSize(): void;
  /** The block is bigger than the view along an axis (so arrows along it pan). */
  canPan(axis: 'x' | 'y'): boolean;
  /** Zooming out is possible (not yet at the fit). */
  canZoomOut(): boolean;
  /** Switches the labels between one per token and one per word. */
  toggleWords(): void;
}

/** Movement, CSS px, before a press on the heatmap counts as a drag rather than a click. */
const DRAG_THRESHOLD = 4;
/** Wheel zoom per pixel of scroll: one 100 px notch zooms by about 1.2. */
const WHEEL_ZOOM_RATE = 0.0018;
/** Zoom factor of a key or button press. */
export const KEY_ZOOM = 1.5;

function wheelPixels(event: WheelEvent, delta: number): number {
  // Lines and pages as pixels, as browsers scroll them.
  return event.deltaMode === 1 ? delta * 16 : event.deltaMode === 2 ? delta * 400 : delta;
}

/**
 * Wires wheel, drag and keys on the heatmap's canvas box. The returned function tells the box's
 * click handler whether the click ended a drag (and so must not choose a row).
 */
export function attachZoomInput(box: HTMLElement, target: ZoomTarget): () => boolean {
  box.addEventListener('wheel', (event) => {
    const dx = wheelPixels(event, event.deltaX);
    const dy = wheelPixels(event, event.deltaY);
    // A sideways swipe (trackpads) pans; the wheel proper zooms about the pointer.
    if (Math.abs(dx) > Math.abs(dy)) {
      if (target.panBy(dx, 0)) event.preventDefault();
      return;
    }
    if (dy === 0) return;
    // At the fit, scrolling down is left to the page, so the wheel still scrolls past the heatmap.
    if (dy > 0 && !target.canZoomOut()) return;
    event.preventDefault();
    target.zoomBy(Math.exp(-dy * WHEEL_ZOOM_RATE), event.clientX, event.clientY);
  }, { passive: false });

  let press: { id: number; x: number; y: number; dragging: boolean } | null = null;
  let endedDrag = false;
  box.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    press = { id: event.pointerId, x: event.clientX, y: event.clientY, dragging: false };
    endedDrag = false;
  });
  box.addEventListener('pointermove', (event) => {
    if (!press || press.id !== event.pointerId) return;
    const dx = event.clientX - press.x;
    const dy = event.clientY - press.y;
    if (!press.dragging) {
      if (Math.hypot(dx, dy) < DRAG_THRESHOLD || (!target.canPan('x') && !target.canPan('y'))) return;
      press.dragging = true;
      box.classList.add('panning');
      box.setPointerCapture?.(event.pointerId);
    }
    // The content follows the pointer: dragging right shows what is to the left.
    target.panBy(-dx, -dy);
    press.x = event.clientX;
    press.y = event.clientY;
  });
  const release = (event: PointerEvent): void => {
    if (!press || press.id !== event.pointerId) return;
    endedDrag = press.dragging;
    press = null;
    box.classList.remove('panning');
  };
  box.addEventListener('pointerup', release);
  box.addEventListener('pointercancel', release);

  box.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    let handled = true;
    const step = 0.125;
    const bounds = box.getBoundingClientRect();
    if (event.key === '+' || event.key === '=') target.zoomBy(KEY_ZOOM);
    else if (event.key === '-' || event.key === '_') target.zoomBy(1 / KEY_ZOOM);
    else if (event.key === '0') target.fit();
    else if (event.key === '1') target.actualSize();
    else if (event.key === 'w' || event.key === 'W') target.toggleWords();
    // Arrows pan along an axis the block overflows; otherwise they keep their other meanings
    // (up/down choose a row, left/right step through the layer's sub-layers).
    else if (!event.shiftKey && (event.key === 'ArrowLeft' || event.key === 'ArrowRight') && target.canPan('x')) target.panBy((event.key === 'ArrowLeft' ? -1 : 1) * bounds.width * step, 0);
    else if (!event.shiftKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown') && target.canPan('y')) target.panBy(0, (event.key === 'ArrowUp' ? -1 : 1) * bounds.height * step);
    else handled = false;
    if (!handled) return;
    event.preventDefault();
    event.stopPropagation();
  });

  return () => {
    const was = endedDrag;
    endedDrag = false;
    return was;
  };
}

/** The toolbar above the heatmap: −, +, Fit, 1:1, Words and what is in view. */
export class ZoomToolbar {
  readonly element = document.createElement('div');
  private readonly readout = document.createElement('span');
  private readonly fitButton: HTMLButtonElement;
  private readonly oneButton: HTMLButtonElement;
  private readonly wordsButton: HTMLButtonElement;

  constructor(target: ZoomTarget) {
    this.element.className = 'heatmap-zoom';
    const button = (className: string, text: string, title: string, run: () => void): HTMLButtonElement => {
      const node = document.createElement('button');
      node.type = 'button';
      node.className = `zoom-button ${className}`;
      node.textContent = text;
      node.title = title;
      // The readout beside them gives way (it ellipsises); a squeezed button would spill its text.
      node.style.flexShrink = '0';
      node.addEventListener('click', run);
      return node;
    };
    const out = button('zoom-out', '\u2212', 'Zoom out (−, or the wheel over the heatmap)', () => target.zoomBy(1 / KEY_ZOOM));
    const zoomIn = button('zoom-in', '+', 'Zoom in (+, or the wheel over the heatmap)', () => target.zoomBy(KEY_ZOOM));
    this.fitButton = button('zoom-fit', 'Fit', 'Show the whole block (0)', () => target.fit());
    this.oneButton = button('zoom-one', '1:1', 'One cell per screen pixel (1)', () => target.actualSize());
    this.wordsButton = button('zoom-words', 'Words', 'Label rows and columns by word, the cells still one per token (W)', () => target.toggleWords());
    this.wordsButton.setAttribute('aria-pressed', 'false');
    this.readout.className = 'zoom-readout';
    this.readout.setAttribute('aria-live', 'polite');
    this.element.append(out, zoomIn, this.fitButton, this.oneButton, this.wordsButton, this.readout);
  }

  /** Shows whether the labels are per word. */
  showWords(words: boolean): void {
    this.wordsButton.setAttribute('aria-pressed', String(words));
  }

  /** Says what is in view; the Fit and 1:1 buttons show whether the view is at them. */
  update(state: { rows: [number, number]; cols: [number, number]; totalRows: number; totalCols: number; cellCss: number; fitted: boolean; actual: boolean }): void {
    const range = (span: [number, number], total: number): string => (span[0] === 0 && span[1] === total ? `all ${total}` : `${span[0]}–${span[1] - 1} of ${total}`);
    const cell = state.cellCss >= 1 ? `${Number(state.cellCss.toFixed(1))} px a cell` : `${Number((1 / state.cellCss).toFixed(1))} cells a px`;
    this.readout.textContent = `rows ${range(state.rows, state.totalRows)} · cols ${range(state.cols, state.totalCols)} · ${cell}`;
    this.fitButton.setAttribute('aria-pressed', String(state.fitted));
    this.oneButton.setAttribute('aria-pressed', String(state.actual));
  }
}
