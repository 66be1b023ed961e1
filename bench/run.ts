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
 *   fused        fused attention kernels against their rewrite into plain operators (bench/fusedKernels.ts)
 *   native       native CPU (onnxruntime-node) against WASM, same threads: paper-base at 128 tokens and
 *                gpt2-shape at 1024, and auto against the fastest (bench/native.ts)
 *   scale        gpt2-shape on 1024 tokens as VS Code runs it (bench/scale.ts): first block, whole trace, host memory and stall, engine peak
 *   webgpu       paper-base and gpt2-shape at 512 tokens, WebGPU against WASM, on a real GPU (bench/webgpu.ts)
 *   webview      heatmap and overview drawing in headless Chromium (bench/webview.ts)
 *   vscode       command → painted heatmap in the real VS Code, with stages (bench/vscode.ts)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExplainEngine } from '../src/engine/explain';
import { execFileSync } from 'node:child_process';
import { measureMatmul } from './matmul';
import { EngineClient } from '../src/engine/worker/engineClient';
import { machineFacts } from './machine';
import { benchScale } from './scale';
import { longestStall } from './stall';
import { runVscodeBench } from './vscode';
import { runWebGpuBench } from './webgpu';
import { runWebviewBench } from './webview';
import { runFusedKernelBench } from './fusedKernels';
import { exportBuiltinModel } from '../src/engine/exportModel';
import { decodeModel, encodeModel } from '../src/engine/onnx/model';
import { createSession, loadNative, type HostTensor } from '../src/engine/onnx/runtime';
import { runNativeBench } from './native';
import { analyzeAndTap } from '../src/engine/onnx/tapper';
import { tapOutputNames } from '../src/engine/onnx/traceFromRun';
import { createByteTokenizer } from '../src/engine/tokenizers/bytes';

const root = path.resolve(__dirname, '..');
const TEXT_128 = 'The quick brown fox jumps over the lazy dog while attention heads watch every token closely. Residual norms grow layer by layer!!'.slice(0, 128);


