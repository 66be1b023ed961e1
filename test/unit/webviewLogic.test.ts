/**
 * The webview's pure logic: colour scales and themes, label elision, layout, the step-through
 * order of a real encoder-decoder trace, mean of heads, leak counting and view restore.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { traceOverview, type TraceOverview } from '../../src/shared/protocol';
import { colorLimit, countBlocked, countLeaks, headMatrix, headMatrixWithLimit, matrixMax, expectedMask } from '../../webview/attention';
import { makeColorScale, paintCells, parseCssColor, sampleColorMap, scaleColor, scaleIndex, themeKindFromClasses } from '../../webview/colorScale';
import { elide, fixedWidthMeasure, formatWeight, thinnedIndices, tokenLabel, visibleWhitespace } from '../../webview/labels';
import { headFor, initialView, shapeKey } from '../../webview/state';
import { buildSteps, layerGroups, moveLayer, moveStep } from '../../webview/steps';

const engine = new ExplainEngine();
async function overview(text: string, model: string): Promise<TraceOverview> {
  return traceOverview(await engine.explain(text, { model }));
}

describe('colour scale', () => {
  test('map endpoints are matplotlib\'s', () => {
    assert.deepEqual(sampleColorMap('viridis', 0), [68, 1, 84]);
    assert.deepEqual(sampleColorMap('viridis', 1), [253, 231, 37]);
    assert.deepEqual(sampleColorMap('magma', 0), [0, 0, 4]);
    assert.deepEqual(sampleColorMap('magma', 1), [252, 253, 191]);
    assert.deepEqual(sampleColorMap('cividis', 0), [0, 34, 78]);
    assert.deepEqual(sampleColorMap('cividis', 1), [254, 232, 56]);
    assert.deepEqual(sampleColorMap('gray', 0.5), [128, 128, 128]);
    assert.deepEqual(sampleColorMap('viridis', 2), [253, 231, 37], 'clamped');
    assert.deepEqual(sampleColorMap('viridis', NaN), [255, 0, 255]);
  });

  test('theme kind from the body class', () => {
    assert.equal(themeKindFromClasses('vscode-light'), 'light');
    assert.equal(themeKindFromClasses('vscode-dark'), 'dark');
    assert.equal(themeKindFromClasses('vscode-high-contrast vscode-reduce-motion'), 'high-contrast');
    assert.equal(themeKindFromClasses('vscode-high-contrast-light'), 'high-contrast-light');
    assert.equal(themeKindFromClasses(''), 'dark');
  });

  test('dark themes: 0 is the dark end; light themes: 0 is the background, the max the dark end', () => {
    const dark = makeColorScale('viridis', 'dark', 1);
    assert.deepEqual(scaleColor(dark, 0), [68, 1, 84]);
    assert.deepEqual(scaleColor(dark, 1), [253, 231, 37]);
    const light = makeColorScale('viridis', 'light', 1, [255, 255, 255]);
    assert.deepEqual(scaleColor(light, 0), [255, 255, 255]);
    assert.deepEqual(scaleColor(light, 1), [68, 1, 84]);
    const grayLight = makeColorScale('gray', 'high-contrast-light', 0.5);
    assert.deepEqual(scaleColor(grayLight, 0), [255, 255, 255]);
    assert.deepEqual(scaleColor(grayLight, 0.5), [0, 0, 0], 'the scale max gets the strongest colour');
    assert.deepEqual(scaleColor(grayLight, 0.9), [0, 0, 0], 'above the max: clamped');
  });

  test('paintCells: blocked cells get the blocked colour unless they leak', () => {
    const scale = makeColorScale('gray', 'dark', 1);
    const out = new Uint8ClampedArray(3 * 4);
    paintCells(scale, new Float32Array([1, 0, 0.5]), new Uint8Array([1, 0, 0]), [9, 9, 9], out);
    assert.deepEqual(Array.from(out), [255, 255, 255, 255, 9, 9, 9, 255, 128, 128, 128, 255]);
  });

  test('CSS colours as VS Code writes them', () => {
    assert.deepEqual(parseCssColor('#1e1e1e'), [30, 30, 30]);
    assert.deepEqual(parseCssColor('#fff'), [255, 255, 255]);
    assert.deepEqual(parseCssColor('#ffffff80'), [255, 255, 255]);
    assert.deepEqual(parseCssColor('rgba(1, 2, 3, 0.5)'), [1, 2, 3]);
    assert.equal(parseCssColor('var(--x)'), null);
  });
});

describe('labels', () => {
  test('elision to a width, whole characters', () => {
    const measure = fixedWidthMeasure(7);
    assert.equal(elide('verylongtoken', 48, measure), 'veryl\u2026'); // 6 characters of 7 px fit in 48 px
    assert.equal(elide('verylongtoken', 13 * 7, measure), 'verylongtoken');
    assert.equal(elide('verylongtoken', 7, measure), '\u2026');
    assert.equal(elide('verylongtoken', 6, measure), '');
    assert.equal(elide('😀😀😀😀', 3 * 7, measure), '😀😀\u2026', 'no half surrogate pairs');
  });

  test('whitespace shown as the pieces show it', () => {
    assert.equal(visibleWhitespace(' a\tb\n\r'), '\u2423a\u21e5b\u21b5\u240d');
    assert.equal(tokenLabel({ text: ' ', piece: '\u2423', special: false }), '\u2423');
    assert.equal(tokenLabel({ text: ' cat', piece: '\u0120cat', special: false }), '\u2423cat');
    assert.equal(tokenLabel({ text: 'é', piece: 'é[1/2]', special: false }), 'é[1/2]');
    assert.equal(tokenLabel({ text: '', piece: '<s>', special: true }), '<s>');
  });

  test('thinning and weights', () => {
    assert.deepEqual(thinnedIndices(10, 4), [0, 4, 8]);
    assert.equal(formatWeight(0.87345), '0.873');
    assert.equal(formatWeight(0.004213), '0.0042');
    assert.equal(formatWeight(1), '1');
  });
});

describe('steps', () => {
  test('a tiny encoder-decoder: embedding, then per layer attention + Add & Norm, FFN + Add & Norm', async () => {
    const trace = await overview('abc', 'builtin:tiny-encdec');
    const steps = buildSteps(trace);
    assert.deepEqual(steps.map((step) => step.label), [
      'Encoder · embedding + positions',
      'Encoder layer 0 · self-attention',
      'Encoder layer 0 · self-attention · Add & Norm',
      'Encoder layer 0 · feed-forward',
      'Encoder layer 0 · feed-forward · Add & Norm',
      'Encoder layer 1 · self-attention',
      'Encoder layer 1 · self-attention · Add & Norm',
      'Encoder layer 1 · feed-forward',
      'Encoder layer 1 · feed-forward · Add & Norm',
      'Decoder · embedding + positions',
      'Decoder layer 0 · self-attention',
      'Decoder layer 0 · self-attention · Add & Norm',
      'Decoder layer 0 · cross-attention',
      'Decoder layer 0 · cross-attention · Add & Norm',
      'Decoder layer 0 · feed-forward',
      'Decoder layer 0 · feed-forward · Add & Norm',
      'Decoder layer 1 · self-attention',
      'Decoder layer 1 · self-attention · Add & Norm',
      'Decoder layer 1 · cross-attention',
      'Decoder layer 1 · cross-attention · Add & Norm',
      'Decoder layer 1 · feed-forward',
      'Decoder layer 1 · feed-forward · Add & Norm',
    ]);
    // Blocks: 0,1 encoder self; 2 dec self L0; 3 cross L0; 4 dec self L1; 5 cross L1.
    assert.deepEqual(steps.map((step) => step.blockIndex), [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5, 5]);
    // Residual: 0 enc emb, 1 enc L0 self, 2 enc L0 ffn, ..., 5 dec emb, 6 dec L0 self, 7 dec L0 cross, 8 dec L0 ffn.
    assert.deepEqual(steps.slice(9, 16).map((step) => [step.residualIndex, step.previousResidualIndex]), [
      [5, null], [5, null], [6, 5], [6, 5], [7, 6], [7, 6], [8, 7],
    ]);
    assert.equal(steps[1].residualIndex, 0);
    assert.deepEqual(layerGroups(trace).map((group) => [group.label, group.blockIndices]), [
      ['Encoder L0', [0]], ['Encoder L1', [1]], ['Decoder L0', [2, 3]], ['Decoder L1', [4, 5]],
    ]);
  });

  test('moving by step and by layer', async () => {
    const trace = await overview('abc', 'builtin:tiny-encdec');
    const steps = buildSteps(trace);
    assert.equal(moveStep(steps, 0, 'previous'), 0);
    assert.equal(moveStep(steps, 21, 'next'), 21);
    assert.equal(moveStep(steps, 4, 'next'), 5);
    assert.equal(moveLayer(steps, 0, 'next'), 1, 'embedding → layer 0');
    assert.equal(moveLayer(steps, 2, 'next'), 6, 'same sub-step of the next layer');
    assert.equal(moveLayer(steps, 6, 'next'), 11, 'encoder L1 → decoder L0, over the decoder embedding');
    assert.equal(moveLayer(steps, 13, 'next'), 19, 'cross-attention Add & Norm of L0 → of L1');
    assert.equal(moveLayer(steps, 10, 'previous'), 5, 'decoder L0 → encoder L1');
    assert.equal(moveLayer(steps, 1, 'previous'), 0, 'layer 0 → its embedding');
    assert.equal(moveLayer(steps, 0, 'previous'), 0);
    assert.equal(moveLayer(steps, 19, 'next'), 19);
  });

  test('a decoder-only model labels layers without a stream', async () => {
    const trace = await overview('ab', 'builtin:tiny-decoder');
    assert.deepEqual(layerGroups(trace).map((group) => group.label), ['Layer 0', 'Layer 1', 'Layer 2']);
    assert.equal(buildSteps(trace).length, 1 + 3 * 4);
  });
});

describe('attention numbers', () => {
  // 2 heads, 2 queries, 2 keys; causal mask; head 1 leaks 0.25 into the blocked cell (0, 1).
  const probs = new Float32Array([1, 0, 0.5, 0.5, 0.75, 0.25, 0.2, 0.8]);
  const mask = new Uint8Array([1, 0, 1, 1]);

  test('head matrices and the mean of heads', () => {
    assert.deepEqual(Array.from(headMatrix(probs, 2, 2, 2, 1)), [0.75, 0.25, 0.2, 0.8].map(Math.fround));
    const mean = headMatrix(probs, 2, 2, 2, 'mean');
    assert.deepEqual(Array.from(mean).map((v) => Number(v.toFixed(6))), [0.875, 0.125, 0.35, 0.65]);
    assert.equal(matrixMax(mean), 0.875);
  });

  test('leaks: masked cells that carry weight > 1e-6', () => {
    assert.deepEqual(countLeaks(probs, mask, 2, 2, 2), { total: 1, perHead: [0, 1], maxLeak: 0.25 });
    assert.deepEqual(countLeaks(probs, null, 2, 2, 2), { total: 0, perHead: [0, 0], maxLeak: 0 });
    const tiny = new Float32Array([1, 1e-7, 0.5, 0.5]);
    assert.equal(countLeaks(tiny, mask, 1, 2, 2).total, 0, 'float noise is no leak');
    assert.equal(countBlocked(mask), 1);
  });

  test('colour limit: plain max for small matrices, 99th percentile for large ones', () => {
    assert.deepEqual(colorLimit(new Float32Array([0.1, 0.9, 0.3]), null), { max: Number(new Float32Array([0.9])[0]), clipped: false });
    const values = new Float32Array(200).map((_, i) => (i === 199 ? 1 : i / 1000));
    const limit = colorLimit(values, null);
    assert.equal(limit.clipped, true);
    assert.equal(limit.max, Math.fround(0.197));
  });

  test('fast paths agree with the plain definitions: quantile by sorting, mean by summing, colours by scaleColor', () => {
    // A seeded generator, so a failure reproduces.
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const reference = (weights: Float32Array, mask: Uint8Array | null): { max: number; clipped: boolean } => {
      const values: number[] = [];
      for (let i = 0; i < weights.length; i++) if ((mask === null || mask[i] !== 0) && Number.isFinite(weights[i])) values.push(weights[i]);
      const trueMax = values.reduce((max, value) => Math.max(max, value), 0);
      if (values.length < 100 || trueMax === 0) return { max: trueMax, clipped: false };
      const sorted = Float32Array.from(values).sort();
      const limit = sorted[Math.floor(0.99 * (sorted.length - 1))];
      return limit > 0 && limit < trueMax ? { max: limit, clipped: true } : { max: trueMax, clipped: false };
    };
    for (let trial = 0; trial < 60; trial++) {
      const heads = 1 + (trial % 6);
      const side = 5 + Math.floor(random() * 40);
      const size = side * side;
      const probs = new Float32Array(heads * size).map(() => {
        const r = random();
        if (trial % 5 === 0 && r < 0.02) return NaN;
        if (trial % 7 === 0 && r < 0.05) return -r;
        return r < 0.3 ? 0 : r < 0.4 ? 1 / (1 + Math.floor(random() * 8)) : random() ** 5;
      });
      const mask = trial % 2 === 0 ? null : expectedMask('decoder-self', null, side, side);
      for (const head of ['mean', 0] as const) {
        const plain = headMatrix(probs, heads, side, side, head);
        const fused = headMatrixWithLimit(probs, heads, side, side, head, mask);
        assert.deepEqual(Array.from(fused.weights), Array.from(plain), `trial ${trial} ${head}: weights`);
        assert.deepEqual({ max: fused.max, clipped: fused.clipped }, reference(plain, mask), `trial ${trial} ${head}: limit`);
        assert.deepEqual(colorLimit(plain, mask), reference(plain, mask), `trial ${trial} ${head}: colorLimit`);
        // A view into a bigger buffer (as decoded traces are) reads its own cells only.
        assert.deepEqual(colorLimit(probs.subarray(size, 2 * size), mask), reference(probs.subarray(size, 2 * size), mask));
      }
      const scale = makeColorScale('viridis', 'dark', 0.3);
      const out = new Uint8ClampedArray(size * 4);
      const weights = headMatrix(probs, heads, side, side, 'mean');
      paintCells(scale, weights, mask, [9, 8, 7], out);
      for (let i = 0; i < size; i++) {
        const blocked = mask !== null && mask[i] === 0 && !(weights[i] > 1e-6);
        const expected = blocked ? [9, 8, 7] : scaleColor(scale, weights[i]);
        assert.deepEqual(Array.from(out.subarray(i * 4, i * 4 + 4)), [...expected, 255], `trial ${trial} cell ${i}`);
      }
    }
    const scale = makeColorScale('gray', 'dark', 1);
    assert.deepEqual([NaN, -1, 0, 0.5 / 255, 0.5, 1, 2, Infinity].map((w) => scaleIndex(scale, w)), [-1, 0, 0, 1, 128, 255, 255, 255]);
  });

  test('a real decoder block: causal cells carry nothing', async () => {
    const trace = await engine.explain('hello', { model: 'builtin:tiny-decoder' });
    const block = trace.blocks[0];
    assert.equal(countLeaks(block.probs, block.mask, block.heads, block.queries, block.keys).total, 0);
    assert.equal(countBlocked(block.mask), 10);
  });
});

describe('saved view', () => {
  test('restored only for the same model and shape', async () => {
    const trace = await overview('abc', 'builtin:tiny-encdec');
    const steps = buildSteps(trace);
    const saved = { shape: shapeKey(trace), stepIndex: 13, blockIndex: 3, head: 2 as const, selectedQuery: 1 };
    assert.deepEqual(initialView(trace, steps, saved, 'mean'), { stepIndex: 13, blockIndex: 3, head: 2, selectedQuery: 1 });
    const other = await overview('abcd', 'builtin:tiny-encdec');
    assert.deepEqual(initialView(other, buildSteps(other), saved, 'mean'), { stepIndex: 1, blockIndex: 0, head: 'mean', selectedQuery: null });
    assert.deepEqual(initialView(other, buildSteps(other), undefined, 'head0'), { stepIndex: 1, blockIndex: 0, head: 0, selectedQuery: null });
    assert.equal(headFor(5, 4), 'mean');
    assert.equal(headFor(3, 4), 3);
  });
});

test('a decoder\'s self-attention is judged against causal order, whatever mask the model applied', () => {
  // The model's mask lets query 0 see key 1 (a causal mask shifted by one).
  const shifted = new Uint8Array([1, 1, 1, 1]);
  const expected = expectedMask('decoder-self', shifted, 2, 2)!;
  assert.deepEqual(Array.from(expected), [1, 0, 1, 1]);
  const probs = new Float32Array([0.6, 0.4, 0.5, 0.5]);
  assert.deepEqual(countLeaks(probs, expected, 1, 2, 2), { total: 1, perHead: [1], maxLeak: 0.4000000059604645 });
  assert.equal(expectedMask('encoder-self', null, 2, 2), null);
  assert.deepEqual(Array.from(expectedMask('decoder-self', null, 2, 3)!), [1, 0, 0, 1, 1, 0]);
});
