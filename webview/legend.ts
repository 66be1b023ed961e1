/**
 * @file The colour legend beside the heatmap: a vertical bar of the scale, 0 at the bottom, the
 * matrix's maximum at the top.
 */
import { type ColorScale, SCALE_STEPS } from './colorScale';
import { formatWeight } from './labels';

export class Legend {
  readonly element: HTMLElement;
  private readonly bar: HTMLCanvasElement;
  private readonly top: HTMLElement;
  private readonly middle: HTMLElement;
  private readonly bottom: HTMLElement;

  constructor() {
    this.element = document.createElement('div');
    this.element.className = 'legend';
    this.element.setAttribute('role', 'img');
    this.bar = document.createElement('canvas');
    this.bar.className = 'legend-bar';
    this.bar.width = 1;
    this.bar.height = SCALE_STEPS;
    const ticks = document.createElement('div');
    ticks.className = 'legend-ticks';
    this.top = document.createElement('span');
    this.middle = document.createElement('span');
    this.bottom = document.createElement('span');
    ticks.append(this.top, this.middle, this.bottom);
    this.element.append(this.bar, ticks);
  }

  /** Draws the scale (one pixel per table entry, stretched by CSS) and its ticks. */
  update(scale: ColorScale, height: number): void {
    const context = this.bar.getContext('2d');
    if (context) {
      const image = context.createImageData(1, SCALE_STEPS);
      for (let i = 0; i < SCALE_STEPS; i++) {
        const source = (SCALE_STEPS - 1 - i) * 3; // top row = max
        image.data[i * 4] = scale.table[source];
        image.data[i * 4 + 1] = scale.table[source + 1];
        image.data[i * 4 + 2] = scale.table[source + 2];
        image.data[i * 4 + 3] = 255;
      }
      context.putImageData(image, 0, 0);
    }
    const barHeight = Math.max(60, Math.min(220, height));
    this.element.style.height = `${barHeight}px`;
    this.top.textContent = `${scale.clipped ? '≥' : ''}${formatWeight(scale.max)}`;
    this.top.title = scale.clipped ? 'The top 1% of weights are drawn with the top colour' : '';
    this.middle.textContent = formatWeight(scale.max / 2);
    this.bottom.textContent = '0';
    this.element.setAttribute('aria-label', `Colour scale from 0 to ${formatWeight(scale.max)}`);
  }
}
