/**
 * @file The panel's views as tabs (the heatmap with the step-through is the default): the tab list
 * with its keyboard (arrows, Home, End), which panel shows, and who is told when the tab changes.
 */
import { element } from './dom';
import type { PanelSession } from './session';

export type ViewName = 'heatmap' | 'overview' | 'heads' | 'stats' | 'rollout' | 'ablation' | 'problems';

const VIEW_TABS: ReadonlyArray<[ViewName, string, string]> = [
  ['heatmap', 'Heatmap', 'One head or the mean of heads, step by step through the model'],
  ['overview', 'Overview', 'Every layer and head at a glance'],
  ['heads', 'Heads', 'Lines from each query to the keys it attends to, per head'],
  ['stats', 'Stats', 'Statistics of every head, sortable'],
  ['rollout', 'Rollout', 'Attention rollout: what each token draws on through all layers'],
  ['ablation', 'Ablation', 'What switching the ablated heads off changed (right-click a head in the Overview to ablate it)'],
  ['problems', 'Problems', 'What the diagnostics found'],
];

/** The id of each tab's panel (the UI tests and the CSS know them). */
const PANEL_IDS: Readonly<Record<ViewName, string>> = {
  heatmap: 'panel-heatmap', overview: 'overview', heads: 'head-view', stats: 'panel-stats', rollout: 'rollout', ablation: 'ablation', problems: 'problems',
};

export class Tabs {
  readonly list = element('div', { id: 'view-tabs', class: 'view-tabs', role: 'tablist', 'aria-label': 'Views' });
  current: ViewName = 'heatmap';
  private readonly buttons = new Map<ViewName, HTMLButtonElement>();
  private readonly panels = new Map<ViewName, HTMLElement>();
  private readonly listeners: Array<(name: ViewName) => void> = [];

  /** @param frame the element whose data-tab names the tab on show (the CSS hides the pickers by it). */
  constructor(private readonly frame: HTMLElement) {
    for (const [name, text, description] of VIEW_TABS) {
      const button = element('button', { type: 'button', role: 'tab', id: `tab-${name}`, 'data-view': name, 'aria-controls': PANEL_IDS[name], title: description, class: 'view-tab' }, text);
      button.addEventListener('click', () => this.select(name));
      this.buttons.set(name, button);
      this.list.append(button);
    }
    this.list.addEventListener('keydown', (event) => {
      // Hidden tabs (Ablation while nothing is ablated) are skipped.
      const names = VIEW_TABS.map(([name]) => name).filter((name) => !this.buttons.get(name)?.hidden);
      const here = names.indexOf(this.current);
      let next = -1;
      if (event.key === 'ArrowRight') next = (here + 1) % names.length;
      else if (event.key === 'ArrowLeft') next = (here - 1 + names.length) % names.length;
      else if (event.key === 'Home') next = 0;
      else if (event.key === 'End') next = names.length - 1;
      if (next < 0) return;
      event.preventDefault();
      this.select(names[next]);
      this.buttons.get(names[next])?.focus();
    });
    this.frame.dataset.tab = this.current;
  }

  /** A tab's button (the Problems tab carries a count). */
  button(name: ViewName): HTMLButtonElement {
    const button = this.buttons.get(name);
    if (!button) throw new Error(`no tab ${name}`);
    return button;
  }

  /**
   * Shows or hides a tab's button: a tab with nothing to show for the trace (Ablation before any
   * head is ablated) takes no room in a narrow side bar. Hiding the tab on show shows `fallback`.
   */
  setAvailable(name: ViewName, available: boolean, fallback: ViewName = 'heatmap'): void {
    const button = this.button(name);
    if (button.hidden === !available) return;
    button.hidden = !available;
    if (!available && this.current === name) this.select(fallback);
  }

  /** Makes `panel` the tab's panel (given its id), shown only while the tab is selected. */
  addPanel(name: ViewName, panel: HTMLElement): void {
    panel.id = PANEL_IDS[name];
    panel.setAttribute('role', 'tabpanel');
    panel.setAttribute('aria-labelledby', `tab-${name}`);
    panel.hidden = name !== this.current;
    this.panels.set(name, panel);
  }

  /** Listeners run in the order they were added, after the tab and its panel show. */
  onChange(listener: (name: ViewName) => void): void {
    this.listeners.push(listener);
  }

  /** A new trace: the tab on show is shown again (its view drawn, its exports enabled). */
  follow(session: PanelSession): void {
    session.subscribe((event) => {
      if (event.type === 'traceLoaded') this.select(this.current);
    });
  }

  select(name: ViewName): void {
    this.current = name;
    this.frame.dataset.tab = name;
    for (const [candidate, button] of this.buttons) {
      const selected = candidate === name;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      button.classList.toggle('selected', selected);
    }
    for (const [candidate, panel] of this.panels) panel.hidden = candidate !== name;
    for (const listener of this.listeners) listener(name);
  }

  /** Stepping belongs to the views that show one block: the heatmap, unless the head view is on show. */
  showStepping(): void {
    if (!this.steps()) this.select('heatmap');
  }

  /** Whether the tab on show steps through the blocks (the heatmap and the head view). */
  steps(): boolean {
    return this.current === 'heatmap' || this.current === 'heads';
  }

  /** Brings the tab list into view (after a view elsewhere opened a tab). */
  reveal(name: ViewName): void {
    this.buttons.get(name)?.scrollIntoView({ block: 'nearest' });
  }
}
