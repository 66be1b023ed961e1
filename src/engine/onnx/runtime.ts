/**
 * @file The one module that touches ONNX Runtime. Creates inference sessions on the chosen
 * backend and runs them; everything else speaks plain typed arrays.
 *
 * Backends:
 *   wasm   onnxruntime-web's WebAssembly build, always there (the .wasm ships beside the bundle)
 *   webgpu onnxruntime-web's WebGPU provider, where `navigator.gpu` exists
 *   native onnxruntime-node, when the user installed it and it loads (it is optional)
 *   auto   native if it loads, else webgpu if a GPU adapter exists, else wasm
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort = require('onnxruntime-web');
import { UserFacingError } from '../errors';
import type { Backend } from '../trace';

/** 'reference' runs built-in models in TypeScript; for ONNX files it means 'auto'. */
export type BackendSetting = 'auto' | 'reference' | 'wasm' | 'webgpu' | 'native';
export const BACKEND_SETTINGS: readonly BackendSetting[] = ['auto', 'reference', 'wasm', 'webgpu', 'native'];

/** A tensor as the rest of the engine sees it. */
export interface HostTensor {
  type: 'float32' | 'int64' | 'int32' | 'bool' | 'float16' | 'uint8' | 'int8' | 'float64';
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Float64Array | Uint16Array;
  dims: readonly number[];
}

export interface OnnxSession {
  backend: Backend;
  /** Why the backend differs from the one asked for, if it does. */
  fallbackNote: string | null;
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  backend: BackendSetting;
  /** WASM threads (set once per worker: onnxruntime-web reads it at its first session). */
  threads: number;
  /** External data files the model refers to (`location` as written in the model → bytes). */
  externalData?: Array<{ path: string; data: Uint8Array }>;
}

let wasmConfigured = false;

function configureWasm(threads: number): void {
  if (wasmConfigured) return;
  wasmConfigured = true;
  // Warnings about a user's graph (duplicate initializers and the like) are not errors; keep the
  // output channel and the CLI readable.
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = Math.max(1, Math.floor(threads));
  // In the bundle the .wasm files sit beside this file (scripts/build.mjs copies them); under the
  // test runner they are found in node_modules by onnxruntime-web itself.
  if (existsSync(path.join(__dirname, 'ort-wasm-simd-threaded.wasm'))) {
    ort.env.wasm.wasmPaths = pathToFileURL(`${__dirname}${path.sep}`).href;
  }
}

interface NativeRuntime {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<NativeSession> };
  Tensor: new (type: string, data: HostTensor['data'], dims: readonly number[]) => unknown;
}

interface NativeSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, HostTensor>>;
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

function hasWebGpu(): boolean {
  return typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu !== 'undefined';
}

function toOrtTensor(tensor: HostTensor): ort.Tensor {
  return new ort.Tensor(tensor.type as 'float32', tensor.data as Float32Array, [...tensor.dims]);
}

function fromOrtTensor(tensor: ort.Tensor | { type: string; data: unknown; dims: readonly number[] }): HostTensor {
  return { type: tensor.type as HostTensor['type'], data: tensor.data as HostTensor['data'], dims: [...tensor.dims] };
}

function describeLoadError(error: unknown): UserFacingError {
  const message = error instanceof Error ? error.message : String(error);
  return new UserFacingError(
    `ONNX Runtime cannot load this model: ${message.replace(/\s+/g, ' ').slice(0, 600)}`,
    'Re-export the model with a standard opset (11-21) from PyTorch or Hugging Face optimum; README "ONNX models" lists what works.',
  );
}

async function createWebSession(model: Uint8Array, options: SessionOptions, provider: 'wasm' | 'webgpu'): Promise<ort.InferenceSession> {
  configureWasm(options.threads);
  try {
    return await ort.InferenceSession.create(model, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(options.externalData ? { externalData: options.externalData } : {}),
    });
  } catch (error) {
    throw describeLoadError(error);
  }
}

function wrapWeb(session: ort.InferenceSession, backend: Backend, fallbackNote: string | null): OnnxSession {
  return {
    backend,
    fallbackNote,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputNames) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(tensor);
      const results = outputNames ? await session.run(ortFeeds, [...outputNames]) : await session.run(ortFeeds);
      const out: Record<string, HostTensor> = {};
      for (const [name, tensor] of Object.entries(results)) out[name] = fromOrtTensor(tensor);
      return out;
    },
    release: () => session.release(),
  };
}

async function createNativeSession(runtime: NativeRuntime, model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  let session: NativeSession;
  try {
    session = await runtime.InferenceSession.create(model, {
      intraOpNumThreads: options.threads,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(options.externalData ? { externalData: options.externalData } : {}),
    });
  } catch (error) {
    throw describeLoadError(error);
  }
  return {
    backend: 'native',
    fallbackNote: null,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputNames) {
      const nativeFeeds: Record<string, unknown> = {};
      for (const [name, tensor] of Object.entries(feeds)) nativeFeeds[name] = new runtime.Tensor(tensor.type, tensor.data, tensor.dims);
      const results = await session.run(nativeFeeds, outputNames ? [...outputNames] : undefined);
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
  if (options.backend === 'webgpu' || (options.backend === 'auto' && hasWebGpu())) {
    if (hasWebGpu()) {
      try {
        return wrapWeb(await createWebSession(model, options, 'webgpu'), 'webgpu', null);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', `WebGPU failed (${reason.slice(0, 200)}), so WASM ran instead.`);
      }
    }
    return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', 'No WebGPU adapter is available here, so WASM ran instead.');
  }
  return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', null);
}
