/**
 * Both paths agree: each built-in model, exported to ONNX and run by onnxruntime-web through the
 * generic tapper, gives the same attention, masks and residual norms as the TypeScript reference.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { onnx } from 'onnx-proto';
import { ExplainEngine } from '../../src/engine/explain';
import type { ExplainOptions } from '../../src/engine/options';
import { exportBuiltinModel } from '../../src/engine/exportModel';
import type { AttentionBlock, AttentionTrace } from '../../src/shared/trace';

const workDir = mkdtempSync(path.join(tmpdir(), 'al-parity-'));
after(() => rmSync(workDir, { recursive: true, force: true }));
const engine = new ExplainEngine();
const exported = new Map<string, string>();

async function exportedFile(preset: string, seed: number): Promise<string> {
  const key = `${preset}-${seed}`;
  let file = exported.get(key);
  if (!file) {
    file = path.join(workDir, `${key}.onnx`);
    writeFileSync(file, (await exportBuiltinModel({ model: `builtin:${preset}`, seed })).model);
    exported.set(key, file);
  }
  return file;
}

/** Mask cells with "no mask" written out as all allowed. */
function effectiveMask(block: AttentionBlock): Uint8Array {
  return block.mask ?? new Uint8Array(block.queries * block.keys).fill(1);
}

function compare(reference: AttentionTrace, onnx: AttentionTrace): void {
  assert.equal(onnx.backend, 'wasm');
  assert.equal(onnx.model.kind, reference.model.kind);
  assert.deepEqual(onnx.streams.map((s) => s.tokens.map((t) => t.id)), reference.streams.map((s) => s.tokens.map((t) => t.id)));
  assert.equal(onnx.blocks.length, reference.blocks.length, 'block count');
  reference.blocks.forEach((expected, index) => {
    const actual = onnx.blocks[index];
    const where = `block ${index} (${expected.kind} L${expected.layer})`;
    assert.equal(actual.kind, expected.kind, `${where}: kind`);
    assert.equal(actual.layer, expected.layer, `${where}: layer`);
    assert.equal(actual.source, expected.source, `${where}: the model's name for it`);
    assert.deepEqual([actual.heads, actual.queries, actual.keys], [expected.heads, expected.queries, expected.keys], `${where}: shape`);
    let worst = 0;
    for (let i = 0; i < expected.probs.length; i++) worst = Math.max(worst, Math.abs(actual.probs[i] - expected.probs[i]));
    assert.ok(worst <= 1e-5, `${where}: max |Δp| = ${worst}`);
    assert.deepEqual(effectiveMask(actual), effectiveMask(expected), `${where}: mask cells`);
    assert.equal(actual.slidingWindow, expected.slidingWindow, `${where}: sliding window read from the mask`);
  });
  assert.deepEqual(onnx.residual.map((s) => s.label), reference.residual.map((s) => s.label), 'residual steps');
  reference.residual.forEach((expected, index) => {
    const actual = onnx.residual[index];
    expected.norms.forEach((norm, token) => {
      const relative = Math.abs(actual.norms[token] - norm) / Math.max(norm, 1e-6);
      assert.ok(relative <= 1e-5, `${expected.label} token ${token}: ${actual.norms[token]} vs ${norm} (relative ${relative})`);
    });
  });
}

async function parity(preset: string, text: string, options: ExplainOptions = {}): Promise<void> {
  const reference = await engine.explain(text, { model: `builtin:${preset}`, seed: 11, backend: 'reference', ...options });
  const onnx = await engine.explain(text, { model: await exportedFile(preset, 11), backend: 'wasm', threads: 1, ...options });
  compare(reference, onnx);
}

