/**
 * Gradient checks of every training operation (tools/training/) against central finite
 * differences, in float64 (the training code's only precision):
 *
 *   relative error = |analytic − numeric| / max(|analytic|, |numeric|, 1e-5) < 1e-3
 *
 * (the 1e-5 floor keeps gradients that are exactly 0, like a key bias's, from dividing noise by
 * noise). Each operation's scalar loss is Σ output ⊙ R with a fixed random R, so the backward is
 * called with dOutput = R. Up to 24 elements of every input and parameter are perturbed.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { PRESETS, type TransformerConfig } from '../../src/engine/reference/config';
import { causalMask } from '../../src/engine/reference/masks';
import { SeededRandom } from '../../src/engine/reference/random';
import { type AttentionTargets, type AttentionWeights, attentionBackward, attentionCache, attentionForward, attentionTargetLoss } from '../../tools/training/attentionGrad';
import { softmaxCrossEntropy, tiedHeadBackward, tiedHeadForward } from '../../tools/training/crossEntropy';
import { embedBackward, embedForward, positionTable } from '../../tools/training/embeddingGrad';
import { type FeedForwardWeights, feedForwardBackward, feedForwardCache, feedForwardForward } from '../../tools/training/feedForwardGrad';
import { gemm, linearBackward, linearForward } from '../../tools/training/kernels';
import { layerNormBackward, layerNormCache, layerNormForward } from '../../tools/training/layerNormGrad';
import { DecoderTrainingModel } from '../../tools/training/model';
import { ParameterLayout } from '../../tools/training/parameters';

const TOLERANCE = 1e-3;
const STEP = 1e-5;
const SAMPLES = 24;

function randomArray(random: SeededRandom, size: number, scale = 1): Float64Array {
  return Float64Array.from({ length: size }, () => scale * random.uniform(-1, 1));
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** Indices to perturb: all of a small tensor, an even spread of a big one. */
function sampleIndices(size: number): number[] {
  if (size <= SAMPLES) return Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: SAMPLES }, (_, i) => Math.floor(((i + 0.5) * size) / SAMPLES));
}

/**
 * Compares `analytic` (the gradient of `loss` with respect to `values`) with central differences,
 * perturbing `values` in place. Returns the worst relative error.
 */
function worstError(name: string, values: Float64Array, analytic: Float64Array, loss: () => number): number {
  let worst = 0;
  for (const i of sampleIndices(values.length)) {
    const saved = values[i];
    values[i] = saved + STEP;
    const plus = loss();
    values[i] = saved - STEP;
    const minus = loss();
    values[i] = saved;
    const numeric = (plus - minus) / (2 * STEP);
    const error = Math.abs(analytic[i] - numeric) / Math.max(Math.abs(analytic[i]), Math.abs(numeric), 1e-5);
    assert.ok(error < TOLERANCE, `${name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}, relative error ${error}`);
    worst = Math.max(worst, error);
  }
  return worst;
}

