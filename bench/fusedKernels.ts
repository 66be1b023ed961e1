/**
 * What tracing a fused attention kernel costs: the model as exported (its fused kernels run by
 * onnxruntime-web) against the same model with every fused kernel rewritten into primitive
 * operators (what Attention Lens runs), bare and with the attention taps, on WASM, in one run
 * (target: rewritten ≤ 1.3× fused). Workloads:
 *
 *   mha-block   ../shared/fixtures/onnx/ort_mha_block_transformers1.16.onnx (com.microsoft
 *               MultiHeadAttention after the transformers optimizer) at 512 tokens: its fixed input
 *               length is made symbolic, the same edit in both models
 *   whisper     ../shared/fixtures/onnx/ort_whisper_hf_decoder_layer_mha_self_cross_past.onnx, one
 *               new token after 511 cached ones, cross-attention over 1500 encoder frames (Whisper's)
 *   tiny-modern-gqa  the tiny-modern preset exported with com.microsoft GroupQueryAttention
 *               (`--attention fused`: rotary, 2 KV heads, window 32), 512 tokens
 *   qwen2-gqa   the same export of qwen2-shape (24 layers, 14 query / 2 KV heads), 512 tokens; only
 *               when named with --only (it needs ~8 GB and minutes to build and run)
 *
 * Run alone: `node --import tsx bench/fusedKernels.ts [--only mha-block,whisper,tiny-modern-gqa,qwen2-gqa]`;
 * results go to bench/results/fused-<date>-<host>.json with the machine's facts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportBuiltinModel } from '../src/engine/exportModel';
import { rewriteFusedKernels } from '../src/engine/onnx/fusedKernels';
import { FUSED_REWRITERS } from '../src/engine/onnx/fusedRegistry';
import { GraphEditor } from '../src/engine/onnx/graphEditor';
import { cloneForEdit, decodeModel, encodeModel, graphOf, type ModelProto } from '../src/engine/onnx/model';
import { createSession, type HostTensor } from '../src/engine/onnx/runtime';
import { analyzeAndTap } from '../src/engine/onnx/tapper';
import { tapOutputNames } from '../src/engine/onnx/traceFromRun';
import { machineFacts } from './machine';

const root = path.resolve(__dirname, '..');
const fixture = (name: string): string => path.join(root, '..', 'shared', 'fixtures', 'onnx', name);

export interface FusedWorkload {
  name: string;
  description: string;
  model: ModelProto;
  feeds: Record<string, HostTensor>;
  /** External data the model refers to (the qwen2-shape export's weights). */
  externalData?: Array<{ path: string; data: Uint8Array }>;
}

export interface FusedKernelFigures {
  workload: string;
  description: string;
  fusedMs: number;
  rewrittenMs: number;
  rewrittenTappedMs: number;
  rewrittenOverFused: number;
  tappedOverFused: number;
  attentionTaps: number;
  target: number;
}

/** Random normal-ish floats, seeded, so runs are comparable. */
function randomFloats(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < count; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[index] = (state / 2 ** 32 - 0.5) * 2;
  }
  return values;
}

const floats = (dims: number[], seed: number): HostTensor => ({ type: 'float32', data: randomFloats(dims.reduce((a, b) => a * b, 1), seed), dims });

/** Makes the named inputs' dims symbolic (the exporter fixed them for its test) and drops output shapes. */
function symbolicDims(model: ModelProto, inputs: Record<string, Record<number, string>>): ModelProto {
  const edited = cloneForEdit(model);
  const graph = graphOf(edited);
  for (const input of graph.input ?? []) {
    const axes = inputs[input.name ?? ''];
    const dims = input.type?.tensorType?.shape?.dim;
    if (!axes || !dims) continue;
    for (const [axis, name] of Object.entries(axes)) {
      const dim = dims[Number(axis)];
      if (dim) {
        dim.dimValue = null as unknown as undefined;
        dim.dimParam = name;
      }
    }
  }
  for (const output of graph.output ?? []) {
    if (output.type?.tensorType) output.type.tensorType.shape = null as unknown as undefined;
  }
  graph.valueInfo = [];
  return edited;
}

function mhaBlock(tokens: number): FusedWorkload {
  const model = symbolicDims(decodeModel(readFileSync(fixture('ort_mha_block_transformers1.16.onnx'))), {
    input_1: { 1: 'sequence' }, input_2: { 1: 'sequence' }, input_mask: { 1: 'sequence' },
  });
  return {
    name: 'mha-block',
    description: `ort_mha_block_transformers1.16.onnx (MultiHeadAttention, hidden 16, 2 heads), ${tokens} tokens`,
    model,
    feeds: {
      input_1: floats([1, tokens, 16], 1),
      input_2: floats([1, tokens, 16], 2),
      input_mask: { type: 'int64', data: new BigInt64Array(tokens).fill(1n), dims: [1, tokens] },
    },
  };
}

function whisperLayer(past: number, frames: number): FusedWorkload {
  const model = symbolicDims(decodeModel(readFileSync(fixture('ort_whisper_hf_decoder_layer_mha_self_cross_past.onnx'))), {
    past_key_self: { 2: 'past' }, past_value_self: { 2: 'past' }, past_key_cross: { 2: 'frames' }, past_value_cross: { 2: 'frames' },
  });
  return {
    name: 'whisper',
    description: `ort_whisper_hf_decoder_layer_mha_self_cross_past.onnx (MultiHeadAttention self with past + cross), batch 2, 1 new token after ${past}, ${frames} encoder frames`,
    model,
    feeds: {
      input_hidden_states: floats([2, 1, 10], 3),
      past_key_self: floats([2, 2, past, 5], 4),
      past_value_self: floats([2, 2, past, 5], 5),
      past_key_cross: floats([2, 2, frames, 5], 6),
      past_value_cross: floats([2, 2, frames, 5], 7),
    },
  };
}

