/**
 * The WebGPU backend (Dawn's Node bindings + onnxruntime-web's WebGPU provider) against WASM, on the
 * SwiftShader adapter: the tiny decoder and encoder-decoder exports and two fixtures give the same
 * attention (within 1e-4), the same masks and the same residual norms on both backends; the taps
 * (Softmax outputs, ReduceL2 norms) run on the GPU rather than forcing nodes back to the CPU.
 *
 * NEEDS THE VULKAN ICD: SwiftShader's Vulkan ICD, which Debian's chromium package ships
 * (/usr/lib/chromium/vk_swiftshader_icd.json), and the Vulkan loader (Debian's libvulkan1). .ci/run
 * installs both. Without them these tests are skipped, except under CI=true, where they fail.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import type { ExplainOptions } from '../../src/engine/options';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { AUTO_AGREEMENT_TOLERANCE, chooseAutoBackend } from '../../src/engine/onnx/runtime';
import { probeWebGpu, type WebGpuProbe } from '../../src/engine/onnx/webgpu';
import type { AttentionTrace } from '../../src/shared/trace';

const CHROMIUM_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
// Read by the Vulkan loader when Dawn starts, so it is set before the first probe.
if (!process.env.VK_ICD_FILENAMES && existsSync(CHROMIUM_ICD)) process.env.VK_ICD_FILENAMES = CHROMIUM_ICD;
// These tests weigh WebGPU against WASM: `auto` would pick native CPU (nativeBackend.test.ts tests
// that), so onnxruntime-node is switched off here (read at the first session, src/engine/onnx/nativeRuntime.ts).
process.env.ATTENTION_LENS_NATIVE_BINDING = 'none';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/onnx');
const workDir = mkdtempSync(path.join(tmpdir(), 'al-webgpu-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

let probe: WebGpuProbe = { available: false, reason: 'not probed' };
before(async () => {
  probe = await probeWebGpu();
  if (!probe.available && process.env.CI === 'true') {
    throw new Error(`CI must run the WebGPU tests, but there is no adapter (${probe.reason}). .ci/run installs chromium (its SwiftShader ICD) and libvulkan1.`);
  }
});

/** Skips a test (with the reason) when no WebGPU adapter is present here. */
function needsAdapter(context: { skip(message: string): void }): boolean {
  if (probe.available) return true;
  context.skip(`needs the Vulkan ICD (SwiftShader from chromium, and libvulkan1): ${probe.reason}`);
  return false;
}

const engine = new ExplainEngine();