describe('training kernels', () => {
  test('gemm equals a naive product for every layout, stride and accumulate mode', () => {
    const random = new SeededRandom(1);
    for (const [M, N, K] of [[1, 1, 1], [3, 7, 5], [17, 11, 300], [2, 5, 2], [9, 1, 513]]) {
      for (const aTransposed of [false, true]) {
        for (const bTransposed of [false, true]) {
          for (const accumulate of [false, true]) {
            // Operands inside bigger arrays, with an offset and a stride wider than the matrix.
            const aStride = (aTransposed ? M : K) + 3;
            const bStride = (bTransposed ? N : K) + 2;
            const a = randomArray(random, 4 + aStride * (aTransposed ? K : M));
            const b = randomArray(random, 5 + bStride * (bTransposed ? K : N));
            const c = randomArray(random, 6 + (N + 1) * M);
            const before = c.slice();
            gemm({ data: c, offset: 6, stride: N + 1 }, { data: a, offset: 4, stride: aStride, transposed: aTransposed },
              { data: b, offset: 5, stride: bStride, transposed: bTransposed }, M, N, K, accumulate);
            for (let m = 0; m < M; m++) {
              for (let n = 0; n < N; n++) {
                let expected = accumulate ? before[6 + m * (N + 1) + n] : 0;
                for (let k = 0; k < K; k++) {
                  const aValue = a[4 + (aTransposed ? k * aStride + m : m * aStride + k)];
                  const bValue = b[5 + (bTransposed ? k * bStride + n : n * bStride + k)];
                  expected += aValue * bValue;
                }
                const got = c[6 + m * (N + 1) + n];
                assert.ok(Math.abs(got - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${M}x${N}x${K} ${aTransposed}/${bTransposed}/${accumulate} (${m},${n}): ${got} vs ${expected}`);
              }
              // The padding column between rows is never written.
              assert.equal(c[6 + m * (N + 1) + N], before[6 + m * (N + 1) + N]);
            }
          }
        }
      }
    }
  });
});

describe('gradient checks against finite differences (float64)', () => {
  test('linear layer y = x·Wᵀ + b', () => {
    const random = new SeededRandom(2);
    const [rows, inFeatures, outFeatures] = [5, 7, 6];
    const x = randomArray(random, rows * inFeatures);
    const weight = randomArray(random, outFeatures * inFeatures);
    const bias = randomArray(random, outFeatures);
    const r = randomArray(random, rows * outFeatures);
    const y = new Float64Array(rows * outFeatures);
    const loss = (): number => {
      linearForward(y, x, weight, bias, rows, inFeatures, outFeatures);
      return dot(y, r);
    };
    const dx = new Float64Array(x.length);
    const dWeight = new Float64Array(weight.length);
    const dBias = new Float64Array(bias.length);
    linearBackward(r, x, weight, dx, dWeight, dBias, rows, inFeatures, outFeatures);
    worstError('x', x, dx, loss);
    worstError('weight', weight, dWeight, loss);
    worstError('bias', bias, dBias, loss);
  });

  test('token embedding × sqrt(d) plus sinusoidal positions, repeated ids accumulating', () => {
    const random = new SeededRandom(3);
    const [vocab, width, length] = [9, 6, 4];
    const table = randomArray(random, vocab * width);
    const ids = Int32Array.from([1, 4, 4, 0, 8, 1, 1, 3]); // two sequences of 4, with repeats
    const positions = positionTable(length, width);
    const scale = Math.sqrt(width);
    const r = randomArray(random, ids.length * width);
    const out = new Float64Array(ids.length * width);
    const loss = (): number => {
      embedForward(out, ids, table, scale, positions, length, width);
      return dot(out, r);
    };
    loss();
    // The positions are added unchanged: out − E[id]·s is the position table, restarting per sequence.
    for (let row = 0; row < ids.length; row++) {
      for (let c = 0; c < width; c++) {
        assert.ok(Math.abs(out[row * width + c] - table[ids[row] * width + c] * scale - positions[(row % length) * width + c]) < 1e-12);
      }
    }
    const dTable = new Float64Array(table.length);
    embedBackward(r, ids, dTable, scale, width);
    worstError('embedding', table, dTable, loss);
  });

  test('layer norm: input, gain and bias', () => {
    const random = new SeededRandom(4);
    const [rows, width] = [4, 10];
    const x = randomArray(random, rows * width, 3);
    const gain = randomArray(random, width);
    const bias = randomArray(random, width);
    const r = randomArray(random, rows * width);
    const out = new Float64Array(rows * width);
    const cache = layerNormCache(rows, width);
    const loss = (): number => {
      layerNormForward(out, x, gain, bias, rows, width, 1e-5, cache);
      return dot(out, r);
    };
    loss();
    const dx = new Float64Array(x.length).fill(0.25); // accumulate mode adds onto what is there
    const dGain = new Float64Array(width);
    const dBias = new Float64Array(width);
    layerNormBackward(r, gain, cache, rows, width, dx, dGain, dBias, true);
    for (let i = 0; i < dx.length; i++) dx[i] -= 0.25;
    worstError('x', x, dx, loss);
    worstError('gain', gain, dGain, loss);
    worstError('bias', bias, dBias, loss);
  });

  for (const activation of ['gelu', 'relu'] as const) {
    test(`feed-forward network with ${activation}`, () => {
      const random = new SeededRandom(5);
      const [rows, width, hidden] = [6, 5, 12];
      const x = randomArray(random, rows * width);
      const weights: FeedForwardWeights = {
        fc1Weight: randomArray(random, hidden * width), fc1Bias: randomArray(random, hidden),
        fc2Weight: randomArray(random, width * hidden), fc2Bias: randomArray(random, width),
      };
      const shape = { rows, width, hidden, activation };
      const cache = feedForwardCache(rows, hidden);
      const r = randomArray(random, rows * width);
      const y = new Float64Array(rows * width);
      const loss = (): number => {
        feedForwardForward(y, x, weights, shape, cache);
        return dot(y, r);
      };
      loss();
      const grads: FeedForwardWeights = {
        fc1Weight: new Float64Array(hidden * width), fc1Bias: new Float64Array(hidden),
        fc2Weight: new Float64Array(width * hidden), fc2Bias: new Float64Array(width),
      };
      const dx = new Float64Array(x.length);
      feedForwardBackward(r, x, weights, grads, shape, cache, dx, false, new Float64Array(rows * hidden));
      worstError('x', x, dx, loss);
      for (const name of ['fc1Weight', 'fc1Bias', 'fc2Weight', 'fc2Bias'] as const) worstError(name, weights[name], grads[name], loss);
    });
  }

  /** Masks over two sequences of 37 tokens (more than one 32-row block). */
  function masks(length: number): Record<string, Uint8Array> {
    const causal = causalMask(length).cells!;
    // Causal + padding: sequence 0 has its last 5 keys padded, sequence 1 none.
    const causalPadding = new Uint8Array(2 * length * length);
    causalPadding.set(causal, length * length);
    for (let query = 0; query < length; query++) {
      for (let key = 0; key <= query && key < length - 5; key++) causalPadding[query * length + key] = 1;
    }
    // Padding only (an encoder's mask): the last 3 keys of both sequences.
    const padding = new Uint8Array(length * length);
    for (let query = 0; query < length; query++) padding.fill(1, query * length, query * length + length - 3);
    return { causal, 'causal + padding': causalPadding, padding };
  }

  for (const [maskName, mask] of Object.entries(masks(37))) {
    for (const supervised of [false, true]) {
    test(`multi-head attention (projections, split, softmax, merge, W_O) with a ${maskName} mask${supervised ? ', plus an auxiliary loss on head 1\'s attention' : ''}`, () => {
      const random = new SeededRandom(6);
      const shape = { sequences: 2, length: 37, width: 8, heads: 2 };
      const rows = shape.sequences * shape.length;
      const d = shape.width;
      const x = randomArray(random, rows * d);
      const names = ['queryWeight', 'queryBias', 'keyWeight', 'keyBias', 'valueWeight', 'valueBias', 'outputWeight', 'outputBias'] as const;
      const weights = Object.fromEntries(names.map((name) => [name, randomArray(random, name.endsWith('Weight') ? d * d : d)])) as unknown as AttentionWeights;
      const grads = Object.fromEntries(names.map((name) => [name, new Float64Array(name.endsWith('Weight') ? d * d : d)])) as unknown as AttentionWeights;
      const cache = attentionCache(shape);
      const r = randomArray(random, rows * d);
      const y = new Float64Array(rows * d);
      // Head 1 is pulled toward key t − 3 where that key is allowed.
      const cells = shape.length * shape.length;
      const targetKeys = Int32Array.from({ length: rows }, (_, row) => {
        const query = row % shape.length;
        const key = query - 3;
        const allowed = key >= 0 && mask[(mask.length === cells ? 0 : Math.floor(row / shape.length) * cells) + query * shape.length + key];
        return allowed ? key : -1;
      });
      const targets: AttentionTargets | null = supervised ? { head: 1, keys: targetKeys, weight: 0.7 } : null;
      const loss = (): number => {
        attentionForward(y, x, weights, shape, mask, cache);
        return dot(y, r) + (targets ? attentionTargetLoss(cache, shape, targets) : 0);
      };
      loss();
      // Blocked cells carry exactly 0 and rows sum to 1.
      for (let sequence = 0; sequence < 2; sequence++) {
        for (let head = 0; head < 2; head++) {
          for (let query = 0; query < shape.length; query++) {
            let sum = 0;
            for (let key = 0; key < shape.length; key++) {
              const p = cache.probs[((sequence * 2 + head) * shape.length + query) * shape.length + key];
              const allowed = mask[(mask.length === cells ? 0 : sequence * cells) + query * shape.length + key];
              if (!allowed) assert.equal(p, 0);
              sum += p;
            }
            assert.ok(Math.abs(sum - 1) < 1e-12);
          }
        }
      }
      const dx = new Float64Array(x.length);
      attentionBackward(r, x, weights, grads, shape, mask, cache, dx, false, new Float64Array(4 * rows * d), targets);
      worstError('x', x, dx, loss);
      for (const name of names) worstError(name, weights[name], grads[name], loss);
    });
    }
  }

  test('tied LM head (logits = h·Eᵀ) and softmax cross-entropy, with an ignored target', () => {
    const random = new SeededRandom(7);
    const [rows, width, vocab] = [5, 6, 11];
    const hidden = randomArray(random, rows * width);
    const table = randomArray(random, vocab * width);
    const targets = Int32Array.from([3, 0, -1, 10, 3]);
    const weight = 1 / 4;
    const logits = new Float64Array(rows * vocab);
    const loss = (): number => {
      tiedHeadForward(logits, hidden, table, rows, width, vocab);
      return softmaxCrossEntropy(logits, targets, vocab, weight, true);
    };
    // The loss is the mean −log softmax over the four counted rows.
    tiedHeadForward(logits, hidden, table, rows, width, vocab);
    let expected = 0;
    targets.forEach((target, row) => {
      if (target < 0) return;
      const values = Array.from(logits.subarray(row * vocab, (row + 1) * vocab));
      expected -= Math.log(Math.exp(values[target]) / values.reduce((sum, v) => sum + Math.exp(v), 0)) / 4;
    });
    assert.ok(Math.abs(loss() - expected) < 1e-12);
    const dLogits = logits.slice();
    softmaxCrossEntropy(dLogits, targets, vocab, weight);
    const dHidden = new Float64Array(hidden.length);
    const dTable = new Float64Array(table.length);
    tiedHeadBackward(dLogits, hidden, table, dHidden, dTable, rows, width, vocab);
    worstError('hidden', hidden, dHidden, loss);
    worstError('table', table, dTable, loss);
    // Cross-entropy alone, with respect to the logits.
    const logitValues = randomArray(random, rows * vocab, 3);
    const grad = logitValues.slice();
    softmaxCrossEntropy(grad, targets, vocab, weight);
    worstError('logits', logitValues, grad, () => softmaxCrossEntropy(logitValues.slice(), targets, vocab, weight, true));
  });

  test('whole decoder with supervised heads: the auxiliary attention losses\' gradients too', () => {
    const config: TransformerConfig = { ...PRESETS['tiny-decoder'], dModel: 8, heads: 2, dFF: 12, decoderLayers: 2, vocabSize: 20 };
    const layout = new ParameterLayout(config);
    const params = layout.initialValues(12);
    const model = new DecoderTrainingModel(config, layout, [
      { layer: 0, head: 1, pattern: 'previous-token', sequences: 'all', weight: 0.5 },
      { layer: 1, head: 0, pattern: 'induction', sequences: 'synthetic', weight: 2 },
    ]);
    const random = new SeededRandom(13);
    const shape = { sequences: 2, length: 35 };
    const ids = Int32Array.from({ length: 70 }, () => Math.floor(random.next() * 6)); // few ids: many repeats
    const targets = Int32Array.from(ids, (_, i) => ids[(i + 1) % ids.length]);
    const synthetic = Uint8Array.from([0, 1]);
    const weight = 1 / 70;
    const grads = new Float64Array(layout.size);
    model.lossAndGradients(params, grads, ids, targets, shape, weight, synthetic);
    assert.ok(model.auxiliaryLoss > 0);
    const loss = (): number => model.loss(params, ids, targets, shape, weight, synthetic) + model.auxiliaryLoss;
    for (const slot of layout.slots) {
      worstError(slot.name, params.subarray(slot.offset, slot.offset + slot.size), grads.subarray(slot.offset, slot.offset + slot.size), loss);
    }
  });

  const tinyConfigs: Array<[string, TransformerConfig]> = [
    ['pre-LN, GELU, scaled embedding', { ...PRESETS['tiny-decoder'], dModel: 8, heads: 2, dFF: 12, decoderLayers: 2, vocabSize: 20 }],
    ['post-LN, ReLU, unscaled embedding', { ...PRESETS['tiny-decoder'], dModel: 8, heads: 2, dFF: 12, decoderLayers: 2, vocabSize: 20, normPlacement: 'post', activation: 'relu', scaleEmbedding: false }],
  ];
  for (const [name, config] of tinyConfigs) {
    test(`whole decoder (${name}): every tensor, residuals and final norm included`, () => {
      const layout = new ParameterLayout(config);
      const params = layout.initialValues(11);
      // Non-trivial norms and biases, so their gradients are exercised away from the init values.
      const random = new SeededRandom(8);
      for (const slot of layout.slots) {
        if (slot.shape.length === 1) for (let i = 0; i < slot.size; i++) params[slot.offset + i] += 0.3 * random.uniform(-1, 1);
      }
      const model = new DecoderTrainingModel(config, layout);
      const shape = { sequences: 2, length: 35 };
      const ids = Int32Array.from({ length: 70 }, () => Math.floor(random.next() * config.vocabSize));
      const targets = Int32Array.from(ids, (_, i) => (i % 7 === 3 ? -1 : ids[(i + 1) % ids.length]));
      const weight = 1 / 60;
      const grads = new Float64Array(layout.size);
      model.lossAndGradients(params, grads, ids, targets, shape, weight);
      const loss = (): number => model.loss(params, ids, targets, shape, weight);
      for (const slot of layout.slots) {
        worstError(slot.name, params.subarray(slot.offset, slot.offset + slot.size), grads.subarray(slot.offset, slot.offset + slot.size), loss);
      }
    });
  }
});