async function groupQueryExport(preset: string, tokens: number): Promise<FusedWorkload> {
  const exported = await exportBuiltinModel({ model: `builtin:${preset}`, attention: 'fused' });
  const ids = BigInt64Array.from({ length: tokens }, (_, index) => BigInt(4 + ((index * 37) % 256)));
  return {
    name: `${preset === 'qwen2-shape' ? 'qwen2' : preset}-gqa`,
    description: `${preset} exported with com.microsoft GroupQueryAttention (--attention fused), ${tokens} tokens`,
    model: decodeModel(exported.model),
    feeds: { input_ids: { type: 'int64', data: ids, dims: [1, tokens] } },
    ...(exported.externalData ? { externalData: [{ path: exported.externalData.location, data: exported.externalData.data }] } : {}),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The model with its fused kernels rewritten and nothing else changed (no taps). */
function rewrittenOnly(model: ModelProto): ModelProto {
  const edited = cloneForEdit(model);
  const editor = new GraphEditor(edited);
  rewriteFusedKernels(editor, FUSED_REWRITERS);
  editor.commit();
  return edited;
}

/** Median ms per forward of the fused, rewritten and rewritten+tapped models, interleaved in rounds. */
export async function benchFusedWorkload(workload: FusedWorkload, threads: number, rounds = 5, runsPerRound = 5): Promise<FusedKernelFigures> {
  const outputs = (graphOf(workload.model).output ?? []).map((output) => output.name ?? '');
  const tapped = analyzeAndTap(workload.model);
  const options = { backend: 'wasm' as const, threads, ...(workload.externalData ? { externalData: workload.externalData } : {}) };
  const sessions = {
    fused: await createSession(encodeModel(workload.model), options),
    rewritten: await createSession(encodeModel(rewrittenOnly(workload.model)), options),
    tapped: await createSession(encodeModel(tapped.model), options),
  };
  const fetches = { fused: outputs, rewritten: outputs, tapped: [...outputs, ...tapOutputNames(tapped.plan)] };
  const times: Record<keyof typeof sessions, number[]> = { fused: [], rewritten: [], tapped: [] };
  try {
    for (const name of Object.keys(sessions) as Array<keyof typeof sessions>) await sessions[name].run(workload.feeds, fetches[name]);
    // Alternate the three so drift in machine load hits them alike.
    for (let round = 0; round < rounds; round++) {
      for (const name of Object.keys(sessions) as Array<keyof typeof sessions>) {
        for (let run = 0; run < runsPerRound; run++) {
          const start = performance.now();
          await sessions[name].run(workload.feeds, fetches[name]);
          times[name].push(performance.now() - start);
        }
      }
    }
  } finally {
    for (const session of Object.values(sessions)) await session.release();
  }
  const fusedMs = median(times.fused);
  const rewrittenMs = median(times.rewritten);
  const rewrittenTappedMs = median(times.tapped);
  return {
    workload: workload.name,
    description: workload.description,
    fusedMs,
    rewrittenMs,
    rewrittenTappedMs,
    rewrittenOverFused: rewrittenMs / fusedMs,
    tappedOverFused: rewrittenTappedMs / fusedMs,
    attentionTaps: tapped.plan.attention.length,
    target: 1.3,
  };
}

export async function fusedWorkloads(only: readonly string[] | null): Promise<FusedWorkload[]> {
  const all: Array<[string, () => FusedWorkload | Promise<FusedWorkload>]> = [
    ['mha-block', () => mhaBlock(512)],
    ['whisper', () => whisperLayer(511, 1500)],
    ['tiny-modern-gqa', () => groupQueryExport('tiny-modern', 512)],
    ['qwen2-gqa', () => groupQueryExport('qwen2-shape', 512)],
  ];
  const chosen = all.filter(([name]) => (only ? only.includes(name) : name !== 'qwen2-gqa'));
  const workloads: FusedWorkload[] = [];
  for (const [, make] of chosen) workloads.push(await make());
  return workloads;
}

export async function runFusedKernelBench(only: readonly string[] | null): Promise<FusedKernelFigures[]> {
  const threads = os.cpus().length;
  const figures: FusedKernelFigures[] = [];
  for (const workload of await fusedWorkloads(only)) {
    const result = await benchFusedWorkload(workload, threads);
    figures.push(result);
    console.log(`fused ${result.workload}: fused ${result.fusedMs.toFixed(2)} ms, rewritten ${result.rewrittenMs.toFixed(2)} ms `
      + `(${result.rewrittenOverFused.toFixed(2)}×), rewritten + ${result.attentionTaps} attention taps ${result.rewrittenTappedMs.toFixed(2)} ms `
      + `(${result.tappedOverFused.toFixed(2)}×; target ≤ ${result.target}×) [WASM ${threads} threads]`);
  }
  return figures;
}

if (require.main === module) {
  const at = process.argv.indexOf('--only');
  const only = at >= 0 ? (process.argv[at + 1] ?? '').split(',') : null;
  runFusedKernelBench(only).then((figures) => {
    const directory = path.join(root, 'bench/results');
    mkdirSync(directory, { recursive: true });
    const file = path.join(directory, `fused-${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
    writeFileSync(file, `${JSON.stringify({ machine: machineFacts(), fusedKernels: figures }, null, 2)}\n`);
    console.log(`results written to ${path.relative(root, file)}`);
  }).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
