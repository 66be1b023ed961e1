/**
 * Zoom and pan on the heatmap in the real VS Code (issue 22), in the side bar at a device pixel
 * ratio of 2: a 400-token line fits the view (Fit); the wheel zooms in about the pointer, the view
 * then shows fewer rows with more labels (every one once cells are big enough) and is redrawn crisp
 * (the canvas holds a device pixel per screen pixel, and colours change only on cell edges); a
 * minimap appears and moves the view; a drag pans; the keys and the Fit and 1:1 buttons do what they
 * say. Screenshots go to .artifacts/ui/ (heatmap-zoom-*.png).
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { openFile, screenshot, selectFirstLine, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

/** 400 characters on one line: 400 byte tokens for the default model. */
const LENGTH = 400;
const LINE = 'The quick brown fox jumps over the lazy dog, and the dog sleeps while the fox runs on. '.repeat(5).slice(0, LENGTH);

interface ViewFacts {
  rows: [number, number];
  cols: [number, number];
  cell: number;
  cellDevice: number;
  zoomed: boolean;
  frames: number;
}

describe('zoom and pan on the heatmap', function () {
  this.timeout(240_000);
  let page: Page;
  let frame: FrameLocator;
  const canvas = (): ReturnType<FrameLocator['locator']> => frame.locator('.views canvas#heatmap');

  async function facts(): Promise<ViewFacts> {
    const data = await canvas().evaluate((node) => ({ ...(node as HTMLCanvasElement).dataset }));
    const span = (text: string | undefined): [number, number] => {
      const [from, to] = (text ?? '').split('-').map(Number);
      return [from, to];
    };
    return { rows: span(data.rows), cols: span(data.cols), cell: Number(data.cell), cellDevice: Number(data.cellDevice), zoomed: data.zoomed === 'true', frames: Number(data.frames) };
  }

  /** Waits for a frame after `count` (the view draws at the next animation frame). */
  async function frameAfter(count: number): Promise<ViewFacts> {
    await frame.locator(`.views canvas#heatmap[data-frames]:not([data-frames="${count}"])`).waitFor({ timeout: 10_000 });
    await page.waitForTimeout(100);
    return facts();
  }

  async function sideBarShot(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 760) } : undefined);
  }

  before(async () => {
    const session = uiSession();
    writeFileSync(path.join(session.workspace, 'long-line.txt'), `${LINE}\n`);
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 }, deviceScaleFactor: 2 });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'long-line.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator(`.views canvas#heatmap[data-drawn="${LENGTH}x${LENGTH}"]`).waitFor({ state: 'visible', timeout: 120_000 });
    await page.waitForTimeout(300);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED zoom ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('Fit shows the whole block on a canvas of device pixels, without a minimap', async () => {
    const view = await facts();
    assert.deepEqual(view.rows, [0, LENGTH - 1]);
    assert.deepEqual(view.cols, [0, LENGTH - 1]);
    assert.equal(view.zoomed, false);
    assert.ok(view.cell < 1, `a 400-token block in the side bar has cells under a CSS px, not ${view.cell}`);
    const size = await canvas().evaluate((node) => {
      const element = node as HTMLCanvasElement;
      const rect = element.getBoundingClientRect();
      return { width: element.width, height: element.height, css: [rect.width, rect.height], ratio: window.devicePixelRatio };
    });
    assert.equal(size.ratio, 2);
    assert.ok(Math.abs(size.width - size.css[0] * 2) < 1 && Math.abs(size.height - size.css[1] * 2) < 1, `canvas ${size.width}x${size.height} for ${size.css} CSS px`);
    assert.equal(await frame.locator('.views .heatmap-minimap').isVisible(), false);
    assert.equal(await frame.locator('.views .zoom-fit').getAttribute('aria-pressed'), 'true');
    // The legend stands beside the view, inside the side bar.
    const legend = await frame.locator('.views .legend').boundingBox();
    const bar = (await page.locator('.part.sidebar').boundingBox())!;
    assert.ok(legend && legend.x + legend.width <= bar.x + bar.width + 1, 'the colour bar is in view');
    await sideBarShot('heatmap-zoom-fit');
  });

  it('the wheel zooms in about the pointer: fewer rows, every label, crisp cells and a minimap', async () => {
    const box = (await canvas().boundingBox())!;
    const before = await facts();
    // The pointer over the cell at 30% across and 60% down; it must stay under the pointer.
    const px = box.x + box.width * 0.3;
    const py = box.y + box.height * 0.6;
    // The cell under the pointer, as the tooltip names it ("query … #q", "key … #k").
    const under = async (): Promise<[number, number]> => {
      await page.mouse.move(px + 1, py);
      await page.mouse.move(px, py);
      const text = await frame.locator('.views .tooltip').innerText();
      const query = /query.*#(\d+)/.exec(text);
      const key = /key.*#(\d+)/.exec(text);
      assert.ok(query && key, `tooltip: ${text}`);
      return [Number(key[1]), Number(query[1])];
    };
    const target = await under();
    let view = before;
    for (let notch = 0; notch < 40 && view.cell < 12; notch++) {
      const count = view.frames;
      await page.mouse.wheel(0, -200);
      view = await frameAfter(count);
    }
    assert.ok(view.cell >= 11, `zoomed to ${view.cell} CSS px a cell`);
    assert.equal(view.zoomed, true);
    assert.ok(view.rows[1] - view.rows[0] < 40, `rows ${view.rows} in view`);
    const rowsShown = await frame.locator('.views .heatmap-rows .token-label').evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-index'))));
    // Every row in view has its label (the rows cut at the view's edges may go without).
    rowsShown.sort((a, b) => a - b);
    for (let q = view.rows[0] + 1; q < view.rows[1]; q++) assert.ok(rowsShown.includes(q), `row ${q} has no label: ${rowsShown}`);
    assert.ok(rowsShown.every((q) => q >= view.rows[0] && q <= view.rows[1]), `labels outside the view: ${rowsShown}`);
    assert.equal(await frame.locator('.views .heatmap-rows').getAttribute('data-stride'), '1');
    const titles = await frame.locator('.views .heatmap-cols .token-label').evaluateAll((nodes) => nodes.map((node) => [Number(node.getAttribute('data-index')), node.getAttribute('title')] as const));
    for (const [index, title] of titles) assert.equal(title, LINE[index] === ' ' ? '␣' : LINE[index], `column label ${index}`);
    // The cell under the pointer stayed (within the cell that whole-pixel steps allow).
    const [key, query] = await under();
    assert.ok(Math.abs(key - target[0]) <= 1 && Math.abs(query - target[1]) <= 1, `the pointer was over ${target}, now over ${[key, query]}`);
    // Crisp: along the canvas's lowest pixel row (a query below every visible key: no hatching),
    // the colour changes only on cell edges, all at one phase modulo the cell size; an interpolated
    // (scaled, blurred) edge would add changes at other phases.
    const row = await canvas().evaluate((node) => {
      const element = node as HTMLCanvasElement;
      const data = element.getContext('2d')!.getImageData(0, element.height - 2, element.width, 1).data;
      const changes: number[] = [];
      for (let x = 1; x < element.width; x++) {
        const i = x * 4;
        if (data[i] !== data[i - 4] || data[i + 1] !== data[i - 3] || data[i + 2] !== data[i - 2]) changes.push(x);
      }
      return { changes, size: Number(element.dataset.cellDevice) };
    });
    assert.ok(row.changes.length > 3, `the row shows several cells: changes at ${row.changes}`);
    const phases = new Set(row.changes.map((x) => x % row.size));
    assert.equal(phases.size, 1, `colour changes at ${row.changes.slice(0, 12)} (cells of ${row.size} device px)`);
    await frame.locator('.views .heatmap-minimap').waitFor({ state: 'visible' });
    await sideBarShot('heatmap-zoom-in');
  });

  it('the minimap and a drag move the view', async () => {
    const before = await facts();
    const mini = (await frame.locator('.views .heatmap-minimap canvas').boundingBox())!;
    // A click on the minimap's top-left corner centres the view there: it shows the block's start.
    await page.mouse.click(mini.x + 1, mini.y + 1);
    let view = await frameAfter(before.frames);
    assert.equal(view.rows[0], 0);
    assert.equal(view.cols[0], 0);
    assert.equal(view.cell, before.cell, 'the minimap moves, it does not zoom');
    // Dragging the heatmap left and up shows what lies right and below.
    const box = (await canvas().boundingBox())!;
    // (Clear of the minimap, which sits in the bottom-right corner.)
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.4);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.05, box.y + box.height * 0.05, { steps: 8 });
    await page.mouse.up();
    view = await frameAfter(view.frames);
    assert.ok(view.cols[0] > 0 && view.rows[0] > 0, `after the drag: rows ${view.rows}, cols ${view.cols}`);
  });

  it('keys zoom and pan while the heatmap has focus', async () => {
    await frame.locator('.views .heatmap-canvas-wrap').focus();
    let view = await facts();
    await page.keyboard.press('ArrowRight');
    const panned = await frameAfter(view.frames);
    assert.ok(panned.cols[0] > view.cols[0], `ArrowRight moved the columns from ${view.cols} to ${panned.cols}`);
    await page.keyboard.press('-');
    view = await frameAfter(panned.frames);
    assert.ok(view.cell < panned.cell, `- zoomed out: ${panned.cell} → ${view.cell}`);
    await page.keyboard.press('+');
    view = await frameAfter(view.frames);
    assert.ok(view.cell > 0 && view.cell <= panned.cell * 1.6);
    await page.keyboard.press('0');
    view = await frameAfter(view.frames);
    assert.equal(view.zoomed, false);
    assert.deepEqual(view.rows, [0, LENGTH - 1]);
  });

  it('1:1 shows a cell per device pixel and Fit the whole block again', async () => {
    let view = await facts();
    await frame.locator('.views .zoom-one').click();
    view = await frameAfter(view.frames);
    assert.equal(view.cellDevice, 1);
    assert.equal(view.cell, 0.5);
    assert.equal(await frame.locator('.views .zoom-one').getAttribute('aria-pressed'), 'true');
    assert.match(await frame.locator('.views .zoom-readout').innerText(), /rows \d+–\d+ of 400/);
    await sideBarShot('heatmap-zoom-one-to-one');
    await frame.locator('.views .zoom-fit').click();
    view = await frameAfter(view.frames);
    assert.equal(view.zoomed, false);
    assert.deepEqual(view.cols, [0, LENGTH - 1]);
    assert.equal(await frame.locator('.views .heatmap-minimap').isVisible(), false);
  });
});
