/**
 * @file WebGPU for the engine worker: Node has no `navigator.gpu`, so it comes from Dawn's Node
 * bindings (npm `webgpu`, which ships prebuilt `dawn.node` binaries for linux x64/arm64, win32
 * x64/arm64 and macOS). This module loads them once per worker, installs `navigator.gpu` and the
 * WebGPU globals (GPUBufferUsage and the like) that onnxruntime-web's WebGPU provider reads, and
 * describes the adapter, so the runtime can tell a real GPU from a software one.
 *
 * Everything here stays inside the engine worker (a worker_thread has its own global object); the
 * extension host's globals are never touched.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

/** What the user is told about the GPU that ran (or could not run) a model. */
export interface GpuAdapterDescription {
  /** e.g. "nvidia", "google" */
  vendor: string;
  /** e.g. "ampere", "swiftshader" */
  architecture: string;
  /** Driver or device text, e.g. "SwiftShader driver 5.0.0" */
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, WARP): correct but slower than WASM. */
  software: boolean;
}

export type WebGpuProbe =
  | { available: true; adapter: GpuAdapterDescription }
  | { available: false; reason: string };

interface DawnAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

interface DawnAdapter {
  info?: DawnAdapterInfo;
  isFallbackAdapter?: boolean;
}

interface DawnGpu {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<DawnAdapter | null>;
}

/** The shape of `dawn.node`'s exports (see the `webgpu` package's types.d.ts). */
interface DawnBindings {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown> & { GPUQueue?: { prototype: { writeBuffer: WriteBuffer } } };
}

type WriteBuffer = (this: unknown, buffer: unknown, bufferOffset: number, data: BufferSource, dataOffset?: number, size?: number) => void;

/** A one-line name for an adapter, for the trace, the status bar and notices. */
export function adapterLabel(adapter: GpuAdapterDescription): string {
  const name = [adapter.vendor, adapter.architecture].filter(Boolean).join(' ');
  const text = adapter.description && adapter.description !== name ? `${name ? `${name}, ` : ''}${adapter.description}` : name;
  return `${text || 'unnamed adapter'}${adapter.software ? ' (software)' : ''}`;
}

/** Where `dawn.node` for this platform is: beside the bundle (dist/webgpu/…) or in node_modules. */
function dawnBinaryPath(): string | null {
  const platform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
  const candidates = [path.join(__dirname, 'webgpu', platform, 'dawn.node')];
  try {
    // Under the test runner (no bundle) the package itself is there.
    const packageEntry = createRequire(__filename).resolve('webgpu');
    candidates.push(path.join(path.dirname(packageEntry), 'dist', platform, 'dawn.node'));
  } catch {
    // Not installed: only the bundled copy can serve.
  }
  return candidates.find((candidate) => existsSync(candidate)) ?? null;
}

/**
 * WORKAROUND (Dawn's Node bindings with onnxruntime-web's WebGPU provider), the only one in this
 * project, kept in this function:
 *   What: ORT uploads tensors with `queue.writeBuffer(buffer, offset, view)`, where `view` is a view
 *     of the WebAssembly memory. The threaded WASM build's memory is a SharedArrayBuffer, and
 *     dawn.node rejects views of shared memory with "Invalid argument" (browsers accept them), so
 *     every WebGPU run failed at its first upload.
 *   Fix: when the data lives in shared memory, copy just the bytes being written into an ordinary
 *     ArrayBuffer first. The copy costs one memcpy of each upload; results are unchanged.
 *   When it can go: once dawn.node's writeBuffer accepts SharedArrayBuffer-backed views (Dawn's
 *     `src/dawn/node/binding/GPUQueue.cpp` converts the BufferSource), or ORT stops passing views of
 *     WASM memory. Delete this function and its call; the WebGPU parity tests show whether it works.
 */
function copySharedUploads(bindings: DawnBindings): void {
  const queue = bindings.globals.GPUQueue?.prototype;
  if (!queue) return;
  const original = queue.writeBuffer;
  queue.writeBuffer = function writeBuffer(buffer, bufferOffset, data, dataOffset, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      // dataOffset and size count elements of the view's type (bytes for a DataView).
      const bytesPerElement = (data as Partial<Uint8Array>).BYTES_PER_ELEMENT ?? 1;
      const start = data.byteOffset + (dataOffset ?? 0) * bytesPerElement;
      const length = size !== undefined ? size * bytesPerElement : data.byteLength - (dataOffset ?? 0) * bytesPerElement;
      return original.call(this, buffer, bufferOffset, new Uint8Array(data.buffer, start, length).slice());
    }
    if (data instanceof SharedArrayBuffer) {
      const start = dataOffset ?? 0;
      const length = size ?? data.byteLength - start;
      return original.call(this, buffer, bufferOffset, new Uint8Array(data, start, length).slice());
    }
    return original.call(this, buffer, bufferOffset, data, dataOffset, size);
  };
}

