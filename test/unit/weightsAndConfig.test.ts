import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { UserFacingError } from '../../src/shared/errors';
import { ExplainEngine } from '../../src/engine/explain';
import { countParameters, getPreset, PRESETS, validateConfig } from '../../src/engine/reference/config';
import { halfToFloat, parseSafetensors, serializeSafetensors } from '../../src/engine/reference/safetensors';
import { WeightStore, weightSpecs } from '../../src/engine/reference/weights';
import { tempFolder } from '../support/tempFolders';

test('preset parameter counts match the known model sizes', () => {
  // The paper reports 65 M for base (with its own vocabulary); GPT-2 small is 124 M.
  assert.ok(Math.abs(countParameters(PRESETS['paper-base']) - 63.1e6) < 0.1e6, String(countParameters(PRESETS['paper-base'])));
  assert.ok(Math.abs(countParameters(PRESETS['gpt2-shape']) - 123.7e6) < 0.1e6, String(countParameters(PRESETS['gpt2-shape'])));
  // The count equals the sum of the tensors the model really has.
  for (const config of Object.values(PRESETS)) {
    const total = weightSpecs(config).reduce((sum, spec) => sum + spec.shape.reduce((p, d) => p * d, 1), 0);
    assert.equal(total, countParameters(config));
  }
});

test('invalid configurations are refused with the numbers in the message', () => {
  const base = PRESETS['tiny-decoder'];
  assert.throws(() => validateConfig({ ...base, heads: 3 }), (error: Error) => error instanceof UserFacingError && /divisible by heads \(3\)/.test(error.message));
  assert.throws(() => validateConfig({ ...base, dModel: -4 }), /dModel must be a positive integer/);
  assert.throws(() => validateConfig({ ...base, encoderLayers: 2 }), /needs encoderLayers = 0/);
  assert.throws(() => validateConfig({ ...base, activation: 'tanh' as 'relu' }), /activation/);
  assert.throws(() => getPreset('gpt5'), (error: Error) => error instanceof UserFacingError && /tiny-decoder/.test(error.hint));
});

test('seeded weights follow the documented init', () => {
  const config = PRESETS['tiny-encoder'];
  const store = WeightStore.fromSeed(config, 1);
  const fc1 = store.tensor('encoder.layers.0.feed_forward.fc1.weight', [config.dFF, config.dModel]);
  const bound = Math.sqrt(6 / (config.dFF + config.dModel));
  assert.ok(fc1.every((v) => Math.abs(v) <= bound));
  const embedding = store.tensor('embedding.weight', [config.vocabSize, config.dModel]);
  const variance = embedding.reduce((s, v) => s + v * v, 0) / embedding.length;
  assert.ok(Math.abs(variance - 1 / config.dModel) < 0.1 / config.dModel, `embedding variance ${variance}`);
  assert.ok(store.tensor('encoder.layers.0.norm_feed_forward.weight', [config.dModel]).every((v) => v === 1));
  assert.ok(store.tensor('encoder.layers.0.self_attention.query.bias', [config.dModel]).every((v) => v === 0));
});

test('safetensors round-trip and a model loaded from it equals the seeded one', async () => {
  const config = PRESETS['tiny-decoder'];
  const seeded = WeightStore.fromSeed(config, 5);
  const bytes = serializeSafetensors(weightSpecs(config).map((spec) => ({ name: spec.name, shape: spec.shape, values: seeded.tensor(spec.name, spec.shape) })), { note: 'test' });
  const parsed = parseSafetensors(bytes);
  assert.equal(parsed.metadata.note, 'test');
  assert.deepEqual(parsed.tensors.get('embedding.weight')!.values, seeded.tensor('embedding.weight', [config.vocabSize, config.dModel]));
  const directory = tempFolder('al-weights-');
  const file = path.join(directory, 'tiny.safetensors');
  writeFileSync(file, bytes);
  const engine = new ExplainEngine();
  const fromFile = await engine.explain('same weights', { model: 'builtin:tiny-decoder', weightsPath: file });
  const fromSeed = await engine.explain('same weights', { model: 'builtin:tiny-decoder', seed: 5 });
  fromFile.blocks.forEach((block, i) => assert.deepEqual(block.probs, fromSeed.blocks[i].probs));
  assert.equal(fromFile.model.weights, file);
});

test('safetensors F16 and BF16 widen correctly; corrupt files give clear errors', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7c00), Infinity);
  const header = JSON.stringify({ a: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'F16', shape: [1], data_offsets: [4, 6] } });
  const bytes = new Uint8Array(8 + header.length + 6);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(new TextEncoder().encode(header), 8);
  const data = new DataView(bytes.buffer, 8 + header.length);
  data.setUint16(0, 0x3f80, true); // bf16 1.0
  data.setUint16(2, 0xc040, true); // bf16 -3.0
  data.setUint16(4, 0x3800, true); // f16 0.5
  const parsed = parseSafetensors(bytes);
  assert.deepEqual(Array.from(parsed.tensors.get('a')!.values), [1, -3]);
  assert.deepEqual(Array.from(parsed.tensors.get('b')!.values), [0.5]);

  assert.throws(() => parseSafetensors(bytes.subarray(0, 5)), /not a valid safetensors file: it has only 5 bytes/);
  assert.throws(() => parseSafetensors(bytes.subarray(0, bytes.length - 2)), /points outside the file/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  assert.throws(() => parseSafetensors(huge), /header claims/);
});

test('weights that do not fit the preset are refused with the tensor names', () => {
  const config = PRESETS['tiny-decoder'];
  const tensors = new Map([['embedding.weight', { values: new Float32Array(4), shape: [2, 2], dtype: 'F32' as const }]]);
  assert.throws(() => WeightStore.fromSafetensors(config, tensors, 'w.safetensors'), (error: Error) =>
    error instanceof UserFacingError && /embedding.weight has shape \[2, 2\], expected \[260, 64\]/.test(error.message) && /and \d+ more/.test(error.message));
});

test('a weights file rewritten in place is loaded again, not served from the cache', async () => {
  const config = PRESETS['tiny-decoder'];
  const save = (seed: number, file: string): void => {
    const store = WeightStore.fromSeed(config, seed);
    writeFileSync(file, serializeSafetensors(weightSpecs(config).map((spec) => ({ name: spec.name, shape: spec.shape, values: store.tensor(spec.name, spec.shape) }))));
  };
  const file = path.join(tempFolder('al-stale-'), 'w.safetensors');
  const engine = new ExplainEngine();
  save(1, file);
  const first = await engine.explain('retrained', { model: 'builtin:tiny-decoder', weightsPath: file });
  save(2, file);
  const second = await engine.explain('retrained', { model: 'builtin:tiny-decoder', weightsPath: file });
  const expected = await engine.explain('retrained', { model: 'builtin:tiny-decoder', seed: 2 });
  assert.notDeepEqual(second.blocks[0].probs, first.blocks[0].probs);
  assert.deepEqual(second.blocks[0].probs, expected.blocks[0].probs);
});
