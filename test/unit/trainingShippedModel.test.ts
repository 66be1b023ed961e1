/**
 * The shipped trained decoder (media/models/lens-decoder.*), run through the real reference model:
 * the card describes the file, the model predicts held-out text far better than the unigram
 * baseline, and its heads show previous-token and induction attention.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { computeHeadStats } from '../../src/engine/analysis/headStats';
import { countParameters, DEFAULT_PRESET, SHIPPED_WEIGHTS } from '../../src/engine/reference/config';
import { loadBuiltinModel } from '../../src/engine/builtin';
import { parseSafetensors } from '../../src/engine/reference/safetensors';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore } from '../../src/engine/reference/weights';
import { evaluationWindows } from '../../tools/training/batches';
import type { ModelCard } from '../../tools/training/card';
import { loadCorpus } from '../../tools/training/corpus';
import { referenceLoss, unigramLoss, windowBatches } from '../../tools/training/evaluate';
import { bestHead, decoderTrace, repeatedRandomIds } from '../../tools/training/headProbe';
import { neverCancelled } from '../../src/shared/errors';
import { DEFAULT_RECIPE, TRAINED_CARD_PATH, TRAINED_DECODER_CONFIG, TRAINED_WEIGHTS_PATH } from '../../tools/training/trainedModel';

const ROOT = join(__dirname, '..', '..');
const weightBytes = readFileSync(join(ROOT, TRAINED_WEIGHTS_PATH));
const card = JSON.parse(readFileSync(join(ROOT, TRAINED_CARD_PATH), 'utf8')) as ModelCard;
const config = TRAINED_DECODER_CONFIG;
const transformer = new Transformer(config, WeightStore.fromSafetensors(config, parseSafetensors(weightBytes).tensors, TRAINED_WEIGHTS_PATH));
const corpus = loadCorpus(ROOT);

describe('the shipped trained decoder', () => {
  test('the card describes this file: size, sha256, config, data', () => {
    assert.equal(card.weights.bytes, weightBytes.byteLength);
    assert.equal(card.weights.sha256, createHash('sha256').update(weightBytes).digest('hex'));
    assert.ok(weightBytes.byteLength < 3 * 1024 * 1024, `${weightBytes.byteLength} bytes`);
    assert.deepEqual(card.config, config);
    assert.equal(card.parameterCount, countParameters(config));
    // The corpus on this machine is the one trained on (npm ci installs the locked versions).
    assert.deepEqual(corpus.files, card.data.files, 'the corpus files in node_modules differ from the card\'s (a dependency update?): run `npm ci`, or retrain with `npm run train`');
    assert.equal(card.data.trainBytes, corpus.train.length);
    assert.equal(card.data.heldOutBytes, corpus.heldOut.length);
    assert.equal(card.data.unigramCounts.reduce((sum, count) => sum + count, 0), corpus.train.length);
    const heldOutFiles = card.data.files.filter((file) => file.split === 'held-out').map((file) => file.path);
    assert.ok(heldOutFiles.length > 0 && heldOutFiles.length < card.data.files.length / 5);
  });

  test('it is the default built-in model: the trained-decoder preset loads exactly these weights', async () => {
    assert.equal(DEFAULT_PRESET, 'trained-decoder');
    assert.equal(SHIPPED_WEIGHTS['trained-decoder'], TRAINED_WEIGHTS_PATH);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { default: unknown }> } } };
    assert.equal(manifest.contributes.configuration.properties['attentionLens.model'].default, 'builtin:trained-decoder');
    const builtin = await loadBuiltinModel({ preset: 'trained-decoder' });
    assert.equal(builtin.info.seed, undefined, 'no seed: the weights are the shipped file');
    const shipped = parseSafetensors(weightBytes).tensors;
    for (const [name, tensor] of shipped) {
      assert.deepEqual(builtin.weights.tensor(name, tensor.shape), tensor.values, name);
    }
  });

  test('the card\'s numbers are consistent', () => {
    // `npm run train` without options is the recipe these weights were trained with.
    assert.deepEqual(card.recipe, DEFAULT_RECIPE);
    const curve = card.lossCurve;
    assert.equal(curve[curve.length - 1].step, card.recipe.steps);
    assert.ok(curve.every((point, i) => i === 0 || point.step > curve[i - 1].step));
    assert.ok(curve[curve.length - 1].trainLoss < curve[0].trainLoss - 1, 'the training loss fell');
    assert.equal(card.training.tokensSeen, card.recipe.steps * card.recipe.sequences * card.recipe.length);
    assert.ok(card.training.totalSeconds < 30 * 60, `trained in ${card.training.totalSeconds} s`);
    for (const figures of [card.heldOut.model, card.heldOut.unigram, card.testSample.model, card.testSample.unigram]) {
      assert.ok(Math.abs(figures.bitsPerByte - figures.natsPerByte / Math.LN2) < 1e-9);
    }
    assert.ok(card.heldOut.model.bitsPerByte < card.heldOut.unigram.bitsPerByte);
  });

  test('held-out text: loss well below the unigram baseline, as the card states', () => {
    const windows = evaluationWindows(corpus.heldOut, card.testSample.length, card.testSample.windows);
    const batches = windowBatches(corpus.heldOut, windows, card.testSample.length, windows.length);
    const model = referenceLoss(transformer, batches);
    const unigram = unigramLoss(card.data.unigramCounts, batches);
    console.log(`held-out sample (${model.tokens} bytes): model ${model.bitsPerByte.toFixed(3)} bits/byte, unigram ${unigram.bitsPerByte.toFixed(3)} bits/byte`);
    assert.ok(Math.abs(model.natsPerByte - card.testSample.model.natsPerByte) < 1e-4, 'the card\'s figure is reproduced');
    assert.ok(Math.abs(unigram.natsPerByte - card.testSample.unigram.natsPerByte) < 1e-9);
    assert.ok(model.bitsPerByte < 0.75 * unigram.bitsPerByte, `${model.bitsPerByte} vs unigram ${unigram.bitsPerByte} bits/byte`);
  });

  test('natural text: some head attends to the previous token (score > 0.8)', () => {
    const text = 'export function readConfig(path: string): Config {\n  const text = fs.readFileSync(path, "utf8");\n  return JSON.parse(text) as Config;\n}\n';
    const ids = Array.from(Buffer.from(text), (byte) => byte + 4);
    const best = bestHead(computeHeadStats(decoderTrace(transformer, ids)), 'prevToken');
    console.log(`best previous-token head: layer ${best.layer} head ${best.head} score ${best.score.toFixed(3)}`);
    assert.ok(best.score > 0.8, `best previous-token score ${best.score}`);
  });

  test('a repeated random sequence: some head is an induction head (score > 0.3)', () => {
    const best = bestHead(computeHeadStats(decoderTrace(transformer, repeatedRandomIds(0, 50))), 'induction');
    console.log(`best induction head: layer ${best.layer} head ${best.head} score ${best.score.toFixed(3)}`);
    assert.ok(best.score > 0.3, `best induction score ${best.score}`);
    assert.deepEqual({ layer: best.layer, head: best.head }, { layer: card.heads.induction.layer, head: card.heads.induction.head });
  });

  test('the two heads are a working induction circuit: the model copies a repeated sequence, and not without either head', () => {
    // Bits per byte the model needs for each copy of four repeated random sequences of 50 bytes;
    // each position's loss is computed from the logits with a log-sum-exp, independently of the trainer.
    const copyBits = (model: Transformer): { first: number; second: number } => {
      let first = 0;
      let second = 0;
      for (const seed of [0, 1, 2, 3]) {
        const ids = repeatedRandomIds(seed, 50);
        const logits = model.head.logits(model.forward({ decoderIds: ids }, neverCancelled).decoderOutput!);
        for (let position = 0; position + 1 < ids.length; position++) {
          const row = logits.data.subarray(position * logits.cols, (position + 1) * logits.cols);
          const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
          const nats = Math.log(row.reduce((sum, logit) => sum + Math.exp(logit - max), 0)) + max - row[ids[position + 1]];
          if (position < 49) first += nats;
          else if (position >= 50) second += nats;
        }
      }
      return { first: first / (4 * 49) / Math.LN2, second: second / (4 * 49) / Math.LN2 };
    };
    // A head's output enters the residual stream only through its 16 input columns of W_O: zeroing them removes exactly that head.
    const withoutHead = (layer: number, head: number): Transformer => {
      const tensors = new Map([...parseSafetensors(weightBytes).tensors].map(([name, tensor]) => [name, { ...tensor, values: Float32Array.from(tensor.values) }]));
      const output = tensors.get(`decoder.layers.${layer}.self_attention.output.weight`)!;
      const width = config.dModel / config.heads;
      for (let row = 0; row < config.dModel; row++) output.values.fill(0, row * config.dModel + head * width, row * config.dModel + (head + 1) * width);
      return new Transformer(config, WeightStore.fromSafetensors(config, tensors, `without L${layer} H${head}`));
    };
    const intact = copyBits(transformer);
    console.log(`repeated random sequences: first copy ${intact.first.toFixed(2)} bits/byte, second copy ${intact.second.toFixed(2)}`);
    assert.ok(intact.second < intact.first - 4, 'the second copy is predicted from the first');
    const circuit = [card.heads.previousToken, card.heads.induction].map(({ layer, head }) => `${layer}:${head}`);
    const rise = new Map<string, number>();
    for (let layer = 0; layer < config.decoderLayers; layer++) {
      for (let head = 0; head < config.heads; head++) rise.set(`${layer}:${head}`, copyBits(withoutHead(layer, head)).second - intact.second);
    }
    console.log(`second copy, bits/byte more without each head: ${[...rise].map(([key, bits]) => `L${key.replace(':', ' H')} +${bits.toFixed(2)}`).join(', ')}`);
    const others = [...rise].filter(([key]) => !circuit.includes(key)).map(([, bits]) => bits);
    for (const key of circuit) {
      assert.ok(rise.get(key)! > 3, `without ${key} the second copy costs ${rise.get(key)} bits/byte more`);
      assert.ok(rise.get(key)! > Math.max(...others), `${key} matters more than any other head`);
    }
  });
});
