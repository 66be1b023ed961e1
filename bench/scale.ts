/**
 * gpt2-shape (12 layers, 12 heads, d=768, seeded weights, through its ONNX export) on long inputs,
 * as the VS Code extension runs it: the engine in a process of its own (EngineProcessClient), the
 * trace, far over the memory budget, left in the engine's temporary trace file and read block by
 * block (explainHeld). This process stands in for the extension host: it measures what the host
 * would hold and feel. Per input length:
 * - first heatmap data: the first block in this process (the partial trace the panel draws while
 *   the rest runs); whole trace: the run's end (the trace file written); first final block: its
 *   block 0 read back from the file;
 * - block read: median time to read one block from the file (what switching blocks costs);
 * - host: this process's RSS growth over its level before the run, and its longest event-loop stall;
 * - engine: the engine process's peak RSS (VmHWM, from /proc), the model and its runtime included.
 *
 *   node scripts/build.mjs && node --import tsx bench/run.ts --only scale [--tokens 1024,2048] [--backend wasm|native]
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EngineProcessClient } from '../src/engine/worker/engineProcessClient';
import type { ExplainOptions } from '../src/engine/options';

type Backend = NonNullable<ExplainOptions['backend']>;
import { longestStall } from './stall';

const root = path.resolve(__dirname, '..');

/** A field of /proc/<pid>/status in MB (VmRSS now, VmHWM the peak), or NaN off Linux. */
function procMB(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  if (pid === undefined) return Number.NaN;
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)];
}

const TARGETS: Record<number, { firstHeatmapMs: number; engineMB: number }> = {
  1024: { firstHeatmapMs: 2000, engineMB: 2560 },
  2048: { firstHeatmapMs: 5000, engineMB: Number.NaN },
};

async function scaleRun(tokens: number, backend: Backend): Promise<Record<string, unknown>> {
  const client = new EngineProcessClient(path.join(root, 'dist/engineProcess.js'), path.join(root, 'dist/engineWorker.js'), { cacheFolder: null, idleStopMs: 0 });
  // As VS Code's default budget (attentionLens.memoryBudgetMB, 64): this trace is far over it.
  client.inlineTraceBytes = 64 * 2 ** 20;
  const text = Array.from({ length: tokens }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
  const options = { model: 'builtin:gpt2-shape', backend, threads: 2, maxTokens: tokens } as const;
  try {
    const loadStart = performance.now();
    await (await client.explainHeld(text.slice(0, 300), options)).release(); // export, sessions, warm-up
    const loadMs = performance.now() - loadStart;
    const hostBefore = process.memoryUsage().rss;
    let hostPeak = hostBefore;
    const sampler = setInterval(() => {
      hostPeak = Math.max(hostPeak, process.memoryUsage().rss);
    }, 20);
    let firstMs = Number.NaN;
    let wholeMs = Number.NaN;
    let firstFinalMs = Number.NaN;
    let blocks = 0;
    let storage = '';
    const reads: number[] = [];
    const stall = await longestStall(async () => {
      const start = performance.now();
      const held = await client.explainHeld(text, options, undefined, () => {
        firstMs = performance.now() - start;
      });
      wholeMs = performance.now() - start;
      storage = held.storage;
      blocks = held.trace.blocks.length;
      await held.trace.readBlock(0);
      firstFinalMs = performance.now() - start;
      for (let index = 1; index < blocks; index++) {
        const readStart = performance.now();
        await held.trace.readBlock(index);
        reads.push(performance.now() - readStart);
      }
      await held.release();
    });
    clearInterval(sampler);
    const engineMB = procMB(client.pid, 'VmHWM');
    const target = TARGETS[tokens] ?? { firstHeatmapMs: Number.NaN, engineMB: Number.NaN };
    const result = {
      workload: `gpt2-shape ONNX export, ${tokens} tokens, ${backend}${backend === 'wasm' ? ' 2 threads' : ''}, engine process, trace held in a temporary trace file`,
      tokens,
      loadMs,
      storage,
      blocks,
      firstHeatmapDataMs: firstMs,
      targetFirstHeatmapMs: target.firstHeatmapMs,
      wholeTraceMs: wholeMs,
      firstFinalBlockMs: firstFinalMs,
      blockReadMedianMs: median(reads),
      hostRssGrowthMB: (hostPeak - hostBefore) / 2 ** 20,
      targetHostGrowthMB: 300,
      hostMaxStallMs: stall.maxGapMs,
      targetMaxStallMs: 50,
      enginePeakRssMB: engineMB,
      targetEnginePeakMB: target.engineMB,
    };
    console.log(`scale, gpt2-shape ${tokens} tokens (${backend}): first block in ${firstMs.toFixed(0)} ms (target < ${target.firstHeatmapMs}), `
      + `whole trace ${wholeMs.toFixed(0)} ms (${storage}), a block read back in ${median(reads).toFixed(0)} ms; host RSS +${result.hostRssGrowthMB.toFixed(0)} MB (target < 300), `
      + `longest host stall ${stall.maxGapMs.toFixed(1)} ms (target ≤ 50); engine process peak ${engineMB.toFixed(0)} MB; load ${loadMs.toFixed(0)} ms`);
    return result;
  } finally {
    await client.dispose();
  }
}

export async function benchScale(tokensList: number[] = [1024], backend: Backend = 'wasm'): Promise<Record<string, unknown>[]> {
  const results: Record<string, unknown>[] = [];
  for (const tokens of tokensList) results.push(await scaleRun(tokens, backend));
  return results;
}
