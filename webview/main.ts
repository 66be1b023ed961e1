/**
 * @file The Attention panel's script: wires the protocol messages, the pickers, the step-through
 * and the views (heatmap, legend, residual chart), and the attention debugger's views behind the
 * tabs (overview of all heads, head view, statistics, rollout, problems) and the exports. It
 * receives a trace overview, asks for one block's probabilities when it first shows that block
 * (cached per run; the overview asks for the layers it scrolls to), and tells the host what it
 * shows (viewChanged) and which query row the pointer is on (hoverQuery, hoverRollout).
 */
import type { TraceDiagnostic } from '../src/shared/analysis';
import { DEFAULT_THRESHOLDS } from '../src/shared/analysis';
import type { StreamName, Token } from '../src/shared/trace';
import { type ColorMapName, type DefaultView, type FromWebviewMessage, type PanelCommand, parseToWebview, type ToWebviewMessage, type TraceOverview } from '../src/shared/protocol';
import { colorLimit, countBlocked, countLeaks, headMatrix, headMatrixWithLimit, type HeadChoice, type LeakCount, expectedMask } from './attention';
import { type ColorScale, makeColorScale, mixRgb } from './colorScale';
import { applyCapabilities, markCommand } from './capabilities';
import { blockFamilies, type BlockFamily, countSeverities, diagnosticBlock, diagnosticSummary, exportName, heatmapSvg } from './debugger';
import { heatmapPng, overviewPng } from './exportImage';
import { HeadView } from './headView';
import { OverviewView } from './overview';
import { ProblemsView } from './problems';
import { StatsTable } from './statsTable';
import { HeatmapView } from './heatmap';
import { tokenLabel } from './labels';
import { ResidualChart } from './residualChart';
import { headFor, initialView, type SavedView, shapeKey, stepForBlock } from './state';
import { blockTitle, buildSteps, capitalize, type LayerGroup, layerGroups, moveLayer, moveStep, type Step } from './steps';
import { readTheme, type ThemeColors, watchTheme } from './theme';

const vscode = acquireVsCodeApi<SavedView>();

/** One block's data as received, with what the panel derived from it. */
interface BlockData {
  probs: Float32Array;
  mask: Uint8Array | null;
  /** [queries, keys] the engine's mean over heads, when it sent one. */
  mean: Float32Array | null;
  /** Leaks and blocked cells, counted after the heatmap is drawn (null until then: see countsOf). */
  leaks: LeakCount | null;
  blocked: number | null;
  /** [queries, keys] matrices per head choice, computed on first use. */
  matrices: Map<HeadChoice, { weights: Float32Array; max: number; clipped: boolean }>;
}

/** The trace on show and where in it the panel is. */
interface Session {
  runId: number;
  trace: TraceOverview;
  shape: string;
  steps: Step[];
  groups: LayerGroup[];
  stepIndex: number;
  blockIndex: number;
  head: HeadChoice;
  selectedQuery: number | null;
  selectedKey: number | null;
  blocks: Map<number, BlockData>;
  pending: Set<number>;
  /** The overview's block families and the one it shows. */
  families: BlockFamily[];
  familyKey: string;
  /** The stream whose rollout is on show. */
  rolloutStream: StreamName | null;
  rolloutSelected: number | null;
}

/** The panel's views, one tab each; the heatmap (with the step-through) is the default. */
type ViewName = 'heatmap' | 'overview' | 'heads' | 'stats' | 'rollout' | 'problems';
const VIEW_TABS: ReadonlyArray<[ViewName, string, string]> = [
  ['heatmap', 'Heatmap', 'One head or the mean of heads, step by step through the model'],
  ['overview', 'Overview', 'Every layer and head at a glance'],
  ['heads', 'Heads', 'Lines from each query to the keys it attends to, per head'],
  ['stats', 'Stats', 'Statistics of every head, sortable'],
  ['rollout', 'Rollout', 'Attention rollout: what each token draws on through all layers'],
  ['problems', 'Problems', 'What the diagnostics found'],
];

let session: Session | undefined;
let colorMap: ColorMapName = 'viridis';
let defaultView: DefaultView = 'mean';
let theme: ThemeColors = readTheme();
let nextRequestId = 1;
let lastViewSent = '';
let tab: ViewName = 'heatmap';
/** performance.now() when the message being handled arrived (see the 'message' listener). */
let messageArrivedAt = 0;

// ---- DOM -------------------------------------------------------------------------------------

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function commandButton(command: PanelCommand, text: string, label: string, id?: string): HTMLButtonElement {
  const button = element('button', { type: 'button', 'aria-label': label, title: label, class: 'command' }, text);
  if (id) button.id = id;
  markCommand(button, command);
  button.addEventListener('click', () => post({ type: 'runCommand', command }));
  return button;
}

function stepButton(id: string, text: string, label: string, action: () => void): HTMLButtonElement {
  const button = element('button', { type: 'button', id, 'aria-label': label, title: label, class: 'step-button' }, text);
  button.addEventListener('click', action);
  return button;
}

const app = (document.getElementById('app') ?? document.body.appendChild(element('main', { id: 'app' }))) as HTMLElement;
const status = (document.getElementById('status') ?? app.appendChild(element('p', { id: 'status', role: 'status' }))) as HTMLElement;
const startActions = element('div', { class: 'start-actions' });
startActions.append(
  commandButton('attentionLens.explainSelection', 'Explain Selection', 'Explain the selected text'),
  commandButton('attentionLens.selectModel', 'Select Model…', 'Select the model'),
  commandButton('attentionLens.showOutput', 'Show Output', 'Show the Attention Lens output channel'),
);

const view = element('section', { class: 'trace-view', 'aria-label': 'Attention trace' });
const title = element('h1');
const facts = element('p', { class: 'facts' });
const notices = element('ul', { class: 'notices', 'aria-label': 'Notices' });
const header = element('header', { class: 'panel-header' });
const titleRow = element('div', { class: 'title-row' });
titleRow.append(title, commandButton('attentionLens.selectModel', 'Select Model…', 'Select the model', 'select-model'));
const summary = element('div', { id: 'diagnostic-summary', class: 'diagnostic-summary', role: 'status' });
const summaryText = element('span', { class: 'summary-text' });
const summaryOpen = element('button', { type: 'button', class: 'link-button', id: 'diagnostic-open' }, 'open');
const summaryAll = element('button', { type: 'button', class: 'link-button' }, 'all problems');
summary.append(summaryText, summaryOpen, summaryAll);
summary.hidden = true;
header.append(titleRow, facts, notices, summary);

