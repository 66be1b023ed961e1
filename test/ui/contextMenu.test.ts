/**
 * What a user sees: the editor context menu offers "Explain Attention" only with a selection, and
 * choosing it opens the Attention panel with a heatmap. Runs in a real VS Code in Chromium.
 */
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { clickContextMenuItem, closeMenus, openEditorContextMenu, openFile, placeCursorAtStart, screenshot, selectFirstLine, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('Explain Attention in the editor', function () {
  this.timeout(120_000);
  let page: Page;

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1400, height: 900 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    await openFile(page, 'sample.txt');
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('has no "Explain Attention" in the context menu without a selection', async () => {
    await placeCursorAtStart(page);
    const labels = await openEditorContextMenu(page);
    assert.ok(labels.length > 3, `the context menu looks empty: ${labels.join(' | ')}`);
    assert.ok(!labels.includes('Explain Attention'), `unexpected entry in: ${labels.join(' | ')}`);
    await closeMenus(page);
  });

  it('offers "Explain Attention" with a selection, and running it shows the panel', async () => {
    await selectFirstLine(page);
    const labels = await openEditorContextMenu(page);
    assert.ok(labels.includes('Explain Attention'), `missing from: ${labels.join(' | ')}`);
    await screenshot(page, 'context-menu-with-selection');
    await clickContextMenuItem(page, 'Explain Attention');
    const frame = webviewFrame(page);
    await frame.locator('main[data-state="trace"]').waitFor({ timeout: 60_000 });
    // "The cat sat on the mat." is 23 byte tokens: a 23 x 23 causal heatmap.
    await frame.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ state: 'visible', timeout: 30_000 });
    const title = await frame.locator('h1').textContent();
    assert.equal(title, 'builtin:trained-decoder', 'the default model');
    const layers = await frame.locator('#layer-select option').allTextContents();
    assert.equal(layers.length, 3, layers.join(' | '));
    await screenshot(page, 'attention-panel');
  });
});
