/**
 * @file Sessions on WebGPU: `webgpu` asked for by name (any adapter, with a notice for a software
 * one), and `auto`'s trial (WASM first; WebGPU kept only when a real GPU beat WASM and agreed with
 * it). Any WebGPU failure falls back to WASM for good, with a one-line notice: never a failed run.
 * Under `auto` nobody asked for WebGPU, so what auto chose and why (no adapter, the trial's verdict)
 * is its choice note (notice `backend-choice`, a fact), never the fallback notice (`backend`).
 */
import ort = require('onnxruntime-web');
import { UserFacingError } from '../../shared/errors';
import type { Backend } from '../../shared/trace';
import { createWebSession, runWeb, webGpuTensorType, wrapWeb } from './ortWeb';
import type { HostTensor, OnnxSession, SessionOptions } from './sessionTypes';
import { adapterLabel, type GpuAdapterDescription, probeWebGpu, surveyWebGpu } from './webgpu';

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
export async function createWebGpuSession(model: Uint8Array, options: SessionOptions): Promise<OnnxSession> {
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
 * largest difference between their outputs. `cpu` is the CPU backend WebGPU is measured against
 * (its time is `wasmMs` either way). Pure, so it is tested without a GPU.
 */
export function chooseAutoBackend(
  trial: { wasmMs: number; webGpuMs: number; maxDifference: number }, cpu: 'wasm' | 'native' = 'wasm',
): { backend: 'webgpu' | 'wasm' | 'native'; reason: string } {
  const name = cpu === 'native' ? 'native CPU' : 'WASM';
  const times = `${trial.webGpuMs.toFixed(0)} ms on WebGPU, ${trial.wasmMs.toFixed(0)} ms on ${name}`;
  if (!(trial.maxDifference <= AUTO_AGREEMENT_TOLERANCE)) {
    return { backend: cpu, reason: `WebGPU's results differ from ${name}'s by up to ${trial.maxDifference.toPrecision(3)} on this model, so ${name} runs it (${times}).` };
  }
  if (trial.webGpuMs < trial.wasmMs) return { backend: 'webgpu', reason: `WebGPU beat ${name} on this model (${times}).` };
  return { backend: cpu, reason: `${capitalized(name)} was faster than WebGPU on this model (${times}), so ${name} runs it.` };
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

/** The CPU backend `auto` runs when WebGPU does not: WASM, or native when onnxruntime-node loads. */
export interface CpuBaseline {
  backend: 'wasm' | 'native';
  /** How notices name it: "WASM", "native CPU (onnxruntime-node 1.30.0, 2 threads)". */
  label: string;
  open(): Promise<OnnxSession>;
  /** A sentence added to the notice (why native did not run, when it did not). */
  aside?: string;
}

function wasmBaseline(model: Uint8Array, options: SessionOptions): CpuBaseline {
  return { backend: 'wasm', label: 'WASM', open: async () => wrapWeb(await createWebSession(model, options, 'wasm'), 'wasm', null) };
}

/**
 * `auto` once the CPU backend is known (native when onnxruntime-node loads, else WASM): that backend
 * unless a real GPU is there. With one, the first run is a trial: the CPU backend runs (its result is
 * returned), then WebGPU warms up and runs again; WebGPU is kept for later runs only if it was
 * faster and its outputs agree. Software adapters are never tried (SwiftShader is far slower than
 * WASM), unless ATTENTION_LENS_WEBGPU_TRY_SOFTWARE=1, which the tests use.
 */
export async function createAutoSession(model: Uint8Array, options: SessionOptions, baseline = wasmBaseline(model, options)): Promise<OnnxSession> {
  // Dawn is loaded into the engine only when the survey (a child process) found an adapter worth trying.
  const survey = await surveyWebGpu();
  const trySoftware = process.env.ATTENTION_LENS_WEBGPU_TRY_SOFTWARE === '1';
  const worthTrying = survey.available && (!survey.adapter.software || trySoftware);
  const probe = worthTrying ? await probeWebGpu() : survey;
  const cpu = await baseline.open();
  const aside = baseline.aside ? ` ${baseline.aside}` : '';
  if (!probe.available || (probe.adapter.software && !trySoftware)) {
    const why = probe.available ? `its only adapter is ${adapterLabel(probe.adapter)}` : probe.reason;
    // A native session that fell back to WASM (it refused the model) says so itself, as an exception.
    if (cpu.fallbackNote) return cpu;
    // auto was asked to choose: no GPU here is a fact about the machine, said on every run, so it is
    // a choice note (shown beside the backend), not a notice the user must act on.
    return withChoice(cpu, `${capitalized(baseline.label)} ran: WebGPU was not used because ${why}.${aside}`);
  }
  return new AutoSession(cpu, baseline, model, options, probe.adapter);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The session with auto's choice note set (the session objects of ortWeb.ts and nativeSessions.ts take it as a field). */
function withChoice(session: OnnxSession, note: string): OnnxSession {
  (session as { choiceNote?: string | null }).choiceNote = note;
  return session;
}

class AutoSession implements OnnxSession {
  backend: Backend;
  adapter: string | null = null;
  fallbackNote: string | null = null;
  /** The trial's verdict (or why there was none): auto's choice, not an exception. */
  choiceNote: string | null = null;
  private gpu: OnnxSession | null = null;
  private decided = false;

  constructor(
    private cpu: OnnxSession | null,
    private readonly baseline: CpuBaseline,
    private readonly model: Uint8Array,
    private readonly options: SessionOptions,
    private readonly gpuAdapter: GpuAdapterDescription,
  ) {
    this.backend = cpu?.backend ?? baseline.backend;
  }

  get inputNames(): readonly string[] {
    return this.cpu?.inputNames ?? this.gpu?.inputNames ?? [];
  }

  get outputNames(): readonly string[] {
    return this.cpu?.outputNames ?? this.gpu?.outputNames ?? [];
  }

  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.decided) return this.runDecided(feeds, outputNames);
    this.decided = true;
    const cpu = this.cpu as OnnxSession;
    const cpuStart = performance.now();
    const result = await cpu.run(feeds, outputNames);
    const cpuMs = performance.now() - cpuStart;
    this.backend = cpu.backend;
    const aside = this.baseline.aside ? ` ${this.baseline.aside}` : '';
    try {
      const gpu = await WebGpuSession.create(this.model, this.options, this.gpuAdapter, null);
      if (gpu.backend !== 'webgpu') {
        this.choiceNote = `${this.cpuWords(gpu.fallbackNote ?? 'WebGPU failed.')}${aside}`;
        await gpu.release();
        return result;
      }
      await gpu.run(feeds, outputNames); // warm-up: shader compilation and buffer allocation
      const gpuStart = performance.now();
      const gpuResult = await gpu.run(feeds, outputNames);
      const webGpuMs = performance.now() - gpuStart;
      const cpuBackend = cpu.backend === 'native' ? 'native' : 'wasm';
      const verdict = gpu.backend === 'webgpu'
        ? chooseAutoBackend({ wasmMs: cpuMs, webGpuMs, maxDifference: maxOutputDifference(result, gpuResult) }, cpuBackend)
        : { backend: cpuBackend, reason: this.cpuWords(gpu.fallbackNote ?? 'WebGPU failed.') };
      this.choiceNote = `${verdict.reason}${aside}`;
      if (verdict.backend === 'webgpu') {
        this.gpu = gpu;
        this.cpu = null;
        await cpu.release();
      } else {
        await gpu.release();
      }
    } catch (error) {
      this.choiceNote = `WebGPU failed (${reasonOf(error)}), so ${this.baseline.label} runs this model.${aside}`;
    }
    if (cpu.fallbackNote && this.cpu) this.fallbackNote = cpu.fallbackNote;
    return result;
  }

  /** WebGpuSession's notices name WASM as what runs instead; with native as the baseline, native does. */
  private cpuWords(note: string): string {
    return this.baseline.backend === 'native' ? note.replace(/so WASM ran instead\.$/, `so ${this.baseline.label} runs this model.`) : note;
  }

  private async runDecided(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    const session = this.gpu ?? (this.cpu ??= await this.baseline.open());
    const result = await session.run(feeds, outputNames);
    this.backend = session.backend;
    this.adapter = session.adapter;
    // WebGPU that auto chose and that then failed is still auto's business (WASM runs, as auto may);
    // a CPU session that fell back (native refused a run) is an exception.
    if (session.fallbackNote && session === this.gpu) this.choiceNote = session.fallbackNote;
    else if (session.fallbackNote) this.fallbackNote = session.fallbackNote;
    return result;
  }

  async release(): Promise<void> {
    await Promise.all([this.gpu?.release(), this.cpu?.release()]);
  }
}
