/**
 * @file Moving through the trace: the layer, block and head pickers, the step-through buttons with
 * the step's name, and the keys (Left/Right a step, Shift+Left/Right or Page Up/Down a layer). The
 * moves themselves are PanelSession's; this draws where it is and what can move.
 */
import { element, picker, replaceOptions } from './dom';
import { familyBlockAt, familyShortLabel } from './blockFamilies';
import { headLabel } from './kvGroups';
import type { PanelSession, StepDirection, StepUnit } from './session';
import type { ShownTrace } from './shownTrace';
import { blockShortTitle, blockTitle } from './steps';

export class Stepper {
  /** The pickers (the header's line holds them), and the step-through's row. */
  readonly pickers = element('div', { class: 'pickers' });
  readonly stepper = element('div', { class: 'stepper', role: 'group', 'aria-label': 'Step through the layers' });
  private readonly layerSelect = element('select', { id: 'layer-select', 'aria-label': 'Layer' });
  private readonly blockSelect = element('select', { id: 'block-select', 'aria-label': 'Attention block' });
  private readonly headSelect = element('select', { id: 'head-select', 'aria-label': 'Head' });
  /** An encoder-decoder's block kinds (encoder self, decoder self, cross), one click each from any layer. */
  private readonly kinds = element('div', { id: 'block-kinds', class: 'block-kinds', role: 'group', 'aria-label': 'Block kind' });
  private readonly stepLabel = element('div', { id: 'step-label', 'aria-live': 'polite' });
  private readonly stepCount = element('span', { class: 'step-count' });
  private readonly buttons: ReadonlyArray<[HTMLButtonElement, StepUnit, StepDirection]>;

  /** @param steppable whether the tab on show steps through blocks (the keys do nothing elsewhere). */
  constructor(private readonly session: PanelSession, steppable: () => boolean) {
    // model · layer · block · head on the header's line; an encoder-decoder's block kinds after them.
    this.pickers.append(picker('Layer', this.layerSelect), picker('Block', this.blockSelect), picker('Head', this.headSelect), this.kinds);
    this.kinds.addEventListener('click', (event) => {
      const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-family]');
      const shown = session.shown;
      const family = shown?.families.find((candidate) => candidate.key === button?.dataset.family);
      if (!shown || !family) return;
      // The same layer number in the other family (encoder L1 → decoder L1's cross-attention).
      const target = familyBlockAt(family, shown.trace.blocks, shown.block?.layer ?? 0);
      if (target !== undefined && target !== shown.blockIndex) session.show({ blockIndex: target });
    });
    const button = (id: string, text: string, label: string, unit: StepUnit, direction: StepDirection): [HTMLButtonElement, StepUnit, StepDirection] => {
      const node = element('button', { type: 'button', id, 'aria-label': label, title: label, class: 'step-button' }, text);
      node.addEventListener('click', () => session.navigate(unit, direction));
      return [node, unit, direction];
    };
    this.buttons = [
      button('prev-layer', '«', 'Previous layer (Shift+Left or Page Up)', 'layer', 'previous'),
      button('prev-step', '‹', 'Previous step (Left)', 'step', 'previous'),
      button('next-step', '›', 'Next step (Right)', 'step', 'next'),
      button('next-layer', '»', 'Next layer (Shift+Right or Page Down)', 'layer', 'next'),
    ];
    const stepText = element('div', { class: 'step-text' });
    stepText.append(this.stepLabel, this.stepCount);
    const [prevLayer, prevStep, nextStep, nextLayer] = this.buttons.map(([node]) => node);
    this.stepper.append(prevLayer, prevStep, stepText, nextStep, nextLayer);

    this.layerSelect.addEventListener('change', () => session.showLayer(this.layerSelect.value));
    this.blockSelect.addEventListener('change', () => session.show({ blockIndex: Number(this.blockSelect.value) }));
    this.headSelect.addEventListener('change', () => session.show({ head: this.headSelect.value === 'mean' ? 'mean' : Number(this.headSelect.value) }));
    document.addEventListener('keydown', (event) => {
      if (!session.shown || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === 'SELECT' || target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
      if (!steppable()) return;
      let action: [StepUnit, StepDirection] | undefined;
      if (event.key === 'ArrowRight') action = [event.shiftKey ? 'layer' : 'step', 'next'];
      else if (event.key === 'ArrowLeft') action = [event.shiftKey ? 'layer' : 'step', 'previous'];
      else if (event.key === 'PageDown') action = ['layer', 'next'];
      else if (event.key === 'PageUp') action = ['layer', 'previous'];
      if (!action) return;
      event.preventDefault();
      session.navigate(action[0], action[1]);
    });
    session.subscribe((event) => {
      if (event.type === 'viewMoved') this.render(event.shown);
      // The block picker names each block's leaks as they are counted.
      else if (event.type === 'countsReady') this.renderBlockOptions(event.shown);
    });
  }