describe('built-in model = its ONNX export run by onnxruntime-web', () => {
  const inputs = ['The cat sat on the mat.', 'a', 'déjà vu 🙂\tcafé\r\n二'];
  for (const preset of ['tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'tiny-modern']) {
    for (const text of inputs) {
      test(`${preset} on ${JSON.stringify(text)}`, () => parity(preset, text));
    }
  }
  test('tiny-encoder with padding: identical padding masks', () => parity('tiny-encoder', 'pad me', { padTo: 10 }));
  test('tiny-encdec with a decoder text and padding', () => parity('tiny-encdec', 'Bonjour', { decoderText: 'Hello there', padTo: 9 }));
  test('paper-base (6+6 layers, d=512) on 32 tokens', () => parity('paper-base', 'Attention is all you need, truly.'));
  test('tiny-modern past its 32-token window (RMSNorm, RoPE, SwiGLU, grouped-query attention in plain operators)', () =>
    parity('tiny-modern', 'Rotary positions turn queries and keys; grouped queries share their keys and values.'));
});

test('qwen2-shape (24 layers, 14 query heads on 2 KV heads, 2 GB of weights in external data) equals the reference', async () => {
  // Through the engine, as a user runs it: the export goes to external data (over 1.5 GB of weights).
  const text = 'Grouped queries share keys.';
  const reference = await engine.explain(text, { model: 'builtin:qwen2-shape', backend: 'reference' });
  const onnx = await engine.explain(text, { model: 'builtin:qwen2-shape', backend: 'wasm' });
  assert.equal(onnx.blocks.length, 24);
  for (const [index, expected] of reference.blocks.entries()) {
    const actual = onnx.blocks[index];
    assert.equal(actual.kvHeads, 2);
    assert.deepEqual(actual.kvHeadOf, expected.kvHeadOf);
    let worst = 0;
    for (let i = 0; i < expected.probs.length; i++) worst = Math.max(worst, Math.abs(actual.probs[i] - expected.probs[i]));
    assert.ok(worst <= 1e-5, `block ${index}: max |Δp| = ${worst}`);
  }
});

test('the exported file carries its tokenizer and config: it runs on text with nothing beside it', async () => {
  const file = await exportedFile('tiny-encdec', 11);
  const trace = await engine.explain('hello', { model: file, backend: 'wasm', threads: 1 });
  assert.match(trace.model.tokenizer, /bytes .*metadata/);
  assert.equal(trace.model.dModel, 64);
  assert.equal(trace.model.name, path.basename(file));
  assert.equal(trace.model.source, 'onnx');
});

test('a model with its weights in external data (model.onnx.data beside it) loads and gives the same trace', async () => {
  const bytes = (await exportBuiltinModel({ model: 'builtin:tiny-decoder', seed: 11 })).model;
  const model = onnx.ModelProto.decode(bytes);
  const folder = mkdtempSync(path.join(workDir, 'external-'));
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of model.graph!.initializer!) {
    const raw = tensor.rawData!;
    if (raw.length < 1024) continue; // small constants stay inline, as exporters do
    tensor.externalData = [
      { key: 'location', value: 'model.onnx.data' },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    chunks.push(raw);
    offset += raw.length;
    tensor.rawData = new Uint8Array(0);
  }
  const data = new Uint8Array(offset);
  let position = 0;
  for (const chunk of chunks) {
    data.set(chunk, position);
    position += chunk.length;
  }
  writeFileSync(path.join(folder, 'model.onnx.data'), data);
  const file = path.join(folder, 'model.onnx');
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
  const reference = await engine.explain('external data', { model: 'builtin:tiny-decoder', seed: 11, backend: 'reference' });
  const loaded = await engine.explain('external data', { model: file, backend: 'wasm', threads: 1 });
  compare(reference, loaded);
});

test('built-in models run through their own ONNX export unless the backend is "reference"', async () => {
  const viaOnnx = await engine.explain('Attention is all you need.', { model: 'builtin:tiny-encdec', seed: 11, backend: 'wasm', threads: 1 });
  const reference = await engine.explain('Attention is all you need.', { model: 'builtin:tiny-encdec', seed: 11, backend: 'reference' });
  assert.equal(viaOnnx.backend, 'wasm');
  assert.equal(reference.backend, 'reference');
  assert.equal(viaOnnx.model.name, 'builtin:tiny-encdec', 'still described as the built-in model');
  compare(reference, viaOnnx);
  const auto = await engine.explain('abc', { model: 'builtin:tiny-decoder' });
  assert.equal(auto.backend, 'reference', 'small presets stay in TypeScript on auto');
});

test('the long path: gpt2-shape through its ONNX export equals the reference, and a long input shows its first block early', async () => {
  // A moderate length for the parity (the TypeScript reference of a 124 M model is slow), then a
  // long one for the first-block path.
  const text = 'Long inputs must give the same numbers on the fast path as on the readable reference.';
  const reference = await engine.explain(text, { model: 'builtin:gpt2-shape', backend: 'reference' });
  const onnxTrace = await engine.explain(text, { model: 'builtin:gpt2-shape', backend: 'wasm', threads: 2 });
  compare(reference, onnxTrace);
  const long = 'x'.repeat(300);
  const partials: AttentionTrace[] = [];
  const whole = await engine.explain(long, { model: 'builtin:gpt2-shape', backend: 'wasm', threads: 2 }, undefined, (partial) => partials.push(partial));
  assert.equal(partials.length, 1, 'one partial trace before the whole one');
  assert.equal(partials[0].blocks.length, 1);
  assert.deepEqual(partials[0].blocks[0].probs, whole.blocks[0].probs, 'the first block is the same block');
  assert.equal(partials[0].model.name, 'builtin:gpt2-shape');
  assert.match(partials[0].notices.map((found) => found.message).join(' '), /other 11 blocks are still being computed/);
  assert.equal(whole.blocks.length, 12);
});
