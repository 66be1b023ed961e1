/**
 * @file The Attention panel's script: wires the protocol messages, the pickers, the step-through
 * and the views (heatmap, legend, residual chart). It receives a trace overview, asks for one
 * block's probabilities when it first shows that block (cached per run), and tells the host what
 * it shows (viewChanged) and which query row the pointer is on (hoverQuery).
 */
import type { Token } from '../src/engine/trace';
import { type ColorMapName, type DefaultView, type FromWebviewMessage, type PanelCommand, parseToWebview, type ToWebviewMessage, type TraceOverview } from '../src/protocol';
import { colorLimit, countBlocked, countLeaks, headMatrix, type HeadChoice, type LeakCount } from './attention';
import { makeColorScale } from './colorScale';
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
  leaks: LeakCount;
  blocked: number;
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
}

let session: Session | undefined;
let colorMap: ColorMapName = 'viridis';
let defaultView: DefaultView = 'mean';
let theme: ThemeColors = readTheme();
let nextRequestId = 1;
let lastViewSent = '';

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
header.append(titleRow, facts, notices);

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
view.append(header, pickers, stepper, badges, views);
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
      if (changed && session) renderHeatmap();
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
      receiveBlock(message.runId, message.blockIndex, message.probs, message.mask);
      break;
    case 'step':
      navigate(message.unit, message.direction);
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
  const message = parseToWebview(event.data);
  if (message) onMessage(message);
});

// ---- trace and block data ----------------------------------------------------------------------

function loadTrace(runId: number, trace: TraceOverview): void {
  const steps = buildSteps(trace);
  const groups = layerGroups(trace);
  const choice = initialView(trace, steps, vscode.getState(), defaultView);
  session = {
    runId, trace, shape: shapeKey(trace), steps, groups, ...choice, selectedKey: null, blocks: new Map(), pending: new Set(),
  };
  lastHover = null;
  lastViewSent = '';
  renderHeader(trace);
  const tokens = trace.streams.map((stream) => `${stream.tokens.length} ${stream.name} token${stream.tokens.length === 1 ? '' : 's'}`).join(' · ');
  setState('trace', tokens);
  noBlocks.hidden = trace.blocks.length > 0;
  heatmap.element.hidden = trace.blocks.length === 0;
  show({});
  heatmap.setSelection(session.selectedQuery, null, false);
}

function receiveBlock(runId: number, blockIndex: number, probs: Float32Array, mask: Uint8Array | null): void {
  const current = session;
  if (!current || runId !== current.runId) return;
  const block = current.trace.blocks[blockIndex];
  if (!block) return;
  current.pending.delete(blockIndex);
  const size = block.queries * block.keys;
  // A reply of the wrong shape would draw garbage: drop it (the block stays "loading").
  if (probs.length !== block.heads * size || (mask !== null && mask.length !== size)) return;
  current.blocks.set(blockIndex, {
    probs, mask, leaks: countLeaks(probs, mask, block.heads, block.queries, block.keys), blocked: countBlocked(mask), matrices: new Map(),
  });
  renderBlockOptions();
  if (blockIndex === current.blockIndex) {
    renderBadges();
    renderHeatmap();
  }
}

function matrixOf(current: Session, blockIndex: number, head: HeadChoice): { weights: Float32Array; max: number; clipped: boolean } | null {
  const data = current.blocks.get(blockIndex);
  const block = current.trace.blocks[blockIndex];
  if (!data || !block) return null;
  let matrix = data.matrices.get(head);
  if (!matrix) {
    const weights = headMatrix(data.probs, block.heads, block.queries, block.keys, head);
    matrix = { weights, ...colorLimit(weights, data.mask) };
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
  const texts = [...trace.notices];
  for (const cut of trace.truncation) {
    const line = `${capitalize(cut.stream)} input cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max ${cut.maxTokens}).`;
    if (!texts.some((text) => text.includes(`${cut.keptTokens} of ${cut.originalTokens}`))) texts.unshift(line);
  }
  notices.replaceChildren(...texts.map((text) => element('li', { class: 'notice' }, text)));
  notices.hidden = texts.length === 0;
}

function blockOptionText(current: Session, blockIndex: number): string {
  const block = current.trace.blocks[blockIndex];
  const leaks = current.blocks.get(blockIndex)?.leaks.total ?? 0;
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

function renderBadges(): void {
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
  leakBadge.classList.remove('leak', 'ok');
  if (!data) {
    leakBadge.textContent = 'leaks: …';
    leakBadge.dataset.count = '';
    leakBadge.title = 'Counting masked cells that carry weight once the block has loaded';
    return;
  }
  const { total, perHead, maxLeak } = data.leaks;
  leakBadge.dataset.count = String(total);
  leakBadge.dataset.blockIndex = String(current.blockIndex);
  if (total > 0) {
    leakBadge.classList.add('leak');
    const heads = perHead.map((count, h) => (count > 0 ? `head ${h}: ${count}` : '')).filter(Boolean).join(', ');
    leakBadge.textContent = `⚠ ${total} masked cell${total === 1 ? '' : 's'} carry weight · ${blockName(current, current.blockIndex)}`;
    leakBadge.title = `Cells the mask blocks but whose weight exceeds 1e-6 (largest ${maxLeak.toExponential(2)}); ${heads}`;
  } else {
    leakBadge.classList.add('ok');
    leakBadge.textContent = data.mask === null ? '0 leaks (no mask)' : `0 leaks in ${data.blocked} masked cells`;
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
    scale: makeColorScale(colorMap, theme.kind, matrix?.max ?? 1, theme.background, matrix?.clipped ?? false),
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

function heatmapWidth(): number {
  return Math.max(120, heatmap.element.clientWidth || views.clientWidth || window.innerWidth - 24);
}

function chartWidth(): number {
  return Math.max(160, chart.element.clientWidth || views.clientWidth || window.innerWidth - 24);
}

// ---- resize and theme ------------------------------------------------------------------------

let lastWidths = '';
let resizeFrame = 0;
new ResizeObserver(() => {
  if (resizeFrame !== 0) return;
  resizeFrame = requestAnimationFrame(() => {
    resizeFrame = 0;
    const widths = `${heatmap.element.clientWidth}:${chart.element.clientWidth}:${window.devicePixelRatio}`;
    if (!session || widths === lastWidths) return;
    lastWidths = widths;
    renderHeatmap();
    chart.resize(chartWidth());
  });
}).observe(views);

watchTheme((next) => {
  theme = next;
  if (!session) return;
  renderHeatmap();
  chart.resize(chartWidth(), theme);
});

setState('empty', status.textContent || 'Select text in an editor and run "Explain Attention".');
post({ type: 'ready' });
