/**
 * Grouped-query attention and sliding windows in the panel (webview/kvGroups.ts and the pure parts
 * that use it): the overview's column groups and their labels on a synthetic Qwen2-shaped overview
 * (14 query heads, 2 KV heads: the real preset is too large to run here), the header's and the
 * badges' words, the cells a window blocks, and the expected mask that knows the window, checked on
 * a real tiny-modern trace from the engine.
 */
import { strict as assert } from 'node:assert';
import { before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { computeColorLimits } from '../../src/shared/colorLimits';
import { traceOverview, type BlockOverview, type TraceOverview } from '../../src/shared/protocol';
import type { AttentionTrace } from '../../src/shared/trace';
import { countBlocked, countLeaks, expectedMask } from '../../webview/attention';
import { BlockCache } from '../../webview/blockCache';
import { blockFamilies } from '../../webview/blockFamilies';
import { uniformEntropy } from '../../webview/headBadges';
import {
  blockHeadsText, familyKvGroups, headCountText, headLabel, headSpoken, isGrouped, kvGroups, kvHeadCount, maskText,
  modelHeadFacts, noLeaksText, outsideWindow, overviewKvLine, windowBlockedCells, windowOf,
} from '../../webview/kvGroups';

const QWEN_KV_OF = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1];

function block(layer: number, extra: Partial<BlockOverview> = {}): BlockOverview {
  return {
    layer, kind: 'decoder-self', queryStream: 'decoder', keyStream: 'decoder', heads: 14, kvHeads: 2, kvHeadOf: [...QWEN_KV_OF],
    queries: 10, keys: 10, maskKind: 'causal', ...extra,
  };
}

/** A TraceOverview shaped like qwen2-shape's (24 layers × 14 query heads, 2 KV heads), 10 tokens, no arrays. */
function qwenOverview(extra: Partial<BlockOverview> = {}): TraceOverview {
  const text = 'abcdefghij';
  return {
    formatVersion: 2,
    model: {
      name: 'builtin:qwen2-shape', kind: 'decoder', source: 'builtin', preset: 'qwen2-shape', encoderLayers: 0, decoderLayers: 24,
      heads: 14, dModel: 896, tokenizer: 'bytes',
    },
    backend: 'reference',
    streams: [{ name: 'decoder', text, origin: 'selection', tokens: [...text].map((c, i) => ({ id: c.charCodeAt(0), text: c, piece: c, start: i, end: i + 1, special: false })) }],
    blocks: Array.from({ length: 24 }, (_, layer) => block(layer, extra)),
    residual: [],
    timings: [],
    truncation: [],
    notices: [],
    createdAt: '2026-12-05T14:00:00.000Z',
  };
}

