/**
 * @file The engine's async API for the extension host and the CLI:
 *   `client.explain(text, options, signal) → Promise<AttentionTrace>`, cancellable.
 *
 * The worker starts lazily and is replaced when it dies. Cancelling sets a shared flag the forward
 * pass polls between sub-layers; if the worker does not answer soon after (a stuck run), it is
 * terminated and the next request starts a fresh one. A worker that crashes or runs out of memory
 * fails its runs with a message (the one it was running, and those queued behind it) and the next
 * request starts a fresh one. A run over the time limit is cancelled the same way and fails with a
 * message that names the setting.
 */
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { type ResourceLimits as WorkerResourceLimits, Worker } from 'node:worker_threads';
import { CancelledError, optionRef, UserFacingError } from '../../shared/errors';
import type { ExportedModel, ExportOptions } from '../exportModel';
import type { DownloadProgress } from '../hub/download';
import type { ExplainOptions } from '../options';
import type { AttentionTrace } from '../../shared/trace';
import { decodeTrace } from '../../shared/traceBinary';
import { CANCEL_FLAG_INDEX, type FromWorkerMessage, type SerializedError, type ToWorkerMessage } from './protocol';

/** After a cancel, how long the worker gets to stop by itself before it is terminated. */
const CANCEL_GRACE_MS = 2000;
/** setTimeout's ceiling; a longer limit is no limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface EngineClientOptions {
  /**
   * After a cancel, how long a run may take to stop by itself before its worker is terminated.
   * Default 2000 ms; Infinity: never terminated (the engine process: terminating a thread inside
   * onnxruntime-node's native run aborts the whole process, so its host kills the process instead).
   */
  cancelGraceMs?: number;
  /**
   * Wall-clock limit of one run, in ms, counted from when the engine starts on it (not while it
   * waits behind another run; while a Hub model downloads, from its latest progress). A run over it is cancelled (cooperatively, then by terminating the
   * worker) and rejects with a UserFacingError (code 'time-limit') that points to the time-limit option. The
   * runs queued behind it carry on. Default, 0 or Infinity: no limit.
   */
  timeLimitMs?: number;
  /**
   * Node's resource limits for the engine's worker thread (`new Worker(..., { resourceLimits })`),
   * e.g. `{ maxOldGenerationSizeMb: 1024 }` to cap the engine's JavaScript heap. They cover the V8
   * heap (objects, strings, plain arrays), not ArrayBuffer memory (weights and attention live in
   * typed arrays). A run that passes them stops the worker: it rejects with an EngineError that says
   * the engine ran out of memory, and the next run starts a fresh worker. Default: Node's defaults.
   */
  resourceLimits?: WorkerResourceLimits;
  /**
   * Where the engine keeps built-in models' ONNX exports across runs (a private folder: VS Code's
   * global storage). Default: the user's cache folder (exportCache.ts); null: in memory only.
   */
  cacheFolder?: string | null;
}

/** A trace the engine thread wrote to `file` in `folder`, a private temporary folder of its own. */
export interface TemporaryTraceFile {
  file: string;
  folder: string;
  /** The file's size. */
  bytes: number;
}

interface Pending {
  resolve(result: AttentionTrace | ExportedModel | TemporaryTraceFile): void;
  reject(error: Error): void;
  cancelFlag: Int32Array;
  /** Kept so the request can be sent again if its worker is replaced for another request's sake. */
  message: ToWorkerMessage;
  onPartial?: (trace: AttentionTrace) => void;
  onProgress?: (stage: string, download?: DownloadProgress) => void;
  /** The worker works on this run now: it is the oldest pending one (the worker runs them in order). */
  running: boolean;
  /** The run passed the time limit: its cancellation ends as the time-limit error. */
  timedOut: boolean;
  /** Terminates the worker when a cancelled run does not stop in time. */
  graceTimer?: NodeJS.Timeout;
  timeLimitTimer?: NodeJS.Timeout;
  /** Clears the timers (the run ends, or moves to a fresh worker). */
  clearTimers(): void;
  /** Clears the timers and the abort listener: the run ends. */
  cleanup(): void;
}

/** An engine error with the fields the UI needs. */
export class EngineError extends Error {
  /**
   * @param message complete on its own (the hosts show it alone): what happened and, where the user
   *        can act, what to do
   * @param hint what to do, one sentence (repeated from the message), for hosts that show it apart
   * @param internal a bug or crash of the engine (worth a stack in a log), not a limit the user hit
   */
  constructor(message: string, readonly hint: string | undefined, readonly internal: boolean) {
    super(message);
    this.name = 'EngineError';
  }
}

