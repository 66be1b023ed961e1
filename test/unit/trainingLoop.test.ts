/**
 * The optimizer, the schedule, batches, the corpus split, and short training runs: AdamW against a
 * step computed by hand, a seconds-long run that learns a toy task, and reproducibility (the same
 * seed gives bit-identical weights, on worker threads or not).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { PRESETS, type TransformerConfig } from '../../src/engine/reference/config';
import { hashSeed, SeededRandom } from '../../src/engine/reference/random';
import { AdamW, DEFAULT_ADAMW, globalNorm } from '../../tools/training/adamw';
import { BatchSampler, batchFromWindows, evaluationWindows, repeatedSegmentsWindow, splitBatch } from '../../tools/training/batches';
import { supervisionTargets } from '../../tools/training/attentionSupervision';
import { splitOf } from '../../tools/training/corpus';
import { unigramCounts, unigramLoss } from '../../tools/training/evaluate';
import { InProcessGradients, WorkerGradients } from '../../tools/training/parallel';
import { ParameterLayout } from '../../tools/training/parameters';
import { learningRateAt } from '../../tools/training/schedule';
import type { TrainingRecipe } from '../../tools/training/trainedModel';
import { train } from '../../tools/training/trainer';

const TOY_CONFIG: TransformerConfig = { ...PRESETS['tiny-decoder'], dModel: 16, heads: 2, dFF: 32, decoderLayers: 2 };

/**
 * A toy corpus: 8-letter words over 16 letters; a word starts at a random letter and each next
 * letter follows from the one before by a fixed rule (a cycle through the 16 letters).
 */
function toyStream(seed: number, words: number): Uint16Array {
  const random = new SeededRandom(hashSeed(seed, 'toy task'));
  const ids: number[] = [];
  for (let w = 0; w < words; w++) {
    let letter = Math.floor(random.next() * 16);
    for (let i = 0; i < 8; i++) {
      ids.push(4 + 97 + letter);
      letter = (letter * 5 + 3) % 16;
    }
  }
  return Uint16Array.from(ids);
}

function toyRecipe(steps: number): TrainingRecipe {
  return {
    seed: 0, steps, sequences: 4, length: 32, lengthWarmup: [{ until: 3, length: 16 }], shards: 2, warmupSteps: 5,
    peakLearningRate: 1e-2, finalLearningRate: 1e-3, optimizer: DEFAULT_ADAMW, initScales: {}, syntheticShare: 0, supervision: [], supervisionSteps: null,
    logEvery: 10, quickEvalWindows: 4,
  };
}

describe('AdamW and the schedule', () => {
  test('one AdamW step equals the formula computed by hand, with decay only on matrices', () => {
    const layout = new ParameterLayout(TOY_CONFIG);
    const settings = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, clipNorm: 0, learningRateScales: {} };
    const optimizer = new AdamW(layout, settings);
    const params = layout.initialValues(1);
    const before = params.slice();
    const grads = Float64Array.from({ length: layout.size }, (_, i) => Math.sin(i) * 0.01);
    const lr = 0.01;
    optimizer.update(params, grads, lr);
    const matrix = layout.slot('decoder.layers.0.feed_forward.fc1.weight').offset + 3;
    const vector = layout.slot('decoder.layers.0.feed_forward.fc1.bias').offset + 3;
    for (const [index, decays] of [[matrix, true], [vector, false]] as const) {
      const g = grads[index];
      // Step 1: m = 0.1 g, v = 0.05 g², bias-corrected to m̂ = g, v̂ = g².
      const mHat = (0.1 * g) / (1 - 0.9);
      const vHat = (0.05 * g * g) / (1 - 0.95);
      const decayed = decays ? before[index] * (1 - lr * 0.1) : before[index];
      const expected = decayed - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      assert.ok(Math.abs(params[index] - expected) < 1e-15, `index ${index}: ${params[index]} vs ${expected}`);
    }
    // Step 2, by hand for one element.
    const g2 = Float64Array.from({ length: layout.size }, (_, i) => Math.cos(i) * 0.02);
    const afterFirst = params.slice();
    optimizer.update(params, g2, lr);
    const g1 = Math.sin(matrix) * 0.01;
    const m = 0.9 * (0.1 * g1) + 0.1 * g2[matrix];
    const v = 0.95 * (0.05 * g1 * g1) + 0.05 * g2[matrix] * g2[matrix];
    const expected = afterFirst[matrix] * (1 - lr * 0.1) - (lr * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.9025)) + 1e-8);
    assert.ok(Math.abs(params[matrix] - expected) < 1e-15);
  });

  test('gradient clipping scales the whole gradient to the clip norm', () => {
    const layout = new ParameterLayout(TOY_CONFIG);
    const optimizer = new AdamW(layout, { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0, clipNorm: 1, learningRateScales: {} });
    const grads = Float64Array.from({ length: layout.size }, (_, i) => (i % 3) - 1);
    const norm = optimizer.update(layout.initialValues(0), grads, 1e-3);
    assert.ok(norm > 1);
    assert.ok(Math.abs(globalNorm(grads) - 1) < 1e-12);
  });

  test('learning rate: linear warm-up, then cosine decay to the floor', () => {
    const schedule = { peak: 1e-3, floor: 1e-4, warmupSteps: 10, totalSteps: 110 };
    assert.ok(Math.abs(learningRateAt(schedule, 0) - 1e-4) < 1e-15);
    assert.ok(Math.abs(learningRateAt(schedule, 9) - 1e-3) < 1e-15);
    assert.ok(Math.abs(learningRateAt(schedule, 60) - 5.5e-4) < 1e-15);
    assert.ok(Math.abs(learningRateAt(schedule, 110) - 1e-4) < 1e-15);
  });
});

