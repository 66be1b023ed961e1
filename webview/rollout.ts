/**
 * @file The Rollout tab: the trace's attention rollout (analysis.rollout) of one stream as a
 * heatmap, a stream picker when there are two, and the row under the pointer sent to the host so
 * the editor highlights the inputs it draws on.
 */
import type { StreamName } from '../src/shared/trace';
import { colorLimit } from './attention';
import type { ColorScale } from './colorScale';
import { element, oncePerFrame, picker, replaceOptions } from './dom';
import { HeatmapView } from './heatmap';
import type { PanelSession } from './session';
import { capitalize } from './steps';
import type { Tabs } from './tabs';
import { type ThemeColors, weightScale } from './theme';

export class RolloutView {
  readonly element = element('section', { id: 'rollout', class: 'rollout-view', 'aria-label': 'Attention rollout' });
  readonly map: HeatmapView;
  private readonly streamSelect = element('select', { id: 'rollout-stream', 'aria-label': 'Stream' });
  private readonly streamPicker = picker('Stream', this.streamSelect);
  private readonly hint = element('p', { class: 'view-hint' }, 'Attention rollout (Abnar & Zuidema 2020): each row is an output token, each column the input token it draws on through every self-attention layer (residual included). ');
  private readonly empty = element('p', { class: 'view-hint' }, 'This trace carries no rollout.');

  constructor(private readonly session: PanelSession, private readonly theme: () => ThemeColors, private readonly tabs: Tabs) {
    const controls = element('div', { class: 'pickers' });
    controls.append(this.streamPicker);
    this.hint.append(element('span', { 'data-needs': 'editor-highlights' }, 'Hover a row to highlight its inputs in the editor.'));
    const hover = oncePerFrame((query: number | null) => session.hoverRollout(query));
    this.map = new HeatmapView({
      onHover: hover,
      onSelect: (query) => {
        if (!session.shown) return;
        session.selectRolloutRow(query);
        this.map.setSelection(query, null, false);
        hover(query);
      },
    });
    this.map.canvas.id = 'rollout-canvas';
    this.map.element.classList.add('rollout-figure');
    this.element.append(controls, this.hint, this.empty, this.map.element);
    this.streamSelect.addEventListener('change', () => {
      if (!session.shown) return;
      session.chooseRollout(this.streamSelect.value as StreamName);
      this.render();
    });
    session.subscribe((event) => {
      if (event.type === 'traceLoaded' || (event.type === 'configured' && event.recolor)) this.render();
    });
    tabs.onChange((name) => {
      if (name === 'rollout') this.render();
    });
  }

  /** The colour scale of a rollout's values (the same robust limit as a head's). */
  scale(values: Float32Array): ColorScale {
    return weightScale(this.session.colorMap, this.theme(), colorLimit(values, null));
  }

  /** Redraws at a new size, if the tab is on show. */
  resize(): void {
    if (this.tabs.current === 'rollout') this.render();
  }

  /** The picker and hints follow the trace; the map is drawn while the tab is on show. */
  render(): void {
    const shown = this.session.shown;
    if (!shown) return;
    const list = shown.trace.analysis?.rollout ?? [];
    const chosen = shown.rollout();
    this.streamPicker.hidden = list.length <= 1;
    replaceOptions(this.streamSelect, list.map((candidate) => [candidate.stream, capitalize(candidate.stream)]), chosen?.stream ?? '');
    this.empty.hidden = chosen !== null;
    this.map.element.hidden = chosen === null;
    this.hint.hidden = chosen === null;
    if (!chosen || this.tabs.current !== 'rollout') return;
    const tokens = shown.tokens(chosen.stream);
    this.map.render({
      block: { layer: 0, kind: 'self', queryStream: chosen.stream, keyStream: chosen.stream, heads: 1, queries: chosen.tokens, keys: chosen.tokens, maskKind: 'none' },
      blockIndex: -1,
      head: 'mean',
      weights: chosen.values,
      mask: null,
      queryTokens: tokens,
      keyTokens: tokens,
      scale: this.scale(chosen.values),
      theme: this.theme(),
    }, Math.max(120, this.map.element.clientWidth || this.element.clientWidth || window.innerWidth - 24));
    this.map.canvas.dataset.rollout = chosen.stream;
    this.map.canvas.setAttribute('aria-label', `Attention rollout of the ${chosen.stream}: ${chosen.tokens} output tokens by ${chosen.tokens} input tokens`);
    this.map.setSelection(shown.rolloutSelected, null, false);
  }
}