function reviveError(error: SerializedError): Error {
  if (error.name === 'CancelledError') return new CancelledError();
  if (error.name === 'UserFacingError') return new UserFacingError(error.message, error.hint ?? '', { code: error.code, facts: error.facts });
  const revived = new EngineError(`The attention engine failed: ${error.message}`, undefined, true);
  if (error.stack) revived.stack = error.stack;
  return revived;
}

/** The model a request runs, for messages: a preset's spec, or an ONNX file's name. */
function modelName(message: ToWorkerMessage): string {
  const spec = message.options.model;
  if (message.type === 'export') return spec ?? 'the default model';
  if (!spec) return 'the default model';
  return spec.startsWith('builtin:') || spec.startsWith('hf:') ? spec : path.basename(spec);
}

/** How a worker ended, as the client saw it. */
type WorkerEnd =
  | { kind: 'out-of-memory'; heapLimitMb: number | undefined }
  | { kind: 'crashed'; detail: string }
  /** Terminated by the client: a cancelled run did not stop in time, or the client was disposed. */
  | { kind: 'stopped' };

function isOutOfMemory(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
}

/** The error of a run whose worker crashed or ran out of memory; `wasRunning`: the worker was on this run. */
function workerEndError(end: Exclude<WorkerEnd, { kind: 'stopped' }>, message: ToWorkerMessage, wasRunning: boolean): EngineError {
  const rerun = 'Run it again: the next run starts a fresh engine.';
  if (end.kind === 'out-of-memory') {
    const limit = end.heapLimitMb !== undefined ? `the engine's JavaScript heap limit of ${end.heapLimitMb} MB` : "the engine's JavaScript heap limit";
    const hint = 'Select less text or choose a smaller model (or raise the engine\'s heap limit); the next run starts a fresh engine.';
    const what = wasRunning
      ? `The attention engine ran out of memory running ${modelName(message)}: the run passed ${limit}.`
      : `The attention engine ran out of memory on an earlier run (it passed ${limit}), so this run of ${modelName(message)} did not start.`;
    return new EngineError(`${what} ${wasRunning ? hint : rerun}`, wasRunning ? hint : rerun, false);
  }
  const what = wasRunning
    ? `The attention engine stopped unexpectedly while running ${modelName(message)} (${end.detail}).`
    : `The attention engine stopped unexpectedly on an earlier run (${end.detail}), so this run of ${modelName(message)} did not start.`;
  return new EngineError(`${what} ${rerun}`, rerun, true);
}

function timeLimitError(message: ToWorkerMessage, timeLimitMs: number): UserFacingError {
  const seconds = Number((timeLimitMs / 1000).toFixed(3));
  return new UserFacingError(
    `The run of ${modelName(message)} took longer than the time limit (${optionRef('timeLimit')}: ${seconds} s) and was stopped.`,
    `Select less text or choose a smaller model, or raise ${optionRef('timeLimit')}.`,
    { code: 'time-limit', facts: { limitSeconds: seconds } },
  );
}

export class EngineClient {
  private worker: Worker | null = null;
  /** The heap limit the current worker runs under (read when it comes online), for the out-of-memory message. */
  private heapLimitMb: number | undefined;
  private nextRequestId = 1;
  /** In the order they were sent: the worker runs them in that order, so the first is the one running. */
  private readonly pending = new Map<number, Pending>();
  private disposed = false;
  private readonly cancelGraceMs: number;
  private readonly timeLimitMs: number | undefined;
  private readonly resourceLimits: WorkerResourceLimits | undefined;
  private readonly cacheFolder: string | null | undefined;

