/**
 * @file Sessions on onnxruntime-node (native CPU) that end in WASM instead of failing: a model the
 * native build refuses (an op it lacks) runs on WASM from the start, a run that fails on native
 * runs again on WASM and WASM keeps the model, each with a one-line notice. When WASM fails too,
 * its error is the one reported (the same words as a run that never tried native).
 */
import ort = require('onnxruntime-web');
import type { Backend } from '../../shared/trace';
import { type NativeInferenceSession, type NativeRuntime, openNativeSession, runNative } from './nativeRuntime';
import { createWebSession, runWeb, wrapWeb } from './ortWeb';
import type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';

/** An error's message on one line, short enough for a notice. */
export function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** What the notices call this backend. */
export function nativeLabel(version: string, threads: number): string {
  return `native CPU (onnxruntime-node ${version}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

export class NativeSession implements OnnxSession {
  backend: Backend = 'native';
  readonly adapter = null;
  fallbackNote: string | null;
  private wasm: ort.InferenceSession | null = null;

  private constructor(
    private native: NativeInferenceSession | null,
    private readonly runtime: NativeRuntime,
    private readonly model: Uint8Array,
    private readonly options: SessionOptions,
    note: string | null,
  ) {
    this.fallbackNote = note;
  }

  /**
   * A session on native, or on WASM with a notice when native refuses the model. `note` is the
   * notice of a native run (auto says why it chose native).
   */
  static async create(runtime: NativeRuntime, model: Uint8Array, options: SessionOptions, note: string | null): Promise<OnnxSession> {
    let native: NativeInferenceSession;
    try {
      native = await openNativeSession(runtime, model, options);
    } catch (error) {
      // createWebSession throws the engine's worded load error when WASM refuses the model too.
      const wasm = await createWebSession(model, options, 'wasm');
      return wrapWeb(wasm, 'wasm', `onnxruntime-node (native CPU) could not load this model (${reasonOf(error)}), so WASM ran instead.`);
    }
    return new NativeSession(native, runtime, model, options, note);
  }

  get inputNames(): readonly string[] {
    return (this.native ?? this.wasm)?.inputNames ?? [];
  }

  get outputNames(): readonly string[] {
    return (this.native ?? this.wasm)?.outputNames ?? [];
  }

  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (!this.native) return runWeb(await this.wasmSession(), ort.Tensor, feeds, outputNames);
    try {
      return await runNative(this.runtime, this.native, feeds, outputNames);
    } catch (nativeError) {
      // WASM tries the same run. If it fails too, the input is at fault (an id outside the
      // vocabulary): native keeps the model, and WASM's error is reported.
      let result: Record<string, HostTensor>;
      try {
        result = await runWeb(await this.wasmSession(), ort.Tensor, feeds, outputNames);
      } catch (wasmError) {
        const wasm = this.wasm;
        this.wasm = null;
        void wasm?.release().catch(() => undefined);
        throw wasmError;
      }
      // WASM ran what native could not: WASM keeps this model.
      const failed = this.native;
      this.native = null;
      void failed.release().catch(() => undefined);
      this.backend = 'wasm';
      this.fallbackNote = `onnxruntime-node (native CPU) failed while running (${reasonOf(nativeError)}), so WASM ran instead.`;
      return result;
    }
  }

  private async wasmSession(): Promise<ort.InferenceSession> {
    this.wasm ??= await createWebSession(this.model, this.options, 'wasm');
    return this.wasm;
  }

  async release(): Promise<void> {
    await Promise.all([this.native?.release(), this.wasm?.release()]);
  }
}