describe('query heads grouped by their KV head', () => {
  test('14 query heads over 2 KV heads: two labelled groups of 7, in KV order', () => {
    const groups = kvGroups(block(0));
    assert.deepEqual(groups.map((g) => g.label), ['KV 0', 'KV 1']);
    assert.deepEqual(groups.map((g) => g.kvHead), [0, 1]);
    assert.deepEqual(groups[0].heads, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(groups[1].heads, [7, 8, 9, 10, 11, 12, 13]);
    assert.equal(kvHeadCount(block(0)), 2);
  });

  test('the overview grid of a 24-layer family takes the blocks\' grouping; columns are ordered by group', () => {
    const trace = qwenOverview();
    const [family] = blockFamilies(trace.blocks);
    const rows = family.blockIndices.map((index) => trace.blocks[index]);
    assert.equal(rows.length, 24);
    const groups = familyKvGroups(rows, 14);
    assert.deepEqual(groups.flatMap((g) => g.heads), Array.from({ length: 14 }, (_, h) => h));
    assert.deepEqual(groups.map((g) => `${g.label}:${g.heads.length}`), ['KV 0:7', 'KV 1:7']);
  });

  test('heads that interleave their KV heads are regrouped: columns follow the KV head, not the head index', () => {
    const groups = kvGroups({ heads: 6, kvHeads: 3, kvHeadOf: [2, 0, 1, 2, 0, 1] });
    assert.deepEqual(groups.map((g) => [g.label, g.heads]), [['KV 0', [1, 4]], ['KV 1', [2, 5]], ['KV 2', [0, 3]]]);
  });

  test('ordinary multi-head attention: one unlabelled group of every head, nothing extra said', () => {
    const plain = { heads: 4 };
    assert.equal(isGrouped(plain), false);
    assert.deepEqual(kvGroups(plain), [{ kvHead: null, label: '', heads: [0, 1, 2, 3] }]);
    // One KV head per query head is not grouped either, nor a map of the wrong length.
    assert.equal(isGrouped({ heads: 2, kvHeads: 2, kvHeadOf: [0, 1] }), false);
    assert.equal(isGrouped({ heads: 3, kvHeads: 1, kvHeadOf: [0, 0] }), false);
    assert.equal(overviewKvLine([{ heads: 4 }, { heads: 4 }], 4), null);
    assert.equal(headLabel(plain, 3), 'Head 3');
    assert.equal(blockHeadsText(plain), '4 heads');
  });

  test('blocks of one family that disagree on their grouping leave the grid ungrouped', () => {
    const groups = familyKvGroups([block(0), block(1, { kvHeadOf: [...QWEN_KV_OF].reverse() })], 14);
    assert.deepEqual(groups.map((g) => g.kvHead), [null]);
  });

  test('head picker and titles name the KV head', () => {
    assert.equal(headLabel(block(0), 3), 'Head 3 · KV 0');
    assert.equal(headLabel(block(0), 10), 'Head 10 · KV 1');
    assert.equal(headSpoken(block(0), 10), 'head 10, KV head 1');
    assert.equal(headSpoken({ heads: 4 }, 1), 'head 1');
  });
});

describe('header and badge words', () => {
  test('"14 query heads, 2 KV heads", singular where it is one, plain "heads" without grouping', () => {
    assert.equal(headCountText(14, 2), '14 query heads, 2 KV heads');
    assert.equal(headCountText(8, 1), '8 query heads, 1 KV head');
    assert.equal(headCountText(4, undefined), '4 heads');
    assert.equal(headCountText(4, 4), '4 heads');
    assert.equal(headCountText(1, undefined), '1 head');
  });

  test('the model header: layers × query and KV heads, and the window when the run has one', () => {
    assert.deepEqual(modelHeadFacts(qwenOverview(), '24 layers'), ['24 layers × 14 query heads, 2 KV heads']);
    assert.deepEqual(modelHeadFacts(qwenOverview({ slidingWindow: 4 }), '24 layers'), ['24 layers × 14 query heads, 2 KV heads', 'window 4']);
    const plain = qwenOverview({ kvHeads: undefined, kvHeadOf: undefined });
    assert.deepEqual(modelHeadFacts(plain, '24 layers'), ['24 layers × 14 heads']);
  });

  test('the overview\'s line over a grouped grid', () => {
    const trace = qwenOverview();
    assert.equal(overviewKvLine(trace.blocks, 14), '14 query heads, 2 KV heads: query heads are grouped by the key/value head they share.');
  });

  test('the mask badge names the window; a window no shorter than the block blocks nothing and is not named', () => {
    assert.equal(maskText(block(0, { slidingWindow: 4 })), 'causal + sliding window 4');
    assert.equal(maskText(block(0)), 'causal');
    assert.equal(maskText(block(0, { slidingWindow: 10 })), 'causal');
    assert.equal(windowOf(block(0, { slidingWindow: 10 })), null);
  });

  test('window cells: key ≤ query − W; counted in the blocked cells and said in the badge', () => {
    // 10 × 10, W = 4: rows 4..9 lose 1..6 keys = 21 cells, besides the 45 above the diagonal.
    assert.equal(windowBlockedCells(10, 10, 4), 21);
    assert.equal(windowBlockedCells(10, 10, null), 0);
    const expected = expectedMask('decoder-self', null, 10, 10, 4)!;
    assert.equal(countBlocked(expected), 45 + 21);
    assert.equal(noLeaksText(66, 21), '0 leaks in 66 masked cells (21 outside the window)');
    assert.equal(noLeaksText(45, 0), '0 leaks in 45 masked cells');
    assert.equal(noLeaksText(1, 0), '0 leaks in 1 masked cell');
    const windowed = block(0, { slidingWindow: 4 });
    assert.equal(outsideWindow(windowed, 4, 0), true);
    assert.equal(outsideWindow(windowed, 4, 1), false);
    assert.equal(outsideWindow(block(0), 9, 0), false);
  });

  test('uniform entropy of a windowed causal block: each row sees at most W keys', () => {
    const windowed = uniformEntropy({ queries: 6, keys: 6, maskKind: 'causal', slidingWindow: 2 });
    assert.ok(Math.abs(windowed - 5 / 6) < 1e-12, 'row 0 sees one key, rows 1..5 two: 5 bits over 6 rows');
  });
});

describe('the expected mask knows the window', () => {
  test('a band: the future and the keys older than the window are blocked, whatever mask the model applied', () => {
    assert.deepEqual(Array.from(expectedMask('decoder-self', null, 4, 4, 2)!), [
      1, 0, 0, 0,
      1, 1, 0, 0,
      0, 1, 1, 0,
      0, 0, 1, 1,
    ]);
    // A model that applied only the causal part is judged by the band, and its weight outside the window leaks.
    const causalOnly = expectedMask('decoder-self', null, 4, 4)!;
    const probs = new Float32Array(16);
    for (let q = 0; q < 4; q++) for (let k = 0; k <= q; k++) probs[q * 4 + k] = 1 / (q + 1);
    assert.equal(countLeaks(probs, causalOnly, 1, 4, 4).total, 0);
    assert.equal(countLeaks(probs, expectedMask('decoder-self', causalOnly, 4, 4, 2), 1, 4, 4).total, 3);
    // No window (or one as long as the block): the causal mask as before; non-decoder blocks keep their mask.
    assert.deepEqual(expectedMask('decoder-self', null, 3, 3, 3), expectedMask('decoder-self', null, 3, 3));
    assert.equal(expectedMask('encoder-self', null, 3, 3), null);
  });

  test('the block cache hatches and counts window cells from the block\'s slidingWindow', () => {
    const windowed = block(0, { heads: 1, kvHeads: undefined, kvHeadOf: undefined, queries: 4, keys: 4, slidingWindow: 2 });
    const cache = new BlockCache([windowed], undefined);
    const probs = new Float32Array(16);
    for (let q = 0; q < 4; q++) for (let k = Math.max(0, q - 1); k <= q; k++) probs[q * 4 + k] = q === 0 ? 1 : 0.5;
    assert.ok(cache.store(0, probs, null, null));
    assert.deepEqual(cache.counts(0), { leaks: { total: 0, perHead: [0], maxLeak: 0 }, blocked: 6 + 3 });
  });
});

describe('a real tiny-modern trace (grouped-query attention, window 32)', () => {
  const engine = new ExplainEngine();
  // 60 bytes: longer than the window, so rows 32.. lose their oldest keys.
  const text = 'The quick brown fox jumps over the lazy dog again and again.';
  let trace: AttentionTrace;
  let overview: TraceOverview;

  before(async () => {
    trace = await engine.explain(text, { model: 'builtin:tiny-modern' });
    overview = traceOverview(trace);
  });

  test('its blocks carry 2 KV heads for 4 query heads and the window; the header says so', () => {
    for (const b of overview.blocks) {
      assert.deepEqual([b.heads, b.kvHeads, b.kvHeadOf, b.slidingWindow, b.queries], [4, 2, [0, 0, 1, 1], 32, 60]);
      assert.equal(maskText(b), 'causal + sliding window 32');
    }
    assert.deepEqual(modelHeadFacts(overview, '3 layers'), ['3 layers × 4 query heads, 2 KV heads', 'window 32']);
    assert.deepEqual(kvGroups(overview.blocks[0]).map((g) => [g.label, g.heads]), [['KV 0', [0, 1]], ['KV 1', [2, 3]]]);
  });

  test('the expected mask with the window is the engine\'s mask: 0 leaks, and the window cells are counted as blocked', () => {
    const causal = (60 * 59) / 2;
    const outside = windowBlockedCells(60, 60, 32);
    assert.equal(outside, (28 * 29) / 2);
    for (const b of trace.blocks) {
      const expected = expectedMask(b.kind, b.mask, b.queries, b.keys, b.slidingWindow)!;
      assert.deepEqual(expected, b.mask, 'the engine\'s mask already is the band');
      assert.deepEqual(expectedMask(b.kind, null, b.queries, b.keys, b.slidingWindow), b.mask, 'and the window alone gives it');
      assert.equal(countBlocked(expected), causal + outside);
      assert.equal(countLeaks(b.probs, expected, b.heads, b.queries, b.keys).total, 0);
    }
    const cache = new BlockCache(overview.blocks, overview.analysis?.colorLimits);
    const first = trace.blocks[0];
    assert.ok(cache.store(0, first.probs, first.mask, first.meanProbs ?? null));
    assert.deepEqual(cache.counts(0)?.blocked, causal + outside);
    assert.equal(cache.counts(0)?.leaks.total, 0);
  });

  test('no diagnostic calls the window cells leaks, and the colour limits are unchanged by the window', () => {
    assert.deepEqual((trace.analysis?.diagnostics ?? []).filter((d) => d.code === 'mask-leak'), []);
    assert.deepEqual(computeColorLimits(trace), trace.analysis?.colorLimits);
  });
});
