/**
 * @file What a model session is to the rest of the engine, whichever ONNX Runtime runs it: plain
 * typed arrays in, plain typed arrays out.
 */
import type { Backend } from '../../shared/trace';
import type { BackendSetting } from '../options';

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
  /** Why the backend differs from the one asked for, if it does: an exception the user must see (notice `backend`). */
  readonly fallbackNote: string | null;
  /**
   * How `auto` chose the backend that ran, and why not the others ("WASM ran: WebGPU was not used
   * because no WebGPU adapter was found."): a fact, not an exception, since auto was asked to choose
   * (notice `backend-choice`; hosts show it beside the backend, not as a warning). Absent otherwise.
   */
  readonly choiceNote?: string | null;
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
