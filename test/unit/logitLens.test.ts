/**
 * The logit lens: every layer's residual stream through the final norm and the unembedding.
 * A 2-layer model whose sub-layers add constants (zero weights, chosen biases) has a residual stream
 * one can write down, so its lens is worked by hand here; the trained model's lens is checked
 * against a float64 recomputation from its layer states; the last layer's lens equals the
 * predictions on every kind of model and on both backends.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { referencePredictions } from '../../src/engine/analysis/predictions';
import { idTextOf } from '../../src/engine/analysis/topTokens';
import { loadBuiltinModel } from '../../src/engine/builtin';
import { ExplainEngine } from '../../src/engine/explain';
import type { TransformerConfig } from '../../src/engine/reference/config';
import { PRESETS } from '../../src/engine/reference/config';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore, type WeightSource } from '../../src/engine/reference/weights';
import { createByteTokenizer } from '../../src/engine/tokenizers/index';
import { neverCancelled } from '../../src/shared/errors';
import type { TokenPrediction } from '../../src/shared/trace';

/**
 * d = 4, vocabulary 6, 2 pre-LN layers. Rotary positions add nothing to the embedding, and every
 * output projection (attention output, second feed-forward layer) is zero, so each sub-layer adds
 * its bias alone: layer 0 adds c0 + b0 = [0, 0, 2, 0], layer 1 adds c1 + b1 = [0, 0, 0, 3].
 */
const HAND_CONFIG: TransformerConfig = {
  kind: 'decoder', vocabSize: 6, dModel: 4, heads: 2, dFF: 4, encoderLayers: 0, decoderLayers: 2,
  normPlacement: 'pre', activation: 'gelu', scaleEmbedding: false, layerNormEpsilon: 1e-5, positions: 'rope',
};
const EMBEDDING = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]];
const ATTENTION_BIAS = [[0, 0, 1, 0], [0, 0, 0, 1]];
const FEED_FORWARD_BIAS = [[0, 0, 1, 0], [0, 0, 0, 2]];

function handWeights(): WeightSource {
  const seeded = WeightStore.fromSeed(HAND_CONFIG, 7);
  const overrides = new Map<string, number[]>([['embedding.weight', EMBEDDING.flat()]]);
  for (const layer of [0, 1]) {
    const prefix = `decoder.layers.${layer}`;
    overrides.set(`${prefix}.self_attention.output.weight`, new Array<number>(16).fill(0));
    overrides.set(`${prefix}.self_attention.output.bias`, ATTENTION_BIAS[layer]);
    overrides.set(`${prefix}.feed_forward.fc2.weight`, new Array<number>(16).fill(0));
    overrides.set(`${prefix}.feed_forward.fc2.bias`, FEED_FORWARD_BIAS[layer]);
  }
  return { tensor: (name, shape) => (overrides.has(name) ? Float32Array.from(overrides.get(name) ?? []) : seeded.tensor(name, shape)) };
}

/** Float64 layer norm (gain 1, bias 0, as seeded), unembedding by the rows of `embedding`, softmax. */
function lensProbabilities(x: readonly number[], embedding: readonly (readonly number[])[], epsilon = 1e-5, gain?: ArrayLike<number>, bias?: ArrayLike<number>): number[] {
  const mean = x.reduce((sum, value) => sum + value, 0) / x.length;
  const variance = x.reduce((sum, value) => sum + (value - mean) ** 2, 0) / x.length;
  const y = x.map((value, i) => ((value - mean) / Math.sqrt(variance + epsilon)) * (gain ? gain[i] : 1) + (bias ? bias[i] : 0));
  const logits = embedding.map((row) => row.reduce((sum, value, i) => sum + value * y[i], 0));
  const max = Math.max(...logits);
  const total = logits.reduce((sum, logit) => sum + Math.exp(logit - max), 0);
  return logits.map((logit) => Math.exp(logit - max) / total);
}

/** Top-k of a float64 distribution, most likely first, lower id first on ties. */
function expectedTop(probs: readonly number[], k: number): Array<{ id: number; prob: number }> {
  return probs.map((prob, id) => ({ id, prob })).sort((a, b) => b.prob - a.prob || a.id - b.id).slice(0, k);
}

