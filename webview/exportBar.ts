/**
 * @file The Export buttons: PNG and SVG of the view on show, made here and sent to the host to save
 * (exportImage), and JSON, CSV, HTML and a trace file of the whole run, which the host writes (runCommand). Which
 * image each tab can give: PNG of the heatmap, rollout or overview; SVG of the heatmap, rollout or
 * head view.
 */
import type { PanelCommand } from '../src/shared/protocol';
import { markCommand } from './capabilities';
import type { ColorScale } from './colorScale';
import { element } from './dom';
import { heatmapPng, overviewPng } from './exportImage';
import { tokenLabel } from './labels';
import type { PanelSession } from './session';
import type { ShownTrace } from './shownTrace';
import { exportName, heatmapSvg } from './svgExport';
import type { Tabs, ViewName } from './tabs';
import { blockedCellColor, type ThemeColors, weightScale } from './theme';

/** Where the images come from: the views that draw them. */
export interface ExportSources {
  heatmapCanvas: HTMLCanvasElement;
  rolloutCanvas: HTMLCanvasElement;
  /** The colour scale the rollout is drawn with. */
  rolloutScale(values: Float32Array): ColorScale;
  /** The overview's thumbnails as they are. */
  overviewCells(): HTMLElement[];
  /** The head view's SVG on show, or null. */
  headSvg(): SVGSVGElement | null;
}

/** A heatmap (of a block or of the rollout) as the PNG and SVG exports need it. */
interface HeatmapSource {
  title: string;
  name: string;
  canvas: HTMLCanvasElement;
  /** [rows, cols] */
  weights: Float32Array;
  mask: Uint8Array | null;
  rows: number;
  cols: number;
  rowLabels: string[];
  columnLabels: string[];
  scale: ColorScale;
}

export class ExportBar {
  readonly element = element('div', { class: 'export-bar', role: 'group', 'aria-label': 'Export' });
  private readonly png: HTMLButtonElement;
  private readonly svg: HTMLButtonElement;

  constructor(
    private readonly session: PanelSession, private readonly theme: () => ThemeColors, private readonly tabs: Tabs,
    private readonly sources: ExportSources,
  ) {
    const button = (id: string, text: string, label: string, action: (() => void) | PanelCommand): HTMLButtonElement => {
      const node = element('button', { type: 'button', id, 'aria-label': label, title: label, class: 'export-button' }, text);
      if (typeof action === 'string') markCommand(node, action);
      node.addEventListener('click', typeof action === 'string' ? () => session.runCommand(action) : action);
      return node;
    };
    this.png = button('export-png', 'PNG', 'Save the current view as a PNG image', () => this.exportImage('png'));
    this.svg = button('export-svg', 'SVG', 'Save the current heatmap as an SVG image', () => this.exportImage('svg'));
    this.element.append(
      element('span', { class: 'export-label' }, 'Export'),
      this.png,
      this.svg,
      button('export-json', 'JSON', 'Save the whole trace as JSON', 'attentionLens.exportJson'),
      button('export-csv', 'CSV', 'Save the attention weights as CSV', 'attentionLens.exportCsv'),
      button('export-html', 'HTML', 'Save an HTML report of this run', 'attentionLens.exportHtml'),
      button('export-trace', 'Trace', 'Save the whole trace as a trace file (.attn.safetensors) to open again in VS Code, the CLI or Python', 'attentionLens.exportTraceFile'),
    );
    tabs.onChange((name) => this.enableFor(name));
  }

  /** PNG and SVG only where the tab on show has such an image, and only with a trace. */
  private enableFor(tab: ViewName): void {
    const hasTrace = this.session.shown !== undefined;
    const canPng = tab === 'heatmap' || tab === 'rollout' || tab === 'overview';
    const canSvg = tab === 'heatmap' || tab === 'rollout' || tab === 'heads';
    this.png.disabled = !hasTrace || !canPng;
    this.svg.disabled = !hasTrace || !canSvg;
    this.png.title = canPng ? 'Save the current view as a PNG image' : 'PNG export: switch to the Heatmap, Overview or Rollout tab';
    this.svg.title = canSvg ? 'Save the current view as an SVG image' : 'SVG export: switch to the Heatmap, Heads or Rollout tab';
  }