// ---- tabs and exports ----------------------------------------------------------------------------

const PANEL_IDS: Readonly<Record<ViewName, string>> = {
  heatmap: 'panel-heatmap', overview: 'overview', heads: 'head-view', stats: 'panel-stats', rollout: 'rollout', problems: 'problems',
};
const tabList = element('div', { id: 'view-tabs', class: 'view-tabs', role: 'tablist', 'aria-label': 'Views' });
const tabButtons = new Map<ViewName, HTMLButtonElement>();
const problemsCount = element('span', { id: 'problems-count', class: 'count-badge' });
for (const [name, text, description] of VIEW_TABS) {
  const button = element('button', { type: 'button', role: 'tab', id: `tab-${name}`, 'data-view': name, 'aria-controls': PANEL_IDS[name], title: description, class: 'view-tab' }, text);
  if (name === 'problems') button.append(problemsCount);
  button.addEventListener('click', () => setTab(name));
  tabButtons.set(name, button);
  tabList.append(button);
}
tabList.addEventListener('keydown', (event) => {
  const names = VIEW_TABS.map(([name]) => name);
  const here = names.indexOf(tab);
  let next = -1;
  if (event.key === 'ArrowRight') next = (here + 1) % names.length;
  else if (event.key === 'ArrowLeft') next = (here - 1 + names.length) % names.length;
  else if (event.key === 'Home') next = 0;
  else if (event.key === 'End') next = names.length - 1;
  if (next < 0) return;
  event.preventDefault();
  setTab(names[next]);
  tabButtons.get(names[next])?.focus();
});

function exportButton(id: string, text: string, label: string, action: (() => void) | PanelCommand): HTMLButtonElement {
  const button = element('button', { type: 'button', id, 'aria-label': label, title: label, class: 'export-button' }, text);
  if (typeof action === 'string') markCommand(button, action);
  button.addEventListener('click', typeof action === 'string' ? () => post({ type: 'runCommand', command: action }) : action);
  return button;
}
const exportPng = exportButton('export-png', 'PNG', 'Save the current view as a PNG image', () => exportImage('png'));
const exportSvg = exportButton('export-svg', 'SVG', 'Save the current heatmap as an SVG image', () => exportImage('svg'));
const exportBar = element('div', { class: 'export-bar', role: 'group', 'aria-label': 'Export' });
exportBar.append(
  element('span', { class: 'export-label' }, 'Export'),
  exportPng,
  exportSvg,
  exportButton('export-json', 'JSON', 'Save the whole trace as JSON', 'attentionLens.exportJson'),
  exportButton('export-csv', 'CSV', 'Save the attention weights as CSV', 'attentionLens.exportCsv'),
  exportButton('export-html', 'HTML', 'Save an HTML report of this run', 'attentionLens.exportHtml'),
);
const toolbar = element('div', { class: 'toolbar' });
toolbar.append(tabList, exportBar);

const layerSelect = element('select', { id: 'layer-select', 'aria-label': 'Layer' });
const blockSelect = element('select', { id: 'block-select', 'aria-label': 'Attention block' });
const headSelect = element('select', { id: 'head-select', 'aria-label': 'Head' });
const pickers = element('div', { class: 'pickers' });
for (const [text, select] of [['Layer', layerSelect], ['Block', blockSelect], ['Head', headSelect]] as const) {
  const label = element('label', { class: 'picker' });
  label.append(element('span', {}, text), select);
  pickers.append(label);
}

const prevLayer = stepButton('prev-layer', '«', 'Previous layer (Shift+Left or Page Up)', () => navigate('layer', 'previous'));
const prevStep = stepButton('prev-step', '‹', 'Previous step (Left)', () => navigate('step', 'previous'));
const nextStep = stepButton('next-step', '›', 'Next step (Right)', () => navigate('step', 'next'));
const nextLayer = stepButton('next-layer', '»', 'Next layer (Shift+Right or Page Down)', () => navigate('layer', 'next'));
const stepLabel = element('div', { id: 'step-label', 'aria-live': 'polite' });
const stepCount = element('span', { class: 'step-count' });
const stepper = element('div', { class: 'stepper', role: 'group', 'aria-label': 'Step through the layers' });
const stepText = element('div', { class: 'step-text' });
stepText.append(stepLabel, stepCount);
stepper.append(prevLayer, prevStep, stepText, nextStep, nextLayer);

const leakBadge = element('span', { id: 'leak-count', class: 'badge', role: 'status' });
const maskBadge = element('span', { id: 'mask-kind', class: 'badge subtle' });
const shapeBadge = element('span', { class: 'badge subtle shape' });
const badges = element('div', { class: 'badges' });
badges.append(leakBadge, maskBadge, shapeBadge);

const heatmap = new HeatmapView({
  onHover: (query) => scheduleHover(query),
  onSelect: (query) => selectRow(query, false),
});
const chart = new ResidualChart();
const views = element('div', { class: 'views' });
const noBlocks = element('p', { class: 'no-blocks' }, 'This trace has no attention blocks to show.');
noBlocks.hidden = true;
views.append(heatmap.element, noBlocks, chart.element);

const overview = new OverviewView({
  data: (blockIndex) => session?.blocks.get(blockIndex) ?? null,
  request: (blockIndex) => { if (session) requestBlock(session, blockIndex); },
  open: (blockIndex, head) => openHead(blockIndex, head),
  familyChanged: (key) => {
    if (!session) return;
    session.familyKey = key;
    renderOverview();
  },
});
const headView = new HeadView();
const stats = new StatsTable({
  open: (blockIndex, head) => openHead(blockIndex, head),
  measureInduction: () => post({ type: 'runCommand', command: 'attentionLens.measureInduction' }),
});
const problems = new ProblemsView({
  target: (diagnostic) => (session ? diagnosticBlock(diagnostic, session.trace.blocks) : null),
  open: (diagnostic) => openDiagnostic(diagnostic),
});

