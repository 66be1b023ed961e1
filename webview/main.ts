/**
 * @file The Attention panel's script: receives trace overviews, asks for one block's probabilities
 * at a time, and draws the chosen layer/head as a heatmap (queries as rows, keys as columns).
 */
import type { BlockDataMessage, ToWebviewMessage, TraceOverview } from '../src/protocol';
import type { Token } from '../src/engine/trace';
import { viridis } from './colormap';

const vscode = acquireVsCodeApi<{ blockIndex: number; head: number | 'mean' }>();

interface View {
  runId: number;
  trace: TraceOverview;
  blockIndex: number;
  head: number | 'mean';
}

const app = document.getElementById('app') as HTMLElement;
let view: View | undefined;
let nextRequestId = 1;
const blockCache = new Map<number, BlockDataMessage>();

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function tokenLabel(token: Token | undefined): string {
  if (!token) return '';
  return token.special || token.text.trim() === '' || token.piece !== token.text ? token.piece : token.text;
}

function showStatus(text: string, state: string): void {
  app.dataset.state = state;
  app.replaceChildren(element('p', { id: 'status', role: 'status' }, text));
}

function blockName(block: TraceOverview['blocks'][number]): string {
  return `Layer ${block.layer} · ${block.kind}`;
}

function render(): void {
  if (!view) return;
  const { trace } = view;
  const block = trace.blocks[view.blockIndex];
  app.dataset.state = 'trace';
  app.replaceChildren();

  const header = element('header');
  header.append(element('h1', {}, trace.model.name));
  header.append(element('p', { class: 'facts' },
    `${trace.model.kind} · ${trace.model.encoderLayers + trace.model.decoderLayers} layers × ${trace.model.heads} heads · d_model ${trace.model.dModel ?? '?'} · backend ${trace.backend}`));
  for (const notice of trace.notices) header.append(element('p', { class: 'notice' }, notice));
  app.append(header);

  const controls = element('div', { class: 'controls' });
  const blockSelect = element('select', { id: 'block-select', 'aria-label': 'Layer and block' });
  trace.blocks.forEach((candidate, index) => {
    const option = element('option', { value: String(index) }, blockName(candidate));
    option.selected = index === view!.blockIndex;
    blockSelect.append(option);
  });
  blockSelect.addEventListener('change', () => select(Number(blockSelect.value), view!.head));
  const headSelect = element('select', { id: 'head-select', 'aria-label': 'Head' });
  const headOptions: Array<number | 'mean'> = ['mean', ...Array.from({ length: block.heads }, (_, h) => h)];
  for (const head of headOptions) {
    const option = element('option', { value: String(head) }, head === 'mean' ? 'Mean of heads' : `Head ${head}`);
    option.selected = head === view.head;
    headSelect.append(option);
  }
  headSelect.addEventListener('change', () => select(view!.blockIndex, headSelect.value === 'mean' ? 'mean' : Number(headSelect.value)));
  controls.append(element('label', {}, 'Block '), blockSelect, element('label', {}, 'Head '), headSelect);
  app.append(controls);

  const figure = element('figure', { class: 'heatmap' });
  const canvas = element('canvas', { id: 'heatmap', role: 'img', 'aria-label': `Attention of ${blockName(block)}` });
  const tooltip = element('div', { id: 'tooltip', class: 'tooltip', hidden: '' });
  figure.append(canvas, tooltip, element('figcaption', {}, `Rows: ${block.queryStream} queries · columns: ${block.keyStream} keys · mask: ${block.maskKind}`));
  app.append(figure);

  const data = blockCache.get(view.blockIndex);
  if (!data) {
    figure.append(element('p', { class: 'loading' }, 'Loading block…'));
    requestBlock(view.blockIndex);
    return;
  }
  drawHeatmap(canvas, tooltip, block, data, view.head);
}

function select(blockIndex: number, head: number | 'mean'): void {
  if (!view) return;
  const heads = view.trace.blocks[blockIndex].heads;
  view.blockIndex = blockIndex;
  view.head = head === 'mean' || head < heads ? head : 'mean';
  vscode.setState({ blockIndex: view.blockIndex, head: view.head });
  render();
}

function requestBlock(blockIndex: number): void {
  if (!view) return;
  vscode.postMessage({ type: 'requestBlock', requestId: nextRequestId++, runId: view.runId, blockIndex });
}

/** [queries, keys] weights of one head, or the mean over heads. */
function headMatrix(data: BlockDataMessage, heads: number, queries: number, keys: number, head: number | 'mean'): Float32Array {
  const size = queries * keys;
  if (head !== 'mean') return data.probs.subarray(head * size, (head + 1) * size);
  const mean = new Float32Array(size);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < size; i++) mean[i] += data.probs[h * size + i] / heads;
  }
  return mean;
}