  /**
   * @param workerScript absolute path of dist/engineWorker.js
   * @param options see EngineClientOptions; a number is the cancel grace in ms (the older form)
   */
  constructor(private readonly workerScript: string, options: EngineClientOptions | number = {}) {
    const settings = typeof options === 'number' ? { cancelGraceMs: options } : options;
    this.cancelGraceMs = settings.cancelGraceMs ?? CANCEL_GRACE_MS;
    const limit = settings.timeLimitMs;
    this.timeLimitMs = limit !== undefined && limit > 0 && limit <= MAX_TIMER_MS ? limit : undefined;
    this.resourceLimits = settings.resourceLimits;
    this.cacheFolder = settings.cacheFolder;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.workerScript, {
      ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
      ...(this.cacheFolder !== undefined ? { workerData: { cacheFolder: this.cacheFolder } } : {}),
    });
    this.heapLimitMb = this.resourceLimits?.maxOldGenerationSizeMb;
    worker.on('online', () => {
      if (this.worker === worker) this.heapLimitMb = worker.resourceLimits?.maxOldGenerationSizeMb ?? this.heapLimitMb;
    });
    worker.on('message', (message: FromWorkerMessage) => {
      if (this.worker === worker) this.onMessage(message);
    });
    worker.on('messageerror', (error) => {
      // A reply that cannot be read: its run cannot be told apart from the others, so the worker goes.
      this.onWorkerGone(worker, { kind: 'crashed', detail: `a reply could not be read: ${error.message}` });
      void worker.terminate();
    });
    worker.on('error', (error) => {
      this.onWorkerGone(worker, isOutOfMemory(error)
        ? { kind: 'out-of-memory', heapLimitMb: this.heapLimitMb }
        : { kind: 'crashed', detail: error.message });
    });
    worker.on('exit', (code) => this.onWorkerGone(worker, { kind: 'crashed', detail: `the engine thread exited with code ${code}` }));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorkerMessage): void {
    const pending = this.pending.get(message.requestId);
    if (!pending) {
      // A trace file for a run nobody waits for any more (cancelled meanwhile): nobody else removes it.
      if (message.type === 'resultFile') void rm(message.folder, { recursive: true, force: true });
      return;
    }
    if (message.type === 'started') {
      this.startTimeLimit(pending);
      return;
    }
    if (message.type === 'progress') {
      // A download's time is the network's, not the run's: the time limit counts from its last figures.
      if (message.download && pending.timeLimitTimer && !pending.timedOut) {
        clearTimeout(pending.timeLimitTimer);
        pending.timeLimitTimer = undefined;
        this.startTimeLimit(pending);
      }
      pending.onProgress?.(message.stage, message.download);
      return;
    }
    if (message.type === 'partial') {
      try {
        pending.onPartial?.(decodeTrace(new Uint8Array(message.trace)));
      } catch {
        // A broken partial trace is not worth failing the run for: the whole trace follows.
      }
      return;
    }
    this.pending.delete(message.requestId);
    pending.cleanup();
    // An idle worker must not keep a CLI process alive.
    if (this.pending.size === 0) this.worker?.unref();
    this.startNext();
    if (message.type === 'result') {
      try {
        pending.resolve(decodeTrace(new Uint8Array(message.trace)));
      } catch (error) {
        pending.reject(error as Error);
      }
    } else if (message.type === 'resultFile') {
      pending.resolve({ file: message.file, folder: message.folder, bytes: message.bytes });
    } else if (message.type === 'exported') {
      pending.resolve({
        model: new Uint8Array(message.bytes),
        externalData: message.externalData ? { location: message.externalData.location, data: new Uint8Array(message.externalData.data) } : null,
      });
    } else if (pending.timedOut && message.error.name === 'CancelledError') {
      pending.reject(timeLimitError(pending.message, this.timeLimitMs ?? 0));
    } else {
      pending.reject(reviveError(message.error));
    }
  }

  /**
   * The oldest pending run is the one the worker works on. If it was cancelled while it waited,
   * its grace period starts now (the worker drops it at once, unless it is stuck).
   */
  private startNext(): void {
    const head = this.pending.values().next().value as Pending | undefined;
    if (!head || head.running || !this.worker) return;
    head.running = true;
    if (Atomics.load(head.cancelFlag, CANCEL_FLAG_INDEX) !== 0) this.startGrace(head);
  }

  /** The engine began the run (its 'started' message): the time limit counts from here. */
  private startTimeLimit(pending: Pending): void {
    if (this.timeLimitMs === undefined || pending.timeLimitTimer) return;
    pending.timeLimitTimer = setTimeout(() => {
      if (this.pending.get(pending.message.requestId) !== pending) return;
      pending.timedOut = true;
      this.requestStop(pending);
    }, this.timeLimitMs);
    pending.timeLimitTimer.unref();
  }

  /** Cancels a run: the worker stops at its next check; one that does not in time is terminated. */
  private requestStop(pending: Pending): void {
    Atomics.store(pending.cancelFlag, CANCEL_FLAG_INDEX, 1);
    // A run still queued is dropped when the worker reaches it; the grace period starts then.
    if (pending.running) this.startGrace(pending);
  }

  private startGrace(pending: Pending): void {
    if (pending.graceTimer || !Number.isFinite(this.cancelGraceMs)) return;
    const worker = this.worker;
    pending.graceTimer = setTimeout(() => {
      // Still running on the worker that holds it: that worker is stuck in uninterruptible work.
      if (worker && this.pending.get(pending.message.requestId) === pending) this.forceStop(worker);
    }, this.cancelGraceMs);
    pending.graceTimer.unref();
  }

  /**
   * The worker is gone or being replaced. Cancelled requests end as cancelled (or as over the time
   * limit). The others end as failed when the worker crashed or ran out of memory, or, when we
   * terminated it ourselves to stop a cancelled run that would not stop, are sent again to a fresh
   * worker.
   */
  private onWorkerGone(worker: Worker, end: WorkerEnd): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const all = [...this.pending.values()];
    this.pending.clear();
    const survivors: Pending[] = [];
    all.forEach((pending, index) => {
      const fail = (error: Error): void => {
        pending.cleanup();
        pending.reject(error);
      };
      if (Atomics.load(pending.cancelFlag, CANCEL_FLAG_INDEX) !== 0) {
        fail(pending.timedOut && !this.disposed ? timeLimitError(pending.message, this.timeLimitMs ?? 0) : new CancelledError());
      } else if (end.kind !== 'stopped') {
        fail(workerEndError(end, pending.message, index === 0));
      } else if (this.disposed) {
        fail(new CancelledError());
      } else {
        pending.clearTimers();
        survivors.push(pending);
      }
    });
    if (survivors.length > 0) {
      const fresh = this.ensureWorker();
      fresh.ref();
      for (const pending of survivors) {
        pending.running = false;
        this.pending.set(pending.message.requestId, pending);
        fresh.postMessage(pending.message);
      }
      this.startNext();
    }
  }

  /** Stops a worker that did not honour a cancel in time. */
  private forceStop(worker: Worker): void {
    if (this.worker !== worker) return;
    this.onWorkerGone(worker, { kind: 'stopped' });
    void worker.terminate();
  }

  /**
   * @param onPartial receives a first, partial trace when a big model runs on a long input (the
   *        first block), before the promise resolves with the whole trace
   * @param onProgress told, in words, what a long run does now (loading, starting ONNX Runtime, running)
   */
  explain(text: string, options: ExplainOptions = {}, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<AttentionTrace> {
    return this.request((requestId, cancelFlag) => ({ type: 'explain', requestId, text, options, cancelFlag }), signal, onPartial, onProgress) as Promise<AttentionTrace>;
  }

  /**
   * As explain, but a trace with more attention than `inlineTraceBytes` comes as a trace file the
   * engine thread wrote to a private temporary folder, which the caller then owns (and removes).
   */
  explainOrFile(text: string, options: ExplainOptions, inlineTraceBytes: number, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<AttentionTrace | TemporaryTraceFile> {
    return this.request((requestId, cancelFlag) => ({ type: 'explain', requestId, text, options, cancelFlag, inlineTraceBytes }), signal, onPartial, onProgress) as Promise<AttentionTrace | TemporaryTraceFile>;
  }

  /** A built-in model as ONNX bytes (`--export-onnx`), made in the engine thread. */
  exportModel(options: ExportOptions, signal?: AbortSignal): Promise<ExportedModel> {
    return this.request((requestId, cancelFlag) => ({ type: 'export', requestId, options, cancelFlag }), signal) as Promise<ExportedModel>;
  }

  private request(
    make: (requestId: number, cancelFlag: SharedArrayBuffer) => ToWorkerMessage,
    signal: AbortSignal | undefined,
    onPartial?: (trace: AttentionTrace) => void,
    onProgress?: (stage: string, download?: DownloadProgress) => void,
  ): Promise<AttentionTrace | ExportedModel | TemporaryTraceFile> {
    if (this.disposed) return Promise.reject(new Error('the engine client is disposed'));
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const worker = this.ensureWorker();
    worker.ref();
    const requestId = this.nextRequestId++;
    const cancelBuffer = new SharedArrayBuffer(4);
    const cancelFlag = new Int32Array(cancelBuffer);
    return new Promise<AttentionTrace | ExportedModel | TemporaryTraceFile>((resolve, reject) => {
      const message = make(requestId, cancelBuffer);
      const onAbort = (): void => {
        const current = this.pending.get(requestId);
        if (current) this.requestStop(current);
      };
      const pending: Pending = {
        resolve,
        reject,
        cancelFlag,
        message,
        onPartial,
        onProgress,
        running: false,
        timedOut: false,
        clearTimers: () => {
          if (pending.graceTimer) clearTimeout(pending.graceTimer);
          if (pending.timeLimitTimer) clearTimeout(pending.timeLimitTimer);
          pending.graceTimer = undefined;
          pending.timeLimitTimer = undefined;
        },
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          pending.clearTimers();
        },
      };
      this.pending.set(requestId, pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage(message);
      this.startNext();
    });
  }

  /** Stops the worker; pending requests are rejected as cancelled. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const worker = this.worker;
    if (worker) {
      this.onWorkerGone(worker, { kind: 'stopped' });
      await worker.terminate();
    }
  }
}
