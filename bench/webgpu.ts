/**
 * The WebGPU column: paper-base and gpt2-shape (seeded, through their ONNX exports, with every
 * attention and residual tap) at 512 tokens, ms per forward on WebGPU against WASM in one run, and
 * the largest attention difference between the two. Written to bench/results/webgpu-<date>-<host>.json
 * with the machine's facts and the adapter's name.
 *
 * Only a real GPU gives meaningful times: on a software adapter (SwiftShader, which is what these
 * 2-core machines have) the column is skipped unless --software is given, and then best used with
 * a small preset: `node --import tsx bench/webgpu.ts --software --presets tiny-decoder --tokens 64`.
 * Alone: `node --import tsx bench/webgpu.ts [--presets a,b] [--tokens N] [--runs N]`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportBuiltinModel } from '../src/engine/exportModel';
import { decodeModel, encodeModel } from '../src/engine/onnx/model';
import { createSession, type HostTensor, type OnnxSession } from '../src/engine/onnx/runtime';
import { analyzeAndTap } from '../src/engine/onnx/tapper';
import { tapOutputNames } from '../src/engine/onnx/traceFromRun';
import { adapterLabel, probeWebGpu } from '../src/engine/onnx/webgpu';
import { createByteTokenizer } from '../src/engine/tokenizers/bytes';
import { machineFacts } from './machine';

const root = path.resolve(__dirname, '..');

export interface WebGpuBenchOptions {
  presets?: string[];
  tokens?: number;
  runs?: number;
  /** Measure on a software adapter too (correctness of the script, not speed). */
  software?: boolean;
  write?: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timeRuns(session: OnnxSession, feeds: Record<string, HostTensor>, outputs: string[], runs: number): Promise<{ medianMs: number; result: Record<string, HostTensor> }> {
  let result = await session.run(feeds, outputs); // warm-up: shaders, buffers
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    result = await session.run(feeds, outputs);
    times.push(performance.now() - start);
  }
  return { medianMs: median(times), result };
}

function text(tokens: number): string {
  const sentence = 'Attention heads look back at earlier tokens; residual norms grow layer by layer. ';
  return sentence.repeat(Math.ceil(tokens / sentence.length)).slice(0, tokens);
}

export async function runWebGpuBench(options: WebGpuBenchOptions = {}): Promise<Record<string, unknown>> {
  const presets = options.presets ?? ['paper-base', 'gpt2-shape'];
  const tokens = options.tokens ?? 512;
  const runs = options.runs ?? 5;
  const probe = await probeWebGpu();
  const results: Record<string, unknown> = { machine: machineFacts(), tokens, runs };
  if (!probe.available) {
    results.skipped = `no WebGPU adapter: ${probe.reason}`;
  } else if (probe.adapter.software && !options.software) {
    results.adapter = adapterLabel(probe.adapter);
    results.skipped = `the only adapter is ${adapterLabel(probe.adapter)}: times on a CPU implementation of WebGPU say nothing about GPUs (run on a machine with a GPU, or pass --software to check the script)`;
  } else {
    results.adapter = adapterLabel(probe.adapter);
    const threads = os.cpus().length;
    for (const preset of presets) {
      const model = decodeModel((await exportBuiltinModel({ model: `builtin:${preset}` })).model);
      const tapped = analyzeAndTap(model);
      const bytes = encodeModel(tapped.model);
      const ids = createByteTokenizer().encode(text(tokens)).map((token) => token.id);
      const int64 = (values: number[]): HostTensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
      const wasm = await createSession(bytes, { backend: 'wasm', threads });
      const feeds: Record<string, HostTensor> = {};
      for (const name of wasm.inputNames) {
        if (name === 'decoder_input_ids') feeds[name] = int64([1, ...ids.slice(0, -1)]);
        else if (name === 'attention_mask') feeds[name] = int64(ids.map(() => 1));
        else feeds[name] = int64(ids);
      }
      const outputs = tapOutputNames(tapped.plan);
      const onWasm = await timeRuns(wasm, feeds, outputs, runs);
      await wasm.release();
      const gpu = await createSession(bytes, { backend: 'webgpu', threads });
      const onGpu = await timeRuns(gpu, feeds, outputs, runs);
      const ranOn = gpu.backend;
      await gpu.release();
      let maxAttentionDifference = 0;
      for (const tap of tapped.plan.attention) {
        const a = onWasm.result[tap.output]?.data as Float32Array;
        const b = onGpu.result[tap.output]?.data as Float32Array;
        for (let i = 0; i < a.length; i++) maxAttentionDifference = Math.max(maxAttentionDifference, Math.abs(a[i] - b[i]));
      }
      results[preset] = {
        tokens: ids.length,
        wasmMs: onWasm.medianMs,
        wasmThreads: threads,
        webGpuMs: onGpu.medianMs,
        webGpuRanOn: ranOn,
        speedup: onWasm.medianMs / onGpu.medianMs,
        maxAttentionDifference,
      };
      console.log(`webgpu ${preset} ${ids.length} tokens on ${results.adapter as string}: WebGPU ${onGpu.medianMs.toFixed(1)} ms, `
        + `WASM (${threads} threads) ${onWasm.medianMs.toFixed(1)} ms = ${(onWasm.medianMs / onGpu.medianMs).toFixed(2)}×; `
        + `attention max |Δ| ${maxAttentionDifference.toExponential(2)}`);
    }
  }
  if (results.skipped) console.log(`webgpu: skipped (${results.skipped as string})`);
  if (options.write ?? true) {
    const directory = path.join(root, 'bench/results');
    mkdirSync(directory, { recursive: true });
    const file = path.join(directory, `webgpu-${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`webgpu results written to ${path.relative(root, file)}`);
  }
  return results;
}

if (require.main === module) {
  const argument = (name: string): string | undefined => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  runWebGpuBench({
    presets: argument('--presets')?.split(','),
    tokens: argument('--tokens') ? Number(argument('--tokens')) : undefined,
    runs: argument('--runs') ? Number(argument('--runs')) : undefined,
    software: process.argv.includes('--software'),
    write: !process.argv.includes('--no-write'),
  }).then(() => process.exit(0), (error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
