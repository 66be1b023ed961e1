/**
 * `npm run bench`: speed figures with the machine they were measured on, written to
 * bench/results/<date>-<host>.json. These machines are noisy, so compare ratios within one run.
 *
 *   event-loop   the host's longest event-loop stall while paper-base runs on 128 tokens in the
 *                engine worker (target: ≤ 50 ms), against the same forward run on the main thread
 *   forward      ms per forward of each preset on 128 tokens (reference backend)
 *   matmul       GFLOP/s of the reference kernel, 128x512 · (512x512)ᵀ, one core
 *   onnx         paper-base exported to ONNX, 128 tokens: ms per forward on WASM (all cores) with
 *                and without the attention/residual taps (target: taps cost < 5%), native if present
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ExplainEngine } from '../src/engine/explain';
import { type Matrix, matmulTransposed } from '../src/engine/reference/matrix';
import { SeededRandom } from '../src/engine/reference/random';
import { EngineClient } from '../src/engine/worker/engineClient';
import { exportBuiltinModel } from '../src/engine/exportModel';
import { decodeModel, encodeModel } from '../src/engine/onnx/model';
import { createSession, loadNativeRuntime, type HostTensor } from '../src/engine/onnx/runtime';
import { analyzeAndTap } from '../src/engine/onnx/tapper';
import { tapOutputNames } from '../src/engine/onnx/traceFromRun';
import { createByteTokenizer } from '../src/engine/tokenizers/bytes';

const root = path.resolve(__dirname, '..');
const TEXT_128 = 'The quick brown fox jumps over the lazy dog while attention heads watch every token closely. Residual norms grow layer by layer!!'.slice(0, 128);

function machineFacts(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
  };
}

/** Longest gap between 1 ms timer ticks while `work` runs: what a user would feel as a freeze. */
async function longestStall(work: () => Promise<unknown>): Promise<{ maxGapMs: number; p99DelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  await work();
  // Let a tick run after the work, so a stall at the very end is seen.
  await new Promise((resolve) => setTimeout(resolve, 5));
  clearInterval(timer);
  histogram.disable();
  return { maxGapMs: maxGap, p99DelayMs: histogram.percentile(99) / 1e6 };
}

function randomMatrix(rows: number, cols: number, random: SeededRandom): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(-1, 1);
  return { rows, cols, data };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median ms of `runs` calls of `work`, after one warm-up call. */
async function timeRuns(runs: number, work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  return median(times);
}

