/**
 * The heatmap's zoom and pan, its pure parts: the fit, zooming about a point, clamping, panning,
 * the visible range, label strides, the minimap's rectangle (webview/heatmapViewport.ts); and the
 * frame drawn from the weights at a zoom (webview/heatmapRender.ts fillView): one colour per cell
 * with edges on device pixels, and zoomed out, the strongest cell of each pixel kept. Expected values
 * are worked out by hand.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { makeColorScale, packRgb, scaleColor } from '../../webview/colorScale';
import { fillView, pixelColours, PooledLevels } from '../../webview/heatmapRender';
import {
  cellAtPoint, centreOnThumbnail, clampViewport, fitCell, labelIndices, labelStride, minimapRect, overflows, panBy, poolLevel, quantizeCell, reveal,
  viewBoxFor, visibleRange, zoomAbout, zoomLimits, zoomTo,
} from '../../webview/heatmapViewport';

const big = { rows: 2048, cols: 2048 };

describe('fit', () => {
  test('a small block gets whole device pixels, capped', () => {
    // 23 tokens in 220 × 700 px: 220 / 23 = 9.56 → 9 px, the box 207 px.
    assert.equal(fitCell({ rows: 23, cols: 23 }, { width: 220, height: 700 }, 40), 9);
    assert.deepEqual(viewBoxFor({ rows: 23, cols: 23 }, { width: 220, height: 700 }, 9), { width: 207, height: 207 });
    // One token: the cap (40 px), not the whole width.
    assert.equal(fitCell({ rows: 1, cols: 1 }, { width: 900, height: 900 }, 40), 40);
  });

  test('a block larger than the space gets a fraction of a pixel and fills it exactly', () => {
    const cell = fitCell(big, { width: 700, height: 900 }, 40);
    assert.equal(cell, 700 / 2048);
    assert.deepEqual(viewBoxFor(big, { width: 700, height: 900 }, cell), { width: 700, height: 700 });
  });

  test('the height limits a tall block', () => {
    const cell = fitCell({ rows: 1000, cols: 10 }, { width: 800, height: 500 }, 40);
    assert.equal(cell, 0.5);
    assert.deepEqual(viewBoxFor({ rows: 1000, cols: 10 }, { width: 800, height: 500 }, cell), { width: 5, height: 500 });
  });
});

describe('zoom', () => {
  const box = { width: 700, height: 700 };
  const fit = 700 / 2048;
  const limits = zoomLimits(fit, 1);

  test('limits: the fit up to 64 CSS px (in device px)', () => {
    assert.deepEqual(zoomLimits(fit, 1), { min: fit, max: 64 });
    assert.deepEqual(zoomLimits(9, 2), { min: 9, max: 128 });
    assert.deepEqual(zoomLimits(200, 1), { min: 200, max: 200 });
  });

  test('cells of a pixel or more are whole pixels, rounded the way of the zoom', () => {
    assert.equal(quantizeCell(1.2, 1, { min: 0.3, max: 64 }), 2);
    assert.equal(quantizeCell(4.8, 6, { min: 0.3, max: 64 }), 4);
    assert.equal(quantizeCell(0.9, 0.75, { min: 0.3, max: 64 }), 0.9);
    assert.equal(quantizeCell(0.2, 0.25, { min: 0.3, max: 64 }), 0.3);
    assert.equal(quantizeCell(100, 50, { min: 0.3, max: 64 }), 64);
  });

  test('zooming about a point keeps the cell under it', () => {
    const start = { cell: 4, x: 1000, y: 2000 };
    // Point (300, 200) shows block px (1300, 2200) = cell (325, 550).
    const next = zoomAbout(start, box, big, 2, 300, 200, limits);
    assert.equal(next.cell, 8);
    assert.deepEqual(cellAtPoint(next, big, 300, 200), cellAtPoint(start, big, 300, 200));
    assert.deepEqual(cellAtPoint(start, big, 300, 200), { query: 550, key: 325 });
    assert.equal(next.x, 2300);
    assert.equal(next.y, 4200);
  });

  test('zooming out at the fit changes nothing; zooming about a corner stays in the block', () => {
    const fitted = { cell: fit, x: 0, y: 0 };
    assert.equal(zoomAbout(fitted, box, big, 0.5, 350, 350, limits), fitted);
    // Below a pixel a cell the zoom is exact; about the top-left corner the view stays there.
    const zoomed = zoomAbout(fitted, box, big, 2, 0, 0, limits);
    assert.equal(zoomed.cell, fit * 2);
    assert.equal(zoomed.x, 0);
    assert.equal(zoomed.y, 0);
    // 4 × 0.34 = 1.37 px rounds up to 2; the bottom-right corner stays put: the block's last 700 px.
    const corner = zoomAbout(fitted, box, big, 4, 700, 700, limits);
    assert.equal(corner.cell, 2);
    assert.equal(corner.x, 4096 - 700);
    assert.equal(corner.y, 4096 - 700);
  });

  test('clamping keeps the view inside the block, in whole pixels', () => {
    assert.deepEqual(clampViewport({ cell: 2, x: -5, y: 9999 }, box, big), { cell: 2, x: 0, y: 4096 - 700 });
    assert.deepEqual(clampViewport({ cell: 2, x: 10.4, y: 10.6 }, box, big), { cell: 2, x: 10, y: 11 });
    // A block smaller than the view sits at the origin.
    assert.deepEqual(clampViewport({ cell: 0.2, x: 50, y: 50 }, box, big), { cell: 0.2, x: 0, y: 0 });
  });

  test('pan, reveal and overflow', () => {
    const view = { cell: 4, x: 1000, y: 1000 };
    assert.deepEqual(panBy(view, box, big, 30, -2000), { cell: 4, x: 1030, y: 0 });
    assert.equal(overflows(view, box, big), true);
    assert.equal(overflows({ cell: fit, x: 0, y: 0 }, box, big), false);
    // Row 10 (y 40..44) is above the view: centred; column 300 (x 1200..1204) is in view: kept.
    const shown = reveal(view, box, big, 10, 300);
    assert.deepEqual(shown, { cell: 4, x: 1000, y: 0 });
    assert.equal(reveal(view, box, big, 300, 300), view);
    const centred = reveal(view, box, big, 1000, null);
    assert.equal(centred.y, 1000 * 4 + 2 - 350);
  });

  test('the visible range counts partly shown cells', () => {
    // x 1002..1702 at 4 px: columns 250 (partly) to 425 (partly), so [250, 426).
    assert.deepEqual(visibleRange({ cell: 4, x: 1002, y: 0 }, box, big), { rowStart: 0, rowEnd: 175, colStart: 250, colEnd: 426 });
    assert.deepEqual(visibleRange({ cell: fit, x: 0, y: 0 }, box, big), { rowStart: 0, rowEnd: 2048, colStart: 0, colEnd: 2048 });
  });

  test('1:1 about the centre', () => {
    const next = zoomTo({ cell: fit, x: 0, y: 0 }, box, big, 1, 350, 350);
    assert.equal(next.cell, 1);
    // The centre (block cell 1024) stays at the centre.
    assert.deepEqual(cellAtPoint(next, big, 350, 350), { query: 1024, key: 1024 });
  });
});

describe('labels', () => {
  test('every label from 11 CSS px a cell, else a round stride', () => {
    assert.equal(labelStride(11), 1);
    assert.equal(labelStride(40), 1);
    assert.equal(labelStride(9), 2);
    assert.equal(labelStride(5), 5);
    assert.equal(labelStride(2), 10);
    assert.equal(labelStride(0.3418), 50);
    assert.equal(labelStride(0.1), 200);
    assert.equal(labelStride(0), Number.POSITIVE_INFINITY);
  });

  test('the labelled indices are the stride\'s multiples in view', () => {
    assert.deepEqual(labelIndices(0, 23, 2), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22]);
    assert.deepEqual(labelIndices(251, 426, 50), [300, 350, 400]);
    assert.deepEqual(labelIndices(0, 10, Number.POSITIVE_INFINITY), []);
  });
});

describe('minimap', () => {
  test('the view\'s rectangle and a click on the thumbnail', () => {
    const box = { width: 700, height: 700 };
    const view = { cell: 4, x: 4096, y: 0 };
    // The block is 8192 px; the thumbnail 96 px: the view is 700/8192 of it, from half way across.
    const rect = minimapRect(view, box, big, { width: 96, height: 96 });
    assert.equal(rect.left, 48);
    assert.equal(rect.top, 0);
    assert.ok(Math.abs(rect.width - (700 * 96) / 8192) < 1e-9);
    const moved = centreOnThumbnail(view, box, big, { width: 96, height: 96 }, 48, 48);
    assert.deepEqual(moved, { cell: 4, x: 4096 - 350, y: 4096 - 350 });
  });
});

describe('frames drawn from the weights', () => {
  const scale = makeColorScale('viridis', 'dark', 1);
  const blocked: [number, number, number] = [40, 40, 40];
  const colours = pixelColours(scale, blocked);
  // The weights are float32: 0.9 is 0.89999998, a colour step below the double's.
  const pixel = (weight: number): number => {
    const [r, g, b] = scaleColor(scale, Math.fround(weight));
    return packRgb(r, g, b);
  };

  test('zoomed in, each cell is a whole square of one colour on device pixels', () => {
    // 3 × 3 weights, a causal mask (blocked cells carry 0); cells of 3 px, the view from x 2, y 1 (4 × 5 px).
    const weights = Float32Array.from([0.1, 0, 0, 0.4, 0.5, 0, 0.7, 0.8, 0.9]);
    const mask = Uint8Array.from([1, 0, 0, 1, 1, 0, 1, 1, 1]);
    const source = { rows: 3, cols: 3, weights, mask };
    const out = new Uint32Array(4 * 5);
    fillView(out, 4, 5, { cell: 3, x: 2, y: 1 }, new PooledLevels(source, colours));
    const b = packRgb(...blocked);
    // Columns: x 2 → key 0, x 3..5 → key 1; rows: y 1..2 → query 0, y 3..5 → query 1.
    const expected = [
      pixel(0.1), b, b, b,
      pixel(0.1), b, b, b,
      pixel(0.4), pixel(0.5), pixel(0.5), pixel(0.5),
      pixel(0.4), pixel(0.5), pixel(0.5), pixel(0.5),
      pixel(0.4), pixel(0.5), pixel(0.5), pixel(0.5),
    ];
    assert.deepEqual(Array.from(out), expected);
  });

  test('zoomed out, a pixel shows the strongest of its cells, a leak included', () => {
    // 8 × 8 of 0.01 with one 0.9 at (5, 6), blocked above the diagonal, a leak of 0.5 at (0, 7).
    const n = 8;
    const weights = new Float32Array(n * n).fill(0.01);
    const mask = new Uint8Array(n * n);
    for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) mask[q * n + k] = 1;
    for (let q = 0; q < n; q++) for (let k = q + 1; k < n; k++) weights[q * n + k] = 0;
    weights[5 * n + 6] = 0; // blocked
    weights[6 * n + 5] = 0.9;
    weights[0 * n + 7] = 0.5; // a leak: blocked but weighted
    const source = { rows: n, cols: n, weights, mask };
    // A quarter pixel a cell: level 2 (4 × 4 cells a pixel), 2 × 2 pixels.
    assert.equal(poolLevel(0.25), 2);
    assert.equal(poolLevel(0.3), 2);
    assert.equal(poolLevel(0.5), 1);
    assert.equal(poolLevel(1), 0);
    const out = new Uint32Array(4);
    fillView(out, 2, 2, { cell: 0.25, x: 0, y: 0 }, new PooledLevels(source, colours));
    assert.deepEqual(Array.from(out), [pixel(0.01), pixel(0.5), pixel(0.01), pixel(0.9)]);
    // An all-blocked pixel: at 0.5 px a cell, pixel (3, 0) covers (0..1, 6..7): the leak.
    // pixel (2, 0) covers rows 0..1, keys 4..5: all blocked.
    const half = new Uint32Array(16);
    fillView(half, 4, 4, { cell: 0.5, x: 0, y: 0 }, new PooledLevels(source, colours));
    assert.equal(half[2], packRgb(...blocked));
    assert.equal(half[3], pixel(0.5));
  });

  test('pixels past the block stay transparent', () => {
    const source = { rows: 2, cols: 2, weights: Float32Array.from([1, 1, 1, 1]), mask: null };
    const out = new Uint32Array(9).fill(7);
    fillView(out, 3, 3, { cell: 1, x: 0, y: 0 }, new PooledLevels(source, colours));
    assert.deepEqual(Array.from(out).map((value) => value === 0), [false, false, true, false, false, true, true, true, true]);
  });
});
