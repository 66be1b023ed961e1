/**
 * The native backend (onnxruntime-node's CPU build) against WASM, and every way it falls back:
 *   - parity: native and WASM traces of the built-in exports and of shared fixtures agree
 *     (attention within 1e-5, same masks, residual norms within 1e-4 relative);
 *   - `auto` picks native when it loads, and the trace says which backend ran and why;
 *   - a binding that does not load (its ONNX Runtime library missing, or no binary for this
 *     platform: broken copies of the real package, loaded through ATTENTION_LENS_NATIVE_BINDING in a
 *     CLI process of their own) ends in WASM with one notice naming the reason;
 *   - a model the native build refuses, or a run that fails only on native (a stand-in binding that
 *     wraps the real one, test/support/nativeFakes/), ends in WASM with a notice;
 *   - an input both runtimes refuse reports WASM's error, and native keeps the model.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import type { ExplainOptions } from '../../src/engine/options';
import { NATIVE_BINDING_ENV, resetNativeForTests } from '../../src/engine/onnx/nativeRuntime';
import { chooseAutoBackend } from '../../src/engine/onnx/runtime';
import { UserFacingError } from '../../src/shared/errors';
import type { AttentionTrace } from '../../src/shared/trace';

const root = path.resolve(__dirname, '../..');
const FIXTURES = path.resolve(root, '../shared/fixtures/onnx');
const FAKES = path.join(root, 'test/support/nativeFakes');
const workDir = mkdtempSync(path.join(tmpdir(), 'al-native-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env[NATIVE_BINDING_ENV];
  resetNativeForTests();
});

const exported = new Map<string, string>();
async function exportOf(preset: string): Promise<string> {
  let file = exported.get(preset);
  if (!file) {
    file = path.join(workDir, `${preset}.onnx`);
    writeFileSync(file, (await exportBuiltinModel({ model: `builtin:${preset}`, seed: 5 })).model);
    exported.set(preset, file);
  }
  return file;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return a.length === b.length ? max : Number.POSITIVE_INFINITY;
}

function messages(trace: AttentionTrace): string {
  return trace.notices.map((notice) => `${notice.code}: ${notice.message}`).join(' | ');
}

/** What the panel shows, compared between a native and a WASM trace. */
function assertSameTrace(native: AttentionTrace, wasm: AttentionTrace, tolerance: number): void {
  assert.equal(native.backend, 'native', `ran on native (${messages(native)})`);
  assert.equal(wasm.backend, 'wasm');
  assert.ok(native.blocks.length > 0);
  assert.equal(native.blocks.length, wasm.blocks.length);
  native.blocks.forEach((block, b) => {
    const other = wasm.blocks[b];
    assert.deepEqual([block.kind, block.layer, block.heads, block.queries, block.keys], [other.kind, other.layer, other.heads, other.queries, other.keys]);
    const difference = maxDifference(block.probs, other.probs);
    assert.ok(difference <= tolerance, `block ${b}: attention differs by ${difference} (tolerance ${tolerance})`);
    assert.deepEqual(block.mask, other.mask, `block ${b}: masks`);
  });
  assert.equal(native.residual.length, wasm.residual.length);
  native.residual.forEach((step, s) => {
    const other = wasm.residual[s].norms;
    step.norms.forEach((norm, i) => assert.ok(Math.abs(norm - other[i]) <= 1e-4 * Math.max(1, Math.abs(other[i])), `residual ${step.label} token ${i}: ${norm} vs ${other[i]}`));
  });
}

describe('native and WASM give the same trace', () => {
  const engine = new ExplainEngine();
  const both = async (model: string, text: string, options: ExplainOptions = {}, tolerance = 1e-5): Promise<void> => {
    const native = await engine.explain(text, { model, backend: 'native', threads: 1, ...options });
    const wasm = await engine.explain(text, { model, backend: 'wasm', threads: 1, ...options });
    assertSameTrace(native, wasm, tolerance);
  };

  for (const preset of ['tiny-decoder', 'tiny-encdec', 'tiny-modern']) {
    test(`built-in ${preset}, exported`, async () => {
      await both(await exportOf(preset), 'The cat sat on the mat. Then the cat sat again.', preset === 'tiny-encdec' ? { decoderText: 'On the mat.' } : {});
    });
  }

  test('fixture ort_bert_toy_op12 (5 layers, additive mask)', async () => {
    await both(path.join(FIXTURES, 'ort_bert_toy_op12.onnx'), '', { inputs: { input_ids: { kind: 'ids', values: [5, 6, 7, 8, 9, 10] } } });
  });

  test('fixture optimum_tiny-distilbert_pt1.10_op11 (padding mask)', async () => {
    await both(path.join(FIXTURES, 'optimum_tiny-distilbert_pt1.10_op11.onnx'), '', { inputs: { input_ids: { kind: 'ids', values: [101, 7592, 1010, 2088, 999, 2023, 2003, 102] } } });
  });

  // This test model's projections put about 17 in every component of Q and K, so its scores sit
  // near 817 and differ between keys by 1e-4, a float32 step or two there (6.1e-5); one step moves
  // p ≈ 0.5 by 1.5e-5. Measured: native and WASM give the same scores to within one step, so the
  // probabilities agree within 4.6e-5; the tolerance is three steps' worth.
  test('fixture ort_mha_block_transformers1.16 (fused MultiHeadAttention, rewritten; scores near 817: 1e-4)', async () => {
    await both(path.join(FIXTURES, 'ort_mha_block_transformers1.16.onnx'), '', {
      inputs: {
        input_1: { kind: 'random', shape: [1, 3, 16], seed: 1 },
        input_2: { kind: 'random', shape: [1, 3, 16], seed: 2 },
        input_mask: { kind: 'ids', values: [1, 1, 0] },
      },
    }, 1e-4);
  });
});

