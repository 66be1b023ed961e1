/**
 * @file The Export buttons: PNG and SVG of the view on show, made here and sent to the host to save
 * (exportImage), and JSON, CSV (every weight), HTML and a trace file of the whole run, which the host
 * writes (runCommand). Which image each tab can give: PNG of the heatmap (the whole block, drawn
 * again from its weights at twice the resolution), rollout or overview; SVG of the heatmap, rollout
 * or head view. A button that cannot act now stays hoverable (aria-disabled, not disabled, which
 * would hide its tooltip) and its tooltip says why and what to do.
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

/** What each button does, as its tooltip says while it can act. */
export const EXPORT_TITLES = {
  png: 'Save the current view as a PNG image (the whole block, at twice the resolution, with its title, labels and colour bar)',
  svg: 'Save the current view as an SVG image',
  json: 'Save the whole trace as JSON',
  csv: 'Save every attention weight as CSV: one row per block, head, query and key (with the tokens, the weight and whether the mask allows it)',
  html: 'Save an HTML report of this run',
  trace: 'Save the whole trace as a trace file (.attn.safetensors) to open again in VS Code, the CLI or Python',
} as const;

export type ExportKind = keyof typeof EXPORT_TITLES;

/** Why a button cannot act now (its tooltip), or null when it can. Pure. */
export function exportBlocked(kind: ExportKind, tab: ViewName, hasTrace: boolean): string | null {
  if (!hasTrace) return 'Nothing to export yet: select text in an editor and run "Explain Attention" first.';
  if (kind === 'png' && tab !== 'heatmap' && tab !== 'rollout' && tab !== 'overview') return 'PNG export: switch to the Heatmap, Overview or Rollout tab (this tab has no image).';
  if (kind === 'svg' && tab !== 'heatmap' && tab !== 'rollout' && tab !== 'heads') return 'SVG export: switch to the Heatmap, Heads or Rollout tab (this tab has no image).';
  return null;
}

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
  private readonly buttons = new Map<ExportKind, HTMLButtonElement>();

  constructor(
    private readonly session: PanelSession, private readonly theme: () => ThemeColors, private readonly tabs: Tabs,
    private readonly sources: ExportSources,
  ) {
    const button = (kind: ExportKind, text: string, action: (() => void) | PanelCommand): HTMLButtonElement => {
      const node = element('button', { type: 'button', id: `export-${kind}`, 'aria-label': EXPORT_TITLES[kind], title: EXPORT_TITLES[kind], class: 'export-button' }, text);
      if (typeof action === 'string') markCommand(node, action);
      node.addEventListener('click', () => {
        if (node.getAttribute('aria-disabled') === 'true') return;
        if (typeof action === 'string') session.runCommand(action);
        else action();
      });
      this.buttons.set(kind, node);
      return node;
    };
    this.element.append(
      element('span', { class: 'export-label' }, 'Export'),
      button('png', 'PNG', () => this.exportImage('png')),
      button('svg', 'SVG', () => this.exportImage('svg')),
      button('json', 'JSON', 'attentionLens.exportJson'),
      // The CSV holds every weight, not a summary: the label says so.
      button('csv', 'Weights CSV', 'attentionLens.exportCsv'),
      button('html', 'HTML', 'attentionLens.exportHtml'),
      button('trace', 'Trace', 'attentionLens.exportTraceFile'),
    );
    tabs.onChange(() => this.update());
    session.subscribe((event) => {
      if (event.type === 'traceLoaded' || event.type === 'status') this.update();
    });
  }

  /** Each button acts or says why not, for the tab on show and whether there is a trace. */
  private update(tab: ViewName = this.tabs.current): void {
    const hasTrace = this.session.shown !== undefined;
    for (const [kind, node] of this.buttons) {
      const blocked = exportBlocked(kind, tab, hasTrace);
      if (blocked) node.setAttribute('aria-disabled', 'true');
      else node.removeAttribute('aria-disabled');
      node.title = blocked ?? EXPORT_TITLES[kind];
      node.setAttribute('aria-label', node.title);
    }
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
      this.session.exportImage({
        format, suggestedName: source.name,
        data: heatmapPng({
          title: source.title, weights: source.weights, mask: source.mask, rows: source.rows, cols: source.cols, rowLabels: source.rowLabels,
          columnLabels: source.columnLabels, scale: source.scale, theme, blockedRgb: blockedCellColor(theme),
        }),
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
