/**
 * The panel at side-bar width, its pure parts: the overview's cell size for the width
 * (overviewLayout.ts), the block-kind switch's target (blockFamilies.ts) and the block picker's
 * short names (steps.ts). Expected values are worked out by hand.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { blockFamilies, familyBlockAt, familyShortLabel } from '../../webview/blockFamilies';
import { CELL_MAX, CELL_MIN, fitCells } from '../../webview/overviewLayout';
import { blockShortTitle } from '../../webview/steps';

describe('overview cells fit the width', () => {
  test('a 12 × 12 grid fits 276 px (a 300 px side bar less its padding)', () => {
    const fit = fitCells(276, 20, 12, 0, true);
    // 276 - 20 (labels) - 12 gaps of 2 px = 232 px for 12 cells: 19 px each.
    assert.equal(fit.cell, 19);
    assert.ok(20 + 12 * fit.cell + 12 * fit.gap <= 276);
    assert.equal(fit.thumb, 15);
  });

  test('full size in a wide view, the minimum when nothing fits', () => {
    assert.equal(fitCells(1200, 40, 8, 0, false).cell, CELL_MAX);
    assert.equal(fitCells(100, 40, 12, 0, true).cell, CELL_MIN);
  });

  test('gap columns between KV groups take their width', () => {
    // 300 - 30 - (4 + 1) gaps of 4 px - 6 px = 244 px for 4 cells: 61 → capped at 56.
    assert.equal(fitCells(300, 30, 4, 1, false).cell, 56);
    // 200 - 30 - 20 - 6 = 144: 36 each.
    assert.equal(fitCells(200, 30, 4, 1, false).cell, 36);
  });
});

describe('the block-kind switch', () => {
  const blocks = [
    { layer: 0, kind: 'encoder-self' as const, queryStream: 'encoder' as const },
    { layer: 1, kind: 'encoder-self' as const, queryStream: 'encoder' as const },
    { layer: 2, kind: 'encoder-self' as const, queryStream: 'encoder' as const },
    { layer: 0, kind: 'decoder-self' as const, queryStream: 'decoder' as const },
    { layer: 0, kind: 'cross' as const, queryStream: 'decoder' as const },
    { layer: 1, kind: 'decoder-self' as const, queryStream: 'decoder' as const },
    { layer: 1, kind: 'cross' as const, queryStream: 'decoder' as const },
  ];
  const families = blockFamilies(blocks);

  test('names each family in short', () => {
    assert.deepEqual(families.map(familyShortLabel), ['Enc self', 'Dec self', 'Cross']);
  });

  test('goes to the same layer, else the nearest', () => {
    const cross = families[2];
    assert.equal(familyBlockAt(cross, blocks, 1), 6);
    assert.equal(familyBlockAt(cross, blocks, 0), 4);
    // The encoder has a layer 2, the decoder not: its last layer.
    assert.equal(familyBlockAt(cross, blocks, 2), 6);
    assert.equal(familyBlockAt({ blockIndices: [] }, blocks, 0), undefined);
  });

  test('the block picker\'s short names', () => {
    assert.equal(blockShortTitle({ kind: 'cross', maskKind: 'none' }), 'Cross');
    assert.equal(blockShortTitle({ kind: 'decoder-self', maskKind: 'causal' }), 'Masked self');
    assert.equal(blockShortTitle({ kind: 'self', maskKind: 'none' }), 'Self');
  });
});