describe('data', () => {
  test('batches: windows of T + 1 ids, seeded, split into shards of consecutive sequences', () => {
    const stream = Uint16Array.from({ length: 500 }, (_, i) => i % 260);
    const first = new BatchSampler(stream, 7).next({ sequences: 5, length: 16 });
    const again = new BatchSampler(stream, 7).next({ sequences: 5, length: 16 });
    const other = new BatchSampler(stream, 8).next({ sequences: 5, length: 16 });
    assert.deepEqual(first, again);
    assert.notDeepEqual(first.ids, other.ids);
    for (let row = 0; row < first.ids.length; row++) assert.equal(first.targets[row], (first.ids[row] + 1) % 260);
    const shards = splitBatch(first, 2);
    assert.deepEqual(shards.map((shard) => shard.shape.sequences), [3, 2]);
    assert.deepEqual(Int32Array.from([...shards[0].ids, ...shards[1].ids]), first.ids);
    assert.deepEqual(evaluationWindows(stream, 100), [0, 100, 200, 300]);
  });

  test('synthetic windows: printable segments of 4-64 characters, each written twice; their share is seeded', () => {
    const window = repeatedSegmentsWindow(new SeededRandom(4), 1000);
    assert.ok(window.every((id) => id >= 4 + 32 && id < 4 + 127));
    // Walk the segments: every prefix of length L is followed by the same L ids (the last may be cut).
    let at = 0;
    let segments = 0;
    while (at < 900) {
      let length = 4;
      while (length <= 64 && !window.subarray(at, at + length).every((id, i) => id === window[at + length + i])) length++;
      assert.ok(length <= 64, `no repeated segment at ${at}`);
      at += 2 * length;
      segments++;
    }
    assert.ok(segments > 10);
    const stream = Uint16Array.from({ length: 5000 }, (_, i) => 4 + (i % 7));
    const batch = new BatchSampler(stream, 1, 0.25).next({ sequences: 400, length: 16 });
    let synthetic = 0;
    for (let sequence = 0; sequence < 400; sequence++) if (batch.ids[sequence * 16] >= 4 + 32) synthetic++;
    assert.ok(synthetic > 70 && synthetic < 130, `${synthetic} of 400 synthetic`);
    assert.deepEqual(new BatchSampler(stream, 1, 0.25).next({ sequences: 400, length: 16 }), batch);
  });

  test('supervision targets: previous token, and the token after the last earlier occurrence (headStats\'s induction target)', () => {
    const ids = Int32Array.from([5, 6, 7, 5, 6, 5, 9, 9, 9, 9]);
    const shape = { sequences: 2, length: 5 };
    const induction = { layer: 1, head: 0, pattern: 'induction' as const, sequences: 'all' as const, weight: 1 };
    assert.deepEqual(Array.from(supervisionTargets(induction, ids, shape, null)), [-1, -1, -1, 1, 2, -1, -1, -1, 2, 3]);
    const previous = { ...induction, pattern: 'previous-token' as const };
    assert.deepEqual(Array.from(supervisionTargets(previous, ids, shape, null)), [-1, 0, 1, 2, 3, -1, 0, 1, 2, 3]);
    const syntheticOnly = { ...previous, sequences: 'synthetic' as const };
    assert.deepEqual(Array.from(supervisionTargets(syntheticOnly, ids, shape, Uint8Array.from([0, 1]))), [-1, -1, -1, -1, -1, -1, 0, 1, 2, 3]);
  });

  test('the corpus split is by file and stable', () => {
    assert.equal(splitOf('node_modules/@types/node/vm.d.ts'), 'held-out');
    assert.equal(splitOf('node_modules/@types/node/fs.d.ts'), 'train');
    const paths = Array.from({ length: 1000 }, (_, i) => `file${i}.d.ts`);
    const heldOut = paths.filter((path) => splitOf(path) === 'held-out').length;
    assert.ok(heldOut > 60 && heldOut < 140, `${heldOut} of 1000 held out`);
  });

  test('unigram baseline: add-one smoothing over the vocabulary', () => {
    const counts = unigramCounts(Uint16Array.from([5, 5, 5, 6]), 8);
    const batch = batchFromWindows(Uint16Array.from([5, 6, 7]), [0], 2);
    const loss = unigramLoss(counts, [batch]);
    // p(6) = 2/12, p(7) = 1/12
    assert.ok(Math.abs(loss.natsPerByte - (-Math.log(2 / 12) - Math.log(1 / 12)) / 2) < 1e-12);
    assert.ok(Math.abs(loss.bitsPerByte - loss.natsPerByte / Math.LN2) < 1e-12);
  });
});

