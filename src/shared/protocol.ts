/**
 * @file The typed messages between the extension host and the Attention webview, shared by both
 * sides. The attention arrays never travel as JSON number lists: the overview carries shapes and
 * tokens, and the webview asks for one block's probabilities at a time, which arrive as a
 * Float32Array (VS Code ≥ 1.57 transfers typed arrays as binary; it matches them by exact
 * constructor name, so a Node Buffer would become JSON — send plain typed arrays only).
 */
import type { AblationMode, AttentionBlock, AttentionTrace, BlockKind, StreamName } from './trace';
import { ABLATION_MODES } from './trace';

/** A block without its arrays: what the webview needs to lay out pickers and axes. */
export type BlockOverview = Omit<AttentionBlock, 'probs' | 'scores' | 'mask' | 'meanProbs' | 'valueWeighted'>;

/** The trace minus the attention arrays (residual norms are small and travel as Float32Array). */
export interface TraceOverview extends Omit<AttentionTrace, 'blocks'> {
  blocks: BlockOverview[];
}

/**
 * The trace without its attention arrays. Residual norms are copied: a decoded trace's arrays are
 * views into one buffer, and VS Code posts a view's whole backing buffer.
 */
export function traceOverview(trace: AttentionTrace): TraceOverview {
  return {
    ...trace,
    residual: trace.residual.map((step) => ({ ...step, norms: step.norms.slice() })),
    ...(trace.analysis ? { analysis: { ...trace.analysis, rollout: trace.analysis.rollout.map((r) => ({ ...r, values: r.values.slice() })) } } : {}),
    blocks: trace.blocks.map(({ probs: _probs, scores: _scores, mask: _mask, meanProbs: _meanProbs, valueWeighted: _weighted, ...rest }) => rest),
  };
}

// ---- host → webview -------------------------------------------------------------------------

/** A run started; the webview shows a busy state. */
export interface RunStartedMessage {
  type: 'runStarted';
  runId: number;
  /** What is running, e.g. "builtin:tiny-decoder on 23 characters". */
  description: string;
}

/** A run finished; the webview replaces its content and asks for the blocks it shows. */
export interface TraceLoadedMessage {
  type: 'traceLoaded';
  runId: number;
  trace: TraceOverview;
}

/** A run failed or was cancelled. */
export interface RunFailedMessage {
  type: 'runFailed';
  runId: number;
  message: string;
  hint?: string;
  cancelled: boolean;
}

/** Reply to RequestBlockMessage. */
export interface BlockDataMessage {
  type: 'blockData';
  requestId: number;
  runId: number;
  blockIndex: number;
  /** [heads, queries, keys] */
  probs: Float32Array;
  /** [queries, keys] 1 allowed / 0 blocked, or null. */
  mask: Uint8Array | null;
  /** [queries, keys] the mean over heads when the engine computed it (absent: the panel averages). */
  mean?: Float32Array | null;
}

/** Display settings (from "attentionLens.*"), sent at load and whenever they change. */
export interface ConfigureMessage {
  type: 'configure';
  colorMap: ColorMapName;
  /** What a new trace opens on. */
  defaultView: DefaultView;
  /** What this host can do; absent: everything the panel offers (VS Code). */
  capabilities?: PanelCapabilities;
}

/**
 * What a host does for the panel besides answering block requests. The HTML report's stand-in
 * host has no VS Code behind it: the panel hides the controls it cannot serve rather than draw
 * buttons that do nothing.
 */
export interface PanelCapabilities {
  /** The panel commands it runs; a control whose command is not listed is not drawn. */
  commands: PanelCommand[];
  /** Whether it highlights tokens in an editor (hoverQuery, hoverRollout); text that promises it is hidden otherwise. */
  editorHighlights: boolean;
}

export type ColorMapName = 'viridis' | 'magma' | 'cividis' | 'gray';
export const COLOR_MAPS: readonly ColorMapName[] = ['viridis', 'magma', 'cividis', 'gray'];
export type DefaultView = 'mean' | 'head0';
export const DEFAULT_VIEWS: readonly DefaultView[] = ['mean', 'head0'];

/** A step command from a keybinding or the command palette (the panel has focus). */
export interface StepMessage {
  type: 'step';
  /** layer: whole layers; step: the sub-layers within a layer (attention, add & norm, ...). */
  unit: 'layer' | 'step';
  direction: 'next' | 'previous';
}

/** The editor cursor moved onto a token of the analysed text: show that token's row. */
export interface SelectQueryMessage {
  type: 'selectQuery';
  runId: number;
  stream: StreamName;
  /** Token index within the stream. */
  tokenIndex: number;
}

/** Show a given block and head (a diagnostic in the Problems panel was clicked, or a command). */
export interface ShowBlockMessage {
  type: 'showBlock';
  runId: number;
  blockIndex: number;
  head: number | 'mean';
}

export type ToWebviewMessage = RunStartedMessage | TraceLoadedMessage | RunFailedMessage | BlockDataMessage | ConfigureMessage | StepMessage | SelectQueryMessage | ShowBlockMessage;

