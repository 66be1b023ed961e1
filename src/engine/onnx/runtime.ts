/**
 * @file The one module that touches ONNX Runtime. Creates inference sessions on the chosen
 * backend and runs them; everything else speaks plain typed arrays.
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
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort = require('onnxruntime-web');
import { UserFacingError } from '../../shared/errors';
import type { BackendSetting } from '../options';
import type { Backend } from '../../shared/trace';
import { adapterLabel, type GpuAdapterDescription, probeWebGpu, surveyWebGpu } from './webgpu';


/** A tensor as the rest of the engine sees it. */
export interface HostTensor {
  type: 'float32' | 'int64' | 'int32' | 'bool' | 'float16' | 'uint8' | 'int8' | 'float64';
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Float64Array | Uint16Array;
  dims: readonly number[];
}

export interface OnnxSession {
  /** The backend of the last run (before any, the one that will run first). */
  readonly backend: Backend;
  /** The WebGPU adapter of the last run, when it ran on WebGPU ("nvidia ampere, …"). */
  readonly adapter: string | null;
  /** Why the backend differs from the one asked for, if it does. */
  readonly fallbackNote: string | null;
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

/** ONNX Runtime's severity levels: 0 verbose … 3 error, 4 fatal. Only fatal lines are its own to print. */
const ORT_LOG_FATAL_ONLY = 4;
const RUN_OPTIONS = { logSeverityLevel: ORT_LOG_FATAL_ONLY } as const;

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

function fromOrtTensor(tensor: ort.Tensor | { type: string; data: unknown; dims: readonly number[] }): HostTensor {
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

function describeLoadError(error: unknown): UserFacingError {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');
  const known = LOAD_FAILURES.find((failure) => failure.pattern.test(message));
  return new UserFacingError(
    `ONNX Runtime cannot load this model: ${message.slice(0, 600)}`,
    known?.hint ?? 'Check that ONNX Runtime itself loads it (onnxruntime.InferenceSession in Python); README "ONNX models" lists what works.',
    { code: known?.code ?? 'onnx-runtime-refused' },
  );
}

async function createWebSession(model: Uint8Array, options: SessionOptions, provider: 'wasm' | 'webgpu'): Promise<ort.InferenceSession> {
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

function wrapWeb(session: ort.InferenceSession, backend: Backend, fallbackNote: string | null): OnnxSession {
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

type TensorConstructor = typeof ort.Tensor;

async function runWeb(
  session: ort.InferenceSession, Tensor: TensorConstructor, feeds: Record<string, HostTensor>, outputNames?: readonly string[],
): Promise<Record<string, HostTensor>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = new Tensor(tensor.type as 'float32', tensor.data as Float32Array, [...tensor.dims]);
  const results = outputNames ? await session.run(ortFeeds, [...outputNames], RUN_OPTIONS) : await session.run(ortFeeds, RUN_OPTIONS);
  const out: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(results)) out[name] = fromOrtTensor(tensor);
  return out;
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

// ---- WebGPU ------------------------------------------------------------------------------------

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

function webGpuTensorType(): TensorConstructor {
  return (webGpuOrt ?? ort).Tensor;
}

function reasonOf(error: unknown): string {
  const message = error instanceof UserFacingError || error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').slice(0, 200);
}

/**
 * A session on WebGPU that falls back to WASM for good at its first failure (creation or run), so a
 * lost device or a kernel the adapter cannot run costs one notice, never a failed explain.
 */
class WebGpuSession implements OnnxSession {
  backend: Backend = 'webgpu';
  adapter: string | null;
  fallbackNote: string | null;
  private wasm: ort.InferenceSession | null = null;

  private constructor(
    private gpu: ort.InferenceSession | null,
    private readonly model: Uint8Array,
    private readonly options: SessionOptions,
    adapter: GpuAdapterDescription,
    note: string | null,
  ) {
    this.adapter = adapterLabel(adapter);
    this.fallbackNote = note;
  }

  static async create(model: Uint8Array, options: SessionOptions, adapter: GpuAdapterDescription, note: string | null): Promise<OnnxSession> {
    try {
      return new WebGpuSession(await createWebSession(model, options, 'webgpu'), model, options, adapter, note);
    } catch (error) {
      return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', `WebGPU could not load this model (${reasonOf(error)}), so WASM ran instead.`);
    }
  }

  get inputNames(): readonly string[] {
    return (this.gpu ?? this.wasm)?.inputNames ?? [];
  }

  get outputNames(): readonly string[] {
    return (this.gpu ?? this.wasm)?.outputNames ?? [];
  }

  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.gpu) {
      try {
        return await runWeb(this.gpu, webGpuTensorType(), feeds, outputNames);
      } catch (error) {
        const failed = this.gpu;
        this.gpu = null;
        void failed.release().catch(() => undefined);
        this.fallbackNote = `WebGPU failed while running (${reasonOf(error)}), so WASM ran instead.`;
      }
    }
    this.backend = 'wasm';
    this.adapter = null;
    this.wasm ??= await createWebSession(this.model, this.options, 'wasm');
    return runWeb(this.wasm, ort.Tensor, feeds, outputNames);
  }

  async release(): Promise<void> {
    await Promise.all([this.gpu?.release(), this.wasm?.release()]);
  }
}

/** `webgpu` asked for by name: used whenever an adapter exists, a software one included. */
async function createWebGpuSession(model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  const probe = await probeWebGpu();
  if (!probe.available) {
    return wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', `WebGPU is not available here (${probe.reason}), so WASM ran instead.`);
  }
  const note = probe.adapter.software
    ? `WebGPU runs on ${adapterLabel(probe.adapter)}, a CPU implementation: correct, but slower than WASM.`
    : null;
  return WebGpuSession.create(model, options, probe.adapter, note);
}

/** Largest difference the auto trial accepts between WebGPU's and WASM's float outputs. */
export const AUTO_AGREEMENT_TOLERANCE = 1e-3;

/**
 * The auto trial's verdict, from one timed run of each backend (after a WebGPU warm-up) and the
 * largest difference between their outputs. Pure, so it is tested without a GPU.
 */
export function chooseAutoBackend(trial: { wasmMs: number; webGpuMs: number; maxDifference: number }): { backend: 'webgpu' | 'wasm'; reason: string } {
  const times = `${trial.webGpuMs.toFixed(0)} ms on WebGPU, ${trial.wasmMs.toFixed(0)} ms on WASM`;
  if (!(trial.maxDifference <= AUTO_AGREEMENT_TOLERANCE)) {
    return { backend: 'wasm', reason: `WebGPU's results differ from WASM's by up to ${trial.maxDifference.toPrecision(3)} on this model, so WASM runs it (${times}).` };
  }
  if (trial.webGpuMs < trial.wasmMs) return { backend: 'webgpu', reason: `WebGPU beat WASM on this model (${times}).` };
  return { backend: 'wasm', reason: `WASM was faster than WebGPU on this model (${times}), so WASM runs it.` };
}

/** The largest absolute difference between two runs' float outputs (NaN where one is NaN and not both). */
function maxOutputDifference(first: Record<string, HostTensor>, second: Record<string, HostTensor>): number {
  let max = 0;
  for (const [name, tensor] of Object.entries(first)) {
    const other = second[name];
    if (!other || other.data.length !== tensor.data.length) return Number.POSITIVE_INFINITY;
    if (tensor.type !== 'float32') continue;
    const a = tensor.data as Float32Array;
    const b = other.data as Float32Array;
    for (let i = 0; i < a.length; i++) {
      const difference = Math.abs(a[i] - b[i]);
      if (difference > max) max = difference;
      else if (Number.isNaN(difference) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return Number.NaN;
    }
  }
  return max;
}

/**
 * `auto`: WASM unless a real GPU is there. With one, the first run is a trial: WASM runs (its result
 * is returned), then WebGPU warms up and runs again; WebGPU is kept for later runs only if it was
 * faster and its outputs agree with WASM's. Software adapters are never tried (SwiftShader is far
 * slower than WASM), unless ATTENTION_LENS_WEBGPU_TRY_SOFTWARE=1, which the tests use.
 */
async function createAutoSession(model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
  // Dawn is loaded into the engine only when the survey (a child process) found an adapter worth trying.
  const survey = await surveyWebGpu();
  const trySoftware = process.env.ATTENTION_LENS_WEBGPU_TRY_SOFTWARE === '1';
  const worthTrying = survey.available && (!survey.adapter.software || trySoftware);
  const probe = worthTrying ? await probeWebGpu() : survey;
  const wasm = await createWebSession(model, options, 'wasm');
  if (!probe.available || (probe.adapter.software && !trySoftware)) {
    const why = probe.available ? `its only adapter is ${adapterLabel(probe.adapter)}` : probe.reason;
    return wrapWeb(wasm, 'wasm', `WASM ran: WebGPU was not used because ${why}.`);
  }
  return new AutoSession(wasm, model, options, probe.adapter);
}

class AutoSession implements OnnxSession {
  backend: Backend = 'wasm';
  adapter: string | null = null;
  fallbackNote: string | null = null;
  private gpu: OnnxSession | null = null;
  private decided = false;

  constructor(
    private wasm: ort.InferenceSession | null,
    private readonly model: Uint8Array,
    private readonly options: SessionOptions,
    private readonly gpuAdapter: GpuAdapterDescription,
  ) {}

  get inputNames(): readonly string[] {
    return this.wasm?.inputNames ?? this.gpu?.inputNames ?? [];
  }

  get outputNames(): readonly string[] {
    return this.wasm?.outputNames ?? this.gpu?.outputNames ?? [];
  }

  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.decided) return this.runDecided(feeds, outputNames);
    this.decided = true;
    const wasm = this.wasm as ort.InferenceSession;
    const wasmStart = performance.now();
    const result = await runWeb(wasm, ort.Tensor, feeds, outputNames);
    const wasmMs = performance.now() - wasmStart;
    this.backend = 'wasm';
    try {
      const gpu = await WebGpuSession.create(this.model, this.options, this.gpuAdapter, null);
      if (gpu.backend !== 'webgpu') {
        this.fallbackNote = gpu.fallbackNote;
        await gpu.release();
        return result;
      }
      await gpu.run(feeds, outputNames); // warm-up: shader compilation and buffer allocation
      const gpuStart = performance.now();
      const gpuResult = await gpu.run(feeds, outputNames);
      const webGpuMs = performance.now() - gpuStart;
      const verdict = gpu.backend === 'webgpu'
        ? chooseAutoBackend({ wasmMs, webGpuMs, maxDifference: maxOutputDifference(result, gpuResult) })
        : { backend: 'wasm' as const, reason: gpu.fallbackNote ?? 'WebGPU failed, so WASM runs this model.' };
      this.fallbackNote = verdict.reason;
      if (verdict.backend === 'webgpu') {
        this.gpu = gpu;
        this.wasm = null;
        await wasm.release();
      } else {
        await gpu.release();
      }
    } catch (error) {
      this.fallbackNote = `WebGPU failed (${reasonOf(error)}), so WASM runs this model.`;
    }
    return result;
  }

  private async runDecided(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.gpu) {
      const result = await this.gpu.run(feeds, outputNames);
      this.backend = this.gpu.backend;
      this.adapter = this.gpu.adapter;
      if (this.gpu.fallbackNote) this.fallbackNote = this.gpu.fallbackNote;
      return result;
    }
    this.wasm ??= await createWebSession(this.model, this.options, 'wasm');
    this.backend = 'wasm';
    this.adapter = null;
    return runWeb(this.wasm, ort.Tensor, feeds, outputNames);
  }

  async release(): Promise<void> {
    await Promise.all([this.gpu?.release(), this.wasm?.release()]);
  }
}