describe('training runs', () => {
  test('a seconds-long run learns a toy task: the loss falls from ln 260 to below what ignoring context allows', async () => {
    const engine = new InProcessGradients(TOY_CONFIG, 2);
    const result = await train(TOY_CONFIG, toyRecipe(100), toyStream(1, 400), toyStream(2, 40), engine);
    const first = result.curve[0];
    const last = result.curve[result.curve.length - 1];
    // Ignoring context, 16 equally likely letters cost ln 16 = 2.77 nats; knowing the rule, only
    // a word's first letter is unpredictable: ln 16 / 8 = 0.35.
    assert.ok(first.trainLoss > 3.5, `first interval ${first.trainLoss}`);
    assert.ok(last.heldOutLoss < 1.2, `held-out loss ${last.heldOutLoss} after ${last.step} steps`);
  });

  test('the same seed gives bit-identical weights, on worker threads or in this thread (synthetic data and a supervised head included)', async () => {
    const stream = toyStream(3, 100);
    const supervision = [{ layer: 1, head: 0, pattern: 'induction' as const, sequences: 'synthetic' as const, weight: 1 }];
    const recipe: TrainingRecipe = { ...toyRecipe(6), syntheticShare: 0.5, supervision };
    const runs = [
      await train(TOY_CONFIG, recipe, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision)),
      await train(TOY_CONFIG, recipe, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision)),
    ];
    const workers = new WorkerGradients(TOY_CONFIG, 2, supervision);
    try {
      runs.push(await train(TOY_CONFIG, recipe, stream, stream, workers));
    } finally {
      await workers.close();
    }
    assert.deepEqual(runs[1].params, runs[0].params);
    assert.deepEqual(runs[2].params, runs[0].params);
    assert.deepEqual(runs[2].curve.map((point) => [point.trainLoss, point.auxiliaryLoss]), runs[0].curve.map((point) => [point.trainLoss, point.auxiliaryLoss]));
    assert.ok(runs[0].curve[0].auxiliaryLoss > 0);
    const otherSeed = await train(TOY_CONFIG, { ...recipe, seed: 1 }, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision));
    assert.notDeepEqual(otherSeed.params, runs[0].params);
  });

  test('supervision that ends early: after supervisionSteps only the language-model loss trains, on threads too', async () => {
    const stream = toyStream(3, 100);
    const supervision = [{ layer: 1, head: 0, pattern: 'induction' as const, sequences: 'synthetic' as const, weight: 1 }];
    const recipe: TrainingRecipe = { ...toyRecipe(6), syntheticShare: 0.5, supervision, logEvery: 3 };
    // Ending at step 0 is no supervision at all, bit for bit.
    const never = await train(TOY_CONFIG, { ...recipe, supervisionSteps: 0 }, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision));
    const unsupervised = await train(TOY_CONFIG, { ...recipe, supervision: [], supervisionSteps: null }, stream, stream, new InProcessGradients(TOY_CONFIG, 2, []));
    assert.deepEqual(never.params, unsupervised.params);
    assert.deepEqual(never.curve.map((point) => point.auxiliaryLoss), [0, 0]);
    // Supervised for the first 3 steps: the first interval has an auxiliary loss, the second none.
    const early = { ...recipe, supervisionSteps: 3 };
    const inProcess = await train(TOY_CONFIG, early, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision));
    const workers = new WorkerGradients(TOY_CONFIG, 2, supervision);
    let threaded;
    try {
      threaded = await train(TOY_CONFIG, early, stream, stream, workers);
    } finally {
      await workers.close();
    }
    assert.deepEqual(threaded.params, inProcess.params);
    assert.ok(inProcess.curve[0].auxiliaryLoss > 0);
    assert.equal(inProcess.curve[1].auxiliaryLoss, 0);
    const always = await train(TOY_CONFIG, recipe, stream, stream, new InProcessGradients(TOY_CONFIG, 2, supervision));
    assert.notDeepEqual(inProcess.params, always.params);
    assert.notDeepEqual(inProcess.params, never.params);
  });
});

