/**
 * @file The Attention panel's script: creates the session (session.ts: state, messages, navigation,
 * the block cache) and the views behind the tabs, puts the page together, and routes what happens
 * to them: the host's messages, opening a head from another view, theme changes, resizes and focus.
 * Everything it wires is in its own module.
 */
import type { TraceDiagnostic } from '../src/shared/analysis';
import { parseToWebview } from '../src/shared/protocol';
import { AblationMenu } from './ablationMenu';
import { AblationView } from './ablationView';
import type { HeadChoice } from './attention';
import { diagnosticBlock } from './diagnostics';
import { element, watchSizes } from './dom';
import { ExportBar } from './exportBar';
import { HeadsTab } from './headView';
import { HeatmapTab } from './heatmapTab';
import { OverviewTab } from './overview';
import { ProblemsSummary, ProblemsView } from './problems';
import { RolloutView } from './rollout';
import { PanelSession } from './session';
import { PanelShell } from './shell';
import { preferencesOf, type SavedView, withPreference, withPreferences } from './state';
import { StatsTable } from './statsTable';
import { Stepper } from './stepper';
import { Tabs } from './tabs';
import { readTheme, type ThemeColors, watchTheme } from './theme';

const vscode = acquireVsCodeApi<SavedView>();
let theme: ThemeColors = readTheme();
const currentTheme = (): ThemeColors => theme;

const shell = new PanelShell((command) => session.runCommand(command));
const session = new PanelSession({
  post: (message) => vscode.postMessage(message),
  savedView: () => vscode.getState(),
  // Views are saved without the panel's preferences (the heatmap's Words labels): they are carried over.
  saveView: (view) => vscode.setState(withPreferences(view, vscode.getState())),
  whenIdle: (work) => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(work, { timeout: 200 });
    else setTimeout(work, 0);
  },
}, shell.emptyText);

// Views subscribe to the session as they are made, and hear its events in this order: the
// controls before the heatmap, the heatmap before the head view and the overview.
shell.follow(session);
const tabs = new Tabs(shell.view);
const stepper = new Stepper(session, () => tabs.steps());
const heatmapTab = new HeatmapTab(session, currentTheme, tabs, {
  words: preferencesOf(vscode.getState()).words,
  saveWords: (words) => vscode.setState(withPreference(vscode.getState(), { words })),
});
const heads = new HeadsTab(session, currentTheme, tabs);
const overview = new OverviewTab(session, currentTheme, tabs, openHead);
const summary = new ProblemsSummary(openDiagnostic, () => tabs.select('problems'));
summary.follow(session);
const stats = new StatsTable({ open: openHead, measureInduction: () => session.runCommand('attentionLens.measureInduction') });
stats.follow(session);
const problems = new ProblemsView({ open: openDiagnostic });
problems.follow(session);
const rollout = new RolloutView(session, currentTheme, tabs);
const exportBar = new ExportBar(session, currentTheme, tabs, {
  heatmapCanvas: heatmapTab.heatmap.canvas,
  rolloutCanvas: rollout.map.canvas,
  rolloutScale: (values) => rollout.scale(values),
  overviewCells: () => overview.view.cells(),
  headSvg: () => heads.view.svg,
});
// Head ablation: the Ablation tab, and "Ablate Head" on the overview's cells.
const ablation = new AblationView(session, currentTheme, tabs, (message) => vscode.postMessage(message), openHead);
const ablationMenu = new AblationMenu(overview.view.element, session, (message) => ablation.post(message), openHead, () => ablation.enabled);
overview.view.element.append(ablationMenu.element);
tabs.follow(session);

// ---- the page ---------------------------------------------------------------------------------

tabs.button('problems').append(summary.count);
// The tabs' row; the export bar is the trace view's own child so that panel.css can put it beside
// the tabs where there is room and under the view in a narrow side bar.
const toolbar = element('div', { class: 'toolbar' });
toolbar.append(tabs.list);
// The badges beside the stepper, on one row where the width allows.
const stepRow = element('div', { class: 'step-row' });
stepRow.append(stepper.stepper, heatmapTab.badges.element);
tabs.addPanel('heatmap', heatmapTab.element);
tabs.addPanel('overview', overview.view.element);
tabs.addPanel('heads', heads.view.element);
tabs.addPanel('stats', stats.element);
tabs.addPanel('rollout', rollout.element);
tabs.addPanel('ablation', ablation.element);
tabs.addPanel('problems', problems.element);
shell.assemble([stepper.pickers], summary.element, [
  toolbar, exportBar.element, stepRow, heatmapTab.element,
  overview.view.element, heads.view.element, stats.element, rollout.element, ablation.element, problems.element,
]);

// ---- routing ----------------------------------------------------------------------------------

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  // When the message reached the page: heatmap timings (data-render-ms) count from here.
  const arrivedAt = performance.now();
  const message = parseToWebview(event.data);
  if (!message) return;
  switch (message.type) {
    case 'step':
      tabs.showStepping();
      session.navigate(message.unit, message.direction);
      break;
    case 'showBlock':
      if (session.canOpen(message.runId, message.blockIndex)) openHead(message.blockIndex, message.head);
      break;
    default:
      session.receive(message, arrivedAt);
  }
});

/** Opens a head (or the mean) of a block in the heatmap, from whichever view asked. */
function openHead(blockIndex: number, head: HeadChoice): void {
  if (!session.shown) return;
  tabs.select('heatmap');
  session.show({ blockIndex, head });
  tabs.reveal('heatmap');
}

/** A diagnostic's block in the heatmap; one that points at no block shows the Problems tab. */
function openDiagnostic(diagnostic: TraceDiagnostic): void {
  const shown = session.shown;
  if (!shown) return;
  const blockIndex = diagnosticBlock(diagnostic, shown.trace.blocks);
  if (blockIndex === null) tabs.select('problems');
  else openHead(blockIndex, diagnostic.head ?? 'mean');
}

watchSizes([heatmapTab.element, heatmapTab.heatmap.element, rollout.element, heads.view.element], {
  measured: () => heatmapTab.noteLayout(),
  key: () => (session.shown
    ? `${tabs.current}:${heatmapTab.heatmap.element.clientWidth}:${heatmapTab.chart.element.clientWidth}:${rollout.element.clientWidth}:${window.devicePixelRatio}`
    : null),
  redraw: () => {
    heatmapTab.resize();
    rollout.resize();
    heads.render();
    ablation.resize();
  },
});

watchTheme((next) => {
  theme = next;
  if (!session.shown) return;
  heatmapTab.resize(theme);
  overview.restyle();
  rollout.render();
  heads.render();
  ablation.render();
});

window.addEventListener('focus', () => session.focusChanged(true));
window.addEventListener('blur', () => session.focusChanged(false));

tabs.select(tabs.current);
session.start();
