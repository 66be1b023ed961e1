/**
 * The heatmap's What-if parts that need no DOM (issue 23): the prediction notes and tooltip lines
 * (webview/predictionLabels.ts), and several rows at once: their summed or mean attention, the
 * shift-click selection and the token search (webview/rowSelection.ts). Expected values by hand.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { LogitLensLayer, Token, TokenPrediction } from '../../src/shared/trace';
import { fixedWidthMeasure } from '../../webview/labels';
import { fitLabel, formatProbability, labelWidth, lensLine, predictionLines, predictionText, rowNotes, rowPredictions, topKLine } from '../../webview/predictionLabels';
import { aggregateRows, describeRows, findTokenRows, nextMatch, shiftClickRows, toggleRow } from '../../webview/rowSelection';

const p = (id: number, text: string, prob: number): TokenPrediction => ({ id, text, prob });

/** Three positions' top-2. */
const TOP: TokenPrediction[][] = [
  [p(101, 'e', 0.37), p(32, ' ', 0.2)],
  [p(32, ' ', 0.981), p(10, '\n', 0.004)],
  [p(7, '', 0.0004), p(104, 'h', 0.00004)],
];
const LENS: LogitLensLayer[] = [
  { stream: 'decoder', layer: 1, top: [[p(1, 'b', 0.3)], [p(2, 'c', 0.5)], [p(3, 'd', 0.9)]] },
  { stream: 'decoder', layer: 0, top: [[p(0, 'a', 0.12)], [p(2, 'c', 0.25)], [p(4, 'x', 0.05)]] },
  { stream: 'encoder', layer: 0, top: [[p(9, 'z', 1)]] },
];

describe('predictions in the heatmap\'s labels and tooltips', () => {
  test('the rows\' stream is picked, its lens layers in order; no predictions: null', () => {
    const rows = rowPredictions({ predictions: [{ stream: 'encoder', top: [] }, { stream: 'decoder', top: TOP }], logitLens: LENS }, 'decoder');
    assert.equal(rows?.top, TOP);
    assert.deepEqual(rows?.lens.map((layer) => [layer.stream, layer.layer]), [['decoder', 0], ['decoder', 1]]);
    assert.equal(rowPredictions({ predictions: [{ stream: 'decoder', top: TOP }] }, 'encoder'), null);
    assert.equal(rowPredictions({}, 'decoder'), null);
    assert.deepEqual(rowPredictions({ predictions: [{ stream: 'decoder', top: TOP }] }, 'decoder')?.lens, []);
  });

  test('texts and probabilities', () => {
    assert.equal(predictionText(p(32, ' ', 1)), '\u2423');
    assert.equal(predictionText(p(10, '\n', 1)), '\u21b5');
    assert.equal(predictionText(p(7, '', 1)), '[7]');
    assert.deepEqual([0.37, 0.981, 0.042, 0.0031, 0.0004, 0.00004, 0, 1].map(formatProbability), ['37%', '98%', '4.2%', '0.3%', '<0.1%', '<0.1%', '<0.1%', '100%']);
    assert.equal(topKLine(TOP[0]), 'e 37% \u00b7 \u2423 20%');
    assert.equal(topKLine(TOP[2]), '[7] <0.1% \u00b7 h <0.1%');
  });

  test('the lens line names each layer\'s top-1 at the position, in layer order', () => {
    const rows = rowPredictions({ predictions: [{ stream: 'decoder', top: TOP }], logitLens: LENS }, 'decoder')!;
    assert.equal(lensLine(rows.lens, 0), 'L0 a 12% \u00b7 L1 b 30%');
    assert.equal(lensLine(rows.lens, 2), 'L0 x 5% \u00b7 L1 d 90%');
    assert.equal(lensLine(rows.lens, 7), '');
    assert.deepEqual(predictionLines(rows, 1), [['next', '\u2423 98% \u00b7 \u21b5 0.4%'], ['lens', 'L0 c 25% \u00b7 L1 c 50%']]);
    assert.deepEqual(predictionLines({ top: TOP, lens: [] }, 0), [['next', 'e 37% \u00b7 \u2423 20%']]);
    assert.deepEqual(predictionLines(null, 0), []);
    // Three items a line: a top-5 and a 4-layer lens take two lines each.
    const five = [p(1, 'a', 0.5), p(2, 'b', 0.2), p(3, 'c', 0.1), p(4, 'd', 0.05), p(5, 'e', 0.01)];
    const layers = [0, 1, 2, 3].map((layer): LogitLensLayer => ({ stream: 'decoder', layer, top: [[p(layer, String(layer), 0.1 * (layer + 1))]] }));
    assert.deepEqual(predictionLines({ top: [five], lens: layers }, 0), [
      ['next', 'a 50% \u00b7 b 20% \u00b7 c 10%'], ['', 'd 5% \u00b7 e 1%'],
      ['lens', 'L0 0 10% \u00b7 L1 1 20% \u00b7 L2 2 30%'], ['', 'L3 3 40%'],
    ]);
    assert.deepEqual(predictionLines(rows, 9), []);
  });

  test('notes per token, and per word the word\'s last token\'s', () => {
    assert.deepEqual(rowNotes(TOP, null), ['e', '\u2423', '[7]']);
    assert.deepEqual(rowNotes(TOP, [{ start: 0, end: 2, text: 'ab' }, { start: 2, end: 3, text: 'c' }]), ['\u2423', '[7]']);
    assert.deepEqual(rowNotes([[], TOP[0]], null), ['', 'e']);
  });

  test('a label and its note fitted to a width (7 px a character)', () => {
    const measure = fixedWidthMeasure(7);
    // "cat" + " →" + "dog" = 8 characters, 56 px.
    assert.equal(labelWidth('cat', 'dog', measure), 56);
    assert.equal(labelWidth('cat', undefined, measure), 21);
    assert.deepEqual(fitLabel('cat', 'dog', 56, measure), { text: 'cat', note: ' \u2192dog' });
    // 49 px: the note elided to " →d…" (4 characters, 28 px) after the 21 px of "cat".
    assert.deepEqual(fitLabel('cat', 'dog', 49, measure), { text: 'cat', note: ' \u2192d\u2026' });
    // 41 px: no room for " →d…": the note goes, the text stays whole.
    assert.deepEqual(fitLabel('cat', 'dog', 41, measure), { text: 'cat', note: '' });
    // A one-character note is never elided: whole or not at all.
    assert.deepEqual(fitLabel('cat', 'e', 42, measure), { text: 'cat', note: ' \u2192e' });
    assert.deepEqual(fitLabel('cat', 'e', 41, measure), { text: 'cat', note: '' });
    assert.deepEqual(fitLabel('kitten', 'e', 28, measure), { text: 'kit\u2026', note: '' });
    assert.deepEqual(fitLabel('kitten', '', 28, measure), { text: 'kit\u2026', note: '' });
  });
});

