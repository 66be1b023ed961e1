/**
 * @file The head view (after BertViz): the block's query tokens in a column on the left, its key
 * tokens on the right, a line from each query to each key per head with opacity = weight, one
 * colour per head (checkboxes switch heads on and off); hovering or focusing a token keeps only its
 * lines. For cross-attention it is the alignment view (decoder left, encoder right). SVG, so it
 * draws up to HEAD_VIEW_MAX_TOKENS tokens a side; longer inputs are pointed to the heatmap.
 * HeadsTab draws the block PanelSession shows, while the Heads tab is on show.
 */
import type { Token } from '../src/shared/trace';
import type { BlockOverview } from '../src/shared/protocol';
import { HEAD_VIEW_MAX_TOKENS, headLines } from './headLines';
import { headLabel, headSpoken, kvGroups } from './kvGroups';
import { tokenLabel } from './labels';
import type { PanelSession } from './session';
import type { Tabs } from './tabs';
import type { ThemeColors } from './theme';

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 18;
const MIN_WEIGHT = 0.02;

export interface HeadViewInput {
  block: BlockOverview;
  blockIndex: number;
  title: string;
  probs: Float32Array | null;
  queryTokens: readonly Token[];
  keyTokens: readonly Token[];
  theme: ThemeColors;
}

