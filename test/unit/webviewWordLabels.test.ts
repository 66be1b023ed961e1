/**
 * The heatmap's Words labels, their pure parts: an axis's words (webview/heatmapWords.ts: the label
 * texts with whitespace drawn visibly, where separators go, each token's word) and the Words choice
 * kept in the panel's saved state beside the view (webview/state.ts). Expected values by hand.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { Token } from '../../src/shared/trace';
import { axisTexts, wordAxis, wordOf } from '../../webview/heatmapWords';
import { initialView, preferencesOf, type SavedView, withPreference, withPreferences } from '../../webview/state';

/** GPT-2-style tokens of "Hi there,\n" plus a start token: [piece, start, end]. */
const SOURCE = 'Hi there,\n';
const TOKENS: Token[] = ([['<|endoftext|>', 0, 0], ['Hi', 0, 2], ['Ġthe', 2, 6], ['re', 6, 8], [',', 8, 9], ['Ċ', 9, 10]] as const).map(([piece, start, end], id) => ({
  id, piece, start, end, text: SOURCE.slice(start, end), special: start === end,
}));

describe('an axis as words', () => {
  test('groups, label texts (a trailing line break drawn as ↵), separators and each token\'s word', () => {
    const axis = wordAxis(TOKENS);
    assert.deepEqual(axis.groups.map((group) => [group.start, group.end]), [[0, 1], [1, 2], [2, 4], [4, 5], [5, 6]]);
    assert.deepEqual(axis.texts, ['<|endoftext|>', 'Hi', 'there', ',', '\u21b5']);
    assert.deepEqual(axis.starts, [1, 2, 4, 5]);
    assert.deepEqual(Array.from(axis.groupOf), [0, 1, 2, 2, 3, 4]);
    assert.equal(wordOf(axis, 3)?.text, 'there');
    assert.equal(wordOf(null, 3), undefined);
    assert.equal(wordAxis(TOKENS), axis, 'worked out once per token list');
  });

  test('the labels: per word with the spans, or per token as before', () => {
    const words = axisTexts(TOKENS, wordAxis(TOKENS));
    assert.deepEqual(words.texts, ['<|endoftext|>', 'Hi', 'there', ',', '\u21b5']);
    assert.equal(words.words?.length, 5);
    const tokens = axisTexts(TOKENS, null);
    assert.deepEqual(tokens.texts, ['<|endoftext|>', 'Hi', '\u2423the', 're', ',', '\u21b5']);
    assert.equal(tokens.words, null);
  });
});

describe('the Words choice in the saved state', () => {
  const view: SavedView = { shape: 'm|decoder|x', stepIndex: 2, blockIndex: 1, head: 'mean', selectedQuery: 4 };

  test('none saved: per token', () => {
    assert.deepEqual(preferencesOf(undefined), { words: false });
    assert.deepEqual(preferencesOf(view), { words: false });
    assert.deepEqual(preferencesOf({ ...view, words: true }), { words: true });
  });

  test('a new view keeps the choice saved before it; the choice changes without touching the view', () => {
    assert.deepEqual(withPreferences(view, { ...view, stepIndex: 0, words: true }), { ...view, words: true });
    assert.deepEqual(withPreferences(view, undefined), view);
    assert.deepEqual(withPreference({ ...view, words: true }, { words: false }), { ...view, words: false });
  });

  test('chosen before any trace: a state that restores no view', () => {
    const saved = withPreference(undefined, { words: true });
    assert.equal(saved.words, true);
    assert.equal(saved.shape, '');
    // No trace has the empty shape key, so a trace opens on its first attention step as without a saved view.
    const trace = { model: { name: 'm', kind: 'decoder' }, streams: [], blocks: [], residual: [] } as unknown as Parameters<typeof initialView>[0];
    assert.deepEqual(initialView(trace, [], saved, 'mean'), initialView(trace, [], undefined, 'mean'));
  });
});