function assertTopClose(actual: readonly TokenPrediction[], expected: ReadonlyArray<{ id: number; prob: number }>, tolerance: number, what: string): void {
  assert.deepEqual(actual.map((entry) => entry.id), expected.map((entry) => entry.id), `${what}: ids`);
  actual.forEach((entry, index) => assert.ok(Math.abs(entry.prob - expected[index].prob) <= tolerance, `${what}: #${index} prob ${entry.prob} vs ${expected[index].prob}`));
}

describe('the logit lens of a 2-layer model worked by hand', () => {
  const transformer = new Transformer(HAND_CONFIG, handWeights());
  const ids = [0, 1];
  const output = transformer.forward({ decoderIds: ids }, neverCancelled, false, true);
  const result = referencePredictions(transformer, output, 3, (id) => `t${id}`);

  test('the residual stream is the embedding plus the biases of the layers so far', () => {
    assert.equal(output.layerStates.length, 2);
    // Token 0 after layer 0: [1, 0, 0, 0] + [0, 0, 2, 0]; after layer 1: + [0, 0, 0, 3].
    assert.deepEqual(Array.from(output.layerStates[0].state.data.subarray(0, 4)), [1, 0, 2, 0]);
    assert.deepEqual(Array.from(output.layerStates[1].state.data.subarray(0, 4)), [1, 0, 2, 3]);
    assert.deepEqual(Array.from(output.layerStates[1].state.data.subarray(4, 8)), [0, 1, 2, 3]);
  });

  test('layer 0 guesses token 2, layer 1 token 5: the numbers worked by hand', () => {
    const lens = result.logitLens ?? [];
    assert.deepEqual(lens.map((layer) => [layer.stream, layer.layer]), [['decoder', 0], ['decoder', 1]]);
    // Layer 0, token 0: x = [1, 0, 2, 0], mean 0.75, variance 0.6875; y = (x - 0.75) / 0.82916;
    // logits (E·y) = [0.3015, -0.9045, 1.5076, -0.9045, -0.6030, 0.6030] → softmax:
    assertTopClose(lens[0].top[0], [{ id: 2, prob: 0.49887 }, { id: 5, prob: 0.20191 }, { id: 0, prob: 0.14935 }], 5e-6, 'layer 0 @0');
    // Layer 1, token 0: x = [1, 0, 2, 3], mean 1.5, variance 1.25; y = (x - 1.5) / 1.11804;
    // logits = [-0.4472, -1.3416, 0.4472, 1.3416, -1.7889, 1.7889] → softmax:
    assertTopClose(lens[1].top[0], [{ id: 5, prob: 0.48092 }, { id: 3, prob: 0.30751 }, { id: 2, prob: 0.12572 }], 5e-6, 'layer 1 @0');
    assert.equal(lens[1].top[0][0].text, 't5');
  });

  test('every position and layer matches a float64 recomputation', () => {
    const added = [[0, 0, 2, 0], [0, 0, 2, 3]];
    for (const [layer, entry] of (result.logitLens ?? []).entries()) {
      ids.forEach((id, position) => {
        const x = EMBEDDING[id].map((value, i) => value + added[layer][i]);
        assertTopClose(entry.top[position], expectedTop(lensProbabilities(x, EMBEDDING), 3), 1e-6, `layer ${layer} @${position}`);
      });
    }
  });

  test('the last layer\'s lens is the predictions', () => {
    assert.deepEqual(result.logitLens?.at(-1)?.top, result.predictions[0].top);
    assert.equal(result.predictions[0].stream, 'decoder');
  });

  test('without layer states there are predictions and no lens', () => {
    const plain = transformer.forward({ decoderIds: ids }, neverCancelled);
    assert.equal(plain.layerStates.length, 0);
    const without = referencePredictions(transformer, plain, 3, (id) => `t${id}`);
    assert.equal(without.logitLens, undefined);
    assert.deepEqual(without.predictions, result.predictions);
  });
});