  private exportImage(format: 'png' | 'svg'): void {
    const shown = this.session.shown;
    if (!shown) return;
    const tab = this.tabs.current;
    const theme = this.theme();
    if (tab === 'overview' && format === 'png') {
      const family = shown.families.find((candidate) => candidate.key === shown.familyKey);
      const data = overviewPng(`${shown.trace.model.name} · ${family?.label ?? 'attention'}`, this.sources.overviewCells(), (blockIndex) => shown.layerLabel(blockIndex), theme);
      this.session.exportImage({ format, data, suggestedName: `overview-${family?.key.replace(':', '-') ?? 'attention'}` });
      return;
    }
    if (tab === 'heads' && format === 'svg') {
      const svgElement = this.sources.headSvg();
      const block = shown.block;
      if (!svgElement || !block) return;
      this.session.exportImage({ format, data: standaloneSvg(svgElement, theme), suggestedName: `heads-${block.queryStream}-L${block.layer}${block.kind === 'cross' ? '-cross' : ''}` });
      return;
    }
    if (tab !== 'heatmap' && tab !== 'rollout') return;
    const source = tab === 'rollout' ? this.rolloutSource(shown) : this.blockSource(shown);
    if (!source) return;
    if (format === 'png') {
      if (!source.canvas.dataset.drawn) return;
      this.session.exportImage({
        format, suggestedName: source.name,
        data: heatmapPng({ title: source.title, source: source.canvas, rows: source.rows, cols: source.cols, rowLabels: source.rowLabels, columnLabels: source.columnLabels, scale: source.scale, theme }),
      });
    } else {
      this.session.exportImage({
        format, suggestedName: source.name,
        data: heatmapSvg({
          title: source.title, rowLabels: source.rowLabels, columnLabels: source.columnLabels, weights: source.weights, rows: source.rows, cols: source.cols,
          mask: source.mask, scale: source.scale, background: theme.background, foreground: theme.foreground, blockedRgb: blockedCellColor(theme),
          leakColor: theme.error, fontFamily: theme.editorFontFamily,
        }),
      });
    }
  }

  private rolloutSource(shown: ShownTrace): HeatmapSource | null {
    const chosen = shown.rollout();
    if (!chosen) return null;
    const labels = shown.tokens(chosen.stream).map((token) => tokenLabel(token));
    return {
      title: `${shown.trace.model.name} · attention rollout, ${chosen.stream}`, name: `rollout-${chosen.stream}`, canvas: this.sources.rolloutCanvas,
      weights: chosen.values, mask: null, rows: chosen.tokens, cols: chosen.tokens, rowLabels: labels, columnLabels: labels,
      scale: this.sources.rolloutScale(chosen.values),
    };
  }

  private blockSource(shown: ShownTrace): HeatmapSource | null {
    const block = shown.block;
    const matrix = shown.blocks.matrix(shown.blockIndex, shown.head);
    if (!block || !matrix) return null;
    const head = shown.head === 'mean' ? 'mean of heads' : `head ${shown.head}`;
    return {
      title: `${shown.trace.model.name} · ${shown.blockName(shown.blockIndex)} · ${head}`,
      name: exportName({ stream: block.queryStream, layer: block.layer, kind: block.kind, head: shown.head }),
      canvas: this.sources.heatmapCanvas, weights: matrix.weights, mask: shown.blocks.get(shown.blockIndex)?.mask ?? null,
      rows: block.queries, cols: block.keys,
      rowLabels: shown.tokens(block.queryStream).map((token) => tokenLabel(token)),
      columnLabels: shown.tokens(block.keyStream).map((token) => tokenLabel(token)),
      scale: weightScale(this.session.colorMap, this.theme(), matrix),
    };
  }
}

/** The head view's SVG as a standalone document: its colours written in, a background behind. */
function standaloneSvg(svgElement: SVGSVGElement, theme: ThemeColors): string {
  const copy = svgElement.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  copy.setAttribute('font-family', theme.editorFontFamily);
  copy.setAttribute('font-size', '11');
  copy.querySelectorAll('text').forEach((text) => text.setAttribute('fill', theme.foreground));
  const background = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  background.setAttribute('width', '100%');
  background.setAttribute('height', '100%');
  background.setAttribute('fill', `rgb(${theme.background.join(',')})`);
  copy.insertBefore(background, copy.firstChild?.nextSibling ?? null);
  return new XMLSerializer().serializeToString(copy);
}
