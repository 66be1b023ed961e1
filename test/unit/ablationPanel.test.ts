/**
 * The panel's side of head ablation without a DOM: the request message as the host accepts it
 * (anything else dropped), and what the Ablation view shows from a trace's ablation (the trace's
 * numbers, formatted; the mean of the per-position KL).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { parseFromWebview } from '../../src/shared/protocol';
import type { AblationResult, Token } from '../../src/shared/trace';
import { formatProb, headName, summarizeAblation } from '../../webview/ablationModel';

describe('the ablation request from the panel', () => {
  test('add, remove, clear and mode pass with exactly their fields', () => {
    const head = { kind: 'decoder-self', layer: 0, head: 3 };
    assert.deepEqual(parseFromWebview({ type: 'ablation', action: 'add', head: { ...head, extra: 1 }, other: 'x' }), { type: 'ablation', action: 'add', head });
    assert.deepEqual(parseFromWebview({ type: 'ablation', action: 'remove', head }), { type: 'ablation', action: 'remove', head });
    assert.deepEqual(parseFromWebview({ type: 'ablation', action: 'clear', head }), { type: 'ablation', action: 'clear' });
    assert.deepEqual(parseFromWebview({ type: 'ablation', action: 'mode', mode: 'mean' }), { type: 'ablation', action: 'mode', mode: 'mean' });
  });

  test('malformed requests are dropped', () => {
    for (const bad of [
      { type: 'ablation' },
      { type: 'ablation', action: 'add' },
      { type: 'ablation', action: 'add', head: { kind: 'decoder-self', layer: -1, head: 0 } },
      { type: 'ablation', action: 'add', head: { kind: 'decoder-self', layer: 0, head: 1.5 } },
      { type: 'ablation', action: 'add', head: { kind: 'ffn', layer: 0, head: 0 } },
      { type: 'ablation', action: 'remove', head: 'L0 H3' },
      { type: 'ablation', action: 'mode', mode: 'random' },
      { type: 'ablation', action: 'explode' },
    ]) assert.equal(parseFromWebview(bad), null, JSON.stringify(bad));
  });
});

describe('the Ablation view\'s content', () => {
  const tokens: Token[] = ['a', 'b', 'c'].map((text, index) => ({ id: index, text, start: index, end: index + 1 }) as Token);
  const ablation: AblationResult = {
    heads: [{ blockIndex: 0, kind: 'decoder-self', layer: 0, head: 3 }],
    mode: 'zero',
    stream: 'decoder',
    kl: [0, 0.5, 0.25],
    changedTop: [{ position: 1, before: { id: 7, text: 'x', prob: 0.625 }, after: { id: 8, text: ' ', prob: 0.0123 } }],
    blocks: [{ blockIndex: 1, kind: 'decoder-self', layer: 1, maxAbs: 0.75, meanAbs: [0.01, 0], maxAbsPerHead: [0.75, 0] }],
  };

  test('the numbers are the trace\'s: heads, KL per position and its mean, changed predictions, block changes', () => {
    const summary = summarizeAblation(ablation, tokens, (token) => token?.text ?? '', false);
    assert.deepEqual(summary.heads, [{ ref: { kind: 'decoder-self', layer: 0, head: 3 }, blockIndex: 0, text: 'L0 H3' }]);
    assert.equal(summary.kl, ablation.kl);
    assert.equal(summary.meanKl, 0.25);
    assert.deepEqual(summary.changed, [{ position: 1, token: 'b', before: '"x" 63%', after: '" " 1.2%' }]);
    assert.deepEqual(summary.blocks, [{ blockIndex: 1, maxAbs: '0.750', heads: [{ mean: 0.01, max: 0.75, text: '0.0100 / 0.750' }, { mean: 0, max: 0, text: '0 / 0' }] }]);
  });

  test('without logits there is no KL to show', () => {
    const summary = summarizeAblation({ ...ablation, kl: undefined, changedTop: undefined, stream: undefined }, tokens, () => '', true);
    assert.equal(summary.kl, null);
    assert.equal(summary.meanKl, null);
    assert.deepEqual(summary.changed, []);
    assert.equal(summary.heads[0].text, 'L0 H3');
  });

  test('names and probabilities', () => {
    assert.equal(headName({ kind: 'cross', layer: 2, head: 1 }, true), 'cross L2 H1');
    assert.equal(headName({ kind: 'cross', layer: 2, head: 1 }, false), 'L2 H1');
    assert.equal(formatProb(0.5), '50%');
    assert.equal(formatProb(0.05), '5.0%');
    assert.equal(formatProb(0.0004567), '0.046%');
  });
});