const rollout = element('section', { id: 'rollout', class: 'rollout-view', 'aria-label': 'Attention rollout' });
const rolloutSelect = element('select', { id: 'rollout-stream', 'aria-label': 'Stream' });
const rolloutPicker = element('label', { class: 'picker' });
rolloutPicker.append(element('span', {}, 'Stream'), rolloutSelect);
const rolloutControls = element('div', { class: 'pickers' });
rolloutControls.append(rolloutPicker);
const rolloutHint = element('p', { class: 'view-hint' }, 'Attention rollout (Abnar & Zuidema 2020): each row is an output token, each column the input token it draws on through every self-attention layer (residual included). ');
rolloutHint.append(element('span', { 'data-needs': 'editor-highlights' }, 'Hover a row to highlight its inputs in the editor.'));
const rolloutEmpty = element('p', { class: 'view-hint' }, 'This trace carries no rollout.');
const rolloutMap = new HeatmapView({
  onHover: (query) => scheduleRolloutHover(query),
  onSelect: (query) => {
    if (!session) return;
    session.rolloutSelected = query;
    rolloutMap.setSelection(query, null, false);
    scheduleRolloutHover(query);
  },
});
rolloutMap.canvas.id = 'rollout-canvas';
rolloutMap.element.classList.add('rollout-figure');
rollout.append(rolloutControls, rolloutHint, rolloutEmpty, rolloutMap.element);
rolloutSelect.addEventListener('change', () => {
  if (!session) return;
  session.rolloutStream = rolloutSelect.value as StreamName;
  session.rolloutSelected = null;
  renderRollout();
});

const sections = new Map<ViewName, HTMLElement>([['overview', overview.element], ['heads', headView.element], ['stats', stats.element], ['rollout', rollout], ['problems', problems.element]]);
stats.element.id = PANEL_IDS.stats;
views.id = PANEL_IDS.heatmap;
for (const [name, section] of [['heatmap', views] as const, ...sections]) {
  section.setAttribute('role', 'tabpanel');
  section.setAttribute('aria-labelledby', `tab-${name}`);
  section.hidden = name !== tab;
}
view.append(header, toolbar, pickers, stepper, badges, views, ...sections.values());
view.dataset.tab = tab;
view.hidden = true;
app.append(startActions, view);

// ---- messages --------------------------------------------------------------------------------

function post(message: FromWebviewMessage): void {
  vscode.postMessage(message);
}

let hoverFrame = 0;
let pendingHover: number | null = null;
let lastHover: number | null = null;

/** hoverQuery at most once per animation frame, and only when the row changed. */
function scheduleHover(query: number | null): void {
  pendingHover = query;
  if (hoverFrame !== 0) return;
  hoverFrame = requestAnimationFrame(() => {
    hoverFrame = 0;
    if (!session || pendingHover === lastHover) return;
    lastHover = pendingHover;
    post({ type: 'hoverQuery', runId: session.runId, blockIndex: session.blockIndex, head: session.head, query: pendingHover });
  });
}

function requestBlock(current: Session, blockIndex: number): void {
  if (current.blocks.has(blockIndex) || current.pending.has(blockIndex)) return;
  current.pending.add(blockIndex);
  post({ type: 'requestBlock', requestId: nextRequestId++, runId: current.runId, blockIndex });
}

function setState(state: 'empty' | 'running' | 'trace' | 'error' | 'cancelled', text: string): void {
  app.dataset.state = state;
  status.textContent = text;
  startActions.hidden = state === 'trace' || (state === 'running' && session !== undefined);
  view.hidden = session === undefined || state === 'error' || (state === 'cancelled' && session === undefined);
  // With a trace on show the status line sits under the model's facts; otherwise it leads.
  if (!view.hidden && status.parentElement !== header) header.insertBefore(status, notices);
  else if (view.hidden && status.parentElement !== app) app.prepend(status);
}

function onMessage(message: ToWebviewMessage): void {
  switch (message.type) {
    case 'configure': {
      const changed = message.colorMap !== colorMap;
      colorMap = message.colorMap;
      defaultView = message.defaultView;
      applyCapabilities(app, message.capabilities);
      if (changed && session) {
        renderHeatmap();
        overview.restyle(theme, colorMap);
        renderRollout();
      }
      break;
    }
    case 'runStarted':
      setState('running', `Running ${message.description}…`);
      break;
    case 'traceLoaded':
      loadTrace(message.runId, message.trace);
      break;
    case 'runFailed':
      if (message.cancelled && session) {
        setState('trace', 'Run cancelled: showing the previous result.');
      } else {
        if (!message.cancelled) session = undefined;
        setState(message.cancelled ? 'cancelled' : 'error', message.hint ? `${message.message} ${message.hint}` : message.message);
      }
      break;
    case 'blockData':
      receiveBlock(message.runId, message.blockIndex, message.probs, message.mask, message.mean ?? null);
      break;
    case 'step':
      if (tab !== 'heatmap' && tab !== 'heads') setTab('heatmap');
      navigate(message.unit, message.direction);
      break;
    case 'showBlock':
      if (session && message.runId === session.runId && message.blockIndex < session.trace.blocks.length) openHead(message.blockIndex, message.head);
      break;
    case 'selectQuery':
      if (session && message.runId === session.runId) selectToken(message.stream, message.tokenIndex);
      break;
    default: {
      const unreachable: never = message;
      void unreachable;
    }
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  // When the message reached the page: heatmap timings (data-render-ms) count from here.
  messageArrivedAt = performance.now();
  const message = parseToWebview(event.data);
  if (message) onMessage(message);
});

// ---- trace and block data ----------------------------------------------------------------------

function loadTrace(runId: number, trace: TraceOverview): void {
  const steps = buildSteps(trace);
  const groups = layerGroups(trace);
  const choice = initialView(trace, steps, vscode.getState(), defaultView);
  const families = blockFamilies(trace.blocks);
  const first = trace.blocks[choice.blockIndex];
  const family = families.find((candidate) => first && candidate.stream === first.queryStream && candidate.kind === first.kind) ?? families[0];
  session = {
    runId, trace, shape: shapeKey(trace), steps, groups, ...choice, selectedKey: null, blocks: new Map(), pending: new Set(),
    families, familyKey: family?.key ?? '', rolloutStream: trace.analysis?.rollout[0]?.stream ?? null, rolloutSelected: null,
  };
  lastHover = null;
  lastRolloutHover = null;
  lastViewSent = '';
  renderHeader(trace);
  const tokens = trace.streams.map((stream) => `${stream.tokens.length} ${stream.name} token${stream.tokens.length === 1 ? '' : 's'}`).join(' · ');
  setState('trace', tokens);
  noBlocks.hidden = trace.blocks.length > 0;
  heatmap.element.hidden = trace.blocks.length === 0;
  renderSummary();
  renderOverview();
  renderStats();
  renderProblems();
  renderRollout();
  show({});
  heatmap.setSelection(session.selectedQuery, null, false);
  setTab(tab);
}

