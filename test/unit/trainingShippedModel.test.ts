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
import { countParameters } from '../../src/engine/reference/config';
import { parseSafetensors } from '../../src/engine/reference/safetensors';
import { Transformer } from '../../src/engine/reference/transformer';
import { WeightStore } from '../../src/engine/reference/weights';
import { evaluationWindows } from '../../src/engine/training/batches';
import type { ModelCard } from '../../src/engine/training/card';
import { loadCorpus } from '../../src/engine/training/corpus';
import { referenceLoss, unigramLoss, windowBatches } from '../../src/engine/training/evaluate';
import { bestHead, decoderTrace, repeatedRandomIds } from '../../src/engine/training/headProbe';
import { TRAINED_CARD_PATH, TRAINED_DECODER_CONFIG, TRAINED_WEIGHTS_PATH } from '../../src/engine/training/trainedModel';

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

  test('the card\'s numbers are consistent', () => {
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
});
