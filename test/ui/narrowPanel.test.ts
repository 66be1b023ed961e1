/**
 * The panel at side-bar width (about 300 px), as issue 22 asks: the statistics table keeps its
 * Layer, Kind and Head columns at the left while the rest scrolls; the overview's thumbnails shrink
 * so builtin:paper-base's 6 layers × 8 heads fit the width; and cross-attention is one click from an
 * encoder layer of builtin:tiny-encdec, the block picker naming blocks in short with the full name
 * as a tooltip. Screenshots of the side bar go to .artifacts/ui/.
 */
import * as assert from 'node:assert/strict';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { openFile, pickQuickItem, runCommand, screenshot, selectFirstLine, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('the panel at side-bar width', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;

  async function sideBarShot(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 900) } : undefined);
  }

  async function chooseModel(name: string): Promise<void> {
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, name);
    await frame.locator('h1', { hasText: name }).waitFor({ timeout: 90_000 });
    await frame.locator('canvas#heatmap[data-drawn]').waitFor({ state: 'visible', timeout: 60_000 });
  }

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'sample.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator('h1').waitFor({ timeout: 90_000 });
    // Choosing a model runs the last text again with it.
    await chooseModel('builtin:paper-base');
    const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
    assert.ok(sideBar.width < 400, `the side bar is ${sideBar.width} px wide`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED narrow ${this.currentTest.title}`);
  });

  after(async () => {
    // The suites after this one expect the default model on the first line of sample.txt.
    if (page) {
      await frame.locator('#view-tabs button[data-view="heatmap"]').click().catch(() => undefined);
      await runCommand(page, 'Attention Lens: Select Model...').catch(() => undefined);
      await pickQuickItem(page, 'builtin:trained-decoder').catch(() => undefined);
      await frame.locator('h1', { hasText: 'builtin:trained-decoder' }).waitFor({ timeout: 60_000 }).catch(() => undefined);
      await page.close();
    }
  });

  it('the overview fits all 8 heads of each of the 6 layers into the width', async () => {
    await frame.locator('#view-tabs button[data-view="overview"]').click();
    await frame.locator('.overview-cell[data-drawn]').nth(47).waitFor({ timeout: 60_000 });
    const layout = await frame.locator('.overview-scroll').evaluate((scroller) => {
      const view = scroller.getBoundingClientRect();
      const cells = Array.from(scroller.querySelectorAll('.overview-cell')).map((cell) => cell.getBoundingClientRect());
      return { left: view.left, right: view.right, scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth, body: document.body.clientWidth, cells: cells.map((r) => [r.left, r.right, r.width]) };
    });
    assert.equal(layout.cells.length, 48);
    assert.ok(layout.scrollWidth <= layout.clientWidth + 1, `the grid scrolls: ${layout.scrollWidth} > ${layout.clientWidth}`);
    for (const [left, right, width] of layout.cells) {
      assert.ok(left >= layout.left - 0.5 && right <= layout.right + 0.5 && right <= layout.body, `a cell at ${left}..${right} outside ${layout.left}..${layout.right}`);
      assert.ok(width >= 14, `a ${width} px cell`);
    }
    // The labels abbreviate ("H7", or "7" when small) and keep their full text as a tooltip.
    assert.equal(await frame.locator('.overview-head-label').last().getAttribute('title'), 'H7');
    await page.waitForTimeout(300);
    await sideBarShot('narrow-overview');
  });

  it('the statistics table keeps Layer, Kind and Head at the left while it scrolls sideways', async () => {
    await frame.locator('#view-tabs button[data-view="stats"]').click();
    await frame.locator('#stats-table tbody tr').first().waitFor({ timeout: 30_000 });
    const scroller = frame.locator('.stats-scroll');
    const before = await scroller.evaluate((node) => ({ scrollWidth: node.scrollWidth, clientWidth: node.clientWidth }));
    assert.ok(before.scrollWidth > before.clientWidth, 'at side-bar width the table is wider than the view');
    await scroller.evaluate((node) => { node.scrollLeft = node.scrollWidth; });
    await page.waitForTimeout(200);
    // (No named helper functions inside evaluate: tsx's __name would not exist in the page.)
    const after = await scroller.evaluate((node) => {
      const view = node.getBoundingClientRect();
      const selectors = ['tbody tr:first-child td.pin-0', 'th[data-column="layer"]', 'tbody tr:first-child td.pinned-last', 'th[data-column="induction"]'];
      const [layer, layerHeader, head, induct] = selectors.map((selector) => node.querySelector(selector)!.getBoundingClientRect());
      // What is drawn at the Layer cell's middle: the Layer cell itself, not a scrolled column.
      const hit = document.elementFromPoint((layer.left + layer.right) / 2, layer.top + layer.height / 2);
      return {
        scrollLeft: node.scrollLeft, view: [view.left, view.right], layer: [layer.left, layer.right], layerHeader: [layerHeader.left, layerHeader.right],
        head: [head.left, head.right], induct: [induct.left, induct.right], hitIsLayer: hit?.classList.contains('pin-0') ?? false,
      };
    });
    assert.ok(after.scrollLeft > 0, 'the table scrolled');
    assert.ok(Math.abs(after.layer[0] - after.view[0]) <= 1, `the Layer cell is at ${after.layer[0]}, the view starts at ${after.view[0]}`);
    assert.ok(Math.abs(after.layerHeader[0] - after.view[0]) <= 1, 'the Layer header stays too');
    assert.ok(after.hitIsLayer, 'the Layer cell is drawn above the scrolled columns');
    assert.ok(after.head[1] <= after.view[1] && after.head[0] >= after.layer[1] - 1, `the Head cell at ${after.head} beside Layer`);
    assert.ok(after.induct[1] <= after.view[1] + 1 && after.induct[0] >= after.head[1] - 1, `Induct at ${after.induct} in view, right of the pinned columns`);
    await sideBarShot('narrow-stats-scrolled');
    await scroller.evaluate((node) => { node.scrollLeft = 0; });
  });

  it('cross-attention is one click from an encoder layer, and the block picker names blocks in full', async () => {
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
    await chooseModel('builtin:tiny-encdec');
    await frame.locator('#layer-select').selectOption('encoder:1');
    await frame.locator('canvas#heatmap[data-stream="encoder"][data-layer="1"]').waitFor({ timeout: 30_000 });
    assert.deepEqual(await frame.locator('#block-kinds button').allInnerTexts(), ['Enc self', 'Dec self', 'Cross']);
    await frame.locator('#block-kind-cross').click();
    await frame.locator('canvas#heatmap[data-stream="decoder"][data-layer="1"][data-drawn]').waitFor({ timeout: 30_000 });
    assert.equal(await frame.locator('#block-kind-cross').getAttribute('aria-pressed'), 'true');
    const options = await frame.locator('#block-select option').evaluateAll((nodes) => nodes.map((node) => [node.textContent, node.getAttribute('title'), (node as HTMLOptionElement).selected] as const));
    const selected = options.find(([, , chosen]) => chosen)!;
    assert.match(selected[0] ?? '', /^Cross( ⚠ \d+)?$/);
    assert.match(selected[1] ?? '', /^Cross-attention \(decoder → encoder\)/);
    assert.match(await frame.locator('#block-select').getAttribute('title') ?? '', /^Cross-attention \(decoder → encoder\)/);
    // The select is as wide as its text needs and inside the view.
    const fits = await frame.locator('#block-select').evaluate((select) => {
      const rect = select.getBoundingClientRect();
      return rect.right <= document.body.clientWidth && rect.width > 0;
    });
    assert.ok(fits, 'the block picker lies inside the view');
    assert.match(await frame.locator('#step-label').innerText(), /decoder layer 1 · cross-attention/i);
    await page.waitForTimeout(300);
    await sideBarShot('narrow-cross-attention');
    // And back to the encoder's self-attention at the same layer, in one click.
    await frame.locator('#block-kinds button', { hasText: 'Enc self' }).click();
    await frame.locator('canvas#heatmap[data-stream="encoder"][data-layer="1"]').waitFor({ timeout: 30_000 });
  });
});
