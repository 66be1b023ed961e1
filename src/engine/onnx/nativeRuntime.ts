/**
 * @file onnxruntime-node (native CPU) in the engine: its binding loaded where the engine runs, and
 * sessions on it. A binding that does not load (a platform with no binary, a missing shared
 * library) is reported with its reason, never thrown; runtime.ts then runs WASM with one notice.
 *
 * Where the binding comes from: `require('onnxruntime-node')` from the bundle finds the copy that
 * scripts/build.mjs puts in dist/node_modules/ (shipped in the platform's .vsix), and under the
 * test runner the package in node_modules. ATTENTION_LENS_NATIVE_BINDING names another module to
 * load instead (the tests point it at a broken copy, to make the fallback happen for real), or
 * `none` to run as if onnxruntime-node were not there.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { HostTensor, SessionOptions } from './sessionTypes';

/** The environment variable that replaces the binding (a module path) or switches it off (`none`). */
export const NATIVE_BINDING_ENV = 'ATTENTION_LENS_NATIVE_BINDING';

/** What the engine uses of onnxruntime-node's exports. */
export interface NativeRuntime {
  InferenceSession: { create(model: Uint8Array, options?: object): Promise<NativeInferenceSession> };
  Tensor: new (type: string, data: HostTensor['data'], dims: readonly number[]) => unknown;
  env: { logLevel?: string; versions?: { node?: string } };
}

export interface NativeInferenceSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[], options?: { logSeverityLevel: number }): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/** The binding, or why there is none. */
export type NativeLoad =
  | { runtime: NativeRuntime; version: string; reason?: undefined }
  | { runtime: null; reason: string };

let loaded: NativeLoad | undefined;

/** Node's words for a failed load, first line only, paths shortened to the file name. */
function loadFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split('\n')[0]?.trim() ?? '';
  return first.replace(/'[^']*[\\/]([^'\\/]+)'/g, "'$1'").slice(0, 200);
}

/**
 * onnxruntime-node's binding, loaded once per thread. Never throws: a binding that cannot load
 * comes back as `{ runtime: null, reason }`, the reason worded for a notice.
 */
export function loadNative(): NativeLoad {
  if (loaded) return loaded;
  const override = process.env[NATIVE_BINDING_ENV]?.trim();
  if (override === 'none') {
    loaded = { runtime: null, reason: `it is switched off (${NATIVE_BINDING_ENV}=none)` };
    return loaded;
  }
  try {
    // A literal id, so esbuild leaves it external (scripts/build.mjs) and Node resolves it at run
    // time; an override is a path, loaded as it is.
    const runtime = (override ? createRequire(__filename)(path.resolve(override)) : require('onnxruntime-node')) as NativeRuntime;
    if (typeof runtime?.InferenceSession?.create !== 'function' || typeof runtime.Tensor !== 'function') {
      throw new Error('the module does not export InferenceSession and Tensor');
    }
    // Its own log lines (warnings about a user's graph) would reach the terminal: every failure
    // comes back as an exception instead. Read once, at the first session.
    runtime.env.logLevel = 'fatal';
    loaded = { runtime, version: runtime.env.versions?.node ?? 'unknown version' };
  } catch (error) {
    loaded = { runtime: null, reason: `onnxruntime-node did not load on ${process.platform}-${process.arch} (${loadFailure(error)})` };
  }
  return loaded;
}

/** Forgets the loaded binding, so the next loadNative() reads ATTENTION_LENS_NATIVE_BINDING again (tests). */
export function resetNativeForTests(): void {
  loaded = undefined;
}

/** The ONNX Runtime severity that keeps its own log quiet (4 = fatal only); see ortWeb.ts. */
const LOG_FATAL_ONLY = 4;

/** A session on onnxruntime-node; throws ONNX Runtime's own error when it refuses the model. */
export function openNativeSession(runtime: NativeRuntime, model: Uint8Array, options: SessionOptions): Promise<NativeInferenceSession> {
  return runtime.InferenceSession.create(model, {
    // The same thread count as WASM, so the two compare (and the setting means one thing).
    intraOpNumThreads: Math.max(1, Math.floor(options.threads)),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: LOG_FATAL_ONLY,
    ...(options.externalData ? { externalData: options.externalData } : {}),
  });
}

/** One run on onnxruntime-node, typed arrays in and out. */
export async function runNative(
  runtime: NativeRuntime, session: NativeInferenceSession, feeds: Record<string, HostTensor>, outputNames?: readonly string[],
): Promise<Record<string, HostTensor>> {
  const nativeFeeds: Record<string, unknown> = {};
  for (const [name, tensor] of Object.entries(feeds)) nativeFeeds[name] = new runtime.Tensor(tensor.type, tensor.data, tensor.dims);
  const results = await session.run(nativeFeeds, outputNames ? [...outputNames] : undefined, { logSeverityLevel: LOG_FATAL_ONLY });
  const out: Record<string, HostTensor> = {};
  for (const [name, tensor] of Object.entries(results)) out[name] = { type: tensor.type, data: tensor.data, dims: [...tensor.dims] };
  return out;
}