describe('auto', () => {
  test('picks native when it loads, and the trace says which backend ran and why, as a choice, not a fallback', async () => {
    const trace = await new ExplainEngine().explain('The cat sat on the mat.', { model: await exportOf('tiny-decoder'), backend: 'auto', threads: 1 });
    assert.equal(trace.backend, 'native');
    // auto was asked to choose: no GPU here is its choice note, not a notice the user must act on.
    assert.equal(trace.notices.filter((notice) => notice.code === 'backend').length, 0, messages(trace));
    const choices = trace.notices.filter((notice) => notice.code === 'backend-choice');
    assert.equal(choices.length, 1, messages(trace));
    assert.match(choices[0].message, /^Native CPU \(onnxruntime-node 1\.30\.\d+, 1 thread\) ran: WebGPU was not used because /);
  });

  test("with a real GPU, the trial weighs WebGPU against native CPU (the verdict; a GPU run needs a GPU machine)", () => {
    assert.deepEqual(chooseAutoBackend({ wasmMs: 30, webGpuMs: 40, maxDifference: 1e-6 }, 'native'), {
      backend: 'native', reason: 'Native CPU was faster than WebGPU on this model (40 ms on WebGPU, 30 ms on native CPU), so native CPU runs it.',
    });
    assert.equal(chooseAutoBackend({ wasmMs: 300, webGpuMs: 40, maxDifference: 1e-6 }, 'native').backend, 'webgpu');
    assert.equal(chooseAutoBackend({ wasmMs: 300, webGpuMs: 40, maxDifference: 1 }, 'native').backend, 'native');
  });

  test('with native switched off, WASM runs and the one choice note says why', async () => {
    process.env[NATIVE_BINDING_ENV] = 'none';
    const trace = await new ExplainEngine().explain('The cat sat.', { model: await exportOf('tiny-decoder'), backend: 'auto', threads: 1 });
    assert.equal(trace.backend, 'wasm');
    assert.equal(trace.notices.filter((notice) => notice.code === 'backend').length, 0, messages(trace));
    const choices = trace.notices.filter((notice) => notice.code === 'backend-choice');
    assert.equal(choices.length, 1, messages(trace));
    assert.match(choices[0].message, /^WASM ran: WebGPU was not used because .*\. Native CPU was not used: it is switched off \(ATTENTION_LENS_NATIVE_BINDING=none\)\.$/);
  });
});