async function benchOnnx(referenceMs: number): Promise<Record<string, unknown>> {
  const bytes = await exportBuiltinModel({ model: 'builtin:paper-base' });
  const model = decodeModel(bytes);
  const tapped = analyzeAndTap(model);
  const ids = createByteTokenizer().encode(TEXT_128).map((token) => token.id);
  const int64 = (values: number[]): HostTensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
  const feeds = { input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)), decoder_input_ids: int64([1, ...ids.slice(0, -1)]) };
  const threads = os.cpus().length;
  const plain = await createSession(bytes, { backend: 'wasm', threads });
  const withTaps = await createSession(encodeModel(tapped.model), { backend: 'wasm', threads });
  const taps = tapOutputNames(tapped.plan);
  const runs = 7;
  // Alternate the two sessions so drift in machine load hits both alike.
  const plainTimes: number[] = [];
  const tappedTimes: number[] = [];
  for (let round = 0; round < 3; round++) {
    plainTimes.push(await timeRuns(runs, () => plain.run(feeds, ['logits'])));
    tappedTimes.push(await timeRuns(runs, () => withTaps.run(feeds, ['logits', ...taps])));
  }
  const plainMs = median(plainTimes);
  const tappedMs = median(tappedTimes);
  const result: Record<string, unknown> = {
    workload: `paper-base ONNX export, ${ids.length} tokens, WASM ${threads} threads`,
    attentionTaps: tapped.plan.attention.length,
    residualTaps: tapped.plan.residual.length,
    typescriptReferenceMs: referenceMs,
    wasmPlainMs: plainMs,
    wasmTappedMs: tappedMs,
    tapOverhead: tappedMs / plainMs - 1,
    targetTapOverhead: 0.05,
  };
  console.log(`onnx paper-base ${ids.length} tokens: reference ${referenceMs.toFixed(0)} ms, WASM ${plainMs.toFixed(1)} ms plain, `
    + `${tappedMs.toFixed(1)} ms with ${tapped.plan.attention.length} attention + ${tapped.plan.residual.length} residual taps `
    + `(overhead ${(100 * (tappedMs / plainMs - 1)).toFixed(1)}%, target < 5%)`);
  await plain.release();
  await withTaps.release();
  if (loadNativeRuntime()) {
    const native = await createSession(encodeModel(tapped.model), { backend: 'native', threads });
    result.nativeTappedMs = await timeRuns(runs, () => native.run(feeds, ['logits', ...taps]));
    console.log(`onnx paper-base native (onnxruntime-node) with taps: ${(result.nativeTappedMs as number).toFixed(1)} ms`);
    await native.release();
  } else {
    result.native = 'onnxruntime-node not installed';
  }
  return result;
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { machine: machineFacts() };
  console.log(`machine: ${JSON.stringify(results.machine)}`);

  // matmul
  const random = new SeededRandom(1);
  const a = randomMatrix(128, 512, random);
  const b = randomMatrix(512, 512, random);
  const flops = 2 * 128 * 512 * 512;
  const matmulTimes: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = performance.now();
    matmulTransposed(a, b);
    matmulTimes.push(performance.now() - start);
  }
  const gflops = flops / (median(matmulTimes) / 1000) / 1e9;
  results.matmul = { shape: '128x512 · (512x512)ᵀ', medianMs: median(matmulTimes), gflops };
  console.log(`matmul 128x512x512: ${median(matmulTimes).toFixed(2)} ms median, ${gflops.toFixed(2)} GFLOP/s`);

  // forward per preset (in-process, reference backend)
  const engine = new ExplainEngine();
  const forward: Record<string, { tokens: number; medianMs: number; runs: number }> = {};
  for (const preset of ['tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'paper-base', 'gpt2-shape']) {
    const runs = preset === 'paper-base' || preset === 'gpt2-shape' ? 3 : 10;
    const times: number[] = [];
    let tokens = 0;
    for (let i = 0; i < runs + 1; i++) {
      const trace = await engine.explain(TEXT_128, { model: `builtin:${preset}`, backend: 'reference' });
      tokens = trace.streams[0].tokens.length;
      if (i > 0) times.push(trace.timings.find((t) => t.stage === 'forward')!.ms); // first run loads the model
    }
    forward[preset] = { tokens, medianMs: median(times), runs };
    console.log(`forward ${preset.padEnd(13)} ${tokens} tokens: ${median(times).toFixed(1)} ms median of ${runs}`);
  }
  results.forward = forward;

  // event loop: worker vs main thread, paper-base on 128 tokens
  const client = new EngineClient(path.join(root, 'dist/engineWorker.js'));
  await client.explain(TEXT_128, { model: 'builtin:paper-base', backend: 'reference' }); // load the model in the worker first
  const inWorker = await longestStall(() => client.explain(TEXT_128, { model: 'builtin:paper-base', backend: 'reference' }));
  const onMainThread = await longestStall(() => engine.explain(TEXT_128, { model: 'builtin:paper-base', backend: 'reference' }));
  await client.dispose();
  results.eventLoop = {
    workload: 'paper-base forward, 128 tokens',
    targetMaxGapMs: 50,
    worker: inWorker,
    mainThread: onMainThread,
    ratioMainOverWorker: onMainThread.maxGapMs / inWorker.maxGapMs,
  };
  console.log(`event loop, paper-base 128 tokens: longest stall ${inWorker.maxGapMs.toFixed(1)} ms with the worker `
    + `(target ≤ 50), ${onMainThread.maxGapMs.toFixed(0)} ms if run on the main thread`);

  results.onnx = await benchOnnx(forward['paper-base'].medianMs);

  const directory = path.join(root, 'bench/results');
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(root, file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