function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
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
  const bytes = (await exportBuiltinModel({ model: 'builtin:paper-base' })).model;
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

  // The extension's own path: explain() on the ONNX file (feeds, run with every tap, reading the
  // taps back into the trace), against the bare run above.
  const file = path.join(os.tmpdir(), `attention-lens-bench-paper-base-${process.pid}.onnx`);
  writeFileSync(file, bytes);
  const engine = new ExplainEngine();
  const explainTimes: number[] = [];
  let autoBackend = '';
  for (let i = 0; i < runs + 1; i++) {
    const trace = await engine.explain(TEXT_128, { model: file, backend: 'auto', threads });
    autoBackend = trace.backend;
    const stage = (name: string): number => trace.timings.find((timing) => timing.stage === name)?.ms ?? 0;
    if (i > 0) explainTimes.push(stage('forward') + stage('read taps'));
  }
  rmSync(file, { force: true });
  const extensionMs = median(explainTimes);
  result.extensionForwardMs = extensionMs;
  result.extensionOverBare = extensionMs / plainMs;
  result.targetExtensionOverBare = 1.05;
  result.autoBackend = autoBackend;
  result.fastestRuntimePresent = loadNative().runtime ? 'native' : 'wasm';
  console.log(`onnx paper-base via the extension's explain(): ${extensionMs.toFixed(1)} ms (forward + reading taps) = `
    + `${(extensionMs / plainMs).toFixed(3)}× the bare run (target ≤ 1.05); auto chose ${autoBackend}, the fastest runtime present is ${result.fastestRuntimePresent}`);
  if (loadNative().runtime) {
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

  // matmul: in a clean child process (no detached buffers yet, see bench/matmul.ts), and in this one
  const clean = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench/matmul.ts')], { cwd: root, encoding: 'utf8' })) as { medianMs: number; gflops: number };
  const channel = new MessageChannel(); // detach one buffer, as the engine's trace transfers do
  const detached = new ArrayBuffer(8);
  channel.port1.postMessage(detached, [detached]);
  channel.port1.close();
  channel.port2.close();
  const afterTransfer = measureMatmul();
  results.matmul = { shape: '128x512 · (512x512)ᵀ', clean, afterTransfer, targetGflops: 5 };
  console.log(`matmul 128x512x512: ${clean.gflops.toFixed(2)} GFLOP/s in a clean process (target ≥ 5), `
    + `${afterTransfer.gflops.toFixed(2)} GFLOP/s once buffers have been transferred`);

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
  results.onnxPaired = await benchPaired();
  results.fusedKernels = await runFusedKernelBench(null);
  results.native = await runNativeBench();
  results.scale = await benchScale();
  results.webgpu = await runWebGpuBench();
  // The panel in headless Chromium, and the whole path in the real VS Code (bench/webview.ts,
  // bench/vscode.ts write their own result files too; the second needs `npm run setup:vscode`).
  results.webview = await runWebviewBench();
  try {
    results.vscode = await runVscodeBench();
  } catch (error) {
    results.vscode = { skipped: (error as Error).message };
    console.log(`vscode end-to-end: not measured (${(error as Error).message.split('\n')[0]})`);
  }

  const directory = path.join(root, 'bench/results');
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${path.relative(root, file)}`);
}

/**
 * explain() against a bare run, in pairs: each explain() of the paper-base export right after a bare
 * run of the same tapped model, so both see the same machine load (single runs here swing ±30%).
 * Ratio: explain's forward + reading the taps over the bare run.
 */
async function benchPaired(pairs = 6): Promise<{ ratios: number[]; median: number }> {
  const bytes = (await exportBuiltinModel({ model: 'builtin:paper-base' })).model;
  const tapped = analyzeAndTap(decodeModel(bytes));
  const ids = createByteTokenizer().encode(TEXT_128).map((token) => token.id);
  const int64 = (values: number[]): HostTensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
  const feeds = { input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)), decoder_input_ids: int64([1, ...ids.slice(0, -1)]) };
  const threads = os.cpus().length;
  const file = path.join(os.tmpdir(), `attention-lens-bench-paired-${process.pid}.onnx`);
  writeFileSync(file, bytes);
  const engine = new ExplainEngine();
  const bare = await createSession(encodeModel(tapped.model), { backend: 'wasm', threads });
  const taps = tapOutputNames(tapped.plan);
  await engine.explain(TEXT_128, { model: file, backend: 'wasm', threads }); // load and warm up both
  await bare.run(feeds, taps);
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const start = performance.now();
    await bare.run(feeds, taps);
    const bareMs = performance.now() - start;
    const trace = await engine.explain(TEXT_128, { model: file, backend: 'wasm', threads });
    const stage = (name: string): number => trace.timings.find((timing) => timing.stage === name)?.ms ?? 0;
    ratios.push((stage('forward') + stage('read taps')) / bareMs);
  }
  await bare.release();
  rmSync(file, { force: true });
  console.log(`explain() over a bare run, ${pairs} pairs: ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)} (target ≤ 1.05)`);
  return { ratios, median: median(ratios) };
}

/** `--only onnx|scale|paired|native`: that part alone, printed and not written (a quick re-measure; native writes its own file). */
async function only(part: string): Promise<void> {
  if (part === 'onnx') await benchOnnx(Number.NaN);
  else if (part === 'native') await runNativeBench();
  else if (part === 'scale') {
    const flag = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
    const tokens = (flag('--tokens') ?? '1024').split(',').map(Number);
    await benchScale(tokens, (flag('--backend') ?? 'wasm') as 'wasm' | 'native');
  }
  else if (part === 'paired') await benchPaired();
  else throw new Error('--only takes onnx, scale, paired or native');
  process.exit(0);
}

const onlyAt = process.argv.indexOf('--only');
(onlyAt > 0 ? only(process.argv[onlyAt + 1] ?? '') : main()).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
