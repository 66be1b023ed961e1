/**
 * @file The typed messages between the extension host and the Attention webview, shared by both
 * sides. The attention arrays never travel as JSON number lists: the overview carries shapes and
 * tokens, and the webview asks for one block's probabilities at a time, which arrive as a
 * Float32Array (VS Code ≥ 1.57 transfers typed arrays as binary; it matches them by exact
 * constructor name, so a Node Buffer would become JSON — send plain typed arrays only).
 */
import type { AttentionBlock, AttentionTrace } from './engine/trace';

/** A block without its arrays: what the webview needs to lay out pickers and axes. */
export type BlockOverview = Omit<AttentionBlock, 'probs' | 'scores' | 'mask'>;

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
    blocks: trace.blocks.map(({ probs: _probs, scores: _scores, mask: _mask, ...rest }) => rest),
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
}

export type ToWebviewMessage = RunStartedMessage | TraceLoadedMessage | RunFailedMessage | BlockDataMessage;

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

export type FromWebviewMessage = ReadyMessage | RequestBlockMessage;

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
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
    default:
      return null;
  }
}
