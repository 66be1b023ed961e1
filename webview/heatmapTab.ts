/**
 * @file The Heatmap tab's views: the block's badges, the heatmap of the head (or mean) on show, and
 * the residual stream's chart at the step on show. It draws what PanelSession shows, tells it which
 * row the pointer is on (over its cells or its label) and which row was picked, and times each block
 * from its message's arrival to the end of its drawing. The Words choice comes from, and goes to,
 * the panel's saved state through `labels`.
 */
import { BlockBadges } from './blockBadges';
import { element, oncePerFrame } from './dom';
import { HeatmapView } from './heatmap';
import { rowPredictions } from './predictionLabels';
import { ResidualChart, residualSeries } from './residualChart';
import type { PanelSession } from './session';
import type { Tabs } from './tabs';
import { type ThemeColors, weightScale } from './theme';

/** The heatmap's label preference as the panel keeps it (vscode.getState / setState). */
export interface LabelPreference {
  /** Labels per word when the panel opens. */
  words: boolean;
  /** Keeps a new choice. */
  saveWords(words: boolean): void;
}

export class HeatmapTab {
  /** The tab's panel: the heatmap (or a note that there is nothing to show) and the chart. */
  readonly element = element('div', { class: 'views' });
  readonly badges = new BlockBadges();
  readonly heatmap: HeatmapView;
  readonly chart = new ResidualChart();
  private readonly noBlocks = element('p', { class: 'no-blocks' }, 'This trace has no attention blocks to show.');
  /** The heatmap figure's width as the last layout left it (noteLayout), 0 when unknown or hidden. */
  private knownWidth = 0;

  constructor(private readonly session: PanelSession, private readonly theme: () => ThemeColors, tabs: Tabs, labels?: LabelPreference) {
    const hover = oncePerFrame((query: number | null) => session.hoverQuery(query));
    this.heatmap = new HeatmapView({
      onHover: hover,
      onSelect: (query) => {
        session.selectRow(query);
        hover(query);
      },
      onWordsChange: (words) => labels?.saveWords(words),
    });
    this.heatmap.setWords(labels?.words === true);
    this.noBlocks.hidden = true;
    this.element.append(this.heatmap.element, this.noBlocks, this.chart.element);
    tabs.onChange((name) => {
      if (name === 'heatmap') this.render();
    });
    session.subscribe((event) => {
      switch (event.type) {
        case 'traceLoaded': {
          const none = event.shown.trace.blocks.length === 0;
          this.noBlocks.hidden = !none;
          this.heatmap.element.hidden = none;
          break;
        }
        case 'viewMoved': {
          const step = event.shown.step;
          // A non-attention step shows the heatmap of the layer's attention for context, dimmed.
          this.heatmap.element.classList.toggle('context', step !== undefined && step.kind !== 'attention');
          this.badges.render(event.shown);
          this.render();
          this.chart.update(residualSeries(event.shown), this.theme(), this.chartWidth());
          break;
        }
        case 'blockArrived':
          if (event.blockIndex === event.shown.blockIndex) this.blockArrived(event.blockIndex, event.arrivedAt);
          break;
        case 'countsReady':
          if (event.blockIndex === event.shown.blockIndex) this.badges.render(event.shown);
          break;
        case 'selectionMoved':
          this.heatmap.setSelection(event.shown.selectedQuery, event.shown.selectedKey, event.scroll);
          break;
        case 'configured':
          if (event.recolor) this.render();
          break;
        case 'status':
          break;
        default: {
          const unreachable: never = event;
          void unreachable;
        }
      }
    });
  }

  /** Draws the heatmap of the block and head on show (loading until its data is here). */
  render(): void {
    const shown = this.session.shown;
    const block = shown?.block;
    if (!shown || !block) return;
    const data = shown.blocks.get(shown.blockIndex);
    const matrix = shown.blocks.matrix(shown.blockIndex, shown.head);
    this.heatmap.render({
      block,
      blockIndex: shown.blockIndex,
      head: shown.head,
      weights: matrix?.weights ?? null,
      mask: data?.mask ?? null,
      queryTokens: shown.tokens(block.queryStream),
      keyTokens: shown.tokens(block.keyStream),
      scale: weightScale(this.session.colorMap, this.theme(), matrix),
      theme: this.theme(),
      // The LM head's top-k per query position, for the row labels and tooltips (issue 23).
      predictions: rowPredictions(shown.trace, block.queryStream),
    }, this.heatmapWidth());
    this.heatmap.setSelection(shown.selectedQuery, shown.selectedKey, false);
  }

  /** Redraws at the new sizes (or, given one, in a new theme). */
  resize(theme?: ThemeColors): void {
    this.render();
    this.chart.resize(this.chartWidth(), theme);
  }

  /** Called while layout is fresh (in a ResizeObserver): remembers the figure's width for heatmapWidth(). */
  noteLayout(): void {
    this.knownWidth = this.heatmap.element.clientWidth;
  }

  private blockArrived(blockIndex: number, arrivedAt: number): void {
    // Pixels first: the heatmap, then the badges (their leak count follows once the page is idle).
    this.render();
    this.badges.render(this.session.shown, false);
    // Speed instrumentation (bench/webview.ts, UI tests): data-render-ms is the ms from this
    // blockData message's arrival to the end of the heatmap's drawing of it, everything the panel
    // does with the data on the way included; data-render-block says which block it timed (a later
    // redraw of the same data, e.g. on resize, leaves both as they are).
    const canvas = this.heatmap.canvas;
    if (canvas.dataset.drawn) {
      canvas.dataset.renderMs = (performance.now() - arrivedAt).toFixed(2);
      canvas.dataset.renderBlock = String(blockIndex);
    }
  }

  private heatmapWidth(): number {
    // The width from the last layout, when known: reading clientWidth after the DOM changed forces a
    // layout of the whole panel, which costs more than drawing a 1024² heatmap.
    return Math.max(120, this.knownWidth || this.heatmap.element.clientWidth || this.element.clientWidth || window.innerWidth - 24);
  }

  private chartWidth(): number {
    return Math.max(160, this.chart.element.clientWidth || this.element.clientWidth || window.innerWidth - 24);
  }
}