function receiveBlock(runId: number, blockIndex: number, probs: Float32Array, mask: Uint8Array | null, mean: Float32Array | null): void {
  const current = session;
  if (!current || runId !== current.runId) return;
  const block = current.trace.blocks[blockIndex];
  if (!block) return;
  current.pending.delete(blockIndex);
  const size = block.queries * block.keys;
  // A reply of the wrong shape would draw garbage: drop it (the block stays "loading").
  if (probs.length !== block.heads * size || (mask !== null && mask.length !== size)) return;
  // Judge (and hatch) by what the block must not see, not only by the mask the model applied.
  const expected = expectedMask(block.kind, mask, block.queries, block.keys);
  const engineMean = mean !== null && mean.length === size ? mean : null;
  current.blocks.set(blockIndex, { probs, mask: expected, mean: engineMean, leaks: null, blocked: null, matrices: new Map() });
  if (blockIndex === current.blockIndex) {
    // Pixels first: the heatmap, then the badges (their leak count follows once the page is idle).
    renderHeatmap();
    renderBadges(false);
    // Speed instrumentation (bench/webview.ts, UI tests): data-render-ms is the ms from this
    // blockData message's arrival to the end of the heatmap's drawing of it, everything the panel
    // does with the data on the way included; data-render-block says which block it timed (a later
    // redraw of the same data, e.g. on resize, leaves both as they are).
    if (heatmap.canvas.dataset.drawn) {
      heatmap.canvas.dataset.renderMs = (performance.now() - messageArrivedAt).toFixed(2);
      heatmap.canvas.dataset.renderBlock = String(blockIndex);
    }
    if (tab === 'heads') renderHeadView();
  }
  overview.blockArrived(blockIndex);
  // The block picker lists the current layer's blocks with their leaks; other blocks (e.g. the
  // overview's) are counted when they are first listed.
  const group = current.groups.find((candidate) => candidate.blockIndices.includes(current.blockIndex));
  if (group?.blockIndices.includes(blockIndex)) scheduleCounts(current, blockIndex);
}

/**
 * Leaks (every head's masked cells) and blocked cells of a block: counted on first use, or when the
 * page is next idle after the block arrived, so the heatmap is not kept waiting for them.
 */
function countsOf(current: Session, blockIndex: number): { leaks: LeakCount; blocked: number } | null {
  const data = current.blocks.get(blockIndex);
  const block = current.trace.blocks[blockIndex];
  if (!data || !block) return null;
  if (data.leaks === null || data.blocked === null) {
    data.leaks = countLeaks(data.probs, data.mask, block.heads, block.queries, block.keys);
    data.blocked = countBlocked(data.mask);
  }
  return { leaks: data.leaks, blocked: data.blocked };
}

function scheduleCounts(current: Session, blockIndex: number): void {
  const run = (): void => {
    if (session !== current || !countsOf(current, blockIndex)) return;
    renderBlockOptions();
    if (blockIndex === current.blockIndex) renderBadges();
  };
  if (typeof requestIdleCallback === 'function') requestIdleCallback(run, { timeout: 200 });
  else setTimeout(run, 0);
}

function matrixOf(current: Session, blockIndex: number, head: HeadChoice): { weights: Float32Array; max: number; clipped: boolean } | null {
  const data = current.blocks.get(blockIndex);
  const block = current.trace.blocks[blockIndex];
  if (!data || !block) return null;
  let matrix = data.matrices.get(head);
  if (!matrix) {
    // The engine's limits (analysis.colorLimits) spare a 1024² block two scans before it is painted.
    const limits = current.trace.analysis?.colorLimits?.[blockIndex];
    const known = limits ? (head === 'mean' ? limits.mean : limits.heads[head]) : undefined;
    matrix = known && typeof known.max === 'number' && typeof known.clipped === 'boolean'
      ? { weights: head === 'mean' && data.mean ? data.mean : headMatrix(data.probs, block.heads, block.queries, block.keys, head), max: known.max, clipped: known.clipped }
      : headMatrixWithLimit(data.probs, block.heads, block.queries, block.keys, head, data.mask);
    data.matrices.set(head, matrix);
  }
  return matrix;
}

// ---- navigation ------------------------------------------------------------------------------

/** Moves the view; everything that shows it follows. */
function show(change: { stepIndex?: number; blockIndex?: number; head?: HeadChoice }): void {
  const current = session;
  if (!current) return;
  const previousBlock = current.blockIndex;
  if (change.stepIndex !== undefined) {
    current.stepIndex = change.stepIndex;
    const blockIndex = current.steps[change.stepIndex]?.blockIndex;
    if (blockIndex !== null && blockIndex !== undefined) current.blockIndex = blockIndex;
  }
  if (change.blockIndex !== undefined) {
    current.blockIndex = change.blockIndex;
    current.stepIndex = stepForBlock(current.steps, change.blockIndex, current.stepIndex);
  }
  if (change.head !== undefined) current.head = change.head;
  const block = current.trace.blocks[current.blockIndex];
  const before = current.trace.blocks[previousBlock];
  // A selection names a token of a stream: it does not carry over to another stream's rows.
  if (block && before && block.queryStream !== before.queryStream) current.selectedQuery = null;
  if (block && before && block.keyStream !== before.keyStream) current.selectedKey = null;
  current.head = headFor(current.head, block?.heads ?? 0);
  if (block && current.selectedQuery !== null && current.selectedQuery >= block.queries) current.selectedQuery = null;
  vscode.setState({ shape: current.shape, stepIndex: current.stepIndex, blockIndex: current.blockIndex, head: current.head, selectedQuery: current.selectedQuery });
  if (block) requestBlock(current, current.blockIndex);
  renderControls();
  renderBadges();
  renderHeatmap();
  renderChart();
  if (tab === 'heads') renderHeadView();
  const key = `${current.runId}:${current.blockIndex}:${current.head}`;
  if (block && key !== lastViewSent) {
    lastViewSent = key;
    post({ type: 'viewChanged', runId: current.runId, blockIndex: current.blockIndex, head: current.head });
  }
}

