/**
 * @file The badges under the stepper: the block's leaks (masked cells that carry weight, over all
 * its heads), its mask kind and its shape.
 */
import { element } from './dom';
import type { ShownTrace } from './shownTrace';

export class BlockBadges {
  readonly element = element('div', { class: 'badges' });
  private readonly leaks = element('span', { id: 'leak-count', class: 'badge', role: 'status' });
  private readonly mask = element('span', { id: 'mask-kind', class: 'badge subtle' });
  private readonly shape = element('span', { class: 'badge subtle shape' });

  constructor() {
    this.element.append(this.leaks, this.mask, this.shape);
  }

  /**
   * @param count count the leaks now if they are not yet; false shows them as pending when they
   * are not (a block that just arrived is drawn first, its leaks counted once the page is idle).
   */
  render(shown: ShownTrace | undefined, count = true): void {
    const block = shown?.block;
    if (!shown || !block) {
      this.element.hidden = true;
      return;
    }
    this.element.hidden = false;
    this.mask.textContent = `mask: ${block.maskKind}`;
    this.shape.textContent = `${block.heads} heads · ${block.queries} × ${block.keys}`;
    const data = shown.blocks.get(shown.blockIndex);
    const counts = data ? (count ? shown.blocks.counts(shown.blockIndex) : shown.blocks.countedSoFar(shown.blockIndex)) : null;
    const badge = this.leaks;
    badge.classList.remove('leak', 'ok');
    if (!data || !counts) {
      badge.textContent = 'leaks: …';
      badge.dataset.count = '';
      badge.title = data ? 'Counting masked cells that carry weight' : 'Counting masked cells that carry weight once the block has loaded';
      return;
    }
    const { total, perHead, maxLeak } = counts.leaks;
    badge.dataset.count = String(total);
    badge.dataset.blockIndex = String(shown.blockIndex);
    if (total > 0) {
      badge.classList.add('leak');
      const heads = perHead.map((cells, h) => (cells > 0 ? `head ${h}: ${cells}` : '')).filter(Boolean).join(', ');
      badge.textContent = `⚠ ${total} masked cell${total === 1 ? '' : 's'} carry weight · ${shown.blockName(shown.blockIndex)}`;
      badge.title = `Cells the mask blocks but whose weight exceeds 1e-6 (largest ${maxLeak.toExponential(2)}); ${heads}`;
    } else {
      badge.classList.add('ok');
      badge.textContent = data.mask === null ? '0 leaks (no mask)' : `0 leaks in ${counts.blocked} masked cells`;
      badge.title = 'Masked cells that carry weight > 1e-6, over all heads of this block';
    }
  }
}