// ---- webview → host -------------------------------------------------------------------------

/** The webview's script is listening; the host replies with the current trace, if any. */
export interface ReadyMessage {
  type: 'ready';
}

export interface RequestBlockMessage {
  type: 'requestBlock';
  requestId: number;
  runId: number;
  blockIndex: number;
}

/**
 * The pointer is over a query row (or left the heatmap: query null). The host highlights, in the
 * editor, the key tokens' text with strength proportional to this row's attention.
 */
export interface HoverQueryMessage {
  type: 'hoverQuery';
  runId: number;
  blockIndex: number;
  /** A head index, or 'mean' for the mean of heads. */
  head: number | 'mean';
  query: number | null;
}

/** What the panel shows now, so the host can map editor positions to rows of the right stream. */
export interface ViewChangedMessage {
  type: 'viewChanged';
  runId: number;
  blockIndex: number;
  head: number | 'mean';
}

/** A button in the panel asks the host to run one of its commands. */
export interface RunCommandMessage {
  type: 'runCommand';
  command: PanelCommand;
}

/** The only commands a webview may ask for. */
export type PanelCommand =
  | 'attentionLens.selectModel'
  | 'attentionLens.explainSelection'
  | 'attentionLens.showOutput'
  | 'attentionLens.measureInduction'
  | 'attentionLens.exportJson'
  | 'attentionLens.exportCsv'
  | 'attentionLens.exportHtml'
  | 'attentionLens.exportTraceFile'
  | 'attentionLens.clearAblation';
export const PANEL_COMMANDS: readonly PanelCommand[] = [
  'attentionLens.selectModel',
  'attentionLens.explainSelection',
  'attentionLens.showOutput',
  'attentionLens.measureInduction',
  'attentionLens.exportJson',
  'attentionLens.exportCsv',
  'attentionLens.exportHtml',
  'attentionLens.exportTraceFile',
  'attentionLens.clearAblation',
];

/** The pointer is over a rollout row: the host highlights the input tokens it draws on. */
export interface HoverRolloutMessage {
  type: 'hoverRollout';
  runId: number;
  stream: StreamName;
  query: number | null;
}

/** Save the current view as an image: a PNG data URL ("data:image/png;base64,...") or SVG text. */
export interface ExportImageMessage {
  type: 'exportImage';
  format: 'png' | 'svg';
  data: string;
  /** e.g. "attention-L2-head1"; the host adds the extension and asks where to save. */
  suggestedName: string;
}

/**
 * The page gained or lost keyboard focus. VS Code's `focusedView` context does not follow focus
 * into a webview view's iframe, so the host sets its own context key for the step keybindings.
 */
export interface FocusChangedMessage {
  type: 'focusChanged';
  focused: boolean;
}

/** A head as the panel names it for ablation: its block's kind, its layer within the stack and its index. */
export interface AblationHeadRef {
  kind: BlockKind;
  layer: number;
  head: number;
}

const BLOCK_KINDS: readonly BlockKind[] = ['self', 'encoder-self', 'decoder-self', 'cross'];

/**
 * The panel changes the heads to ablate ("Ablate Head" on an overview head, the Ablation view's
 * remove buttons, Clear, the mode picker); the host runs the last text again with the new list.
 * The list itself lives in the host, so the command palette and the panel edit the same one.
 */
export interface AblationRequestMessage {
  type: 'ablation';
  /** add: ablate `head` too; remove: stop ablating it; clear: a plain run; mode: ablate as `mode` says. */
  action: 'add' | 'remove' | 'clear' | 'mode';
  /** With add and remove. */
  head?: AblationHeadRef;
  /** With mode. */
  mode?: AblationMode;
}

export type FromWebviewMessage = ReadyMessage | RequestBlockMessage | HoverQueryMessage | ViewChangedMessage | RunCommandMessage | HoverRolloutMessage | ExportImageMessage | FocusChangedMessage | AblationRequestMessage;

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isHead(value: unknown): value is number | 'mean' {
  return value === 'mean' || isNonNegativeInteger(value);
}

/** A head reference with nothing else in it (the host passes it on to the engine). */
function parseHeadRef(value: unknown): AblationHeadRef | null {
  if (typeof value !== 'object' || value === null) return null;
  const ref = value as Record<string, unknown>;
  return (BLOCK_KINDS as readonly unknown[]).includes(ref.kind) && isNonNegativeInteger(ref.layer) && isNonNegativeInteger(ref.head)
    ? { kind: ref.kind as BlockKind, layer: ref.layer, head: ref.head }
    : null;
}

function parseAblationRequest(message: Record<string, unknown>): AblationRequestMessage | null {
  switch (message.action) {
    case 'add':
    case 'remove': {
      const head = parseHeadRef(message.head);
      return head ? { type: 'ablation', action: message.action, head } : null;
    }
    case 'clear':
      return { type: 'ablation', action: 'clear' };
    case 'mode':
      return (ABLATION_MODES as readonly unknown[]).includes(message.mode) ? { type: 'ablation', action: 'mode', mode: message.mode as AblationMode } : null;
    default:
      return null;
  }
}