/** Asks Dawn for an adapter (high performance) and describes it; null when there is none. */
export async function describeAdapter(gpu: DawnGpu): Promise<GpuAdapterDescription | null> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return null;
  const info = adapter.info ?? {};
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    description: info.description || info.device || '',
    software: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.device}`),
  };
}

const NO_ADAPTER = 'no WebGPU adapter was found (no GPU driver with Vulkan, Metal or Direct3D 12 support)';

/** Loads Dawn's bindings in this thread; null when there is no binary for this platform. */
function loadDawn(): DawnBindings | null {
  const binary = dawnBinaryPath();
  // A native addon: loaded by path, never bundled.
  return binary ? (createRequire(__filename)(binary) as DawnBindings) : null;
}

/**
 * The survey's own work, run in a child process (gpuSurvey.ts): load Dawn, ask for an adapter,
 * describe it. Exported for that entry point only.
 */
export async function surveyHere(): Promise<WebGpuProbe> {
  const bindings = loadDawn();
  if (!bindings) return { available: false, reason: `Dawn's WebGPU bindings for ${process.platform}-${process.arch} are not installed` };
  const adapter = await describeAdapter(bindings.create([]));
  return adapter ? { available: true, adapter } : { available: false, reason: NO_ADAPTER };
}

/** How long the survey may take: loading Dawn and a software adapter's start take about a second. */
const SURVEY_TIMEOUT_MS = 15_000;

/** The survey's entry: the bundle's dist/gpuSurvey.js, or the source under the test runner (tsx). */
function surveyCommand(): { script: string; execArgv: string[] } | null {
  const bundled = path.join(__dirname, 'gpuSurvey.js');
  if (existsSync(bundled)) return { script: bundled, execArgv: [] };
  const source = path.join(__dirname, 'gpuSurvey.ts');
  if (__filename.endsWith('.ts') && existsSync(source)) return { script: source, execArgv: ['--import', 'tsx'] };
  return null;
}

let surveyed: Promise<WebGpuProbe> | undefined;

/**
 * Whether this machine has a WebGPU adapter, and which, asked in a short-lived child process. Dawn
 * writes its driver warnings ("Couldn't load Vulkan", "vkCreateInstance: Found no drivers!", with
 * native stack lines) straight to the process's stderr, where a user would take them for a crash;
 * in the child they are caught and dropped, and Dawn is loaded into the engine only when there is
 * an adapter to use. Resolves once per process; never throws.
 */
export function surveyWebGpu(): Promise<WebGpuProbe> {
  surveyed ??= runSurvey();
  return surveyed;
}

function runSurvey(): Promise<WebGpuProbe> {
  const command = surveyCommand();
  if (!command) return Promise.resolve({ available: false, reason: 'the WebGPU survey is missing from this installation' });
  return new Promise<WebGpuProbe>((resolve) => {
    // VS Code's runtime is Electron: ELECTRON_RUN_AS_NODE makes the child a plain Node process.
    const child = spawn(process.execPath, [...command.execArgv, command.script], {
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.resume(); // Dawn's warnings: read and dropped
    const timer = setTimeout(() => child.kill(), SURVEY_TIMEOUT_MS);
    timer.unref();
    const finish = (fallback: string): void => {
      clearTimeout(timer);
      resolve(parseSurvey(output) ?? { available: false, reason: fallback });
    };
    child.on('error', (error) => finish(`the WebGPU survey could not start (${error.message})`));
    child.on('close', (code, signal) => finish(signal ? `the WebGPU survey did not finish (${signal})` : `the WebGPU survey failed (exit code ${code})`));
  });
}

/** The survey's one line of JSON (the last line of its output), checked. */
export function parseSurvey(output: string): WebGpuProbe | null {
  const line = output.trim().split('\n').pop() ?? '';
  try {
    const value = JSON.parse(line) as Partial<{ available: boolean; reason: string; adapter: Partial<GpuAdapterDescription> }>;
    if (value.available === false && typeof value.reason === 'string') return { available: false, reason: value.reason };
    const adapter = value.adapter;
    if (value.available === true && adapter && typeof adapter.software === 'boolean') {
      return {
        available: true,
        adapter: { vendor: String(adapter.vendor ?? ''), architecture: String(adapter.architecture ?? ''), description: String(adapter.description ?? ''), software: adapter.software },
      };
    }
  } catch {
    // Not the survey's answer.
  }
  return null;
}

let installed: Promise<WebGpuProbe> | undefined;

/**
 * Surveys the machine (surveyWebGpu), then, when there is an adapter, loads Dawn in this worker,
 * installs `navigator.gpu` and asks for the adapter the runtime will use. Resolves once per worker
 * with the adapter or the reason there is none; never throws.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  installed ??= surveyWebGpu().then((survey) => (survey.available ? install() : survey))
    .catch((error: unknown) => ({ available: false as const, reason: error instanceof Error ? error.message : String(error) }));
  return installed;
}

async function install(): Promise<WebGpuProbe> {
  const bindings = loadDawn();
  if (!bindings) return { available: false, reason: `Dawn's WebGPU bindings for ${process.platform}-${process.arch} are not installed` };
  copySharedUploads(bindings);
  const gpu = bindings.create([]);
  const scope = globalThis as unknown as Record<string, unknown> & { navigator?: Record<string, unknown> };
  for (const [name, value] of Object.entries(bindings.globals)) if (!(name in scope)) scope[name] = value;
  if (scope.navigator) {
    // Node ≥ 21 has a navigator without gpu; define it there rather than replace the object.
    Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    scope.navigator = { gpu };
  }
  const adapter = await describeAdapter(gpu);
  return adapter ? { available: true, adapter } : { available: false, reason: NO_ADAPTER };
}