function drawHeatmap(canvas: HTMLCanvasElement, tooltip: HTMLElement, block: TraceOverview['blocks'][number], data: BlockDataMessage, head: number | 'mean'): void {
  if (!view) return;
  const queryTokens = view.trace.streams.find((s) => s.name === block.queryStream)?.tokens ?? [];
  const keyTokens = view.trace.streams.find((s) => s.name === block.keyStream)?.tokens ?? [];
  const { queries, keys } = block;
  const weights = headMatrix(data, block.heads, queries, keys, head);
  const styles = getComputedStyle(document.body);
  const foreground = styles.getPropertyValue('--vscode-foreground').trim() || '#ccc';
  const font = `${styles.getPropertyValue('--vscode-editor-font-size').trim() || '12px'} ${styles.getPropertyValue('--vscode-editor-font-family').trim() || 'monospace'}`;
  // Fit the panel's width; cells stay between 1 and 24 px.
  const available = Math.max(200, (canvas.parentElement?.clientWidth ?? 640) - 8);
  const roughCell = Math.floor((available - 70) / keys);
  const showLabels = roughCell >= 8;
  const margin = showLabels ? 70 : 4;
  const cell = Math.max(1, Math.min(24, Math.floor((available - margin) / keys)));
  // Chromium draws nothing on canvases past ~16k px a side: lower the pixel ratio on huge grids.
  const ratio = Math.min(window.devicePixelRatio || 1, 8192 / Math.max(margin + keys * cell, margin + queries * cell));
  const width = margin + keys * cell;
  const height = margin + queries * cell;
  canvas.width = Math.ceil(width * ratio);
  canvas.height = Math.ceil(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.scale(ratio, ratio);

  // One pixel per cell in an ImageData, scaled up without smoothing: fast at any size.
  const image = new ImageData(keys, queries);
  for (let q = 0; q < queries; q++) {
    for (let k = 0; k < keys; k++) {
      const blocked = data.mask !== null && data.mask[q * keys + k] === 0;
      const [r, g, b] = blocked ? [40, 40, 40] : viridis(weights[q * keys + k]);
      const offset = (q * keys + k) * 4;
      image.data[offset] = r;
      image.data[offset + 1] = g;
      image.data[offset + 2] = b;
      image.data[offset + 3] = blocked ? 90 : 255;
    }
  }
  const bitmapCanvas = document.createElement('canvas');
  bitmapCanvas.width = keys;
  bitmapCanvas.height = queries;
  bitmapCanvas.getContext('2d')?.putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(bitmapCanvas, margin, margin, keys * cell, queries * cell);

  if (showLabels) {
    context.fillStyle = foreground;
    context.font = font;
    context.textBaseline = 'middle';
    context.textAlign = 'right';
    queryTokens.forEach((token, q) => context.fillText(tokenLabel(token).slice(0, 8), margin - 4, margin + q * cell + cell / 2));
    context.save();
    context.textAlign = 'left';
    keyTokens.forEach((token, k) => {
      context.save();
      context.translate(margin + k * cell + cell / 2, margin - 4);
      context.rotate(-Math.PI / 2);
      context.fillText(tokenLabel(token).slice(0, 8), 0, 0);
      context.restore();
    });
    context.restore();
  }

  // Tests (and screen readers) can tell a drawn heatmap from an empty canvas.
  canvas.dataset.drawn = `${queries}x${keys}`;

  canvas.onmousemove = (event) => {
    const bounds = canvas.getBoundingClientRect();
    const k = Math.floor((event.clientX - bounds.left - margin) / cell);
    const q = Math.floor((event.clientY - bounds.top - margin) / cell);
    if (q < 0 || k < 0 || q >= queries || k >= keys) {
      tooltip.hidden = true;
      return;
    }
    const blocked = data.mask !== null && data.mask[q * keys + k] === 0;
    tooltip.textContent = `${JSON.stringify(tokenLabel(queryTokens[q]))} → ${JSON.stringify(tokenLabel(keyTokens[k]))}: ${weights[q * keys + k].toFixed(4)}${blocked ? ' (masked)' : ''}`;
    tooltip.style.left = `${event.clientX - bounds.left + 12}px`;
    tooltip.style.top = `${event.clientY - bounds.top + 12}px`;
    tooltip.hidden = false;
  };
  canvas.onmouseleave = () => {
    tooltip.hidden = true;
  };
}

window.addEventListener('message', (event: MessageEvent<ToWebviewMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'runStarted':
      if (!view) showStatus(`Running ${message.description}…`, 'running');
      else app.dataset.state = 'running';
      break;
    case 'traceLoaded': {
      blockCache.clear();
      const saved = vscode.getState();
      const blockIndex = saved && saved.blockIndex < message.trace.blocks.length ? saved.blockIndex : 0;
      view = { runId: message.runId, trace: message.trace, blockIndex, head: saved?.head ?? 'mean' };
      select(blockIndex, view.head);
      break;
    }
    case 'runFailed':
      if (message.cancelled && view) {
        app.dataset.state = 'trace';
      } else {
        showStatus(message.hint ? `${message.message} ${message.hint}` : message.message, message.cancelled ? 'cancelled' : 'error');
        view = undefined;
      }
      break;
    case 'blockData':
      if (view && message.runId === view.runId) {
        blockCache.set(message.blockIndex, message);
        if (message.blockIndex === view.blockIndex) render();
      }
      break;
    default: {
      const unreachable: never = message;
      void unreachable;
    }
  }
});

vscode.postMessage({ type: 'ready' });
