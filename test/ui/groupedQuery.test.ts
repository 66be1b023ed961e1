/**
 * Grouped-query attention and a sliding window as the panel shows them, on the built-in
 * tiny-modern (4 query heads reading 2 KV heads, a window of 32 keys) over an 87-byte line: the
 * header's facts, the mask badge, the window's band hatched in the heatmap, the head picker's KV
 * heads and the overview's columns grouped per KV head, in the dark and the light theme.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { openFile, pickQuickItem, runCommand, screenshot, selectFirstLine, setThemeKind, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('grouped-query attention and a sliding window (builtin:tiny-modern)', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;
  let size = 0;

  async function sideBarShot(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 900) } : undefined);
  }

  before(async () => {
    const session = uiSession();
    size = readFileSync(path.join(session.workspace, 'induction.txt'), 'utf8').split('\n')[0].length;
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'induction.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator('h1').waitFor({ timeout: 90_000 });
    // Choosing a model runs the last text again with it.
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, 'builtin:tiny-modern');
    await frame.locator('h1', { hasText: 'builtin:tiny-modern' }).waitFor({ timeout: 90_000 });
    await frame.locator(`canvas#heatmap[data-drawn="${size}x${size}"]`).waitFor({ state: 'visible', timeout: 60_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED grouped-query ${this.currentTest.title}`);
  });

  after(async () => {
    // The suites after this one expect the default model.
    if (page) {
      await runCommand(page, 'Attention Lens: Select Model...').catch(() => undefined);
      await pickQuickItem(page, 'builtin:trained-decoder').catch(() => undefined);
      await frame.locator('h1', { hasText: 'builtin:trained-decoder' }).waitFor({ timeout: 60_000 }).catch(() => undefined);
      await page.close();
    }
  });

  it('the header, the mask badge and the head picker say what the model shares and what the window blocks', async () => {
    assert.ok(size > 32, 'the line is longer than the window');
    const facts = await frame.locator('.facts .fact').allInnerTexts();
    assert.ok(facts.includes('3 layers × 4 query heads, 2 KV heads'), facts.join(' | '));
    assert.ok(facts.includes('window 32'), facts.join(' | '));
    assert.equal(await frame.locator('#mask-kind').innerText(), 'mask: causal + sliding window 32');
    const causal = (size * (size - 1)) / 2;
    const outside = ((size - 32) * (size - 31)) / 2;
    await frame.locator('#leak-count[data-count="0"]').waitFor({ timeout: 30_000 });
    assert.equal(await frame.locator('#leak-count').innerText(), `0 leaks in ${causal + outside} masked cells (${outside} outside the window)`);
    const heads = await frame.locator('#head-select option').allInnerTexts();
    assert.deepEqual(heads, ['Mean of heads', 'Head 0 · KV 0', 'Head 1 · KV 0', 'Head 2 · KV 1', 'Head 3 · KV 1']);
    await page.waitForTimeout(300);
    await sideBarShot('grouped-query-heatmap');
  });

  it('the overview groups the query heads by the KV head they share, in both themes', async () => {
    await frame.locator('#view-tabs button[data-view="overview"]').click();
    await frame.locator('.overview-cell[data-drawn]').nth(11).waitFor({ timeout: 30_000 });
    assert.deepEqual(await frame.locator('.overview-kv-label').allInnerTexts(), ['KV 0', 'KV 1']);
    assert.match(await frame.locator('#overview-kv').innerText(), /^4 query heads, 2 KV heads: /);
    const row = await frame.locator('.overview-cell[data-block-index="0"]').evaluateAll((cells) => cells.map((cell) => `${cell.getAttribute('data-head')}:${cell.getAttribute('data-kv-head')}`));
    assert.deepEqual(row, ['0:0', '1:0', '2:1', '3:1']);
    await setThemeKind(page, 'dark');
    await frame.locator('body.vscode-dark').waitFor();
    await page.waitForTimeout(500);
    await sideBarShot('grouped-query-overview-dark');
    await setThemeKind(page, 'light');
    await frame.locator('body.vscode-light').waitFor();
    await frame.locator('.overview-cell[data-drawn]').nth(11).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    await sideBarShot('grouped-query-overview-light');
    await setThemeKind(page, 'dark');
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
  });
});
