/**
 * @file onnxruntime-web in the engine: its WebAssembly build (the .wasm ships beside the bundle)
 * and, loaded only when WebGPU is used, its WebGPU build (a second instance with the asyncify
 * WASM module its WebGPU provider needs). Sessions, runs and load errors worded by cause.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort = require('onnxruntime-web');
import { UserFacingError } from '../../shared/errors';
import type { Backend } from '../../shared/trace';
import type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';

/** ONNX Runtime's severity levels: 0 verbose … 3 error, 4 fatal. Only fatal lines are its own to print. */
export const ORT_LOG_FATAL_ONLY = 4;
export const RUN_OPTIONS = { logSeverityLevel: ORT_LOG_FATAL_ONLY } as const;

let wasmConfigured = false;

function configureWasm(threads: number): void {
  if (wasmConfigured) return;
  wasmConfigured = true;
  // ONNX Runtime's own log lines (warnings about a user's graph, and errors, ANSI-coloured by the
  // native build) would reach the user's terminal and output channel; every failure comes back as
  // an exception that the engine words instead.
  ort.env.logLevel = 'fatal';
  ort.env.wasm.numThreads = Math.max(1, Math.floor(threads));
  // In the bundle the .wasm files sit beside this file (scripts/build.mjs copies them); under the
  // test runner they are found in node_modules by onnxruntime-web itself.
  if (existsSync(path.join(__dirname, 'ort-wasm-simd-threaded.wasm'))) {
    ort.env.wasm.wasmPaths = pathToFileURL(`${__dirname}${path.sep}`).href;
  }
}

export function fromOrtTensor(tensor: ort.Tensor | { type: string; data: unknown; dims: readonly number[] }): HostTensor {
  return { type: tensor.type as HostTensor['type'], data: tensor.data as HostTensor['data'], dims: [...tensor.dims] };
}

/** Why ONNX Runtime refused a model, by what its message says, and what the user can do about each. */
const LOAD_FAILURES: ReadonlyArray<{ pattern: RegExp; code: string; hint: string }> = [
  {
    pattern: /bad_alloc|out of memory|Cannot enlarge memory|failed to allocate/i,
    code: 'out-of-memory',
    hint: 'The model does not fit in memory here (ONNX Runtime Web holds at most 4 GB): choose a smaller model or a quantized variant.',
  },
  {
    pattern: /external data|external_data|\.onnx[._]data|No such file|ENOENT/i,
    code: 'external-data-missing',
    hint: 'Keep the external data file(s) the exporter wrote (model.onnx.data or similar) beside the model, under the names the model refers to.',
  },
  {
    pattern: /ShapeInferenceError|TypeInferenceError|shape inference|type inference|Type Error|Node \(.*\) Op \(.*\) \[/i,
    code: 'inconsistent-graph',
    hint: 'The graph as written is inconsistent (its exporter wrote shapes or types that do not agree): export it again; onnx.checker.check_model(model, full_check=True) in Python shows where.',
  },
  {
    pattern: /Could not find an implementation|is not a registered function\/op|NOT_IMPLEMENTED|not (yet )?supported|Unsupported|opset|domain_to_version|Unknown model file format version/i,
    code: 'unsupported-op',
    hint: 'Re-export the model with a standard opset (11-21) from PyTorch or Hugging Face optimum; README "ONNX models" lists what works.',
  },
  {
    pattern: /protobuf|Failed to load model|parse|invalid wire/i,
    code: 'not-onnx',
    hint: 'Choose the .onnx file your exporter wrote; a file that was cut short (an unfinished download) cannot be read.',
  },
];

export function describeLoadError(error: unknown): UserFacingError {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
  const known = LOAD_FAILURES.find((failure) => failure.pattern.test(message));
  return new UserFacingError(
    `ONNX Runtime cannot load this model: ${message.slice(0, 600)}`,
    known?.hint ?? 'Check that ONNX Runtime itself loads it (onnxruntime.InferenceSession in Python); README "ONNX models" lists what works.',
    { code: known?.code ?? 'onnx-runtime-refused' },
  );
}

export async function createWebSession(model: Uint8Array, options: SessionOptions, provider: 'wasm' | 'webgpu'): Promise<ort.InferenceSession> {
  const runtime = provider === 'webgpu' ? webGpuRuntime() : (configureWasm(options.threads), ort);
  try {
    return await runtime.InferenceSession.create(model, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: ORT_LOG_FATAL_ONLY,
      ...(options.externalData ? { externalData: options.externalData } : {}),
    });
  } catch (error) {
    throw describeLoadError(error);
  }
}

export function wrapWeb(session: ort.InferenceSession, backend: Backend, fallbackNote: string | null): OnnxSession {
  return {
    backend,
    adapter: null,
    fallbackNote,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds, outputNames) => runWeb(session, backend === 'webgpu' ? webGpuTensorType() : ort.Tensor, feeds, outputNames),
    release: () => session.release(),
  };
}

export type TensorConstructor = typeof ort.Tensor;

export async function runWeb(
  session: ort.InferenceSession, Tensor: TensorConstructor, feeds: Record<string, HostTensor>, outputNames?: readonly string[],
): Promise<Record<string, HostTensor>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = new Tensor(tensor.type as 'float32', tensor.data as Float32Array, [...tensor.dims]);
  const results = outputNames ? await session.run(ortFeeds, [...outputNames], RUN_OPTIONS) : await session.run(ortFeeds, RUN_OPTIONS);
  const out: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(results)) out[name] = fromOrtTensor(tensor);
  return out;
}

type OrtModule = typeof ort;
let webGpuOrt: OrtModule | undefined;

/**
 * onnxruntime-web's WebGPU build: a second ORT instance with its own WASM module (the asyncify build,
 * which the WebGPU provider needs), loaded only when WebGPU is used, so WASM runs keep the smaller,
 * faster plain build.
 */
function webGpuRuntime(): OrtModule {
  if (webGpuOrt) return webGpuOrt;
  const runtime = require('onnxruntime-web/webgpu') as OrtModule;
  runtime.env.logLevel = 'fatal';
  // One thread: the GPU does the work (its CPU side is shape arithmetic), and this browser build,
  // multi-threaded, fetches its worker script as a blob, which Node's fetch cannot do for file: URLs.
  runtime.env.wasm.numThreads = 1;
  // The bundle's copy sits beside this file (scripts/build.mjs); under the test runner, the package's.
  const folder = existsSync(path.join(__dirname, ASYNCIFY_WASM))
    ? __dirname
    : path.dirname(createRequire(__filename).resolve('onnxruntime-web/webgpu'));
  runtime.env.wasm.wasmPaths = pathToFileURL(`${folder}${path.sep}`).href;
  webGpuOrt = runtime;
  return runtime;
}

const ASYNCIFY_WASM = 'ort-wasm-simd-threaded.asyncify.wasm';

export function webGpuTensorType(): TensorConstructor {
  return (webGpuOrt ?? ort).Tensor;
}
