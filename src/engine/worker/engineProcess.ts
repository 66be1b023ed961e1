/**
 * @file The engine process's entry (bundled as dist/engineProcess.js), started by
 * EngineProcessClient the way language servers are: its own process, so a model that runs out of
 * memory or a native runtime that crashes takes down this process, not the editor's extension
 * host, and the memory a run holds is returned to the system when the process ends.
 *
 * Inside, the engine still runs on a worker thread (EngineClient): this thread stays free to take a
 * cancel while a forward pass runs, and the worker's cancel flag, time limit and grace period work
 * as they do in the CLI.
 */
import { rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { CancelledError, UserFacingError } from '../../shared/errors';
import { encodeTrace } from '../../shared/traceBinary';
import { EngineClient, EngineError } from './engineClient';
import { encodeFrame } from './frames';
import { ENGINE_MESSAGES_FD, type FromEngineProcess, type ProcessError, type ToEngineProcess } from './processProtocol';

let client: EngineClient | null = null;
const running = new Map<number, AbortController>();

/** Our messages to the host go over a pipe of their own (frames.ts says why not over IPC). */
const toHost = new Socket({ fd: ENGINE_MESSAGES_FD, readable: false, writable: true });
// The host may be gone (it kills us then): a message that cannot be sent is dropped.
toHost.on('error', () => undefined);

function send(message: FromEngineProcess): void {
  if (!process.connected || toHost.destroyed) return;
  for (const piece of encodeFrame(message)) toHost.write(piece);
}

function toProcessError(error: unknown): ProcessError {
  if (error instanceof UserFacingError) return { name: 'UserFacingError', message: error.message, hint: error.hint, code: error.code, facts: { ...error.facts } };
  if (error instanceof CancelledError) return { name: 'CancelledError', message: error.message };
  if (error instanceof EngineError) return { name: 'EngineError', message: error.message, hint: error.hint, internal: error.internal, stack: error.stack };
  const failure = error instanceof Error ? error : new Error(String(error));
  return { name: failure.name, message: failure.message, stack: failure.stack };
}

async function handle(message: Exclude<ToEngineProcess, { type: 'init' | 'cancel' }>): Promise<void> {
  const engine = client;
  if (!engine) {
    send({ type: 'error', requestId: message.requestId, error: { name: 'Error', message: 'the engine process was not initialised' } });
    return;
  }
  const controller = new AbortController();
  running.set(message.requestId, controller);
  try {
    if (message.type === 'export') {
      const exported = await engine.exportModel(message.options, controller.signal);
      send({ type: 'exported', requestId: message.requestId, model: exported.model, externalData: exported.externalData });
      return;
    }
    // A small trace goes to the host whole. A big one stays out of the host: the engine thread
    // writes it to a trace file in a private temporary folder, which the host now owns: it reads the
    // blocks it shows from there and removes the folder when it lets the trace go. The file also
    // outlives this process, which may stop when idle or crash without taking the shown trace along.
    const result = await engine.explainOrFile(message.text, message.options, message.inlineTraceBytes, controller.signal,
      (partial) => send({ type: 'partial', requestId: message.requestId, trace: encodeTrace(partial) }),
      (stage, download) => send({ type: 'progress', requestId: message.requestId, stage, ...(download ? { download } : {}) }));
    if ('file' in result) {
      if (!process.connected) {
        await rm(result.folder, { recursive: true, force: true });
        throw new CancelledError();
      }
      send({ type: 'resultFile', requestId: message.requestId, ...result });
    } else {
      send({ type: 'result', requestId: message.requestId, trace: encodeTrace(result) });
    }
  } catch (error) {
    send({ type: 'error', requestId: message.requestId, error: toProcessError(error) });
  } finally {
    running.delete(message.requestId);
  }
}

process.on('message', (message: ToEngineProcess) => {
  switch (message.type) {
    case 'init':
      // A cancelled run is never cut short by terminating the engine's thread: inside
      // onnxruntime-node's native run that aborts this process (a crash the user would see). The host
      // stops a run that does not end within its grace by ending this process instead.
      client ??= new EngineClient(message.workerScript, { ...message.options, cancelGraceMs: Number.POSITIVE_INFINITY });
      send({ type: 'ready', pid: process.pid });
      break;
    case 'cancel':
      running.get(message.requestId)?.abort();
      break;
    default:
      void handle(message);
  }
});

// The host went away (closed, crashed, or disconnected us): nothing is left to run for.
process.on('disconnect', () => {
  void client?.dispose().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