/** Head colours: VS Code's chart colours first, then evenly spaced hues. */
export function headColor(head: number, heads: number, theme: ThemeColors): string {
  const styles = getComputedStyle(document.body);
  const named = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow'];
  const fromTheme = heads <= named.length ? styles.getPropertyValue(named[head]).trim() : '';
  if (fromTheme) return fromTheme;
  const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
  return `hsl(${Math.round((head * 360) / Math.max(1, heads) + 210) % 360}, 70%, ${light ? 42 : 62}%)`;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

export class HeadView {
  readonly element = document.createElement('section');
  private readonly toggles = document.createElement('div');
  private readonly message = document.createElement('p');
  private readonly figure = document.createElement('div');
  private input: HeadViewInput | undefined;
  private visible = new Set<number>();
  private blockKey = '';
  private focus: { side: 'query' | 'key'; index: number } | null = null;
  private lineGroup: SVGGElement | undefined;
  private svgElement: SVGSVGElement | undefined;
  private geometry = { left: 0, right: 0, top: 0 };
  private colors: string[] = [];

  constructor() {
    this.element.id = 'head-view';
    this.element.className = 'head-view';
    this.element.setAttribute('aria-label', 'Head view: lines from query tokens to key tokens');
    this.toggles.className = 'head-toggles';
    this.toggles.setAttribute('role', 'group');
    this.toggles.setAttribute('aria-label', 'Heads shown');
    this.message.className = 'view-hint';
    this.figure.className = 'head-figure';
    this.element.append(this.toggles, this.message, this.figure);
  }

  /** The SVG on show (for the SVG export), or null. */
  get svg(): SVGSVGElement | null {
    return this.svgElement && this.svgElement.isConnected ? this.svgElement : null;
  }

  render(input: HeadViewInput, availableWidth: number): void {
    this.input = input;
    const { block } = input;
    const key = `${input.blockIndex}:${block.heads}`;
    if (key !== this.blockKey) {
      if (this.visible.size === 0 || [...this.visible].some((h) => h >= block.heads)) this.visible = new Set(Array.from({ length: block.heads }, (_, h) => h));
      this.blockKey = key;
      this.focus = null;
    }
    this.colors = Array.from({ length: block.heads }, (_, h) => headColor(h, block.heads, input.theme));
    this.renderToggles();
    this.svgElement = undefined;
    this.lineGroup = undefined;
    if (block.queries > HEAD_VIEW_MAX_TOKENS || block.keys > HEAD_VIEW_MAX_TOKENS) {
      this.message.textContent = `${block.queries} × ${block.keys} tokens are too many lines to read here (the head view draws up to ${HEAD_VIEW_MAX_TOKENS} tokens a side). Use the Heatmap or Overview tab for long inputs.`;
      this.message.classList.add('too-long');
      this.toggles.hidden = true;
      this.figure.replaceChildren();
      return;
    }
    this.message.classList.remove('too-long');
    this.toggles.hidden = false;
    this.message.textContent = block.kind === 'cross'
      ? 'Cross-attention alignment: decoder tokens (left) to the encoder tokens they read (right). Hover a token to see only its lines.'
      : 'Queries (left) to keys (right); line opacity = weight. Hover a token to see only its lines.';
    if (!input.probs) {
      this.figure.replaceChildren(Object.assign(document.createElement('p'), { className: 'view-hint', textContent: 'Loading block…' }));
      return;
    }
    const measure = document.createElement('canvas').getContext('2d');
    if (measure) measure.font = `11px ${input.theme.editorFontFamily}`;
    const width = (text: string): number => (measure ? measure.measureText(text).width : text.length * 7);
    const queryLabels = input.queryTokens.map((t) => tokenLabel(t));
    const keyLabels = input.keyTokens.map((t) => tokenLabel(t));
    const labelWidth = Math.min(120, Math.ceil(Math.max(width('queries'), ...queryLabels.map(width), ...keyLabels.map(width))) + 10);
    const total = Math.max(220, Math.min(availableWidth, 560));
    const top = 22;
    const height = top + Math.max(block.queries, block.keys) * ROW + 4;
    const left = labelWidth;
    const right = total - labelWidth;
    this.geometry = { left, right, top };
    const root = svg('svg', { width: total, height, viewBox: `0 0 ${total} ${height}`, role: 'img', class: 'head-svg' });
    root.setAttribute('aria-label', `${input.title}: ${block.queries} query tokens and ${block.keys} key tokens`);
    root.append(svg('title', {}));
    root.firstChild!.textContent = input.title;
    const headers = svg('g', { class: 'head-axis-title' });
    const queryTitle = svg('text', { x: left - 6, y: 12, 'text-anchor': 'end' });
    queryTitle.textContent = block.kind === 'cross' ? block.queryStream : 'queries';
    const keyTitle = svg('text', { x: right + 6, y: 12 });
    keyTitle.textContent = block.kind === 'cross' ? block.keyStream : 'keys';
    headers.append(queryTitle, keyTitle);
    this.lineGroup = svg('g', { class: 'head-lines' });
    const tokens = svg('g', { class: 'head-tokens' });
    const addTokens = (labels: string[], side: 'query' | 'key'): void => {
      labels.forEach((label, index) => {
        const y = top + index * ROW + ROW / 2;
        const text = svg('text', side === 'query'
          ? { x: left - 6, y, 'text-anchor': 'end', 'dominant-baseline': 'central', tabindex: 0 }
          : { x: right + 6, y, 'dominant-baseline': 'central', tabindex: 0 });
        text.setAttribute('class', 'head-token');
        text.dataset.side = side;
        text.dataset.index = String(index);
        text.setAttribute('aria-label', `${side} ${index}: ${label}. Show only its lines`);
        text.textContent = label.length > 14 ? `${label.slice(0, 13)}…` : label;
        const enter = (): void => this.setFocus({ side, index });
        const leave = (): void => this.setFocus(null);
        text.addEventListener('mouseenter', enter);
        text.addEventListener('mouseleave', leave);
        text.addEventListener('focus', enter);
        text.addEventListener('blur', leave);
        tokens.append(text);
      });
    };
    addTokens(queryLabels, 'query');
    addTokens(keyLabels, 'key');
    root.append(headers, this.lineGroup, tokens);
    this.svgElement = root;
    this.figure.replaceChildren(root);
    this.drawLines();
  }

  private renderToggles(): void {
    const input = this.input;
    if (!input) return;
    const nodes: HTMLElement[] = [];
    // Grouped-query attention: the toggles grouped by the key/value head their heads read.
    for (const group of kvGroups(input.block)) {
      if (group.kvHead !== null) {
        const kv = document.createElement('span');
        kv.className = 'head-kv-label';
        kv.textContent = `${group.label}:`;
        kv.title = `Query heads ${group.heads.join(', ')} read key/value head ${group.kvHead}`;
        kv.style.marginLeft = nodes.length > 0 ? '10px' : '0';
        kv.style.opacity = '0.75';
        nodes.push(kv);
      }
      for (const h of group.heads) nodes.push(this.toggle(h));
    }
    const all = document.createElement('button');
    all.type = 'button';
    all.className = 'link-button';
    all.textContent = 'all';
    all.setAttribute('aria-label', 'Show all heads');
    all.addEventListener('click', () => {
      this.visible = new Set(Array.from({ length: input.block.heads }, (_, h) => h));
      this.renderToggles();
      this.drawLines();
    });
    this.toggles.replaceChildren(...nodes, all);
  }

  /** The checkbox that shows or hides head h's lines. */
  private toggle(h: number): HTMLElement {
    const input = this.input!;
    const label = document.createElement('label');
    label.className = 'head-toggle';
    label.title = headLabel(input.block, h);
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = this.visible.has(h);
    box.dataset.head = String(h);
    box.setAttribute('aria-label', `Show ${headSpoken(input.block, h)}`);
    box.addEventListener('change', () => {
      if (box.checked) this.visible.add(h);
      else this.visible.delete(h);
      this.drawLines();
    });
    const swatch = document.createElement('span');
    swatch.className = 'head-swatch';
    swatch.style.background = this.colors[h];
    label.append(box, swatch, document.createTextNode(`H${h}`));
    return label;
  }

  private setFocus(focus: { side: 'query' | 'key'; index: number } | null): void {
    this.focus = focus;
    this.svgElement?.querySelectorAll<SVGTextElement>('.head-token').forEach((node) => {
      node.classList.toggle('focused', focus !== null && node.dataset.side === focus.side && Number(node.dataset.index) === focus.index);
    });
    this.drawLines();
  }

  private drawLines(): void {
    const input = this.input;
    const group = this.lineGroup;
    if (!input || !group || !input.probs) return;
    const { block } = input;
    const { left, right, top } = this.geometry;
    const lines = headLines(input.probs, block.heads, block.queries, block.keys, this.visible, MIN_WEIGHT, this.focus);
    const nodes = lines.map((line) => {
      const node = svg('line', {
        x1: left, y1: top + line.query * ROW + ROW / 2, x2: right, y2: top + line.key * ROW + ROW / 2,
        stroke: this.colors[line.head], 'stroke-opacity': Math.min(1, line.weight).toFixed(3), 'stroke-width': this.focus ? 2 : 1.5,
      });
      return node;
    });
    group.replaceChildren(...nodes);
  }
}

/** The Heads tab: the head view of the block on show, drawn while the tab is on show. */
export class HeadsTab {
  readonly view = new HeadView();

  constructor(private readonly session: PanelSession, private readonly theme: () => ThemeColors, private readonly tabs: Tabs) {
    session.subscribe((event) => {
      if (tabs.current !== 'heads') return;
      if (event.type === 'viewMoved' || (event.type === 'blockArrived' && event.blockIndex === event.shown.blockIndex)) this.render();
    });
    tabs.onChange((name) => {
      if (name === 'heads') this.render();
    });
  }

  /** Draws the block on show (nothing while the tab is hidden, or without a block). */
  render(): void {
    const shown = this.session.shown;
    const block = shown?.block;
    if (!shown || !block || this.tabs.current !== 'heads') return;
    this.view.render({
      block,
      blockIndex: shown.blockIndex,
      title: shown.blockName(shown.blockIndex),
      probs: shown.blocks.get(shown.blockIndex)?.probs ?? null,
      queryTokens: shown.tokens(block.queryStream),
      keyTokens: shown.tokens(block.keyStream),
      theme: this.theme(),
    }, Math.max(220, this.view.element.clientWidth || window.innerWidth - 24));
  }
}