describe('several rows at once', () => {
  // Rows: [1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5].
  const weights = new Float32Array([1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  const close = (actual: Float32Array, expected: number[]): void => {
    assert.equal(actual.length, expected.length);
    expected.forEach((value, i) => assert.ok(Math.abs(actual[i] - value) < 1e-6, `key ${i}: ${actual[i]} ≠ ${value}`));
  };

  test('sum and mean over the rows, per key', () => {
    close(aggregateRows(weights, 3, [1, 2], 'sum'), [0.7, 0.8, 0.5]);
    close(aggregateRows(weights, 3, [1, 2], 'mean'), [0.35, 0.4, 0.25]);
    // Each row of attention sums to 1, so the mean's keys do too.
    close(aggregateRows(weights, 3, [0, 1, 2], 'mean'), [1.7 / 3, 0.8 / 3, 0.5 / 3]);
    // A row out of range is not counted: the mean of rows 0 and 2.
    close(aggregateRows(weights, 3, [0, 2, 7, -1], 'mean'), [0.6, 0.15, 0.25]);
    close(aggregateRows(weights, 3, [], 'mean'), [0, 0, 0]);
    close(aggregateRows(weights, 3, [2], 'sum'), [0.2, 0.3, 0.5]);
  });

  test('shift-click adds and removes rows, taking the selected row along first', () => {
    assert.deepEqual(toggleRow([2, 5], 3), [2, 3, 5]);
    assert.deepEqual(toggleRow([2, 3, 5], 3), [2, 5]);
    assert.deepEqual(shiftClickRows([], 4, 1), [1, 4]);
    assert.deepEqual(shiftClickRows([], null, 1), [1]);
    assert.deepEqual(shiftClickRows([], 1, 1), [1]);
    assert.deepEqual(shiftClickRows([1, 4], 4, 6), [1, 4, 6]);
    assert.deepEqual(shiftClickRows([1, 4], 4, 4), [1]);
    assert.equal(describeRows([3, 5, 9]), '#3, #5, #9');
    assert.equal(describeRows([3, 5, 9, 11, 40]), '#3, #5, \u2026 #40 (5 rows)');
  });

  test('the token search: where the text occurs (its last token) and labels that contain it', () => {
    const source = 'The cat sat. the end';
    // GPT-2-like pieces plus a start token.
    const spans: Array<[string, number, number]> = [['<s>', 0, 0], ['The', 0, 3], ['Ġcat', 3, 7], ['Ġs', 7, 9], ['at', 9, 11], ['.', 11, 12], ['Ġthe', 12, 16], ['Ġend', 16, 20]];
    const tokens: Token[] = spans.map(([piece, start, end], id) => ({ id, piece, start, end, text: source.slice(start, end), special: start === end }));
    assert.deepEqual(findTokenRows(tokens, 'the'), [1, 6], 'case-insensitive');
    // "sat" spans "Ġs" and "at": the row that has read it all is "at"; "at" alone is in "cat" and "at".
    assert.deepEqual(findTokenRows(tokens, 'sat'), [4]);
    assert.deepEqual(findTokenRows(tokens, 'at'), [2, 4]);
    assert.deepEqual(findTokenRows(tokens, 'e e'), [7]);
    assert.deepEqual(findTokenRows(tokens, '<s>'), [0]);
    assert.deepEqual(findTokenRows(tokens, '\u2423cat'), [2], 'the label with its visible space');
    assert.deepEqual(findTokenRows(tokens, 'dog'), []);
    assert.deepEqual(findTokenRows(tokens, ''), []);
  });

  test('Enter goes to the next match, Shift+Enter to the previous, both wrapping round', () => {
    assert.equal(nextMatch([2, 5, 9], null), 2);
    assert.equal(nextMatch([2, 5, 9], 5), 9);
    assert.equal(nextMatch([2, 5, 9], 9), 2);
    assert.equal(nextMatch([2, 5, 9], 6), 9);
    assert.equal(nextMatch([2, 5, 9], null, true), 9);
    assert.equal(nextMatch([2, 5, 9], 5, true), 2);
    assert.equal(nextMatch([2, 5, 9], 2, true), 9);
    assert.equal(nextMatch([], 3), null);
  });
});
