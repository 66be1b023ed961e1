/**
 * @file The statistics table: every head of every block (analysis.headStats) with its entropy,
 * distance and pattern shares, sortable by clicking a column header; clicking a row (or Enter on
 * it) opens that head in the heatmap. Above it, "Measure induction" and what it does.
 */
import type { HeadStats } from '../src/shared/analysis';
import { markCommand } from './capabilities';
import type { PanelSession } from './session';
import { formatStat, kindLabel, type SortDirection, sortStats, STATS_COLUMNS, type StatsColumn } from './statsColumns';

export interface StatsCallbacks {
  open(blockIndex: number, head: number): void;
  measureInduction(): void;
}

export class StatsTable {
  readonly element = document.createElement('section');
  private readonly table = document.createElement('table');
  private readonly body = document.createElement('tbody');
  private readonly headerRow = document.createElement('tr');
  private readonly empty = document.createElement('p');
  private stats: readonly HeadStats[] = [];
  private layerLabel: (stats: HeadStats) => string = (s) => String(s.layer);
  /** The columns shown: Kind only where the trace has more than one kind of block. */
  private columns: typeof STATS_COLUMNS = STATS_COLUMNS;
  private column: StatsColumn | null = null;
  private direction: SortDirection = 'descending';

  constructor(private readonly callbacks: StatsCallbacks) {
    this.element.className = 'stats-view';
    this.element.setAttribute('aria-label', 'Head statistics');
    const actions = document.createElement('div');
    actions.className = 'stats-actions';
    const measure = document.createElement('button');
    measure.type = 'button';
    measure.id = 'measure-induction';
    measure.className = 'command';
    measure.textContent = 'Measure induction';
    measure.title = 'Run the model on random letters written twice and fill the Induct column';
    measure.addEventListener('click', () => this.callbacks.measureInduction());
    const explain = document.createElement('span');
    explain.className = 'view-hint';
    explain.textContent = 'Runs the model on distinct random letters written twice and measures how much each head attends, from the second copy, to the token after the earlier occurrence.';
    actions.append(measure, explain);
    // The button and what it does go together where the host cannot run the model (the HTML report).
    markCommand(actions, 'attentionLens.measureInduction');
    this.table.id = 'stats-table';
    this.table.className = 'stats-table';
    const head = document.createElement('thead');
    head.append(this.headerRow);
    this.table.append(head, this.body);
    const scroller = document.createElement('div');
    scroller.className = 'stats-scroll';
    scroller.append(this.table);
    this.empty.className = 'view-hint';
    this.empty.textContent = 'This trace carries no head statistics.';
    this.element.append(actions, this.empty, scroller);
    // The pinned columns' left offsets follow their widths (a wider layer name, a theme's font).
    new ResizeObserver(() => this.placePinned()).observe(this.headerRow);
    this.body.addEventListener('click', (event) => {
      const row = (event.target as HTMLElement).closest<HTMLElement>('tr[data-block-index]');
      if (row) this.callbacks.open(Number(row.dataset.blockIndex), Number(row.dataset.head));
    });
    this.body.addEventListener('keydown', (event) => {
      const row = (event.target as HTMLElement).closest<HTMLElement>('tr[data-block-index]');
      if (!row) return;
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.callbacks.open(Number(row.dataset.blockIndex), Number(row.dataset.head));
      } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        event.stopPropagation();
        const next = (event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling) as HTMLElement | null;
        next?.focus();
      }
    });
  }

  /** Refilled with each trace's statistics. */
  follow(session: PanelSession): void {
    session.subscribe((event) => {
      if (event.type !== 'traceLoaded') return;
      const { shown } = event;
      this.render(shown.trace.analysis?.headStats ?? [], (row) => shown.layerLabel(row.blockIndex));
    });
  }

  render(stats: readonly HeadStats[], layerLabel: (stats: HeadStats) => string): void {
    this.stats = stats;
    this.layerLabel = layerLabel;
    const kinds = new Set(stats.map((row) => row.kind));
    this.columns = STATS_COLUMNS.filter((column) => column.key !== 'kind' || kinds.size > 1);
    this.empty.hidden = stats.length > 0;
    this.table.hidden = stats.length === 0;
    this.renderHeader();
    this.renderBody();
  }

  private sortBy(column: StatsColumn): void {
    if (this.column === column) this.direction = this.direction === 'ascending' ? 'descending' : 'ascending';
    else {
      this.column = column;
      const numeric = STATS_COLUMNS.find((c) => c.key === column)?.numeric ?? false;
      // Layers, kinds and heads read naturally upwards; statistics from the largest.
      this.direction = numeric && column !== 'layer' && column !== 'head' ? 'descending' : 'ascending';
    }
    this.renderHeader();
    this.renderBody();
  }

  private renderHeader(): void {
    this.headerRow.replaceChildren(...this.columns.map((column) => {
      const th = document.createElement('th');
      th.scope = 'col';
      th.dataset.column = column.key;
      if (column.numeric) th.className = 'numeric';
      this.pin(th, column.key);
      const sorted = this.column === column.key;
      th.setAttribute('aria-sort', sorted ? this.direction : 'none');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'sort-button';
      button.title = `${column.title}. Click to sort`;
      button.textContent = `${column.label}${sorted ? (this.direction === 'ascending' ? ' ▲' : ' ▼') : ''}`;
      button.addEventListener('click', () => this.sortBy(column.key));
      th.append(button);
      return th;
    }));
  }

  private renderBody(): void {
    const rows = this.column ? sortStats(this.stats, this.column, this.direction) : [...this.stats];
    this.body.replaceChildren(...rows.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.blockIndex = String(s.blockIndex);
      tr.dataset.head = String(s.head);
      tr.tabIndex = 0;
      tr.setAttribute('aria-label', `${this.layerLabel(s)} ${kindLabel(s.kind)} head ${s.head}: open in the heatmap`);
      tr.append(...this.columns.map(({ key, numeric }) => {
        const td = document.createElement('td');
        // With the Kind column on show (an encoder-decoder), "enc self L0" names the stream once: "L0".
        const short = key === 'layer' && this.columns.some((column) => column.key === 'kind');
        td.textContent = short ? `L${s.layer}` : cellText(s, key, this.layerLabel);
        if (short) td.title = this.layerLabel(s);
        if (numeric) td.className = 'numeric';
        this.pin(td, key);
        const value = key === 'prevToken' || key === 'sink' || key === 'diagonal' || key === 'induction' ? s[key] : null;
        if (value !== null && value > 0.5) td.classList.add('strong');
        return td;
      }));
      return tr;
    }));
    this.placePinned();
  }

  /** Marks a cell of a pinned column: `pinned pin-N` (N its place among the pinned), the last one `pinned-last`. */
  private pin(cell: HTMLElement, key: StatsColumn): void {
    const pinned = this.columns.filter((column) => column.pinned);
    const index = pinned.findIndex((column) => column.key === key);
    if (index < 0) return;
    cell.classList.add('pinned', `pin-${index}`);
    if (index === pinned.length - 1) cell.classList.add('pinned-last');
  }

  /** Sets --pin-N on the table: where pinned column N sticks (the widths of the pinned before it). */
  private placePinned(): void {
    let left = 0;
    Array.from(this.headerRow.querySelectorAll<HTMLElement>('th.pinned')).forEach((th, index) => {
      this.table.style.setProperty(`--pin-${index}`, `${left}px`);
      left += th.getBoundingClientRect().width;
    });
  }
}

/** A cell's text for a column. */
function cellText(s: HeadStats, key: StatsColumn, layerLabel: (stats: HeadStats) => string): string {
  switch (key) {
    case 'layer': return layerLabel(s);
    case 'kind': return kindLabel(s.kind);
    case 'head': return String(s.head);
    default: return formatStat(s[key]);
  }
}