describe('a binding that does not load ends in WASM with one notice (a CLI process each)', () => {
  const cli = path.join(root, 'dist/cli.js');
  const realPackage = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const binFolder = `bin/napi-v6/${process.platform}/${process.arch}`;

  /** A copy of onnxruntime-node with `keep` deciding which of this platform's binaries stay. */
  function brokenCopy(name: string, keep: (file: string) => boolean): string {
    const folder = path.join(workDir, name, 'node_modules');
    const copy = path.join(folder, 'onnxruntime-node');
    mkdirSync(path.join(copy, 'dist'), { recursive: true });
    copyFileSync(path.join(realPackage, 'package.json'), path.join(copy, 'package.json'));
    for (const file of ['index.js', 'backend.js', 'binding.js', 'version.js']) copyFileSync(path.join(realPackage, 'dist', file), path.join(copy, 'dist', file));
    mkdirSync(path.join(copy, binFolder), { recursive: true });
    const binaries = readdirSync(path.join(realPackage, binFolder));
    for (const file of binaries.filter(keep)) copyFileSync(path.join(realPackage, binFolder, file), path.join(copy, binFolder, file));
    symlinkSync(path.dirname(require.resolve('onnxruntime-common')).replace(/[\\/]dist[\\/]cjs$/, ''), path.join(folder, 'onnxruntime-common'), 'dir');
    return copy;
  }

  async function runWith(binding: string, backend: string): Promise<{ trace: AttentionTrace; stderr: string }> {
    const json = path.join(workDir, `trace-${backend}-${path.basename(path.dirname(path.dirname(binding)))}.json`);
    // An ONNX file: with `auto`, a tiny built-in preset would run in TypeScript.
    const model = await exportOf('tiny-decoder');
    const result = spawnSync(process.execPath, [cli, '--model', model, '--backend', backend, '--threads', '1', '--json', json, 'The cat sat.'], {
      encoding: 'utf8', timeout: 120_000, env: { ...process.env, [NATIVE_BINDING_ENV]: binding },
    });
    assert.equal(result.status, 0, result.stderr);
    return { trace: JSON.parse(readFileSync(json, 'utf8')) as AttentionTrace, stderr: result.stderr };
  }

  test('its ONNX Runtime library missing (only the binding file is there)', async () => {
    const copy = brokenCopy('no-library', (file) => file.startsWith('onnxruntime_binding'));
    for (const backend of ['auto', 'native']) {
      const { trace } = await runWith(copy, backend);
      assert.equal(trace.backend, 'wasm', backend);
      // native asked for by name: a fallback (an exception); auto: its choice note (a fact).
      const backendNotices = trace.notices.filter((notice) => notice.code === (backend === 'auto' ? 'backend-choice' : 'backend'));
      assert.equal(backendNotices.length, 1, messages(trace));
      assert.match(backendNotices[0].message, new RegExp(`onnxruntime-node did not load on ${process.platform}-${process.arch} \\(.*(libonnxruntime|onnxruntime\\.dll|cannot open|not find|Library not loaded)`, 'i'));
    }
  });

  test('no binary for this platform', async () => {
    const copy = brokenCopy('no-platform', () => false);
    rmSync(path.join(copy, 'bin'), { recursive: true, force: true });
    const { trace } = await runWith(copy, 'native');
    assert.equal(trace.backend, 'wasm');
    const backendNotices = trace.notices.filter((notice) => notice.code === 'backend');
    assert.equal(backendNotices.length, 1, messages(trace));
    assert.match(backendNotices[0].message, /^Native CPU was not available: onnxruntime-node did not load on [a-z0-9]+-[a-z0-9]+ \(Cannot find module 'onnxruntime_binding\.node'\), so WASM ran instead\.$/);
  });
});

describe('native failures on a model end in WASM with a notice', () => {
  test('a model the native build refuses (an op it lacks) runs on WASM', async () => {
    process.env[NATIVE_BINDING_ENV] = path.join(FAKES, 'refusesModels.js');
    const engine = new ExplainEngine();
    for (const backend of ['auto', 'native'] as const) {
      const trace = await engine.explain('The cat sat.', { model: await exportOf('tiny-decoder'), backend, threads: 1 });
      assert.equal(trace.backend, 'wasm', backend);
      const backendNotices = trace.notices.filter((notice) => notice.code === 'backend');
      assert.equal(backendNotices.length, 1, messages(trace));
      assert.match(backendNotices[0].message, /^onnxruntime-node \(native CPU\) could not load this model \(Could not find an implementation for Softmax\(13\).*\), so WASM ran instead\.$/);
    }
  });

  test('a run that fails on native only is run again on WASM, which then keeps the model', async () => {
    process.env[NATIVE_BINDING_ENV] = path.join(FAKES, 'failsFirstRun.js');
    const engine = new ExplainEngine();
    const model = await exportOf('tiny-decoder');
    const first = await engine.explain('The cat sat.', { model, backend: 'native', threads: 1 });
    assert.equal(first.backend, 'wasm');
    assert.ok(first.notices.some((notice) => /^onnxruntime-node \(native CPU\) failed while running \(.*simulated kernel failure.*\), so WASM ran instead\.$/.test(notice.message)), messages(first));
    const second = await engine.explain('The dog sat.', { model, backend: 'native', threads: 1 });
    assert.equal(second.backend, 'wasm', 'WASM keeps the model');
    const wasm = await engine.explain('The dog sat.', { model, backend: 'wasm', threads: 1 });
    second.blocks.forEach((block, b) => assert.deepEqual(block.probs, wasm.blocks[b].probs));
  });

  test('an input both runtimes refuse reports the error, and native keeps the model', async () => {
    const engine = new ExplainEngine();
    const model = path.join(FIXTURES, 'ort_bert_toy_op12.onnx');
    // A token type far outside the model's table: a Gather both runtimes refuse at run time.
    await assert.rejects(
      engine.explain('', { model, backend: 'native', threads: 1, inputs: { input_ids: { kind: 'ids', values: [5, 6] }, token_type_ids: { kind: 'ids', values: [0, 100000] } } }),
      (error: unknown) => error instanceof UserFacingError && /The model failed to run on this input: .*indices element out of data bounds/.test(error.message),
    );
    const next = await engine.explain('', { model, backend: 'native', threads: 1, inputs: { input_ids: { kind: 'ids', values: [5, 6, 7] } } });
    assert.equal(next.backend, 'native', messages(next));
    assert.equal(next.notices.filter((notice) => notice.code === 'backend').length, 0, messages(next));
  });
});