  private render(shown: ShownTrace): void {
    const block = shown.block;
    const group = shown.groupOf(shown.blockIndex);
    replaceOptions(this.layerSelect, shown.groups.map((candidate) => [candidate.key, candidate.label]), group?.key ?? '');
    replaceOptions(this.blockSelect, (group?.blockIndices ?? []).map((index) => [String(index), blockOptionText(shown, index)]), String(shown.blockIndex));
    this.renderBlockOptions(shown);
    this.renderKinds(shown);
    const heads: Array<[string, string]> = [['mean', 'Mean of heads']];
    if (block) for (let h = 0; h < block.heads; h++) heads.push([String(h), headLabel(block, h)]);
    replaceOptions(this.headSelect, heads, String(shown.head));
    this.layerSelect.disabled = shown.groups.length <= 1;
    this.blockSelect.disabled = (group?.blockIndices.length ?? 0) <= 1;
    this.headSelect.disabled = !block;
    // The model's own name for the block (its module in the graph), for users who know the code.
    const source = block?.source ? `In the model: ${block.source}` : '';
    this.blockSelect.title = [block ? blockTitle(block) : '', source].filter(Boolean).join('\n');
    // The pickers' names are hidden in a narrow panel (panel.css): their tooltips say them.
    this.layerSelect.title = ['Layer', source].filter(Boolean).join('\n');
    this.headSelect.title = 'Head (or the mean of the heads)';

    const step = shown.step;
    this.stepLabel.textContent = step ? step.label : 'No steps';
    this.stepLabel.dataset.kind = step?.kind ?? '';
    this.stepCount.textContent = shown.steps.length > 0 ? `step ${shown.stepIndex + 1} of ${shown.steps.length}` : '';
    for (const [button, unit, direction] of this.buttons) button.disabled = !this.session.canNavigate(unit, direction);
  }

  /** Each option's short text, and its full name (with the leaks) as its tooltip. */
  private renderBlockOptions(shown: ShownTrace): void {
    for (const option of Array.from(this.blockSelect.options)) {
      const index = Number(option.value);
      option.textContent = blockOptionText(shown, index);
      option.title = `${blockTitle(shown.trace.blocks[index])}${leaksText(shown, index, 'long')}`;
    }
  }

  /** The block-kind switch: shown for traces with more than one family, the one on show pressed. */
  private renderKinds(shown: ShownTrace): void {
    const block = shown.block;
    this.kinds.hidden = shown.families.length <= 1;
    if (this.kinds.hidden) return;
    const keys = shown.families.map((family) => family.key).join(',');
    if (this.kinds.dataset.families !== keys) {
      this.kinds.dataset.families = keys;
      this.kinds.replaceChildren(...shown.families.map((family) => element('button', {
        type: 'button', class: 'block-kind', id: `block-kind-${family.kind}`, 'data-family': family.key,
        title: `${family.label}${block ? ', the same layer' : ''}`,
      }, familyShortLabel(family))));
    }
    const current = shown.families.find((family) => family.blockIndices.includes(shown.blockIndex));
    for (const button of Array.from(this.kinds.querySelectorAll<HTMLButtonElement>('button[data-family]'))) {
      button.setAttribute('aria-pressed', String(button.dataset.family === current?.key));
    }
  }
}

/** " ⚠ 3" (short) or " ⚠ 3 leaks" (long): a block's leaks counted so far, or nothing. */
function leaksText(shown: ShownTrace, blockIndex: number, length: 'short' | 'long'): string {
  const leaks = shown.blocks.counts(blockIndex)?.leaks.total ?? 0;
  if (leaks === 0) return '';
  return length === 'short' ? ` ⚠ ${leaks}` : ` ⚠ ${leaks} leak${leaks === 1 ? '' : 's'}`;
}

/** "Masked self ⚠ 3": a block picker option (its leaks counted now if not yet). */
function blockOptionText(shown: ShownTrace, blockIndex: number): string {
  return `${blockShortTitle(shown.trace.blocks[blockIndex])}${leaksText(shown, blockIndex, 'short')}`;
}