async function exported(preset: string): Promise<string> {
  const file = path.join(workDir, `${preset}.onnx`);
  if (!existsSync(file)) writeFileSync(file, (await exportBuiltinModel({ model: `builtin:${preset}`, seed: 3 })).model);
  return file;
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Everything the panel shows, compared between a WebGPU trace and a WASM trace. */
function assertSameVisualisation(gpu: AttentionTrace, wasm: AttentionTrace): void {
  assert.equal(gpu.backend, 'webgpu', `ran on WebGPU (notices: ${gpu.notices.map((notice) => notice.message).join(' | ')})`);
  assert.match(gpu.adapter ?? '', /swiftshader/i, 'the trace names the adapter');
  assert.equal(wasm.backend, 'wasm');
  assert.equal(gpu.blocks.length, wasm.blocks.length);
  assert.ok(gpu.blocks.length > 0);
  gpu.blocks.forEach((block, b) => {
    const other = wasm.blocks[b];
    assert.deepEqual([block.kind, block.layer, block.heads, block.queries, block.keys], [other.kind, other.layer, other.heads, other.queries, other.keys]);
    const difference = maxDifference(block.probs, other.probs);
    assert.ok(difference <= 1e-4, `block ${b}: attention differs by ${difference}`);
    assert.deepEqual(block.mask, other.mask, `block ${b}: masks`);
  });
  assert.equal(gpu.residual.length, wasm.residual.length);
  gpu.residual.forEach((step, s) => {
    const other = wasm.residual[s].norms;
    step.norms.forEach((norm, i) => assert.ok(Math.abs(norm - other[i]) <= 1e-4 * Math.max(1, Math.abs(other[i])), `residual ${step.label} token ${i}: ${norm} vs ${other[i]}`));
  });
  assert.deepEqual(gpu.streams.map((stream) => stream.tokens.map((token) => token.id)), wasm.streams.map((stream) => stream.tokens.map((token) => token.id)));
}

async function both(model: string, text: string, options: ExplainOptions = {}): Promise<[AttentionTrace, AttentionTrace]> {
  const gpu = await engine.explain(text, { model, backend: 'webgpu', threads: 1, ...options });
  const wasm = await engine.explain(text, { model, backend: 'wasm', threads: 1, ...options });
  return [gpu, wasm];
}

describe('WebGPU (SwiftShader adapter) gives the same visualisation as WASM', () => {
  test('tiny-decoder export', async (context) => {
    if (!needsAdapter(context)) return;
    assertSameVisualisation(...(await both(await exported('tiny-decoder'), 'The cat sat on the mat. Then the cat sat again.')));
  });

  test('tiny-encdec export, with a decoder text', async (context) => {
    if (!needsAdapter(context)) return;
    const [gpu, wasm] = await both(await exported('tiny-encdec'), 'Where is the cat?', { decoderText: 'On the mat.' });
    assert.ok(gpu.blocks.some((block) => block.kind === 'cross'), 'cross-attention is compared too');
    assertSameVisualisation(gpu, wasm);
  });

  test('fixture optimum_tiny-distilbert_pt1.10_op11 (padding mask)', async (context) => {
    if (!needsAdapter(context)) return;
    const ids = [101, 7592, 1010, 2088, 999, 2023, 2003, 102];
    const [gpu, wasm] = await both(path.join(FIXTURES, 'optimum_tiny-distilbert_pt1.10_op11.onnx'), '', { inputs: { input_ids: { kind: 'ids', values: ids } } });
    assertSameVisualisation(gpu, wasm);
  });

  test('fixture genai_tiny-random-gpt2_fp32_fusedAttention_past (fused attention rewritten, causal, empty past)', async (context) => {
    if (!needsAdapter(context)) return;
    const ids = [10, 52, 7, 99, 31, 52, 7, 64];
    const [gpu, wasm] = await both(path.join(FIXTURES, 'genai_tiny-random-gpt2_fp32_fusedAttention_past.onnx'), '', { inputs: { input_ids: { kind: 'ids', values: ids } } });
    assert.ok(gpu.blocks.every((block) => block.kind === 'decoder-self'));
    assertSameVisualisation(gpu, wasm);
  });

  test('the taps run on the GPU: ONNX Runtime places every Softmax and ReduceL2 on WebGPU', async (context) => {
    if (!needsAdapter(context)) return;
    const placements = nodePlacements(await exported('tiny-decoder'));
    const cpu = placements.get('CPUExecutionProvider') ?? [];
    const gpu = placements.get('WebGpuExecutionProvider') ?? [];
    assert.ok(gpu.length > 0, 'ONNX Runtime reported its node placements');
    const tapOps = (nodes: string[]): string[] => nodes.filter((node) => /^(Softmax|ReduceL2)\b/.test(node));
    assert.deepEqual(tapOps(cpu), [], 'no tap op on the CPU');
    assert.equal(tapOps(gpu).filter((node) => node.startsWith('Softmax')).length, 3, "the 3 blocks' Softmax on WebGPU");
    assert.ok(tapOps(gpu).some((node) => node.startsWith('ReduceL2')), 'the residual norms (ReduceL2) on WebGPU');
    // The CPU keeps only shape arithmetic and the causal mask built from it.
    for (const node of cpu) assert.match(node, /^(Shape|Slice|Squeeze|Unsqueeze|Range|Greater|Where|Gather|Concat|Cast|Reshape|Expand|ConstantOfShape|Equal|Sub|Add|Mul|Div|Less|Not)\b/, `unexpected CPU node ${node}`);
  });

  test('auto never picks a software adapter: WASM runs, and the trace says why', async (context) => {
    if (!needsAdapter(context)) return;
    assert.ok(probe.available && probe.adapter.software, 'SwiftShader is reported as software');
    const trace = await engine.explain('The cat sat.', { model: await exported('tiny-decoder'), backend: 'auto', threads: 1 });
    assert.equal(trace.backend, 'wasm');
    assert.equal(trace.adapter, undefined);
    // auto was asked to choose: a choice note (beside the backend), not a fallback notice.
    assert.ok(trace.notices.some((notice) => notice.code === 'backend-choice' && /WebGPU was not used because its only adapter is .*swiftshader.*\(software\)/i.test(notice.message)), trace.notices.map((notice) => `${notice.code}: ${notice.message}`).join(' | '));
    assert.equal(trace.notices.filter((notice) => notice.code === 'backend').length, 0, trace.notices.map((notice) => notice.message).join(' | '));
  });

  test("auto's first-run trial (a software adapter let in for the test) compares speed and results, returns WASM's result, and names the faster with both times", async (context) => {
    if (!needsAdapter(context)) return;
    process.env.ATTENTION_LENS_WEBGPU_TRY_SOFTWARE = '1';
    try {
      // A copy under another name: the engine keeps loaded models (and their sessions) by file.
      const copy = path.join(workDir, 'tiny-decoder-trial.onnx');
      copyFileSync(await exported('tiny-decoder'), copy);
      const trial = await engine.explain('The dog sat.', { model: copy, backend: 'auto', threads: 1 });
      assert.equal(trial.backend, 'wasm', 'the trial run returns the WASM result');
      // Which is faster depends on the machine's load (SwiftShader against WASM on 2 shared cores):
      // the note must name the faster of the two times it reports.
      const notes = trial.notices.map((notice) => `${notice.code}: ${notice.message}`).join(' | ');
      const choice = trial.notices.find((notice) => notice.code === 'backend-choice')?.message ?? '';
      const times = /\((\d+) ms on WebGPU, (\d+) ms on WASM\)/.exec(choice);
      assert.ok(times, notes);
      const [gpuMs, wasmMs] = [Number(times[1]), Number(times[2])];
      if (/WASM was faster than WebGPU on this model/.test(choice)) assert.ok(wasmMs <= gpuMs, notes);
      else assert.ok(/WebGPU beat WASM on this model/.test(choice) && gpuMs < wasmMs, notes);
    } finally {
      delete process.env.ATTENTION_LENS_WEBGPU_TRY_SOFTWARE;
    }
  });
});

describe("auto's verdict", () => {
  test('WebGPU only when it is faster and agrees with WASM', () => {
    assert.equal(chooseAutoBackend({ wasmMs: 300, webGpuMs: 40, maxDifference: 2e-6 }).backend, 'webgpu');
    assert.equal(chooseAutoBackend({ wasmMs: 30, webGpuMs: 40, maxDifference: 2e-6 }).backend, 'wasm');
    const disagreeing = chooseAutoBackend({ wasmMs: 300, webGpuMs: 40, maxDifference: 10 * AUTO_AGREEMENT_TOLERANCE });
    assert.equal(disagreeing.backend, 'wasm');
    assert.match(disagreeing.reason, /differ from WASM's by up to/);
    assert.equal(chooseAutoBackend({ wasmMs: 300, webGpuMs: 40, maxDifference: Number.NaN }).backend, 'wasm', 'NaN where WASM has a number');
  });
});

/** ONNX Runtime's own report of which nodes each provider runs (its verbose "Node placements" log). */
function nodePlacements(modelPath: string): Map<string, string[]> {
  const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '../support/nodePlacements.ts'), modelPath], {
    encoding: 'utf8', env: process.env, maxBuffer: 64 * 1024 * 1024, timeout: 400_000,
  });
  // SwiftShader is the CPU: on a busy 2-core machine this took over 2 minutes, hence the long limit.
  assert.equal(child.status, 0, `nodePlacements failed (${child.signal ? `stopped by ${child.signal} after the time limit` : `exit ${child.status}`}): ${child.stderr.slice(-2000)}`);
  // "...VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 138"
  // then one "...VerifyEachNodeIsAssignedToAnEp]   Softmax (name)" line per node.
  const placements = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const raw of `${child.stdout}\n${child.stderr}`.split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
    const header = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (header) {
      current = [];
      placements.set(header[1], current);
      continue;
    }
    const node = /VerifyEachNodeIsAssignedToAnEp\]\s+(\w+) \((.*)\)\s*$/.exec(line);
    if (node && current) current.push(`${node[1]} ${node[2]}`);
    else if (!node) current = null;
  }
  return placements;
}