describe('the logit lens through the engine', () => {
  const engine = new ExplainEngine(null);
  const text = 'the cat sat on the mat';

  for (const preset of ['tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'tiny-modern'] as const) {
    test(`${preset}: one lens layer per layer of the head's stack, the last equal to the predictions`, async () => {
      const trace = await engine.explain(text, { model: `builtin:${preset}`, backend: 'reference', logitLens: true });
      const config = PRESETS[preset];
      const stream = config.kind === 'encoder' ? 'encoder' : 'decoder';
      const layers = stream === 'encoder' ? config.encoderLayers : config.decoderLayers;
      assert.deepEqual(trace.logitLens?.map((entry) => [entry.stream, entry.layer]), Array.from({ length: layers }, (_, layer) => [stream, layer]));
      assert.equal(trace.predictions?.length, 1);
      assert.equal(trace.predictions?.[0].stream, stream);
      assert.deepEqual(trace.logitLens?.at(-1)?.top, trace.predictions?.[0].top);
      const tokens = trace.streams.find((entry) => entry.name === stream)?.tokens.length;
      for (const entry of trace.logitLens ?? []) {
        assert.equal(entry.top.length, tokens);
        for (const top of entry.top) assert.equal(top.length, 5);
      }
    });
  }

  test('a built-in model on ONNX Runtime: the lens from the reference model, with a notice; last layer = the ONNX predictions (1e-5)', async () => {
    const trace = await engine.explain(text, { model: 'builtin:tiny-decoder', backend: 'wasm', logitLens: true, topK: 3 });
    assert.equal(trace.backend, 'wasm');
    assert.ok(trace.notices.some((entry) => entry.code === 'logit-lens-reference'));
    assert.ok(!trace.notices.some((entry) => entry.code === 'logit-lens-unavailable'));
    const last = trace.logitLens?.at(-1)?.top ?? [];
    const predictions = trace.predictions?.[0].top ?? [];
    assert.equal(last.length, predictions.length);
    last.forEach((top, position) => {
      assert.deepEqual(top.map((entry) => entry.id), predictions[position].map((entry) => entry.id), `@${position}`);
      top.forEach((entry, index) => assert.ok(Math.abs(entry.prob - predictions[position][index].prob) <= 1e-5, `@${position} #${index}`));
    });
  });

  test('without the option there is no lens, but there are predictions', async () => {
    const trace = await engine.explain(text, { model: 'builtin:tiny-decoder', backend: 'reference' });
    assert.equal(trace.logitLens, undefined);
    assert.equal(trace.predictions?.[0].top.length, trace.streams[0].tokens.length);
  });
});

describe('the float64 check of a real model\'s lens', () => {
  test('trained-decoder: every layer through its final norm and tied unembedding', async () => {
    const config = PRESETS['trained-decoder'];
    const model = await loadBuiltinModel({ preset: 'trained-decoder' });
    const tokenizer = createByteTokenizer();
    const ids = tokenizer.encode('the cat sat on the mat').map((token) => token.id);
    const output = model.transformer.forward({ decoderIds: ids }, neverCancelled, false, true);
    const result = referencePredictions(model.transformer, output, 4, idTextOf(tokenizer));
    const embedding = model.weights.tensor('embedding.weight', [config.vocabSize, config.dModel]);
    const rows = Array.from({ length: config.vocabSize }, (_, id) => Array.from(embedding.subarray(id * config.dModel, (id + 1) * config.dModel)));
    const gain = model.weights.tensor('decoder.final_norm.weight', [config.dModel]);
    const bias = model.weights.tensor('decoder.final_norm.bias', [config.dModel]);
    for (const [layer, state] of output.layerStates.entries()) {
      for (let position = 0; position < ids.length; position++) {
        const x = Array.from(state.state.data.subarray(position * config.dModel, (position + 1) * config.dModel));
        const expected = expectedTop(lensProbabilities(x, rows, config.layerNormEpsilon, gain, bias), 4);
        assertTopClose(result.logitLens?.[layer].top[position] ?? [], expected, 1e-5, `layer ${layer} @${position}`);
      }
    }
  });
});
