/**
 * @file Where sessions are made: createSession picks the backend. With ortWeb.ts (onnxruntime-web)
 * and gpuSessions.ts (WebGPU), the only modules that touch ONNX Runtime; everything else speaks
 * plain typed arrays (sessionTypes.ts).
 *
 * Backends:
 *   wasm   onnxruntime-web's WebAssembly build, always there (the .wasm ships beside the bundle)
 *   webgpu onnxruntime-web's WebGPU provider, on Dawn's Node bindings (webgpu.ts); nodes it has no
 *          kernel for (shape arithmetic) run on its CPU provider, in the same WASM module
 *   native onnxruntime-node, when the user installed it and it loads (it is optional)
 *   auto   native if it loads; else WebGPU if a real (non-software) adapter is present and, on the
 *          first run, it beats WASM and agrees with it; else wasm
 * Any WebGPU failure (no adapter, session creation, a run) falls back to WASM with a one-line
 * notice: never a failed run.
 */
import { createAutoSession, createWebGpuSession } from './gpuSessions';
import { createWebSession, describeLoadError, fromOrtTensor, ORT_LOG_FATAL_ONLY, RUN_OPTIONS, wrapWeb } from './ortWeb';
import type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';

export type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';
export { AUTO_AGREEMENT_TOLERANCE, chooseAutoBackend } from './gpuSessions';

interface NativeRuntime {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<NativeSession> };
  Tensor: new (type: string, data: HostTensor['data'], dims: readonly number[]) => unknown;
}

interface NativeSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[], options?: { logSeverityLevel: number }): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

let nativeRuntime: NativeRuntime | null | undefined;

/** onnxruntime-node if it is installed and its binary loads on this machine; null otherwise. */
export function loadNativeRuntime(): NativeRuntime | null {
  if (nativeRuntime !== undefined) return nativeRuntime;
  try {
    // Optional dependency, resolved at run time (esbuild leaves it external).
    nativeRuntime = require('onnxruntime-node') as NativeRuntime;
  } catch {
    nativeRuntime = null;
  }
  return nativeRuntime;
}

async function createNativeSession(runtime: NativeRuntime, model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  let session: NativeSession;
  try {
    session = await runtime.InferenceSession.create(model, {
      intraOpNumThreads: options.threads,
      graphOptimizationLevel: 'all',
      logSeverityLevel: ORT_LOG_FATAL_ONLY,
      ...(options.externalData ? { externalData: options.externalData } : {}),
    });
  } catch (error) {
    throw describeLoadError(error);
  }
  return {
    backend: 'native',
    adapter: null,
    fallbackNote: null,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputNames) {
      const nativeFeeds: Record<string, unknown> = {};
      for (const [name, tensor] of Object.entries(feeds)) nativeFeeds[name] = new runtime.Tensor(tensor.type, tensor.data, tensor.dims);
      const results = await session.run(nativeFeeds, outputNames ? [...outputNames] : undefined, RUN_OPTIONS);
      const out: Record<string, HostTensor> = {};
      for (const [name, tensor] of Object.entries(results)) out[name] = fromOrtTensor(tensor);
      return out;
    },
    release: () => session.release(),
  };
}

export async function createSession(model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  if (options.backend === 'reference') options = { ...options, backend: 'auto' };
  if (options.backend === 'native' || options.backend === 'auto') {
    const runtime = loadNativeRuntime();
    if (runtime) return createNativeSession(runtime, model, options);
    if (options.backend === 'native') {
      return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', 'onnxruntime-node is not installed (or does not load here), so WASM ran instead.');
    }
  }
  if (options.backend === 'webgpu') return createWebGpuSession(model, options);
  if (options.backend === 'auto') return createAutoSession(model, options);
  return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', null);
}
