/**
 * @file The engine in a process of its own (engineProcess.ts), for hosts that must stay small and
 * alive whatever a model does: the VS Code extension host is shared with every other extension.
 * Same calls as EngineClient. The process starts on first use, is restarted by the next run after
 * it crashed or ran out of memory (that run's caller gets a message saying so), and is stopped
 * after a while without work; its memory then goes back to the system.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Readable } from 'node:stream';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { CancelledError, UserFacingError } from '../../shared/errors';
import { type LazyTrace, lazyTrace, wholeTrace } from '../../shared/lazyTrace';
import type { AttentionTrace } from '../../shared/trace';
import { decodeTrace } from '../../shared/traceBinary';
import { TraceFile } from '../traceFile/reader';
import type { ExportedModel, ExportOptions } from '../exportModel';
import type { DownloadProgress } from '../hub/download';
import type { ExplainOptions } from '../options';
import { type EngineClientOptions, EngineError } from './engineClient';
import { FrameReader } from './frames';
import { ENGINE_MESSAGES_FD, type FromEngineProcess, type ProcessError, type ToEngineProcess } from './processProtocol';

/** What a host calls on an engine, wherever it runs (EngineClient, EngineProcessClient). */
export interface AttentionEngine {
  explain(text: string, options?: ExplainOptions, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<AttentionTrace>;
  exportModel(options: ExportOptions, signal?: AbortSignal): Promise<ExportedModel>;
  dispose(): Promise<void>;
}

/**
 * A run's trace as a host holds it: in memory when it is small; else in a trace file the engine
 * process wrote to a private temporary folder, read block by block. `release` lets it go (closes the
 * file and removes its folder); the trace must not be read after.
 */
export interface HeldTrace {
  trace: LazyTrace;
  /** Where the blocks are read from: memory, or the temporary trace file. */
  storage: 'memory' | 'file';
  /** The temporary trace file, when there is one. */
  file?: string;
  release(): Promise<void>;
}

export interface EngineProcessOptions extends Omit<EngineClientOptions, 'resourceLimits'> {
  /**
   * Traces with more attention than this many bytes stay out of this process: they come as a
   * temporary trace file (HeldTrace.storage 'file'). Default 64 MiB; `inlineTraceBytes` changes it.
   */
  inlineTraceBytes?: number;
  /** Stop the process after this long without a run, in ms; 0: keep it. Default 10 minutes. */
  idleStopMs?: number;
  /** Node options for the process (tests run the TypeScript entry with `--import tsx`). */
  execArgv?: string[];
}

const DEFAULT_IDLE_STOP_MS = 10 * 60_000;
const DEFAULT_CANCEL_GRACE_MS = 2000;
const DEFAULT_INLINE_TRACE_BYTES = 64 * 2 ** 20;
/** Of the process's stderr, the tail kept to explain a crash. */
const STDERR_TAIL_BYTES = 4096;

interface Pending {
  model: string;
  /** Kept so the request can be sent again when its process is ended for another request's sake. */
  message: ToEngineProcess;
  resolve(value: HeldTrace | ExportedModel): void;
  reject(error: Error): void;
  onPartial?: (trace: AttentionTrace) => void;
  onProgress?: (stage: string, download?: DownloadProgress) => void;
  cancelled: boolean;
  /** Ends the process when a cancelled run does not stop in time. */
  graceTimer?: NodeJS.Timeout;
  cleanup(): void;
}

function revive(error: ProcessError): Error {
  if (error.name === 'CancelledError') return new CancelledError();
  if (error.name === 'UserFacingError') return new UserFacingError(error.message, error.hint ?? '', { code: error.code, facts: error.facts });
  if (error.name === 'EngineError') {
    const revived = new EngineError(error.message, error.hint, error.internal ?? true);
    if (error.stack) revived.stack = error.stack;
    return revived;
  }
  const revived = new EngineError(`The attention engine failed: ${error.message}`, undefined, true);
  if (error.stack) revived.stack = error.stack;
  return revived;
}

function modelName(options: { model?: string }): string {
  const spec = options.model;
  if (!spec) return 'the default model';
  return spec.startsWith('builtin:') || spec.startsWith('hf:') ? spec : path.basename(spec);
}

/** The error of a run whose engine process ended under it. */
function processEndError(pending: Pending, code: number | null, signal: NodeJS.Signals | null, stderr: string): EngineError {
  const rerun = 'Run it again: the next run starts a fresh engine.';
  // V8 aborts with "JavaScript heap out of memory"; the kernel's OOM killer sends SIGKILL.
  if (/out of memory|heap limit|Allocation failed/i.test(stderr) || signal === 'SIGKILL') {
    const hint = 'Select less text or choose a smaller model; the next run starts a fresh engine.';
    return new EngineError(`The attention engine ran out of memory running ${pending.model}: its process was stopped, the editor was not. ${hint}`, hint, false);
  }
  const how = signal ? `signal ${signal}` : `exit code ${code}`;
  const detail = stderr.trim().split('\n').filter((line) => line.trim().length > 0).slice(-1)[0];
  return new EngineError(`The attention engine process stopped unexpectedly while running ${pending.model} (${how}${detail ? `: ${detail}` : ''}). ${rerun}`, rerun, true);
}

/** Opens the trace file the engine process wrote; the folder is this host's to remove. */
async function heldFile(file: string, folder: string): Promise<HeldTrace> {
  let opened: TraceFile;
  try {
    opened = await TraceFile.open(file);
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
  let released: Promise<void> | undefined;
  return {
    trace: opened,
    storage: 'file',
    file,
    release: () => {
      released ??= opened.close().catch(() => undefined).then(() => rm(folder, { recursive: true, force: true }));
      return released;
    },
  };
}

/** The pipe the engine process sends its messages on (a socket: it can be unref'd when idle). */
function messagesOf(child: ChildProcess): { ref(): void; unref(): void } | undefined {
  const stream = child.stdio[ENGINE_MESSAGES_FD] as (Readable & { ref?: () => void; unref?: () => void }) | null;
  return stream?.ref && stream.unref ? { ref: () => stream.ref?.(), unref: () => stream.unref?.() } : undefined;
}

export class EngineProcessClient implements AttentionEngine {
  private child: ChildProcess | null = null;
  private stderrTail = '';
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private idleTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly idleStopMs: number;
  private readonly cancelGraceMs: number;
  /** Processes this client ended because a cancelled run would not stop: their other runs go on in a fresh one. */
  private readonly endedForCancel = new WeakSet<ChildProcess>();
  /** Traces with more attention than this (bytes) come as a temporary trace file; read by each run. */
  inlineTraceBytes: number;

  /**
   * @param processScript absolute path of dist/engineProcess.js (or the .ts entry with execArgv `--import tsx`)
   * @param workerScript absolute path of dist/engineWorker.js, which the process runs the engine on
   */
  constructor(private readonly processScript: string, private readonly workerScript: string, private readonly options: EngineProcessOptions = {}) {
    this.idleStopMs = options.idleStopMs ?? DEFAULT_IDLE_STOP_MS;
    this.cancelGraceMs = options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
    this.inlineTraceBytes = options.inlineTraceBytes ?? DEFAULT_INLINE_TRACE_BYTES;
  }

  /** The engine process's id while one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensureProcess(): ChildProcess {
    if (this.child) return this.child;
    const { idleStopMs: _idle, execArgv, cancelGraceMs: _grace, ...clientOptions } = this.options;
    // In VS Code the host's executable is Electron: ELECTRON_RUN_AS_NODE makes it a plain Node.
    const child = fork(this.processScript, [], {
      execArgv: execArgv ?? [],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc', 'pipe'],
    });
    this.stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    const frames = new FrameReader((message) => {
      if (this.child === child) this.onMessage(message as FromEngineProcess);
    });
    const messages = child.stdio[ENGINE_MESSAGES_FD] as Readable | null;
    messages?.on('data', (chunk: Buffer) => {
      try {
        frames.push(chunk);
      } catch (error) {
        // A broken frame means the stream cannot be followed any more: end this process.
        this.stderrTail += `\n${error instanceof Error ? error.message : String(error)}`;
        this.stop(child);
      }
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    // A failed spawn (no executable) also ends in 'exit'; the error itself says why.
    child.on('error', (error) => {
      this.stderrTail += `\n${error.message}`;
    });
    const { inlineTraceBytes: _inline, ...engineOptions } = clientOptions;
    const init: ToEngineProcess = { type: 'init', workerScript: this.workerScript, options: engineOptions };
    child.send(init);
    this.child = child;
    return child;
  }

  private onMessage(message: FromEngineProcess): void {
    if (message.type === 'ready') return;
    const pending = this.pending.get(message.requestId);
    if (!pending) return;
    if (message.type === 'progress') {
      pending.onProgress?.(message.stage, message.download);
      return;
    }
    if (message.type === 'partial') {
      try {
        pending.onPartial?.(decodeTrace(message.trace));
      } catch {
        // A broken partial trace is not worth failing the run for: the whole trace follows.
      }
      return;
    }
    this.finish(message.requestId, pending);
    if (message.type === 'result') {
      try {
        pending.resolve({ trace: lazyTrace(decodeTrace(message.trace)), storage: 'memory', release: async () => undefined });
      } catch (error) {
        pending.reject(error as Error);
      }
    } else if (message.type === 'resultFile') {
      heldFile(message.file, message.folder).then(pending.resolve, pending.reject);
    } else if (message.type === 'exported') {
      pending.resolve({ model: message.model, externalData: message.externalData });
    } else {
      pending.reject(revive(message.error));
    }
  }

  private finish(requestId: number, pending: Pending): void {
    this.pending.delete(requestId);
    pending.cleanup();
    if (this.pending.size === 0) this.becomeIdle();
  }

  /** No work: the process may not keep a CLI alive, and stops after the idle time. */
  private becomeIdle(): void {
    const child = this.child;
    if (!child) return;
    child.unref();
    child.channel?.unref();
    messagesOf(child)?.unref();
    if (this.idleStopMs > 0) {
      this.idleTimer = setTimeout(() => {
        if (this.child === child && this.pending.size === 0) this.stop(child);
      }, this.idleStopMs);
      this.idleTimer.unref();
    }
  }

  private stop(child: ChildProcess): void {
    if (this.child === child) this.child = null;
    (child.stdio[ENGINE_MESSAGES_FD] as Readable | null)?.removeAllListeners('data');
    child.kill();
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) this.child = null;
    const stderr = this.stderrTail;
    const endedByUs = this.endedForCancel.has(child);
    const again: Pending[] = [];
    for (const [requestId, pending] of [...this.pending]) {
      if (endedByUs && !this.disposed && !pending.cancelled) {
        again.push(pending);
        continue;
      }
      this.pending.delete(requestId);
      pending.cleanup();
      pending.reject(this.disposed || pending.cancelled ? new CancelledError() : processEndError(pending, code, signal, stderr));
    }
    if (again.length === 0) return;
    // The runs queued behind the one that would not stop go on in a fresh process.
    const fresh = this.ensureProcess();
    fresh.ref();
    fresh.channel?.ref();
    messagesOf(fresh)?.ref();
    for (const pending of again) fresh.send(pending.message);
  }

  /**
   * A cancelled run did not stop within the grace period (a native forward pass cannot be
   * interrupted, and ending the engine's thread inside it would abort the process anyway): the
   * process is ended, the cancelled run ends as cancelled, the others are sent to a fresh process.
   */
  private endForCancel(requestId: number): void {
    const child = this.child;
    if (!child || !this.pending.has(requestId)) return;
    this.endedForCancel.add(child);
    child.kill('SIGKILL');
  }


  async explain(text: string, options: ExplainOptions = {}, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<AttentionTrace> {
    const held = await this.explainHeld(text, options, signal, onPartial, onProgress);
    try {
      return await wholeTrace(held.trace);
    } finally {
      await held.release();
    }
  }

  /**
   * As explain, but a big trace is not brought into this process: it stays in a temporary trace file
   * and its blocks are read as they are asked for. The caller releases it when done with it.
   */
  explainHeld(text: string, options: ExplainOptions = {}, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<HeldTrace> {
    return this.request(options, (requestId) => ({ type: 'explain', requestId, text, options, inlineTraceBytes: this.inlineTraceBytes }), signal, onPartial, onProgress) as Promise<HeldTrace>;
  }

  exportModel(options: ExportOptions, signal?: AbortSignal): Promise<ExportedModel> {
    return this.request(options, (requestId) => ({ type: 'export', requestId, options }), signal) as Promise<ExportedModel>;
  }

  private request(
    options: { model?: string },
    make: (requestId: number) => ToEngineProcess,
    signal: AbortSignal | undefined,
    onPartial?: (trace: AttentionTrace) => void,
    onProgress?: (stage: string, download?: DownloadProgress) => void,
  ): Promise<HeldTrace | ExportedModel> {
    if (this.disposed) return Promise.reject(new Error('the engine client is disposed'));
    if (signal?.aborted) return Promise.reject(new CancelledError());
    clearTimeout(this.idleTimer);
    const child = this.ensureProcess();
    child.ref();
    child.channel?.ref();
    messagesOf(child)?.ref();
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const current = this.pending.get(requestId);
        if (!current) return;
        current.cancelled = true;
        if (this.child?.connected) this.child.send({ type: 'cancel', requestId } satisfies ToEngineProcess);
        if (Number.isFinite(this.cancelGraceMs)) {
          current.graceTimer = setTimeout(() => this.endForCancel(requestId), this.cancelGraceMs);
          current.graceTimer.unref();
        }
      };
      const message = make(requestId);
      const pending: Pending = {
        model: modelName(options), message, resolve, reject, onPartial, onProgress, cancelled: false,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          clearTimeout(pending.graceTimer);
        },
      };
      this.pending.set(requestId, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.send(message);
    });
  }

  /** Stops the process; pending requests are rejected as cancelled. */
  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.idleTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill();
    await exited;
  }
}
