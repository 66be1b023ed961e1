/**
 * @file The Ablation tab: the heads the model ran without (each removable), the mode, and what
 * switching them off changed (trace.ablation): the mean KL and a bar per position, the changed
 * top-1 predictions, and per later block and head the mean and largest |Δ attention| (a click opens
 * the block, or the head, in the heatmap). The other views keep showing the original run.
 */
import type { AblationRequestMessage, PanelCapabilities } from '../src/shared/protocol';
import type { AblationMode } from '../src/shared/trace';
import { KlChart } from './ablationChart';
import { type AblationSummary, formatSmall, summarizeAblation } from './ablationModel';
import { FULL_CAPABILITIES, markCommand } from './capabilities';
import { element, picker } from './dom';
import { tokenLabel } from './labels';
import type { PanelSession } from './session';
import type { ShownTrace } from './shownTrace';
import type { Tabs } from './tabs';
import type { ThemeColors } from './theme';
import { withAlpha } from './theme';

/** The command whose presence in the host's capabilities says it can run the model again. */
export const ABLATION_COMMAND = 'attentionLens.clearAblation';

/** Changed predictions listed before "Show all": a long text changes most positions. */
const CHANGED_SHOWN = 12;

export function canAblate(capabilities: PanelCapabilities | undefined): boolean {
  return (capabilities ?? FULL_CAPABILITIES).commands.includes(ABLATION_COMMAND);
}

export class AblationView {
  readonly element = element('section', { id: 'ablation', class: 'ablation-view', 'aria-label': 'Head ablation' });
  private readonly hint = element('p', { class: 'view-hint' });
  private readonly modeSelect = element('select', { id: 'ablation-mode', 'aria-label': 'Ablation mode' });
  private readonly clearButton = element('button', { type: 'button', id: 'ablation-clear', title: 'Run the text again with no head ablated' }, 'Clear');
  private readonly headList = element('ul', { id: 'ablation-heads', class: 'ablation-heads', 'aria-label': 'Ablated heads' });
  private readonly summaryLine = element('p', { id: 'ablation-summary' });
  private readonly chart = new KlChart();
  private readonly changed = element('table', { id: 'ablation-changed', class: 'ablation-table' });
  private readonly blocks = element('table', { id: 'ablation-blocks', class: 'ablation-table' });
  private readonly result = element('div', { class: 'ablation-result' });
  private canAblate = true;

  /** Whether the host can run the model again (VS Code; not a trace file's editor or the HTML report). */
  get enabled(): boolean {
    return this.canAblate;
  }

  /** The panel asked for an ablation run: its result opens this tab. */
  private requested = false;
  private hadAblation = false;
  /** The changed predictions beyond the first CHANGED_SHOWN were asked for. */
  private allChanged = false;
  private readonly showAll = element('button', { type: 'button', id: 'ablation-show-all' });

