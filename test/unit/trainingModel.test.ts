/**
 * The training forward is the visualised model: on the same weights, the training code's logits
 * and loss equal the reference Transformer's (transformer.ts forward, then the tied LM head:
 * decoderOutput · embeddingᵀ), and its parameters load unchanged through WeightStore.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { neverCancelled } from '../../src/shared/errors';
import { PRESETS, type TransformerConfig, countParameters } from '../../src/engine/reference/config';
import { parseSafetensors, serializeSafetensors } from '../../src/engine/reference/safetensors';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore, weightSpecs } from '../../src/engine/reference/weights';
import { batchFromWindows } from '../../tools/training/batches';
import { referenceLoss } from '../../tools/training/evaluate';
import { DecoderTrainingModel } from '../../tools/training/model';
import { ParameterLayout } from '../../tools/training/parameters';
import { TRAINED_DECODER_CONFIG } from '../../tools/training/trainedModel';

const CONFIGS: Array<[string, TransformerConfig]> = [
  ['the trained decoder', TRAINED_DECODER_CONFIG],
  ['post-LN, ReLU, unscaled embedding', { ...TRAINED_DECODER_CONFIG, normPlacement: 'post', activation: 'relu', scaleEmbedding: false, decoderLayers: 2 }],
];

/** Parameters in float32 (what a safetensors file holds), widened: both models then read the same numbers. */
function float32Parameters(layout: ParameterLayout, seed: number): Float64Array {
  const params = layout.initialValues(seed);
  // Move the norms and biases away from 1 and 0 so every tensor matters.
  let state = seed;
  for (const slot of layout.slots) {
    if (slot.shape.length !== 1) continue;
    for (let i = 0; i < slot.size; i++) {
      state = (state * 1103515245 + 12345) % 2147483648;
      params[slot.offset + i] += (state / 2147483648 - 0.5) * 0.4;
    }
  }
  return Float64Array.from(Float32Array.from(params));
}

function storeOf(layout: ParameterLayout, params: Float64Array): WeightStore {
  const bytes = serializeSafetensors(layout.toFloat32Tensors(params));
  return WeightStore.fromSafetensors(layout.config, parseSafetensors(bytes).tensors, 'test weights');
}

describe('training forward = reference Transformer', () => {
  test('the layout is exactly the reference weight list, and the trained config is a valid decoder', () => {
    const layout = new ParameterLayout(TRAINED_DECODER_CONFIG);
    assert.deepEqual(layout.slots.map((slot) => [slot.name, slot.shape]), weightSpecs(TRAINED_DECODER_CONFIG).map((spec) => [spec.name, spec.shape]));
    assert.equal(layout.size, countParameters(TRAINED_DECODER_CONFIG));
    assert.equal(TRAINED_DECODER_CONFIG.kind, 'decoder');
    assert.equal(TRAINED_DECODER_CONFIG.vocabSize, 260);
    // Seeded init is the reference's own.
    const seeded = WeightStore.fromSeed(TRAINED_DECODER_CONFIG, 5);
    const params = layout.initialValues(5);
    for (const slot of layout.slots) {
      assert.deepEqual(Float32Array.from(layout.view(params, slot.name)), seeded.tensor(slot.name, slot.shape));
    }
  });

  for (const [name, config] of CONFIGS) {
    test(`${name}: logits and loss within 1e-4 on two 70-token sequences`, () => {
      const layout = new ParameterLayout(config);
      const params = float32Parameters(layout, 9);
      const transformer = new Transformer(config, storeOf(layout, params));
      const model = new DecoderTrainingModel(config, layout);
      const length = 70;
      const text = 'function add(a: number, b: number): number {\n  return a + b;\n}\nconst sum = add(1, 2); // 3\n';
      const stream = Uint16Array.from(Buffer.from(text), (byte) => byte + 4);
      const batch = batchFromWindows(stream, [0, 19], length);
      const logits = model.logits(params, batch.ids, batch.shape);
      let worst = 0;
      for (let sequence = 0; sequence < 2; sequence++) {
        const ids = Array.from(batch.ids.subarray(sequence * length, (sequence + 1) * length));
        const output = transformer.forward({ decoderIds: ids }, neverCancelled);
        const expected = transformer.head.logits(output.decoderOutput!);
        assert.equal(expected.cols, config.vocabSize);
        for (let i = 0; i < expected.data.length; i++) {
          worst = Math.max(worst, Math.abs(expected.data[i] - logits[sequence * length * config.vocabSize + i]));
        }
      }
      assert.ok(worst < 1e-4, `largest logit difference ${worst}`);
      const trainingLoss = model.loss(params, batch.ids, batch.targets, batch.shape, 1 / (2 * length));
      const reference = referenceLoss(transformer, [batch]);
      assert.ok(Math.abs(trainingLoss - reference.natsPerByte) < 1e-4, `loss ${trainingLoss} vs reference ${reference.natsPerByte}`);
    });
  }

  test('a trained model\'s layout reads back from its safetensors file unchanged', () => {
    const layout = new ParameterLayout(PRESETS['tiny-decoder']);
    const params = float32Parameters(layout, 3);
    const bytes = serializeSafetensors(layout.toFloat32Tensors(params));
    assert.deepEqual(layout.fromTensors(parseSafetensors(bytes).tensors), params);
  });
});
