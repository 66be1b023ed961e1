/**
 * A trace fetched in several ONNX Runtime runs (what lets gpt2-shape on 2048 tokens run inside
 * WebAssembly's 4 GiB) equals the trace of one run: the same graph computes each output from the
 * same inputs. Forced here with ATTENTION_LENS_PASS_MB on small models, on WASM and native.
 */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { checkWasmMemory, estimateTrace, planPasses, wasmPassBytes } from '../../src/engine/traceEstimate';
import { UserFacingError } from '../../src/shared/errors';
import type { AttentionTrace } from '../../src/shared/trace';
import { tempFolder } from '../support/tempFolders';

afterEach(() => {
  delete process.env.ATTENTION_LENS_PASS_MB;
});

test('taps are grouped in order under the budget; a tap over it runs alone', () => {
  assert.deepEqual(planPasses([3, 3, 3, 3], 6), [[0, 1], [2, 3]]);
  assert.deepEqual(planPasses([3, 10, 3], 6), [[0], [1], [2]]);
  assert.deepEqual(planPasses([1, 1, 1], Number.POSITIVE_INFINITY), [[0, 1, 2]]);
  assert.deepEqual(planPasses([], 5), []);
});

test('WASM refuses only what does not fit one block at a time: gpt2-shape on 2048 tokens runs in passes', () => {
  const gpt2Weights = 500 * 2 ** 20;
  const blocks = Array.from({ length: 12 }, () => ({ heads: 12, queries: 2048, keys: 2048 }));
  const estimate = estimateTrace(blocks, false);
  assert.ok(estimate.bytes > 2.2 * 2 ** 30, '2.4 GB of attention');
  assert.doesNotThrow(() => checkWasmMemory(estimate, gpt2Weights, 2048));
  const budget = wasmPassBytes(gpt2Weights, estimate.largestBlockValues);
  assert.equal(budget, 2 ** 30, 'at most 1 GiB per run');
  // Each block with its mask: 12 heads + 1 mask of 2048 x 2048 floats.
  assert.equal(planPasses(blocks.map(() => 13 * 2048 * 2048 * 4), budget).length, 3);
  const huge = estimateTrace([{ heads: 32, queries: 8192, keys: 8192 }], false);
  assert.throws(() => checkWasmMemory(huge, gpt2Weights, 8192), (error: unknown) => error instanceof UserFacingError && error.code === 'wasm-memory' && /largest layer alone/.test(error.message));
});

async function explainBoth(model: string, text: string, options: { backend: 'wasm' | 'native'; decoderText?: string }): Promise<[AttentionTrace, AttentionTrace]> {
  const engine = new ExplainEngine(null);
  const whole = await engine.explain(text, { model, threads: 1, ...options });
  process.env.ATTENTION_LENS_PASS_MB = '0.0001';
  const inPasses = await engine.explain(text, { model, threads: 1, ...options });
  return [whole, inPasses];
}

for (const backend of ['wasm', 'native'] as const) {
  test(`${backend}: a trace fetched one block per run equals the trace of one run (tiny-encdec, every block kind and mask)`, async () => {
    const file = path.join(tempFolder('al-passes-'), 'encdec.onnx');
    writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-encdec', seed: 5 })).model);
    const [whole, inPasses] = await explainBoth(file, 'Passes give the same attention.', { backend, decoderText: 'Same attention.' });
    assert.equal(whole.notices.some((notice) => notice.code === 'passes'), false);
    const note = inPasses.notices.find((notice) => notice.code === 'passes');
    assert.ok(note, 'the trace says it was fetched in runs');
    assert.match(note.message, /fetched in 6 runs of the model/);
    assert.equal(inPasses.blocks.length, whole.blocks.length);
    inPasses.blocks.forEach((block, index) => {
      assert.deepEqual(block.probs, whole.blocks[index].probs, `block ${index}`);
      assert.deepEqual(block.mask, whole.blocks[index].mask, `mask ${index}`);
    });
    assert.deepEqual(inPasses.residual.map((step) => Array.from(step.norms)), whole.residual.map((step) => Array.from(step.norms)));
  });
}
