/**
 * Native CPU (onnxruntime-node) against WASM (onnxruntime-web), same thread count: paper-base at 128
 * tokens and gpt2-shape at 1024 tokens (seeded, through their ONNX exports, with every attention and
 * residual tap, as the extension runs them). Per preset: median ms per forward on each, the ratio
 * native/WASM (target ≤ 1/3), the largest attention difference, and what `auto` picked through
 * explain() with its forward time against the fastest backend's (target ≤ 1.1×). The two backends'
 * runs alternate, so drift in the machine's load hits both alike. Written to
 * bench/results/native-<date>-<host>.json with the machine's facts (these machines are shared and
 * noisy: compare the ratios within one run).
 * Alone: `node --import tsx bench/native.ts [--presets paper-base:128,gpt2-shape:1024] [--runs N] [--threads N]`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExplainEngine } from '../src/engine/explain';
import { exportBuiltinModel } from '../src/engine/exportModel';
import { decodeModel, encodeModel } from '../src/engine/onnx/model';
import { loadNative } from '../src/engine/onnx/nativeRuntime';
import { createSession, type HostTensor, type OnnxSession } from '../src/engine/onnx/runtime';
import { analyzeAndTap } from '../src/engine/onnx/tapper';
import { tapOutputNames } from '../src/engine/onnx/traceFromRun';
import { createByteTokenizer } from '../src/engine/tokenizers/bytes';
import { machineFacts } from './machine';

const root = path.resolve(__dirname, '..');

export interface NativeBenchOptions {
  /** preset:tokens pairs. */
  presets?: Array<{ preset: string; tokens: number }>;
  runs?: number;
  threads?: number;
  write?: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function text(tokens: number): string {
  const sentence = 'Attention heads look back at earlier tokens; residual norms grow layer by layer. ';
  return sentence.repeat(Math.ceil(tokens / sentence.length)).slice(0, tokens);
}

/**
 * Both sessions' runs interleaved (native, WASM, native, …) after a warm-up run of each, so drift in
 * the machine's load hits both alike: ms per run of each, and each one's last outputs.
 */
async function timeInterleaved(
  sessions: Record<'native' | 'wasm', OnnxSession>, feeds: Record<string, HostTensor>, outputs: string[], runs: number,
): Promise<Record<'native' | 'wasm', { times: number[]; result: Record<string, HostTensor> }>> {
  const measured = { native: { times: [] as number[], result: {} as Record<string, HostTensor> }, wasm: { times: [] as number[], result: {} as Record<string, HostTensor> } };
  for (const backend of ['native', 'wasm'] as const) measured[backend].result = await sessions[backend].run(feeds, outputs);
  for (let i = 0; i < runs; i++) {
    for (const backend of ['native', 'wasm'] as const) {
      measured[backend].result = {}; // let the last outputs go before the next run allocates its own
      const start = performance.now();
      measured[backend].result = await sessions[backend].run(feeds, outputs);
      measured[backend].times.push(performance.now() - start);
    }
  }
  return measured;
}

