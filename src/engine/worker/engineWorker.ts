/**
 * @file The engine worker thread's entry (bundled as dist/engineWorker.js). The forward pass is
 * synchronous and long; running it here keeps the extension host's event loop free.
 * Requests run one at a time, in the order they arrive: the client relies on it (its oldest pending
 * request is the one running, the one a crash is reported against). Each begins with a 'started'
 * message, from which the client counts its time limit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { CancelledError, UserFacingError } from '../../shared/errors';
import { ExplainEngine } from '../explain';
import { exportBuiltinModel } from '../exportModel';
import { type LazyTrace, lazyAttentionBytes, lazyTrace } from '../../shared/lazyTrace';
import { encodeTrace } from '../../shared/traceBinary';
import { TRACE_FILE_EXTENSION } from '../traceFile/format';
import { writeTraceFile } from '../traceFile/writer';
import { CANCEL_FLAG_INDEX, type FromWorkerMessage, type SerializedError, type ToWorkerMessage } from './protocol';

const port = parentPort;
if (!port) throw new Error('engineWorker must run as a worker thread');

/** The client may name the folder where built-in models' exports are kept (VS Code: its global storage). */
const settings = (workerData ?? {}) as { cacheFolder?: string | null };
const engine = settings.cacheFolder === undefined ? new ExplainEngine() : new ExplainEngine(settings.cacheFolder);
let queue: Promise<void> = Promise.resolve();

function serializeError(error: unknown): SerializedError {
  if (error instanceof UserFacingError) return { name: error.name, message: error.message, hint: error.hint, code: error.code, facts: { ...error.facts } };
  if (error instanceof CancelledError) return { name: error.name, message: error.message };
  const failure = error instanceof Error ? error : new Error(String(error));
  return { name: failure.name, message: failure.message, stack: failure.stack };
}

/** A buffer of the bytes' own, so it can be transferred without a copy. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer;
}

/**
 * Writes `trace` to a trace file in a new private temporary folder, which the client then owns;
 * the folder is removed when the write fails or the run is cancelled meanwhile.
 */
async function writeTemporaryTrace(requestId: number, trace: LazyTrace, cancel: { throwIfCancelled(): void }): Promise<{ file: string; folder: string; bytes: number }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'attention-lens-trace-'));
  try {
    const file = path.join(folder, `run-${requestId}${TRACE_FILE_EXTENSION}`);
    const bytes = await writeTraceFile(file, trace);
    cancel.throwIfCancelled();
    return { file, folder, bytes };
  } catch (error) {
    await rm(folder, { recursive: true, force: true });
    throw error;
  }
}

async function handle(message: ToWorkerMessage): Promise<void> {
  const flag = new Int32Array(message.cancelFlag);
  const cancel = {
    throwIfCancelled(): void {
      if (Atomics.load(flag, CANCEL_FLAG_INDEX) !== 0) throw new CancelledError();
    },
  };
  port!.postMessage({ type: 'started', requestId: message.requestId } satisfies FromWorkerMessage);
  let reply: FromWorkerMessage;
  let transfer: ArrayBuffer[] = [];
  try {
    cancel.throwIfCancelled();
    if (message.type === 'export') {
      const exported = await exportBuiltinModel(message.options);
      const model = ownBuffer(exported.model);
      const data = exported.externalData ? ownBuffer(exported.externalData.data) : null;
      port!.postMessage({
        type: 'exported', requestId: message.requestId, bytes: model, externalData: exported.externalData && data ? { location: exported.externalData.location, data } : null,
      } satisfies FromWorkerMessage, data ? [model, data] : [model]);
      return;
    }
    const trace = await engine.explain(message.text, message.options, cancel, (partial) => {
      const partialBuffer = encodeTrace(partial).buffer as ArrayBuffer;
      port!.postMessage({ type: 'partial', requestId: message.requestId, trace: partialBuffer } satisfies FromWorkerMessage, [partialBuffer]);
    }, (stage, download) => port!.postMessage({ type: 'progress', requestId: message.requestId, stage, ...(download ? { download } : {}) } satisfies FromWorkerMessage));
    if (message.inlineTraceBytes !== undefined) {
      const lazy = lazyTrace(trace);
      if (lazyAttentionBytes(lazy) > message.inlineTraceBytes) {
        // Written from here, block by block: no second copy of the trace to send it (a 1024-token
        // gpt2-shape trace is 600 MB), and the client's thread does none of it.
        port!.postMessage({ type: 'resultFile', requestId: message.requestId, ...await writeTemporaryTrace(message.requestId, lazy, cancel) } satisfies FromWorkerMessage);
        return;
      }
    }
    const bytes = encodeTrace(trace);
    // encodeTrace's output owns its buffer exactly, so it can be transferred without a copy.
    const buffer = bytes.buffer as ArrayBuffer;
    reply = { type: 'result', requestId: message.requestId, trace: buffer };
    transfer = [buffer];
  } catch (error) {
    reply = { type: 'error', requestId: message.requestId, error: serializeError(error) };
  }
  port!.postMessage(reply, transfer);
}

port.on('message', (message: ToWorkerMessage) => {
  queue = queue.then(() => handle(message));
});
