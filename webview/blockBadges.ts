/**
 * @file The badges beside the stepper: the block's leaks (masked cells that carry weight, over all
 * its heads), its mask kind (with its sliding window) and its shape (with its KV heads).
 */
import { element } from './dom';
import { blockHeadsText, maskText, noLeaksText, windowBlockedCells, windowOf } from './kvGroups';
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
    this.mask.textContent = `mask: ${maskText(block)}`;
    const window = windowOf(block);
    // Tooltips say each badge in full: a narrow panel cuts them short to keep them on one line.
    this.mask.title = window === null
      ? this.mask.textContent
      : `${this.mask.textContent}: each query sees at most the ${window} most recent keys, itself included; older keys are blocked like the future ones`;
    this.shape.textContent = `${blockHeadsText(block)} · ${block.queries} × ${block.keys}`;
    this.shape.title = `${blockHeadsText(block)}; ${block.queries} queries × ${block.keys} keys`;
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
      const outside = windowBlockedCells(block.queries, block.keys, window);
      badge.textContent = data.mask === null ? '0 leaks (no mask)' : noLeaksText(counts.blocked, outside);
      badge.title = `Masked cells that carry weight > 1e-6, over all heads of this block${outside > 0 ? `; ${outside} of the ${counts.blocked} masked cells are outside the sliding window of ${window}` : ''}`;
    }
  }
}
