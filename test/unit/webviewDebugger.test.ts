/**
 * The attention debugger's pure logic: thumbnail block averages (webview/thumbnails.ts), head
 * badges (headBadges.ts), sorting the statistics table (statsColumns.ts), the head view's lines
 * (headLines.ts), the diagnostics summary and targets (diagnostics.ts), block families
 * (blockFamilies.ts), and the heatmap as SVG (svgExport.ts). Expected values are worked out by hand.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { HeadStats, TraceDiagnostic } from '../../src/shared/analysis';
import { DEFAULT_THRESHOLDS } from '../../src/shared/analysis';
import { makeColorScale, scaleColor } from '../../webview/colorScale';
import { blockFamilies } from '../../webview/blockFamilies';
import { diagnosticBlock, diagnosticLocation, diagnosticSummary, sortDiagnostics } from '../../webview/diagnostics';
import { headBadges, uniformEntropy } from '../../webview/headBadges';
import { headLines } from '../../webview/headLines';
import { formatStat, sortStats } from '../../webview/statsColumns';
import { escapeXml, exportName, heatmapSvg, hexColor, svgCellSize } from '../../webview/svgExport';
import { downsample, downsampleMask } from '../../webview/thumbnails';

function stats(partial: Partial<HeadStats>): HeadStats {
  return {
    blockIndex: 0, layer: 0, kind: 'decoder-self', head: 0, entropy: 1, minEntropy: 0, meanDistance: 1, prevToken: 0.1, sink: 0.1, diagonal: 0.1, induction: null,
    ...partial,
  };
}

function diagnostic(partial: Partial<TraceDiagnostic>): TraceDiagnostic {
  return { code: 'mask-leak', severity: 'error', blockIndex: 0, layer: 0, head: 0, stream: 'decoder', message: 'm', ...partial };
}

describe('thumbnail downsampling', () => {
  test('4×4 to 2×2 averages each 2×2 block', () => {
    const values = Float32Array.from([
      1, 2, 3, 4,
      5, 6, 7, 8,
      9, 10, 11, 12,
      13, 14, 15, 16,
    ]);
    const small = downsample(values, 4, 4, 2);
    assert.equal(small.rows, 2);
    assert.equal(small.cols, 2);
    assert.deepEqual(Array.from(small.values), [3.5, 5.5, 11.5, 13.5]);
  });

  test('uneven sizes: 3 columns into 2 take blocks of 1 and 2', () => {
    const small = downsample(Float32Array.from([1, 2, 4, 10, 20, 40]), 2, 3, 2);
    assert.deepEqual(Array.from(small.values), [1, 3, 10, 30]);
  });

  test('a matrix that fits is unchanged; rows and columns shrink independently', () => {
    assert.deepEqual(Array.from(downsample(Float32Array.from([0.25, 0.75]), 1, 2, 48).values), [0.25, 0.75]);
    const tall = downsample(new Float32Array(100 * 3).fill(0.5), 100, 3, 48);
    assert.equal(tall.rows, 48);
    assert.equal(tall.cols, 3);
    assert.ok(tall.values.every((v) => Math.abs(v - 0.5) < 1e-7));
  });

  test('a mask block is allowed when any of its cells is', () => {
    const causal = Uint8Array.from([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]);
    assert.deepEqual(Array.from(downsampleMask(causal, 4, 4, 2)), [1, 0, 1, 1]);
  });

  test('the mean of a row-stochastic matrix stays row-stochastic', () => {
    const values = new Float32Array(6 * 6);
    for (let q = 0; q < 6; q++) for (let k = 0; k <= q; k++) values[q * 6 + k] = 1 / (q + 1);
    const small = downsample(values, 6, 6, 3);
    for (let r = 0; r < 3; r++) {
      const sum = small.values[r * 3] + small.values[r * 3 + 1] + small.values[r * 3 + 2];
      assert.ok(Math.abs(sum * 2 - 1) < 1e-6, `row ${r} holds half the mass of two rows averaged over 2 columns`);
    }
  });
});

describe('head badges', () => {
  test('prev, sink, diag and ind above one half; nothing at or below', () => {
    const badges = headBadges(stats({ prevToken: 0.51, sink: 0.5, diagonal: 0.9, induction: 0.6 }), 3, [], DEFAULT_THRESHOLDS);
    assert.deepEqual(badges.map((b) => b.text), ['prev', 'diag', 'ind']);
    assert.match(badges[0].title, /51%/);
  });

  test('uni when the entropy reaches the threshold share of the uniform entropy', () => {
    const uniform = Math.log(10);
    assert.deepEqual(headBadges(stats({ entropy: 0.98 * uniform }), uniform, [], DEFAULT_THRESHOLDS).map((b) => b.text), ['uni']);
    assert.deepEqual(headBadges(stats({ entropy: 0.97 * uniform }), uniform, [], DEFAULT_THRESHOLDS).map((b) => b.text), []);
  });

  test('⚠ for a diagnostic on the head or on its whole block, not on another head', () => {
    const own = diagnostic({ blockIndex: 2, head: 1 });
    const block = diagnostic({ blockIndex: 2, head: null, code: 'non-finite' });
    const other = diagnostic({ blockIndex: 2, head: 3 });
    const badges = headBadges(stats({ blockIndex: 2, head: 1 }), 3, [own, block, other], DEFAULT_THRESHOLDS);
    assert.deepEqual(badges.map((b) => b.text), ['⚠']);
    assert.equal(badges[0].kind, 'problem');
    assert.equal(badges[0].title, 'mask-leak: m\nnon-finite: m');
  });

  test('an info (uniform head) is a uni badge, not ⚠', () => {
    const info = diagnostic({ blockIndex: 0, head: 0, code: 'uniform-head', severity: 'info' });
    assert.deepEqual(headBadges(stats({ entropy: 0.1 }), 3, [info], DEFAULT_THRESHOLDS).map((b) => b.text), ['uni']);
  });

  test('uniform entropy in bits: log2 K unmasked, the mean of log2(q+1) for a causal square block', () => {
    assert.equal(uniformEntropy({ queries: 3, keys: 8, maskKind: 'none' }), 3);
    assert.ok(Math.abs(uniformEntropy({ queries: 3, keys: 3, maskKind: 'causal' }) - (0 + 1 + Math.log2(3)) / 3) < 1e-12);
  });
});

describe('statistics table sorting', () => {
  const rows = [
    stats({ layer: 0, head: 0, sink: 0.2, induction: 0.1, kind: 'decoder-self' }),
    stats({ layer: 0, head: 1, sink: 0.9, induction: null, kind: 'cross' }),
    stats({ layer: 1, head: 0, sink: 0.2, induction: 0.7, kind: 'encoder-self' }),
    stats({ layer: 1, head: 1, sink: 0.5, induction: 0.3, kind: 'decoder-self', meanDistance: NaN }),
  ];
  const order = (list: HeadStats[]): string[] => list.map((s) => `${s.layer}.${s.head}`);

  test('numbers both ways, ties in model order', () => {
    assert.deepEqual(order(sortStats(rows, 'sink', 'descending')), ['0.1', '1.1', '0.0', '1.0']);
    assert.deepEqual(order(sortStats(rows, 'sink', 'ascending')), ['0.0', '1.0', '1.1', '0.1']);
  });

  test('null and NaN go last in both directions', () => {
    assert.deepEqual(order(sortStats(rows, 'induction', 'descending')), ['1.0', '1.1', '0.0', '0.1']);
    assert.deepEqual(order(sortStats(rows, 'induction', 'ascending')), ['0.0', '1.1', '1.0', '0.1']);
    assert.equal(order(sortStats(rows, 'meanDistance', 'ascending'))[3], '1.1');
  });

  test('kinds in model order: encoder self, decoder self, cross', () => {
    assert.deepEqual(order(sortStats(rows, 'kind', 'ascending')), ['1.0', '0.0', '1.1', '0.1']);
  });

  test('the input is not reordered; cells show three decimals or —', () => {
    sortStats(rows, 'sink', 'descending');
    assert.deepEqual(order(rows), ['0.0', '0.1', '1.0', '1.1']);
    assert.equal(formatStat(0.12345), '0.123');
    assert.equal(formatStat(null), '—');
    assert.equal(formatStat(NaN), '—');
  });
});

describe('head view lines', () => {
  // 2 heads × 2 queries × 2 keys
  const probs = Float32Array.from([1, 0, 0.4, 0.6, 0.01, 0.99, 0.5, 0.5]);
  test('visible heads, weights at or above the minimum', () => {
    const lines = headLines(probs, 2, 2, 2, new Set([0, 1]), 0.02);
    assert.deepEqual(lines.map((l) => `${l.head}${l.query}${l.key}`), ['000', '010', '011', '101', '110', '111']);
    assert.deepEqual(headLines(probs, 2, 2, 2, new Set([1]), 0.02).map((l) => l.weight), [Math.fround(0.99), 0.5, 0.5]);
  });
  test('focus on one query or one key', () => {
    assert.deepEqual(headLines(probs, 2, 2, 2, new Set([0, 1]), 0.02, { side: 'query', index: 1 }).map((l) => `${l.head}${l.query}${l.key}`), ['010', '011', '110', '111']);
    assert.deepEqual(headLines(probs, 2, 2, 2, new Set([0]), 0.02, { side: 'key', index: 1 }).map((l) => `${l.head}${l.query}${l.key}`), ['011']);
  });
});

describe('diagnostics summary and targets', () => {
  const leak = diagnostic({ code: 'mask-leak', severity: 'error', blockIndex: 5, layer: 2, head: 1 });
  const uniform = diagnostic({ code: 'uniform-head', severity: 'info', blockIndex: 0, layer: 0, head: 3 });
  const blowup = diagnostic({ code: 'norm-blowup', severity: 'warning', blockIndex: null, layer: 1, head: null, stream: 'encoder' });

  test('none', () => {
    assert.deepEqual(diagnosticSummary([], false), { text: 'No problems found', severity: null, first: null });
  });

  test('counts by severity and names the worst first', () => {
    const line = diagnosticSummary([uniform, blowup, leak], false);
    // Infos are counted, not named: the line is about problems.
    assert.equal(line.text, '✖ 1 error, 1 warning: mask-leak in layer 2 head 1 (+1 info)');
    assert.equal(line.severity, 'error');
    assert.equal(line.first, leak);
    assert.equal(diagnosticSummary([blowup, blowup], true).text, '⚠ 2 warnings: norm-blowup in encoder layer 1');
  });

  test('sorted errors, warnings, infos', () => {
    assert.deepEqual(sortDiagnostics([uniform, blowup, leak]).map((d) => d.code), ['mask-leak', 'norm-blowup', 'uniform-head']);
  });

  test('locations', () => {
    assert.equal(diagnosticLocation(leak, true), 'decoder layer 2 head 1');
    assert.equal(diagnosticLocation({ layer: null, head: null, stream: null }, true), '');
  });

  test('a diagnostic without a block opens its layer\'s self-attention', () => {
    const blocks = [
      { layer: 0, kind: 'encoder-self', queryStream: 'encoder' },
      { layer: 1, kind: 'encoder-self', queryStream: 'encoder' },
      { layer: 1, kind: 'cross', queryStream: 'decoder' },
      { layer: 1, kind: 'decoder-self', queryStream: 'decoder' },
    ] as const;
    assert.equal(diagnosticBlock(blowup, blocks), 1);
    assert.equal(diagnosticBlock({ ...blowup, stream: 'decoder' }, blocks), 3);
    assert.equal(diagnosticBlock({ ...blowup, layer: 7 }, blocks), null);
    assert.equal(diagnosticBlock(diagnostic({ blockIndex: 2 }), blocks), 2);
  });
});

describe('block families', () => {
  test('encoder-decoder: encoder self, decoder self, cross; layers ascending', () => {
    const blocks = [
      { layer: 1, kind: 'encoder-self', queryStream: 'encoder' },
      { layer: 0, kind: 'encoder-self', queryStream: 'encoder' },
      { layer: 0, kind: 'decoder-self', queryStream: 'decoder' },
      { layer: 0, kind: 'cross', queryStream: 'decoder' },
      { layer: 1, kind: 'decoder-self', queryStream: 'decoder' },
      { layer: 1, kind: 'cross', queryStream: 'decoder' },
    ] as const;
    const families = blockFamilies(blocks);
    assert.deepEqual(families.map((f) => [f.key, f.label, f.blockIndices]), [
      ['encoder:encoder-self', 'Encoder self-attention', [1, 0]],
      ['decoder:decoder-self', 'Decoder self-attention', [2, 4]],
      ['decoder:cross', 'Cross-attention', [3, 5]],
    ]);
  });
});

describe('heatmap as SVG', () => {
  const scale = makeColorScale('viridis', 'dark', 1);
  const base = {
    title: 'L0 <head 1> & "x"',
    rowLabels: ['a', '<b>'],
    columnLabels: ['a', '<b>'],
    weights: Float32Array.from([1, 0, 0.25, 0.75]),
    rows: 2,
    cols: 2,
    mask: Uint8Array.from([1, 0, 1, 1]),
    scale,
    background: [30, 30, 30] as [number, number, number],
    foreground: '#cccccc',
    blockedRgb: [40, 40, 40] as [number, number, number],
    leakColor: '#f14c4c',
    cell: 16,
  };

  test('a rect per cell with the scale\'s colours, blocked cells in the blocked colour', () => {
    const svg = heatmapSvg(base);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.equal(hexColor(scaleColor(scale, 1)), '#fde725');
    assert.equal(hexColor(scaleColor(scale, 0.25)), '#3b518b', 'viridis a quarter up (matplotlib: #3b528b)');
    const rects = [...svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="(\d+)" height="16" fill="(#[0-9a-f]{6})"\/>/g)].map((m) => [m[3], m[4]]);
    assert.deepEqual(rects, [
      ['16', '#fde725'],
      ['16', '#282828'],
      ['16', '#3b518b'],
      ['16', '#5cc863'],
    ]);
    assert.equal((svg.match(/stroke="#f14c4c"/g) ?? []).length, 0, 'no leak, no outline');
  });

  test('title and labels escaped, cells of equal colour in a row merged', () => {
    const svg = heatmapSvg({ ...base, weights: Float32Array.from([0.5, 0.5, 0.5, 0.5]), mask: null });
    assert.match(svg, /<title>L0 &lt;head 1&gt; &amp; &quot;x&quot;<\/title>/);
    assert.equal((svg.match(/>&lt;b&gt;<\/text>/g) ?? []).length, 2);
    assert.equal((svg.match(/width="32" height="16" fill=/g) ?? []).length, 2, 'one rect per row');
  });

  test('a leaking masked cell keeps its colour and gets an outline', () => {
    const svg = heatmapSvg({ ...base, weights: Float32Array.from([0.8, 0.2, 0.25, 0.75]) });
    assert.match(svg, /<g fill="none" stroke="#f14c4c" stroke-width="1"><rect x="[\d.]+" y="[\d.]+" width="15" height="15"\/><\/g>/);
    assert.ok(!svg.includes('#282828'));
  });

  test('cell size and names', () => {
    assert.equal(svgCellSize(10, 10), 16);
    assert.equal(svgCellSize(120, 100), 8);
    assert.equal(svgCellSize(2000, 2000), 2);
    assert.equal(escapeXml(`<'&">`), '&lt;&apos;&amp;&quot;&gt;');
    assert.equal(exportName({ stream: 'decoder', layer: 2, kind: 'cross', head: 1 }), 'attention-decoder-L2-cross-head1');
    assert.equal(exportName({ stream: 'encoder', layer: 0, kind: 'encoder-self', head: 'mean' }), 'attention-encoder-L0-mean');
  });
});
