/**
 * @file Where sessions are made: createSession picks the backend. With ortWeb.ts (onnxruntime-web),
 * gpuSessions.ts (WebGPU) and nativeRuntime.ts / nativeSessions.ts (onnxruntime-node), the only
 * modules that touch ONNX Runtime; everything else speaks plain typed arrays (sessionTypes.ts).
 *
 * Backends:
 *   wasm   onnxruntime-web's WebAssembly build, always there (the .wasm ships beside the bundle)
 *   webgpu onnxruntime-web's WebGPU provider, on Dawn's Node bindings (webgpu.ts); nodes it has no
 *          kernel for (shape arithmetic) run on its CPU provider, in the same WASM module
 *   native onnxruntime-node's CPU build (a dependency; each platform's .vsix carries its binary),
 *          when its binding loads here (nativeRuntime.ts)
 *   auto   WebGPU if a real (non-software) adapter is present and, on the first run, it beats the
 *          CPU backend and agrees with it; else native if it loads; else wasm
 * Any WebGPU or native failure (no adapter, a binding that does not load, a model it refuses, a
 * failed run) falls back to WASM with a one-line notice naming the reason: never a failed run.
 */
import { type CpuBaseline, createAutoSession, createWebGpuSession } from './gpuSessions';
import { loadNative } from './nativeRuntime';
import { nativeLabel, NativeSession } from './nativeSessions';
import { createWebSession, wrapWeb } from './ortWeb';
import type { OnnxSession, SessionOptions } from './sessionTypes';

export type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';
export { AUTO_AGREEMENT_TOLERANCE, chooseAutoBackend } from './gpuSessions';
export { loadNative, NATIVE_BINDING_ENV } from './nativeRuntime';

export async function createSession(model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  if (options.backend === 'reference') options = { ...options, backend: 'auto' };
  if (options.backend === 'native' || options.backend === 'auto') {
    const native = loadNative();
    const runtime = native.runtime;
    if (options.backend === 'native') {
      if (runtime) return NativeSession.create(runtime, model, options, null);
      return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', `Native CPU was not available: ${native.reason}, so WASM ran instead.`);
    }
    const baseline: CpuBaseline = runtime
      ? { backend: 'native', label: nativeLabel(native.version, options.threads), open: () => NativeSession.create(runtime, model, options, null) }
      : {
        backend: 'wasm',
        label: 'WASM',
        open: async () => wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', null),
        aside: `Native CPU was not used: ${native.reason}.`,
      };
    return createAutoSession(model, options, baseline);
  }
  if (options.backend === 'webgpu') return createWebGpuSession(model, options);
  return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', null);
}