  constructor(
    private readonly session: PanelSession,
    private readonly theme: () => ThemeColors,
    private readonly tabs: Tabs,
    private readonly postMessage: (message: AblationRequestMessage) => void,
    private readonly open: (blockIndex: number, head: number | 'mean') => void,
  ) {
    for (const [value, text] of [['zero', 'Zero'], ['mean', 'Mean']] as const) this.modeSelect.append(element('option', { value }, text));
    this.modeSelect.title = 'Zero: the heads\' outputs are zeroed. Mean: replaced by their mean over the positions.';
    this.modeSelect.addEventListener('change', () => this.post({ type: 'ablation', action: 'mode', mode: this.modeSelect.value as AblationMode }));
    this.clearButton.addEventListener('click', () => this.post({ type: 'ablation', action: 'clear' }));
    const controls = element('div', { class: 'pickers' });
    const modePicker = picker('Mode', this.modeSelect);
    markCommand(modePicker, ABLATION_COMMAND);
    markCommand(this.clearButton, ABLATION_COMMAND);
    controls.append(modePicker, this.clearButton);
    this.summaryLine.style.margin = '6px 0';
    this.headList.style.cssText = 'list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:6px';
    for (const table of [this.changed, this.blocks]) table.style.cssText = 'border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums';
    const heading = (text: string): HTMLElement => {
      const node = element('h3', { class: 'ablation-heading' }, text);
      node.style.cssText = 'font-size:inherit;font-weight:600;margin:10px 0 2px';
      return node;
    };
    this.showAll.style.cssText = 'margin:0 0 8px';
    this.showAll.addEventListener('click', () => {
      this.allChanged = true;
      this.render();
    });
    // Models with many heads scroll the table sideways rather than widen the page.
    const blocksWrap = element('div', { class: 'ablation-blocks-wrap' });
    blocksWrap.style.overflowX = 'auto';
    blocksWrap.append(this.blocks);
    // The blocks' table is short (a row per later block) and comes first; the changed predictions can run to every position.
    this.result.append(this.chart.element, heading('Attention of later blocks: per head mean |Δ|, max |Δ| under it'), blocksWrap, heading('Changed top-1 predictions'), this.changed, this.showAll);
    this.element.append(controls, this.hint, this.headList, this.summaryLine, this.result);
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') this.traceLoaded();
      else if (event.type === 'configured') {
        this.canAblate = canAblate(event.capabilities);
        this.render();
      } else if (event.type === 'status') this.element.dataset.state = event.status.state;
    });
    tabs.onChange((name) => {
      if (name === 'ablation') this.render();
    });
    tabs.setAvailable('ablation', false);
  }

  /** Sends a change of the heads to ablate; the run it starts opens this tab with its result. */
  post(message: AblationRequestMessage): void {
    this.requested = true;
    this.postMessage(message);
  }

  /**
   * The tab shows only while the trace carries an ablation; the first ablation result, or one the
   * panel asked for, opens it; clearing it goes back to the overview.
   */
  private traceLoaded(): void {
    const has = this.session.shown?.trace.ablation !== undefined;
    this.tabs.setAvailable('ablation', has, 'overview');
    if (has && (this.requested || !this.hadAblation)) this.tabs.select('ablation');
    this.requested = false;
    this.hadAblation = has;
    this.allChanged = false;
    this.render();
  }

  /** New width or theme: the chart is redrawn. */
  resize(): void {
    if (this.tabs.current === 'ablation') this.chart.resize(this.chartWidth(), this.theme());
  }

  private chartWidth(): number {
    return Math.max(160, this.element.clientWidth - 8);
  }

  render(): void {
    const shown = this.session.shown;
    const ablation = shown?.trace.ablation;
    this.element.dataset.heads = String(ablation?.heads.length ?? 0);
    if (!shown || !ablation) {
      this.hint.textContent = this.canAblate
        ? 'No head is ablated. Right-click a head in the Overview (or focus it and press Shift+F10) and choose "Ablate Head": the text runs again with that head switched off, and this view shows what changed.'
        : 'This trace was made without ablating any head.';
      this.headList.replaceChildren();
      this.summaryLine.textContent = '';
      this.result.hidden = true;
      delete this.element.dataset.runId;
      return;
    }
    this.hint.textContent = 'The model ran again without these heads; the other views show the original run.';
    const summary = summarizeAblation(ablation, shown.tokens(ablation.stream ?? shown.trace.streams[0]?.name ?? 'decoder'), (token) => (token ? tokenLabel(token) : ''), new Set(shown.trace.blocks.map((block) => block.kind)).size > 1);
    this.modeSelect.value = summary.mode;
    this.headList.replaceChildren(...summary.heads.map((head) => this.headItem(head)));
    this.summaryLine.textContent = summary.meanKl === null
      ? `${summary.mode === 'mean' ? 'Mean' : 'Zero'} ablation. The model has no next-token output: only the attention changes are compared.`
      : `${summary.mode === 'mean' ? 'Mean' : 'Zero'} ablation. Mean KL over ${summary.kl?.length ?? 0} positions: ${formatSmall(summary.meanKl)} bits; ${summary.changed.length} top-1 prediction${summary.changed.length === 1 ? '' : 's'} changed.`;
    this.result.hidden = false;
    this.chart.element.hidden = summary.kl === null;
    if (summary.kl && this.tabs.current === 'ablation') {
      const tokens = shown.tokens(ablation.stream ?? 'decoder');
      this.chart.update({ labels: summary.kl.map((_, index) => tokenLabel(tokens[index])), kl: summary.kl, changed: new Set(summary.changed.map((change) => change.position)) }, this.theme(), this.chartWidth());
    }
    this.renderChanged(summary);
    this.renderBlocks(summary, shown);
    this.element.dataset.runId = String(shown.runId);
  }

  private headItem(head: AblationSummary['heads'][number]): HTMLElement {
    const item = element('li', { class: 'ablation-head', 'data-layer': String(head.ref.layer), 'data-head': String(head.ref.head), 'data-kind': head.ref.kind });
    item.style.cssText = 'display:inline-flex;align-items:center;gap:4px;padding:1px 4px 1px 8px;border:1px solid var(--vscode-widget-border, var(--vscode-panel-border, currentColor));border-radius:10px';
    const name = element('button', { type: 'button', class: 'ablation-head-open', title: 'Open this head in the heatmap' }, head.text);
    name.style.cssText = 'background:none;border:none;color:inherit;padding:0;cursor:pointer;font:inherit';
    name.addEventListener('click', () => this.open(head.blockIndex, head.ref.head));
    item.append(name);
    if (this.canAblate) {
      const remove = element('button', { type: 'button', class: 'ablation-remove', 'aria-label': `Stop ablating ${head.text}`, title: `Stop ablating ${head.text} (runs again)` }, '×');
      remove.style.cssText = 'background:none;border:none;color:inherit;cursor:pointer;padding:0 2px;font:inherit';
      remove.addEventListener('click', () => this.post({ type: 'ablation', action: 'remove', head: head.ref }));
      item.append(remove);
    }
    return item;
  }

  private renderChanged(summary: AblationSummary): void {
    const header = element('tr');
    for (const text of ['#', 'Token', 'Before', '→ After']) header.append(element('th', { scope: 'col' }, text));
    const listed = this.allChanged ? summary.changed : summary.changed.slice(0, CHANGED_SHOWN);
    this.showAll.hidden = listed.length === summary.changed.length;
    this.showAll.textContent = `Show all ${summary.changed.length}`;
    const rows = listed.map((change) => {
      const row = element('tr');
      row.append(element('td', {}, String(change.position)), element('td', {}, change.token), element('td', {}, change.before), element('td', {}, change.after));
      return row;
    });
    if (rows.length === 0) {
      const row = element('tr');
      const cell = element('td', { colspan: '4', class: 'view-hint' }, summary.kl === null ? 'No predictions to compare.' : 'No top-1 prediction changed.');
      row.append(cell);
      rows.push(row);
    }
    this.changed.replaceChildren(element('thead'), element('tbody'));
    this.changed.tHead?.append(header);
    this.changed.tBodies[0].append(...rows);
    for (const cell of Array.from(this.changed.querySelectorAll<HTMLElement>('th, td'))) cell.style.cssText = 'padding:1px 8px 1px 0;text-align:left';
  }

  /** Per block a row, per head a cell shaded by its mean |Δ| against the largest in the table. */
  private renderBlocks(summary: AblationSummary, shown: ShownTrace): void {
    const heads = Math.max(0, ...summary.blocks.map((block) => block.heads.length));
    const largest = Math.max(0, ...summary.blocks.flatMap((block) => block.heads.map((head) => head.mean)));
    const accent = this.theme().accent;
    const header = element('tr');
    header.append(element('th', { scope: 'col', title: 'The block, and the largest |Δ| over all its heads under it' }, 'Block'));
    for (let h = 0; h < heads; h++) header.append(element('th', { scope: 'col' }, `H${h}`));
    const rows = summary.blocks.map((block) => {
      const row = element('tr', { 'data-block-index': String(block.blockIndex) });
      const name = element('button', { type: 'button', class: 'ablation-block-open', title: 'Open this block (mean of heads) in the heatmap' }, shown.layerLabel(block.blockIndex));
      name.style.cssText = 'background:none;border:none;color:var(--vscode-textLink-foreground, inherit);padding:0;cursor:pointer;font:inherit;text-align:left';
      name.addEventListener('click', () => this.open(block.blockIndex, 'mean'));
      // The block's largest |Δ| under its name: one column fewer keeps four heads in a side bar.
      const first = element('td', { class: 'ablation-block-max', title: `Largest |Δ| over the block: ${block.maxAbs}` });
      const max = element('span', {}, `max ${block.maxAbs}`);
      max.style.cssText = 'display:block;font-size:90%;opacity:.8';
      first.append(name, max);
      row.append(first);
      block.heads.forEach((head, h) => {
        // Two short lines (mean, then max) keep four heads inside a 300 px side bar.
        const cell = element('td', { class: 'ablation-delta', title: `H${h}: mean |Δ| ${head.mean}, max |Δ| ${head.max}. Click to open it in the heatmap.`, tabindex: '0', 'aria-label': `H${h} mean and max |Δ|: ${head.text}` });
        const max = element('span', { class: 'ablation-delta-max' }, formatSmall(head.max));
        max.style.cssText = 'display:block;font-size:90%;opacity:.8';
        cell.append(element('span', {}, formatSmall(head.mean)), max);
        cell.style.background = largest > 0 ? withAlpha(accent, 0.08 + 0.6 * (head.mean / largest)) : '';
        cell.style.cursor = 'pointer';
        const openHead = (): void => this.open(block.blockIndex, h);
        cell.addEventListener('click', openHead);
        cell.addEventListener('keydown', (event) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            openHead();
          }
        });
        row.append(cell);
      });
      return row;
    });
    if (rows.length === 0) {
      const row = element('tr');
      row.append(element('td', { colspan: String(heads + 1), class: 'view-hint' }, 'No block comes after the ablated heads.'));
      rows.push(row);
    }
    this.blocks.replaceChildren(element('thead'), element('tbody'));
    this.blocks.tHead?.append(header);
    this.blocks.tBodies[0].append(...rows);
    for (const cell of Array.from(this.blocks.querySelectorAll<HTMLElement>('th, td'))) {
      cell.style.padding = '1px 4px';
      cell.style.textAlign = 'left';
      cell.style.whiteSpace = 'nowrap';
    }
  }
}