function navigate(unit: 'layer' | 'step', direction: 'next' | 'previous'): void {
  const current = session;
  if (!current || current.steps.length === 0) return;
  const target = unit === 'step' ? moveStep(current.steps, current.stepIndex, direction) : moveLayer(current.steps, current.stepIndex, direction);
  if (target !== current.stepIndex) show({ stepIndex: target });
}

function selectRow(query: number | null, scroll: boolean): void {
  const current = session;
  if (!current) return;
  current.selectedQuery = query;
  current.selectedKey = null;
  heatmap.setSelection(query, null, scroll);
  vscode.setState({ shape: current.shape, stepIndex: current.stepIndex, blockIndex: current.blockIndex, head: current.head, selectedQuery: query });
  scheduleHover(query);
}

/** The editor cursor is on a token: its row when the block's queries are that stream, else its column. */
function selectToken(stream: string, tokenIndex: number): void {
  const current = session;
  const block = current?.trace.blocks[current.blockIndex];
  if (!current || !block) return;
  if (block.queryStream === stream && tokenIndex < block.queries) {
    current.selectedQuery = tokenIndex;
    current.selectedKey = null;
  } else if (block.keyStream === stream && tokenIndex < block.keys) {
    current.selectedKey = tokenIndex;
  } else {
    return;
  }
  heatmap.setSelection(current.selectedQuery, current.selectedKey, true);
}

layerSelect.addEventListener('change', () => {
  const current = session;
  const group = current?.groups.find((candidate) => candidate.key === layerSelect.value);
  if (!current || !group) return;
  // Keep the kind of block (self or cross) when the new layer has it.
  const kind = current.trace.blocks[current.blockIndex]?.kind;
  const same = group.blockIndices.find((index) => current.trace.blocks[index].kind === kind);
  show({ blockIndex: same ?? group.blockIndices[0] });
});
blockSelect.addEventListener('change', () => show({ blockIndex: Number(blockSelect.value) }));
headSelect.addEventListener('change', () => show({ head: headSelect.value === 'mean' ? 'mean' : Number(headSelect.value) }));

