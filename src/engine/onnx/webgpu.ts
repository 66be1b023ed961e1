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

let installed: Promise<WebGpuProbe> | undefined;

/**
 * Loads Dawn, installs `navigator.gpu` in this worker, and asks for an adapter (high performance).
 * Resolves once per worker with the adapter or the reason there is none; never throws.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  installed ??= install().catch((error: unknown) => ({ available: false as const, reason: error instanceof Error ? error.message : String(error) }));
  return installed;
}

async function install(): Promise<WebGpuProbe> {
  const binary = dawnBinaryPath();
  if (!binary) return { available: false, reason: `Dawn's WebGPU bindings for ${process.platform}-${process.arch} are not installed` };
  // A native addon: loaded by path, never bundled.
  const bindings = createRequire(__filename)(binary) as DawnBindings;
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
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    return { available: false, reason: 'no WebGPU adapter was found (no GPU driver with Vulkan, Metal or Direct3D 12 support)' };
  }
  const info = adapter.info ?? {};
  return {
    available: true,
    adapter: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description || info.device || '',
      software: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(`${info.architecture} ${info.description} ${info.device}`),
    },
  };
}
