/**
 * @file Messages between the engine client (extension host or CLI) and the engine worker thread.
 * Traces travel as the binary form of traceBinary.ts in a transferred ArrayBuffer (no copy).
 */
import type { ExportOptions } from '../exportModel';
import type { DownloadProgress } from '../hub/download';
import type { ExplainOptions } from '../options';

/** Index of the cancel flag in the shared Int32Array; 1 means "stop". */
export const CANCEL_FLAG_INDEX = 0;

export interface ExplainRequestMessage {
  type: 'explain';
  requestId: number;
  text: string;
  options: ExplainOptions;
  /** Int32Array(1) over this buffer; the client sets it to 1 to cancel. */
  cancelFlag: SharedArrayBuffer;
  /**
   * A trace with more attention than this (bytes) is written by the worker to a trace file in a
   * private temporary folder (`resultFile`) instead of being sent; absent: always sent.
   */
  inlineTraceBytes?: number;
}

/** Export a built-in model to ONNX (the CLI's --export-onnx): the engine thread does the heavy part. */
export interface ExportRequestMessage {
  type: 'export';
  requestId: number;
  options: ExportOptions;
  cancelFlag: SharedArrayBuffer;
}

export type ToWorkerMessage = ExplainRequestMessage | ExportRequestMessage;

export interface ExplainResultMessage {
  type: 'result';
  requestId: number;
  /** encodeTrace() bytes. */
  trace: ArrayBuffer;
}

/** The trace as a trace file in `folder`, a private temporary folder the client now owns. */
export interface ExplainResultFileMessage {
  type: 'resultFile';
  requestId: number;
  file: string;
  folder: string;
  bytes: number;
}

export interface SerializedError {
  /** 'UserFacingError' | 'CancelledError' | anything else for internal errors. */
  name: string;
  message: string;
  hint?: string;
  /** UserFacingError's code and facts. */
  code?: string;
  facts?: Record<string, string | number | boolean | null>;
  stack?: string;
}

export interface ExplainErrorMessage {
  type: 'error';
  requestId: number;
  error: SerializedError;
}

/** A first, partial trace (the first block of a big model) while the run goes on. */
export interface ExplainPartialMessage {
  type: 'partial';
  requestId: number;
  trace: ArrayBuffer;
}

/** The worker begins this request (the ones before it are done): the client's time limit starts now. */
export interface ExplainStartedMessage {
  type: 'started';
  requestId: number;
}

/** What a long run does now, in words (loading, starting ONNX Runtime, running). */
export interface ExplainProgressMessage {
  type: 'progress';
  requestId: number;
  stage: string;
  /** While a Hub model downloads: the file, bytes so far, its size and the speed. */
  download?: DownloadProgress;
}

/** The exported model's bytes (and its external data, when the weights need a file of their own), in transferred buffers. */
export interface ExportResultMessage {
  type: 'exported';
  requestId: number;
  bytes: ArrayBuffer;
  externalData: { location: string; data: ArrayBuffer } | null;
}

export type FromWorkerMessage = ExplainResultMessage | ExplainResultFileMessage | ExportResultMessage | ExplainErrorMessage | ExplainPartialMessage | ExplainStartedMessage | ExplainProgressMessage;
