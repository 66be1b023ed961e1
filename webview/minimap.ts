/**
 * @file The heatmap's minimap: the whole block as a small thumbnail in the view's corner, with the
 * part on show outlined; a click or a drag on it moves the view there. Shown only while the block is
 * bigger than the view (zoomed in), drawn from the same pooled levels as the view.
 */
import { fillView, type PooledLevels } from './heatmapRender';
import { type BlockShape, thumbnailSize } from './heatmapViewport';

/** The thumbnail's longer side, CSS px: big enough to aim at, small enough to hide little. */
export const MINIMAP_SIDE = 96;
/** …and at most this share of the view's shorter side (a side-bar view is ~180 px). */
const MINIMAP_SHARE = 0.35;

export class Minimap {
  readonly element = document.createElement('div');
  private readonly canvas = document.createElement('canvas');
  private readonly frame = document.createElement('div');
  /** What the thumbnail shows, so a pan (which only moves the frame) does not redraw it. */
  private drawn: { levels: PooledLevels; width: number; height: number } | null = null;
  /** The thumbnail's CSS size. */
  size = { width: 1, height: 1 };

  /** @param onMove called with a point on the thumbnail (CSS px from its top-left) the view should centre on */
  constructor(private readonly onMove: (x: number, y: number) => void) {
    this.element.className = 'heatmap-minimap';
    this.element.hidden = true;
    this.element.title = 'The whole block: click or drag to move the view';
    this.frame.className = 'heatmap-minimap-view';
    this.element.append(this.canvas, this.frame);
    let dragging = false;
    const move = (event: PointerEvent): void => {
      const bounds = this.canvas.getBoundingClientRect();
      this.onMove(Math.max(0, Math.min(this.size.width, event.clientX - bounds.left)), Math.max(0, Math.min(this.size.height, event.clientY - bounds.top)));
    };
    // The heatmap under it must not see these as its own drags and clicks.
    this.element.addEventListener('pointerdown', (event) => {
      event.stopPropagation();
      event.preventDefault();
      dragging = true;
      this.element.setPointerCapture?.(event.pointerId);
      move(event);
    });
    this.element.addEventListener('pointermove', (event) => {
      event.stopPropagation();
      if (dragging) move(event);
    });
    const stop = (event: PointerEvent): void => {
      event.stopPropagation();
      dragging = false;
    };
    this.element.addEventListener('pointerup', stop);
    this.element.addEventListener('pointercancel', stop);
    for (const type of ['click', 'mousemove', 'wheel'] as const) this.element.addEventListener(type, (event) => event.stopPropagation());
  }

  /** Draws the thumbnail of a block (only when what it shows changed). */
  draw(block: BlockShape, levels: PooledLevels, devicePixelRatio: number, view: { width: number; height: number }): void {
    this.size = thumbnailSize(block, Math.max(40, Math.min(MINIMAP_SIDE, MINIMAP_SHARE * Math.min(view.width, view.height))));
    const width = Math.max(1, Math.round(this.size.width * devicePixelRatio));
    const height = Math.max(1, Math.round(this.size.height * devicePixelRatio));
    const drawn = this.drawn;
    if (drawn && drawn.levels === levels && drawn.width === width && drawn.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.canvas.style.width = `${width / devicePixelRatio}px`;
    this.canvas.style.height = `${height / devicePixelRatio}px`;
    const context = this.canvas.getContext('2d');
    if (!context) return;
    const image = context.createImageData(width, height);
    const cell = Math.min(width / Math.max(1, block.cols), height / Math.max(1, block.rows));
    fillView(new Uint32Array(image.data.buffer), width, height, { cell, x: 0, y: 0 }, levels);
    context.putImageData(image, 0, 0);
    this.drawn = { levels, width, height };
  }

  /** Outlines the part on show (CSS px on the thumbnail). */
  place(rect: { left: number; top: number; width: number; height: number }): void {
    this.frame.style.left = `${rect.left}px`;
    this.frame.style.top = `${rect.top}px`;
    this.frame.style.width = `${Math.max(2, rect.width)}px`;
    this.frame.style.height = `${Math.max(2, rect.height)}px`;
  }

  /** Forgets the thumbnail (new data or no data). */
  clear(): void {
    this.drawn = null;
  }
}