/** Messages from the webview are untrusted input: anything not exactly of the protocol is dropped. */
export function parseFromWebview(value: unknown): FromWebviewMessage | null {
  if (typeof value !== 'object' || value === null) return null;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'ready':
      return { type: 'ready' };
    case 'requestBlock':
      return isNonNegativeInteger(message.requestId) && isNonNegativeInteger(message.runId) && isNonNegativeInteger(message.blockIndex)
        ? { type: 'requestBlock', requestId: message.requestId, runId: message.runId, blockIndex: message.blockIndex }
        : null;
    case 'hoverQuery':
      return isNonNegativeInteger(message.runId) && isNonNegativeInteger(message.blockIndex) && isHead(message.head)
        && (message.query === null || isNonNegativeInteger(message.query))
        ? { type: 'hoverQuery', runId: message.runId, blockIndex: message.blockIndex, head: message.head, query: message.query }
        : null;
    case 'viewChanged':
      return isNonNegativeInteger(message.runId) && isNonNegativeInteger(message.blockIndex) && isHead(message.head)
        ? { type: 'viewChanged', runId: message.runId, blockIndex: message.blockIndex, head: message.head }
        : null;
    case 'runCommand':
      return typeof message.command === 'string' && (PANEL_COMMANDS as readonly string[]).includes(message.command)
        ? { type: 'runCommand', command: message.command as PanelCommand }
        : null;
    case 'focusChanged':
      return typeof message.focused === 'boolean' ? { type: 'focusChanged', focused: message.focused } : null;
    case 'hoverRollout':
      return isNonNegativeInteger(message.runId) && (message.stream === 'encoder' || message.stream === 'decoder')
        && (message.query === null || isNonNegativeInteger(message.query))
        ? { type: 'hoverRollout', runId: message.runId, stream: message.stream, query: message.query }
        : null;
    case 'exportImage': {
      const format = message.format;
      const data = message.data;
      const name = message.suggestedName;
      // An image of a big heatmap is a few MB; anything far larger is not one of ours.
      if ((format !== 'png' && format !== 'svg') || typeof data !== 'string' || data.length > 64 * 1024 * 1024 || typeof name !== 'string') return null;
      if (format === 'png' && !data.startsWith('data:image/png;base64,')) return null;
      if (format === 'svg' && !data.trimStart().startsWith('<svg')) return null;
      return { type: 'exportImage', format, data, suggestedName: name.replace(/[^\w.-]+/g, '_').slice(0, 80) || 'attention' };
    }
    case 'ablation':
      return parseAblationRequest(message);
    default:
      return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isCapabilities(value: unknown): value is PanelCapabilities {
  return isRecord(value) && typeof value.editorHighlights === 'boolean' && Array.isArray(value.commands)
    && value.commands.every((command) => (PANEL_COMMANDS as readonly unknown[]).includes(command));
}

/**
 * The webview checks what it receives too (a stale or foreign message must not break the page):
 * the discriminant and the fields it reads, with the binary arrays of the right types.
 */
export function parseToWebview(value: unknown): ToWebviewMessage | null {
  if (!isRecord(value)) return null;
  switch (value.type) {
    case 'runStarted':
      return isNonNegativeInteger(value.runId) && typeof value.description === 'string' ? (value as unknown as RunStartedMessage) : null;
    case 'traceLoaded':
      return isNonNegativeInteger(value.runId) && isRecord(value.trace) && Array.isArray(value.trace.blocks) && Array.isArray(value.trace.streams)
        ? (value as unknown as TraceLoadedMessage) : null;
    case 'runFailed':
      return isNonNegativeInteger(value.runId) && typeof value.message === 'string' ? (value as unknown as RunFailedMessage) : null;
    case 'blockData':
      return isNonNegativeInteger(value.runId) && isNonNegativeInteger(value.blockIndex) && value.probs instanceof Float32Array
        && (value.mask === null || value.mask instanceof Uint8Array)
        && (value.mean === undefined || value.mean === null || value.mean instanceof Float32Array) ? (value as unknown as BlockDataMessage) : null;
    case 'configure':
      return (COLOR_MAPS as readonly unknown[]).includes(value.colorMap) && (DEFAULT_VIEWS as readonly unknown[]).includes(value.defaultView)
        && (value.capabilities === undefined || isCapabilities(value.capabilities))
        ? (value as unknown as ConfigureMessage) : null;
    case 'step':
      return (value.unit === 'layer' || value.unit === 'step') && (value.direction === 'next' || value.direction === 'previous')
        ? (value as unknown as StepMessage) : null;
    case 'selectQuery':
      return isNonNegativeInteger(value.runId) && (value.stream === 'encoder' || value.stream === 'decoder') && isNonNegativeInteger(value.tokenIndex)
        ? (value as unknown as SelectQueryMessage) : null;
    case 'showBlock':
      return isNonNegativeInteger(value.runId) && isNonNegativeInteger(value.blockIndex) && isHead(value.head)
        ? (value as unknown as ShowBlockMessage) : null;
    default:
      return null;
  }
}
