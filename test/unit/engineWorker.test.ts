/**
 * The engine through its worker thread, as the extension host and the CLI use it.
 * Needs the bundles (npm test builds them first).
 */
import { strict as assert } from 'node:assert';
import { existsSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { CancelledError, UserFacingError } from '../../src/shared/errors';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import { EngineClient } from '../../src/engine/worker/engineClient';
import { TraceFile } from '../../src/engine/traceFile/reader';
import { tempFolder } from '../support/tempFolders';

const workerScript = path.resolve(__dirname, '../../dist/engineWorker.js');
assert.ok(existsSync(workerScript), 'dist/engineWorker.js is missing: run npm run build first');
const client = new EngineClient(workerScript);
after(() => client.dispose());

test('explain through the worker returns a decoded trace', async () => {
  const trace = await client.explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec' });
  assert.equal(trace.model.kind, 'encoder-decoder');
  assert.equal(trace.blocks.length, 6);
  assert.ok(trace.blocks[0].probs instanceof Float32Array);
  assert.equal(trace.backend, 'reference');
});

test('an ONNX model runs in the bundled worker (onnxruntime-web finds its .wasm beside the bundle)', async () => {
  const file = path.join(tempFolder('al-worker-onnx-'), 'tiny.onnx');
  writeFileSync(file, (await exportBuiltinModel({ model: 'builtin:tiny-decoder' })).model);
  const trace = await client.explain('The cat sat on the mat.', { model: file, backend: 'wasm', threads: 2 });
  assert.equal(trace.backend, 'wasm');
  assert.equal(trace.blocks.length, 3);
  const reference = await client.explain('The cat sat on the mat.', { model: 'builtin:tiny-decoder' });
  let worst = 0;
  trace.blocks.forEach((block, b) => block.probs.forEach((p, i) => { worst = Math.max(worst, Math.abs(p - reference.blocks[b].probs[i])); }));
  assert.ok(worst < 1e-5, `max |Δp| ${worst}`);
});

test('user errors cross the worker boundary with their hint', async () => {
  await assert.rejects(client.explain('   '), (error: unknown) => error instanceof UserFacingError && /whitespace/.test(error.message) && error.hint.length > 0);
});

test('a run can be cancelled, and the next run works', async () => {
  const controller = new AbortController();
  const started = Date.now();
  const running = client.explain('x'.repeat(128), { model: 'builtin:paper-base', backend: 'reference' }, controller.signal);
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(running, (error: unknown) => error instanceof CancelledError);
  // Cancellation is cooperative (between sub-layers) with a terminate fallback: it ends in seconds, not a whole run.
  assert.ok(Date.now() - started < 10_000);
  const trace = await client.explain('still alive');
  assert.equal(trace.blocks.length, 3);
});

test('a pre-aborted signal rejects at once', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(client.explain('abc', {}, controller.signal), CancelledError);
});

test('requests run in order and each gets its own result', async () => {
  const texts = ['one', 'two two', 'three three three'];
  const traces = await Promise.all(texts.map((text) => client.explain(text)));
  traces.forEach((trace, i) => assert.equal(trace.streams[0].text, texts[i]));
});

test('a cancelled run stuck in uninterruptible work is terminated, and the run queued behind it still completes', async () => {
  // A 50 ms grace and gpt2-shape's seeded weight init (over a second, no cancel checks) force the
  // terminate path: run B, queued behind A on the same worker, must move to a fresh worker.
  const impatient = new EngineClient(workerScript, 50);
  try {
    const controller = new AbortController();
    const runA = impatient.explain('a', { model: 'builtin:gpt2-shape', backend: 'reference' }, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const runB = impatient.explain('run B', { model: 'builtin:tiny-decoder' });
    controller.abort();
    await assert.rejects(runA, CancelledError);
    const trace = await runB;
    assert.equal(trace.streams[0].text, 'run B');
  } finally {
    await impatient.dispose();
  }
});

test('dispose rejects pending runs as cancelled', async () => {
  const disposable = new EngineClient(workerScript);
  const running = disposable.explain('x'.repeat(64), { model: 'builtin:paper-base', backend: 'reference' });
  const outcome = assert.rejects(running, CancelledError);
  await new Promise((resolve) => setTimeout(resolve, 50));
  await disposable.dispose();
  await outcome;
  await assert.rejects(disposable.explain('after'), /disposed/);
});

test('explainOrFile: a trace over the inline budget comes as a trace file the engine thread wrote, equal to the one sent whole', async () => {
  const text = 'The cat sat on the mat. The cat sat on the mat.';
  const whole = await client.explainOrFile(text, { model: 'builtin:tiny-decoder' }, Number.MAX_SAFE_INTEGER);
  assert.ok(!('file' in whole), 'within the budget the trace is sent');
  const held = await client.explainOrFile(text, { model: 'builtin:tiny-decoder' }, 0);
  assert.ok('file' in held, 'over the budget it is a file');
  try {
    assert.equal(path.dirname(held.file), held.folder);
    const file = await TraceFile.open(held.file);
    try {
      const back = await file.readTrace();
      assert.equal(back.blocks.length, whole.blocks.length);
      back.blocks.forEach((block, index) => assert.deepEqual(block.probs, whole.blocks[index].probs, `block ${index}`));
    } finally {
      await file.close();
    }
  } finally {
    await rm(held.folder, { recursive: true, force: true });
  }
});
