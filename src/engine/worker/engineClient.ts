/**
 * @file The engine's async API for the extension host and the CLI:
 *   `client.explain(text, options, signal) → Promise<AttentionTrace>`, cancellable.
 *
 * The worker starts lazily and is replaced when it dies. Cancelling sets a shared flag the forward
 * pass polls between sub-layers; if the worker does not answer soon after (a stuck run), it is
 * terminated and the next request starts a fresh one.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError, UserFacingError } from '../errors';
import type { ExplainOptions } from '../explain';
import type { AttentionTrace } from '../trace';
import { decodeTrace } from '../traceBinary';
import { CANCEL_FLAG_INDEX, type FromWorkerMessage, type SerializedError, type ToWorkerMessage } from './protocol';

/** After a cancel, how long the worker gets to stop by itself before it is terminated. */
const CANCEL_GRACE_MS = 2000;

interface Pending {
  resolve(trace: AttentionTrace): void;
  reject(error: Error): void;
  cancelFlag: Int32Array;
  /** Kept so the request can be sent again if its worker is replaced for another request's sake. */
  message: ToWorkerMessage;
  onPartial?: (trace: AttentionTrace) => void;
}

/** An engine error with the fields the UI needs. */
export class EngineError extends Error {
  constructor(message: string, readonly hint: string | undefined, readonly internal: boolean) {
    super(message);
    this.name = 'EngineError';
  }
}

function reviveError(error: SerializedError): Error {
  if (error.name === 'CancelledError') return new CancelledError();
  if (error.name === 'UserFacingError') return new UserFacingError(error.message, error.hint ?? '');
  const revived = new EngineError(`The attention engine failed: ${error.message}`, undefined, true);
  if (error.stack) revived.stack = error.stack;
  return revived;
}

export class EngineClient {
  private worker: Worker | null = null;
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private disposed = false;

  /**
   * @param workerScript absolute path of dist/engineWorker.js
   * @param cancelGraceMs how long a cancelled run may take to stop before its worker is terminated
   */
  constructor(private readonly workerScript: string, private readonly cancelGraceMs = CANCEL_GRACE_MS) {}

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.workerScript);
    worker.on('message', (message: FromWorkerMessage) => this.onMessage(message));
    worker.on('messageerror', (error) => this.onWorkerGone(worker, error, false));
    worker.on('error', (error) => this.onWorkerGone(worker, error, false));
    worker.on('exit', (code) => this.onWorkerGone(worker, new Error(`the engine worker exited with code ${code}`), false));
    this.worker = worker;
    return worker;
  }

  private onMessage(message: FromWorkerMessage): void {
    const pending = this.pending.get(message.requestId);
    if (!pending) return;
    if (message.type === 'partial') {
      try {
        pending.onPartial?.(decodeTrace(new Uint8Array(message.trace)));
      } catch {
        // A broken partial trace is not worth failing the run for: the whole trace follows.
      }
      return;
    }
    this.pending.delete(message.requestId);
    // An idle worker must not keep a CLI process alive.
    if (this.pending.size === 0) this.worker?.unref();
    if (message.type === 'result') {
      try {
        pending.resolve(decodeTrace(new Uint8Array(message.trace)));
      } catch (error) {
        pending.reject(error as Error);
      }
    } else {
      pending.reject(reviveError(message.error));
    }
  }

  /**
   * The worker is gone or being replaced. Cancelled requests end as cancelled. The others end as
   * failed when the worker crashed, or, when we terminated it ourselves to stop a cancelled run
   * that would not stop, are sent again to a fresh worker.
   */
  private onWorkerGone(worker: Worker, error: Error, replacedDeliberately: boolean): void {
    if (this.worker !== worker) return;
    this.worker = null;
    const survivors: Pending[] = [];
    for (const [, pending] of this.pending) {
      if (Atomics.load(pending.cancelFlag, CANCEL_FLAG_INDEX) !== 0) {
        pending.reject(new CancelledError());
      } else if (replacedDeliberately && !this.disposed) {
        survivors.push(pending);
      } else {
        pending.reject(new EngineError(`The attention engine stopped unexpectedly (${error.message}).`, 'Run it again; a fresh engine will start.', true));
      }
    }
    this.pending.clear();
    if (survivors.length > 0) {
      const fresh = this.ensureWorker();
      for (const pending of survivors) {
        this.pending.set(pending.message.requestId, pending);
        fresh.postMessage(pending.message);
      }
    }
  }

  /** Stops a worker that did not honour a cancel in time. */
  private forceStop(worker: Worker): void {
    if (this.worker !== worker) return;
    this.onWorkerGone(worker, new Error('terminated after a cancel'), true);
    void worker.terminate();
  }

  /**
   * @param onPartial receives a first, partial trace when a big model runs on a long input (the
   *        first block), before the promise resolves with the whole trace
   */
  explain(text: string, options: ExplainOptions = {}, signal?: AbortSignal, onPartial?: (trace: AttentionTrace) => void): Promise<AttentionTrace> {
    if (this.disposed) return Promise.reject(new Error('the engine client is disposed'));
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const worker = this.ensureWorker();
    worker.ref();
    const requestId = this.nextRequestId++;
    const cancelBuffer = new SharedArrayBuffer(4);
    const cancelFlag = new Int32Array(cancelBuffer);
    return new Promise<AttentionTrace>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        Atomics.store(cancelFlag, CANCEL_FLAG_INDEX, 1);
        graceTimer = setTimeout(() => {
          const pending = this.pending.get(requestId);
          // Still running on a worker that holds it: that worker is stuck in uninterruptible work.
          if (pending && this.worker) this.forceStop(this.worker);
        }, this.cancelGraceMs);
        graceTimer.unref();
      };
      const settle = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (graceTimer) clearTimeout(graceTimer);
      };
      const message: ToWorkerMessage = { type: 'explain', requestId, text, options, cancelFlag: cancelBuffer };
      this.pending.set(requestId, {
        resolve: (trace) => { settle(); resolve(trace); },
        reject: (error) => { settle(); reject(error); },
        cancelFlag,
        message,
        onPartial,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage(message);
    });
  }

  /** Stops the worker; pending requests are rejected. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const worker = this.worker;
    // Mark every pending run cancelled first, so its promise rejects as cancelled, not as a crash.
    for (const pending of this.pending.values()) Atomics.store(pending.cancelFlag, CANCEL_FLAG_INDEX, 1);
    if (worker) {
      this.onWorkerGone(worker, new Error('disposed'), false);
      await worker.terminate();
    }
  }
}
