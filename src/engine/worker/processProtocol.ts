/**
 * @file Messages between a host (the VS Code extension host) and the engine process
 * (engineProcess.ts). The host's go over Node's IPC channel (`serialization: 'advanced'`); the
 * engine's, which carry traces and models as bytes (encodeTrace), go over a pipe of their own,
 * `ENGINE_MESSAGES_FD`, as frames (frames.ts: IPC copies a big message quadratically).
 */
import type { ExportOptions } from '../exportModel';
import type { DownloadProgress } from '../hub/download';
import type { ExplainOptions } from '../options';
import type { EngineClientOptions } from './engineClient';

/** The engine process's file descriptor for its messages to the host: stdio 0-2, then IPC at 3. */
export const ENGINE_MESSAGES_FD = 4;

/** The first message: where the engine's worker script is, and the options its client gets. */
export interface ProcessInitMessage {
  type: 'init';
  workerScript: string;
  options: Omit<EngineClientOptions, 'resourceLimits'>;
}

export interface ProcessExplainMessage {
  type: 'explain';
  requestId: number;
  text: string;
  options: ExplainOptions;
  /**
   * A trace with more attention than this (bytes) is not sent: it is written to a trace file in a
   * private temporary folder, which the host reads block by block and removes (`resultFile`).
   */
  inlineTraceBytes: number;
}

export interface ProcessExportMessage {
  type: 'export';
  requestId: number;
  options: ExportOptions;
}

/** Stop a request (as its AbortSignal would). */
export interface ProcessCancelMessage {
  type: 'cancel';
  requestId: number;
}

export type ToEngineProcess = ProcessInitMessage | ProcessExplainMessage | ProcessExportMessage | ProcessCancelMessage;

/** An error as it crosses the process boundary: its class by name, and what each class carries. */
export interface ProcessError {
  /** 'UserFacingError' | 'CancelledError' | 'EngineError' | anything else for internal errors. */
  name: string;
  message: string;
  hint?: string;
  code?: string;
  facts?: Record<string, string | number | boolean | null>;
  internal?: boolean;
  stack?: string;
}

export type FromEngineProcess =
  | { type: 'ready'; pid: number }
  | { type: 'result'; requestId: number; trace: Uint8Array }
  /** The trace as a trace file (README "Trace files") in `folder`, a private folder the host now owns. */
  | { type: 'resultFile'; requestId: number; file: string; folder: string; bytes: number }
  | { type: 'partial'; requestId: number; trace: Uint8Array }
  | { type: 'progress'; requestId: number; stage: string; download?: DownloadProgress }
  | { type: 'exported'; requestId: number; model: Uint8Array; externalData: { location: string; data: Uint8Array } | null }
  | { type: 'error'; requestId: number; error: ProcessError };