async function benchPreset(preset: string, tokens: number, runs: number, threads: number): Promise<Record<string, unknown>> {
  const bytes = (await exportBuiltinModel({ model: `builtin:${preset}` })).model;
  const tapped = analyzeAndTap(decodeModel(bytes));
  const tappedBytes = encodeModel(tapped.model);
  const ids = createByteTokenizer().encode(text(tokens)).map((token) => token.id);
  const int64 = (values: number[]): HostTensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
  const outputs = tapOutputNames(tapped.plan);
  const sessions = {} as Record<'native' | 'wasm', OnnxSession>;
  const createMs = {} as Record<'native' | 'wasm', number>;
  for (const backend of ['native', 'wasm'] as const) {
    const createStart = performance.now();
    sessions[backend] = await createSession(tappedBytes, { backend, threads });
    createMs[backend] = performance.now() - createStart;
    if (sessions[backend].backend !== backend) throw new Error(`${backend} did not run: ${sessions[backend].fallbackNote ?? ''}`);
  }
  const feeds: Record<string, HostTensor> = {};
  for (const name of sessions.native.inputNames) {
    if (name === 'decoder_input_ids') feeds[name] = int64([1, ...ids.slice(0, -1)]);
    else if (name === 'attention_mask') feeds[name] = int64(ids.map(() => 1));
    else feeds[name] = int64(ids);
  }
  const runsOf = await timeInterleaved(sessions, feeds, outputs, runs);
  await sessions.native.release();
  await sessions.wasm.release();
  const measured = {
    native: { medianMs: median(runsOf.native.times), times: runsOf.native.times, createMs: createMs.native, result: runsOf.native.result },
    wasm: { medianMs: median(runsOf.wasm.times), times: runsOf.wasm.times, createMs: createMs.wasm, result: runsOf.wasm.result },
  };
  let maxAttentionDifference = 0;
  for (const tap of tapped.plan.attention) {
    const a = measured.native.result[tap.output]?.data as Float32Array;
    const b = measured.wasm.result[tap.output]?.data as Float32Array;
    for (let i = 0; i < a.length; i++) maxAttentionDifference = Math.max(maxAttentionDifference, Math.abs(a[i] - b[i]));
  }
  delete (measured.native as Partial<typeof measured.native>).result;
  delete (measured.wasm as Partial<typeof measured.wasm>).result;

  // auto, as the extension runs it: explain() on the exported file; its forward stage against the
  // fastest backend's bare run above (same tapped graph, same threads).
  const file = path.join(os.tmpdir(), `attention-lens-bench-native-${preset}-${process.pid}.onnx`);
  writeFileSync(file, bytes);
  const engine = new ExplainEngine();
  const autoTimes: number[] = [];
  let autoBackend = '';
  let autoNotice = '';
  try {
    for (let i = 0; i < runs + 1; i++) {
      const trace = await engine.explain(text(tokens), { model: file, backend: 'auto', threads, maxTokens: tokens });
      autoBackend = trace.backend;
      autoNotice = trace.notices.find((notice) => notice.code === 'backend-choice' || notice.code === 'backend')?.message ?? '';
      if (i > 0) autoTimes.push(trace.timings.find((timing) => timing.stage === 'forward')?.ms ?? Number.NaN);
    }
  } finally {
    rmSync(file, { force: true });
  }
  const fastest = measured.native.medianMs <= measured.wasm.medianMs ? 'native' : 'wasm';
  const autoMs = median(autoTimes);
  const result = {
    tokens: ids.length,
    threads,
    runs,
    nativeMs: measured.native.medianMs,
    nativeTimes: measured.native.times,
    nativeSessionMs: measured.native.createMs,
    wasmMs: measured.wasm.medianMs,
    wasmTimes: measured.wasm.times,
    wasmSessionMs: measured.wasm.createMs,
    nativeOverWasm: measured.native.medianMs / measured.wasm.medianMs,
    targetNativeOverWasm: 1 / 3,
    maxAttentionDifference,
    autoBackend,
    autoNotice,
    autoForwardMs: autoMs,
    fastest,
    autoOverFastest: autoMs / measured[fastest].medianMs,
    targetAutoOverFastest: 1.1,
  };
  console.log(`native ${preset} ${ids.length} tokens, ${threads} threads: native ${measured.native.medianMs.toFixed(1)} ms, WASM ${measured.wasm.medianMs.toFixed(1)} ms `
    + `(native/WASM ${result.nativeOverWasm.toFixed(3)}, target ≤ 0.333); attention max |Δ| ${maxAttentionDifference.toExponential(2)}; `
    + `auto ran ${autoBackend}: forward ${autoMs.toFixed(1)} ms = ${result.autoOverFastest.toFixed(2)}× the fastest (${fastest}; target ≤ 1.1)`);
  return result;
}

export async function runNativeBench(options: NativeBenchOptions = {}): Promise<Record<string, unknown>> {
  const presets = options.presets ?? [{ preset: 'paper-base', tokens: 128 }, { preset: 'gpt2-shape', tokens: 1024 }];
  const runs = options.runs ?? 5;
  const threads = options.threads ?? os.cpus().length;
  const native = loadNative();
  const results: Record<string, unknown> = {
    machine: machineFacts({ note: 'shared machine: other jobs ran on the same cores during this run' }),
    runtimes: { native: native.runtime ? `onnxruntime-node ${native.version}` : native.reason },
  };
  if (!native.runtime) {
    results.skipped = `native CPU is not available: ${native.reason}`;
    console.log(`native: skipped (${results.skipped as string})`);
  } else {
    for (const { preset, tokens } of presets) results[`${preset}@${tokens}`] = await benchPreset(preset, tokens, runs, threads);
  }
  if (options.write ?? true) {
    const directory = path.join(root, 'bench/results');
    mkdirSync(directory, { recursive: true });
    const file = path.join(directory, `native-${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`native results written to ${path.relative(root, file)}`);
  }
  return results;
}

if (require.main === module) {
  const argument = (name: string): string | undefined => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  runNativeBench({
    presets: argument('--presets')?.split(',').map((pair) => {
      const [preset, tokens] = pair.split(':');
      return { preset: preset!, tokens: Number(tokens ?? 128) };
    }),
    runs: argument('--runs') ? Number(argument('--runs')) : undefined,
    threads: argument('--threads') ? Number(argument('--threads')) : undefined,
    write: !process.argv.includes('--no-write'),
  }).then(() => process.exit(0), (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