document.addEventListener('keydown', (event) => {
  if (!session || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target as HTMLElement | null;
  if (target && (target.tagName === 'SELECT' || target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
  // Stepping belongs to the views that show one block.
  if (tab !== 'heatmap' && tab !== 'heads') return;
  let action: ['layer' | 'step', 'next' | 'previous'] | undefined;
  if (event.key === 'ArrowRight') action = [event.shiftKey ? 'layer' : 'step', 'next'];
  else if (event.key === 'ArrowLeft') action = [event.shiftKey ? 'layer' : 'step', 'previous'];
  else if (event.key === 'PageDown') action = ['layer', 'next'];
  else if (event.key === 'PageUp') action = ['layer', 'previous'];
  if (!action) return;
  event.preventDefault();
  navigate(action[0], action[1]);
});

// ---- rendering -------------------------------------------------------------------------------

function renderHeader(trace: TraceOverview): void {
  const { model } = trace;
  title.textContent = model.name;
  title.title = model.path ?? model.name;
  const layers = model.kind === 'encoder-decoder'
    ? `${model.encoderLayers}+${model.decoderLayers} layers`
    : `${model.encoderLayers + model.decoderLayers} layers`;
  facts.replaceChildren();
  for (const fact of [model.kind, `${layers} × ${model.heads} heads`, `d_model ${model.dModel ?? '?'}`, `backend ${trace.backend}`, `tokenizer ${model.tokenizer}`]) {
    facts.append(element('span', { class: 'fact' }, fact));
  }
  const texts = trace.notices.map((notice) => notice.message);
  for (const cut of trace.truncation) {
    const line = `${capitalize(cut.stream)} input cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max ${cut.maxTokens}).`;
    if (!texts.some((text) => text.includes(`${cut.keptTokens} of ${cut.originalTokens}`))) texts.unshift(line);
  }
  notices.replaceChildren(...texts.map((text) => element('li', { class: 'notice' }, text)));
  notices.hidden = texts.length === 0;
}

function blockOptionText(current: Session, blockIndex: number): string {
  const block = current.trace.blocks[blockIndex];
  const leaks = countsOf(current, blockIndex)?.leaks.total ?? 0;
  return `${blockTitle(block)}${leaks > 0 ? ` ⚠ ${leaks} leak${leaks === 1 ? '' : 's'}` : ''}`;
}

function renderBlockOptions(): void {
  const current = session;
  if (!current) return;
  for (const option of Array.from(blockSelect.options)) option.textContent = blockOptionText(current, Number(option.value));
}

function replaceOptions(select: HTMLSelectElement, options: Array<[string, string]>, value: string): void {
  const same = select.options.length === options.length && options.every(([v, t], i) => select.options[i].value === v && select.options[i].textContent === t);
  if (!same) select.replaceChildren(...options.map(([v, t]) => element('option', { value: v }, t)));
  select.value = value;
}

function renderControls(): void {
  const current = session;
  if (!current) return;
  const block = current.trace.blocks[current.blockIndex];
  const group = current.groups.find((candidate) => candidate.blockIndices.includes(current.blockIndex));
  replaceOptions(layerSelect, current.groups.map((candidate) => [candidate.key, candidate.label]), group?.key ?? '');
  replaceOptions(blockSelect, (group?.blockIndices ?? []).map((index) => [String(index), blockOptionText(current, index)]), String(current.blockIndex));
  const heads: Array<[string, string]> = [['mean', 'Mean of heads']];
  for (let h = 0; h < (block?.heads ?? 0); h++) heads.push([String(h), `Head ${h}`]);
  replaceOptions(headSelect, heads, String(current.head));
  layerSelect.disabled = current.groups.length <= 1;
  blockSelect.disabled = (group?.blockIndices.length ?? 0) <= 1;
  headSelect.disabled = !block;

  const step = current.steps[current.stepIndex];
  stepLabel.textContent = step ? step.label : 'No steps';
  stepLabel.dataset.kind = step?.kind ?? '';
  stepCount.textContent = current.steps.length > 0 ? `step ${current.stepIndex + 1} of ${current.steps.length}` : '';
  const last = current.steps.length - 1;
  prevStep.disabled = current.stepIndex <= 0;
  nextStep.disabled = current.stepIndex >= last;
  prevLayer.disabled = moveLayer(current.steps, current.stepIndex, 'previous') === current.stepIndex;
  nextLayer.disabled = moveLayer(current.steps, current.stepIndex, 'next') === current.stepIndex;
  // A non-attention step shows the heatmap of the layer's attention for context, dimmed.
  heatmap.element.classList.toggle('context', step !== undefined && step.kind !== 'attention');
}

function blockName(current: Session, blockIndex: number): string {
  const block = current.trace.blocks[blockIndex];
  const group = current.groups.find((candidate) => candidate.blockIndices.includes(blockIndex));
  return `${group?.label ?? `L${block.layer}`} ${blockTitle(block).toLowerCase()}`;
}

/** `count`: count the leaks now if they are not yet (false: show them as pending). */
function renderBadges(count = true): void {
  const current = session;
  const block = current?.trace.blocks[current.blockIndex];
  if (!current || !block) {
    badges.hidden = true;
    return;
  }
  badges.hidden = false;
  maskBadge.textContent = `mask: ${block.maskKind}`;
  shapeBadge.textContent = `${block.heads} heads · ${block.queries} × ${block.keys}`;
  const data = current.blocks.get(current.blockIndex);
  const counts = data && (count || data.leaks !== null) ? countsOf(current, current.blockIndex) : null;
  leakBadge.classList.remove('leak', 'ok');
  if (!data || !counts) {
    leakBadge.textContent = 'leaks: …';
    leakBadge.dataset.count = '';
    leakBadge.title = data ? 'Counting masked cells that carry weight' : 'Counting masked cells that carry weight once the block has loaded';
    return;
  }
  const { total, perHead, maxLeak } = counts.leaks;
  leakBadge.dataset.count = String(total);
  leakBadge.dataset.blockIndex = String(current.blockIndex);
  if (total > 0) {
    leakBadge.classList.add('leak');
    const heads = perHead.map((count, h) => (count > 0 ? `head ${h}: ${count}` : '')).filter(Boolean).join(', ');
    leakBadge.textContent = `⚠ ${total} masked cell${total === 1 ? '' : 's'} carry weight · ${blockName(current, current.blockIndex)}`;
    leakBadge.title = `Cells the mask blocks but whose weight exceeds 1e-6 (largest ${maxLeak.toExponential(2)}); ${heads}`;
  } else {
    leakBadge.classList.add('ok');
    leakBadge.textContent = data.mask === null ? '0 leaks (no mask)' : `0 leaks in ${counts.blocked} masked cells`;
    leakBadge.title = 'Masked cells that carry weight > 1e-6, over all heads of this block';
  }
}

function tokensOf(trace: TraceOverview, stream: string): readonly Token[] {
  return trace.streams.find((candidate) => candidate.name === stream)?.tokens ?? [];
}

function renderHeatmap(): void {
  const current = session;
  const block = current?.trace.blocks[current.blockIndex];
  if (!current || !block) return;
  const data = current.blocks.get(current.blockIndex) ?? null;
  const matrix = matrixOf(current, current.blockIndex, current.head);
  heatmap.render({
    block,
    blockIndex: current.blockIndex,
    head: current.head,
    weights: matrix?.weights ?? null,
    mask: data?.mask ?? null,
    queryTokens: tokensOf(current.trace, block.queryStream),
    keyTokens: tokensOf(current.trace, block.keyStream),
    scale: currentScale(matrix),
    theme,
  }, heatmapWidth());
  heatmap.setSelection(current.selectedQuery, current.selectedKey, false);
}

function residualLabel(current: Session, index: number | null): string {
  if (index === null) return '';
  return `after ${current.trace.residual[index]?.label ?? ''}`;
}

function renderChart(): void {
  const current = session;
  if (!current) return;
  const step = current.steps[current.stepIndex];
  const residual = step?.residualIndex !== null && step?.residualIndex !== undefined ? current.trace.residual[step.residualIndex] : undefined;
  const previous = step?.previousResidualIndex !== null && step?.previousResidualIndex !== undefined ? current.trace.residual[step.previousResidualIndex] : undefined;
  const stream = residual?.stream ?? step?.stream ?? 'decoder';
  chart.update({
    labels: tokensOf(current.trace, stream).map((token) => tokenLabel(token)),
    current: residual?.norms ?? null,
    previous: previous?.norms ?? null,
    currentLabel: residualLabel(current, step?.residualIndex ?? null),
    previousLabel: residualLabel(current, step?.previousResidualIndex ?? null),
  }, theme, chartWidth());
}

/** The heatmap figure's width as the last layout left it (ResizeObserver), 0 when unknown or hidden. */
let knownHeatmapWidth = 0;

function heatmapWidth(): number {
  // The width from the last layout, when known: reading clientWidth after the DOM changed forces a
  // layout of the whole panel, which costs more than drawing a 1024² heatmap.
  return Math.max(120, knownHeatmapWidth || heatmap.element.clientWidth || views.clientWidth || window.innerWidth - 24);
}

function chartWidth(): number {
  return Math.max(160, chart.element.clientWidth || views.clientWidth || window.innerWidth - 24);
}

function currentScale(matrix: { max: number; clipped: boolean } | null): ColorScale {
  return makeColorScale(colorMap, theme.kind, matrix?.max ?? 1, theme.background, matrix?.clipped ?? false);
}

// ---- the debugger's views ----------------------------------------------------------------------

function isEncDec(trace: TraceOverview): boolean {
  return trace.model.kind === 'encoder-decoder' || new Set(trace.blocks.map((block) => block.queryStream)).size > 1;
}

function setTab(name: ViewName): void {
  tab = name;
  view.dataset.tab = name;
  for (const [candidate, button] of tabButtons) {
    const selected = candidate === name;
    button.setAttribute('aria-selected', String(selected));
    button.tabIndex = selected ? 0 : -1;
    button.classList.toggle('selected', selected);
  }
  views.hidden = name !== 'heatmap';
  for (const [candidate, section] of sections) section.hidden = candidate !== name;
  overview.setActive(name === 'overview');
  const canPng = name === 'heatmap' || name === 'rollout' || name === 'overview';
  const canSvg = name === 'heatmap' || name === 'rollout' || name === 'heads';
  exportPng.disabled = !session || !canPng;
  exportSvg.disabled = !session || !canSvg;
  exportPng.title = canPng ? 'Save the current view as a PNG image' : 'PNG export: switch to the Heatmap, Overview or Rollout tab';
  exportSvg.title = canSvg ? 'Save the current view as an SVG image' : 'SVG export: switch to the Heatmap, Heads or Rollout tab';
  if (!session) return;
  if (name === 'heatmap') renderHeatmap();
  if (name === 'heads') renderHeadView();
  if (name === 'rollout') renderRollout();
}

/** Opens a head (or the mean) of a block in the heatmap. */
function openHead(blockIndex: number, head: HeadChoice): void {
  if (!session) return;
  setTab('heatmap');
  show({ blockIndex, head });
  tabButtons.get('heatmap')?.scrollIntoView({ block: 'nearest' });
}

function openDiagnostic(diagnostic: TraceDiagnostic): void {
  const current = session;
  if (!current) return;
  const blockIndex = diagnosticBlock(diagnostic, current.trace.blocks);
  if (blockIndex === null) {
    setTab('problems');
    return;
  }
  openHead(blockIndex, diagnostic.head ?? 'mean');
}

function layerLabelOf(current: Session, blockIndex: number): string {
  const block = current.trace.blocks[blockIndex];
  return current.groups.find((group) => group.blockIndices.includes(blockIndex))?.label ?? `Layer ${block?.layer ?? '?'}`;
}

function renderSummary(): void {
  const current = session;
  const diagnostics = current?.trace.analysis?.diagnostics;
  if (!current || !diagnostics) {
    summary.hidden = true;
    problemsCount.hidden = true;
    return;
  }
  const line = diagnosticSummary(diagnostics, isEncDec(current.trace));
  summary.hidden = false;
  summary.dataset.severity = line.severity ?? 'none';
  summaryText.textContent = line.text;
  const target = line.first ? diagnosticBlock(line.first, current.trace.blocks) : null;
  summaryOpen.hidden = target === null;
  summaryOpen.setAttribute('aria-label', line.first ? `Open ${line.first.code} in the heatmap` : 'Open');
  summaryOpen.onclick = () => { if (line.first) openDiagnostic(line.first); };
  summaryAll.hidden = diagnostics.length <= 1;
  summaryAll.onclick = () => setTab('problems');
  const counts = countSeverities(diagnostics);
  problemsCount.hidden = diagnostics.length === 0;
  problemsCount.textContent = String(diagnostics.length);
  problemsCount.classList.toggle('error', counts.error > 0);
  problemsCount.classList.toggle('warning', counts.error === 0 && counts.warning > 0);
  problemsCount.setAttribute('aria-label', `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}${counts.error > 0 ? `, ${counts.error} error${counts.error === 1 ? '' : 's'}` : ''}`);
}

function renderOverview(): void {
  const current = session;
  if (!current) return;
  const analysis = current.trace.analysis;
  overview.render({
    blocks: current.trace.blocks,
    families: current.families,
    familyKey: current.familyKey,
    encDec: isEncDec(current.trace),
    layerLabel: (blockIndex) => layerLabelOf(current, blockIndex),
    stats: analysis?.headStats ?? [],
    diagnostics: analysis?.diagnostics ?? [],
    thresholds: analysis?.thresholds ?? DEFAULT_THRESHOLDS,
  }, theme, colorMap);
  overview.setActive(tab === 'overview');
}

function renderStats(): void {
  const current = session;
  if (!current) return;
  stats.render(current.trace.analysis?.headStats ?? [], (row) => layerLabelOf(current, row.blockIndex));
}

function renderProblems(): void {
  const current = session;
  if (!current) return;
  problems.render(current.trace.analysis?.diagnostics ?? null, isEncDec(current.trace));
}

function renderHeadView(): void {
  const current = session;
  const block = current?.trace.blocks[current.blockIndex];
  if (!current || !block) return;
  headView.render({
    block,
    blockIndex: current.blockIndex,
    title: blockName(current, current.blockIndex),
    probs: current.blocks.get(current.blockIndex)?.probs ?? null,
    queryTokens: tokensOf(current.trace, block.queryStream),
    keyTokens: tokensOf(current.trace, block.keyStream),
    theme,
  }, Math.max(220, headView.element.clientWidth || views.clientWidth || window.innerWidth - 24));
}

function currentRollout(current: Session) {
  const list = current.trace.analysis?.rollout ?? [];
  return list.find((candidate) => candidate.stream === current.rolloutStream) ?? list[0] ?? null;
}

function rolloutMatrix(values: Float32Array): { max: number; clipped: boolean } {
  return colorLimit(values, null);
}

function renderRollout(): void {
  const current = session;
  if (!current) return;
  const list = current.trace.analysis?.rollout ?? [];
  const chosen = currentRollout(current);
  rolloutPicker.hidden = list.length <= 1;
  replaceOptions(rolloutSelect, list.map((candidate) => [candidate.stream, capitalize(candidate.stream)]), chosen?.stream ?? '');
  rolloutEmpty.hidden = chosen !== null;
  rolloutMap.element.hidden = chosen === null;
  rolloutHint.hidden = chosen === null;
  if (!chosen || tab !== 'rollout') return;
  const tokens = tokensOf(current.trace, chosen.stream);
  rolloutMap.render({
    block: { layer: 0, kind: 'self', queryStream: chosen.stream, keyStream: chosen.stream, heads: 1, queries: chosen.tokens, keys: chosen.tokens, maskKind: 'none' },
    blockIndex: -1,
    head: 'mean',
    weights: chosen.values,
    mask: null,
    queryTokens: tokens,
    keyTokens: tokens,
    scale: currentScale(rolloutMatrix(chosen.values)),
    theme,
  }, Math.max(120, rolloutMap.element.clientWidth || rollout.clientWidth || window.innerWidth - 24));
  rolloutMap.canvas.dataset.rollout = chosen.stream;
  rolloutMap.canvas.setAttribute('aria-label', `Attention rollout of the ${chosen.stream}: ${chosen.tokens} output tokens by ${chosen.tokens} input tokens`);
  rolloutMap.setSelection(current.rolloutSelected, null, false);
}

let rolloutFrame = 0;
let pendingRollout: number | null = null;
let lastRolloutHover: number | null = null;

/** hoverRollout at most once per animation frame, and only when the row changed. */
function scheduleRolloutHover(query: number | null): void {
  pendingRollout = query;
  if (rolloutFrame !== 0) return;
  rolloutFrame = requestAnimationFrame(() => {
    rolloutFrame = 0;
    const current = session;
    const chosen = current ? currentRollout(current) : null;
    if (!current || !chosen || pendingRollout === lastRolloutHover) return;
    lastRolloutHover = pendingRollout;
    post({ type: 'hoverRollout', runId: current.runId, stream: chosen.stream, query: pendingRollout });
  });
}

// ---- export ----------------------------------------------------------------------------------

function blockedColor(): [number, number, number] {
  const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
  return mixRgb(theme.background, [128, 128, 128], light ? 0.08 : 0.12);
}

/** What the heatmap or rollout tab shows, as the exports need it. */
function exportSource(current: Session): {
  title: string; name: string; canvas: HTMLCanvasElement; weights: Float32Array; mask: Uint8Array | null; rows: number; cols: number;
  rowLabels: string[]; columnLabels: string[]; scale: ColorScale;
} | null {
  if (tab === 'rollout') {
    const chosen = currentRollout(current);
    if (!chosen) return null;
    const labels = tokensOf(current.trace, chosen.stream).map((token) => tokenLabel(token));
    return {
      title: `${current.trace.model.name} · attention rollout, ${chosen.stream}`, name: `rollout-${chosen.stream}`, canvas: rolloutMap.canvas,
      weights: chosen.values, mask: null, rows: chosen.tokens, cols: chosen.tokens, rowLabels: labels, columnLabels: labels,
      scale: currentScale(rolloutMatrix(chosen.values)),
    };
  }
  const block = current.trace.blocks[current.blockIndex];
  const matrix = matrixOf(current, current.blockIndex, current.head);
  if (!block || !matrix) return null;
  const head = current.head === 'mean' ? 'mean of heads' : `head ${current.head}`;
  return {
    title: `${current.trace.model.name} · ${blockName(current, current.blockIndex)} · ${head}`,
    name: exportName({ stream: block.queryStream, layer: block.layer, kind: block.kind, head: current.head }),
    canvas: heatmap.canvas, weights: matrix.weights, mask: current.blocks.get(current.blockIndex)?.mask ?? null,
    rows: block.queries, cols: block.keys,
    rowLabels: tokensOf(current.trace, block.queryStream).map((token) => tokenLabel(token)),
    columnLabels: tokensOf(current.trace, block.keyStream).map((token) => tokenLabel(token)),
    scale: currentScale(matrix),
  };
}

/** The head view's SVG as a standalone document: its colours written in, a background behind. */
function headViewSvg(svgElement: SVGSVGElement): string {
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

function exportImage(format: 'png' | 'svg'): void {
  const current = session;
  if (!current) return;
  if (tab === 'overview' && format === 'png') {
    const family = current.families.find((candidate) => candidate.key === current.familyKey);
    const data = overviewPng(`${current.trace.model.name} · ${family?.label ?? 'attention'}`, overview.cells(), (blockIndex) => layerLabelOf(current, blockIndex), theme);
    post({ type: 'exportImage', format, data, suggestedName: `overview-${family?.key.replace(':', '-') ?? 'attention'}` });
    return;
  }
  if (tab === 'heads' && format === 'svg') {
    const svgElement = headView.svg;
    const block = current.trace.blocks[current.blockIndex];
    if (!svgElement || !block) return;
    post({ type: 'exportImage', format, data: headViewSvg(svgElement), suggestedName: `heads-${block.queryStream}-L${block.layer}${block.kind === 'cross' ? '-cross' : ''}` });
    return;
  }
  if (tab !== 'heatmap' && tab !== 'rollout') return;
  const source = exportSource(current);
  if (!source) return;
  if (format === 'png') {
    if (!source.canvas.dataset.drawn) return;
    post({
      type: 'exportImage', format, suggestedName: source.name,
      data: heatmapPng({ title: source.title, source: source.canvas, rows: source.rows, cols: source.cols, rowLabels: source.rowLabels, columnLabels: source.columnLabels, scale: source.scale, theme }),
    });
  } else {
    post({
      type: 'exportImage', format, suggestedName: source.name,
      data: heatmapSvg({
        title: source.title, rowLabels: source.rowLabels, columnLabels: source.columnLabels, weights: source.weights, rows: source.rows, cols: source.cols,
        mask: source.mask, scale: source.scale, background: theme.background, foreground: theme.foreground, blockedRgb: blockedColor(),
        leakColor: theme.error, fontFamily: theme.editorFontFamily,
      }),
    });
  }
}

// ---- resize and theme ------------------------------------------------------------------------

let lastWidths = '';
let resizeFrame = 0;
const resizeObserver = new ResizeObserver(() => {
  // Layout is fresh while the observer runs: remember the figure's width for heatmapWidth().
  knownHeatmapWidth = heatmap.element.clientWidth;
  if (resizeFrame !== 0) return;
  resizeFrame = requestAnimationFrame(() => {
    resizeFrame = 0;
    const widths = `${tab}:${heatmap.element.clientWidth}:${chart.element.clientWidth}:${rollout.clientWidth}:${window.devicePixelRatio}`;
    if (!session || widths === lastWidths) return;
    lastWidths = widths;
    renderHeatmap();
    chart.resize(chartWidth());
    if (tab === 'rollout') renderRollout();
    if (tab === 'heads') renderHeadView();
  });
});
resizeObserver.observe(views);
resizeObserver.observe(heatmap.element);
resizeObserver.observe(rollout);
resizeObserver.observe(headView.element);

watchTheme((next) => {
  theme = next;
  if (!session) return;
  renderHeatmap();
  chart.resize(chartWidth(), theme);
  overview.restyle(theme, colorMap);
  renderRollout();
  if (tab === 'heads') renderHeadView();
});

// VS Code's focusedView context does not follow focus into this iframe: say when we have it, so
// the host can enable the step keybindings (attentionLens.webviewFocused).
window.addEventListener('focus', () => post({ type: 'focusChanged', focused: true }));
window.addEventListener('blur', () => post({ type: 'focusChanged', focused: false }));

setTab(tab);
setState('empty', status.textContent || 'Select text in an editor and run "Explain Attention".');
post({ type: 'ready' });
