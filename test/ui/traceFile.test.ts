/**
 * Trace files as a user meets them: the panel's "Trace" export saves the run through the save
 * dialog, and "Attention Lens: Open Trace..." opens it in its own editor, which draws the saved
 * heatmap with the export buttons but without the controls that run a model.
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { answerOpenDialog, answerSaveDialog, openFile, runCommand, screenshot, selectFirstLine, waitForFile, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('trace files in VS Code', function () {
  this.timeout(180_000);
  let page: Page;

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED trace file ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('saves the run with the panel\'s Trace button and opens it again with "Open Trace..."', async () => {
    const saved = path.join(uiSession().workspace, 'ui-run.attn.safetensors');
    await openFile(page, 'sample.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    const side = webviewFrame(page);
    await side.locator('canvas#heatmap[data-drawn]').waitFor({ timeout: 60_000 });
    const drawn = await side.locator('canvas#heatmap').getAttribute('data-drawn');
    const model = (await side.locator('h1').first().textContent()) ?? '';

    await side.locator('#export-trace').click();
    await answerSaveDialog(page, saved);
    await waitForFile(saved);
    const bytes = readFileSync(saved);
    assert.ok(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8').includes('"attention_lens_schema":"1"'), 'a trace file of schema 1');

    // Only the trace editor's page stays on screen: the side view's is hidden with the side bar.
    await runCommand(page, 'View: Close Primary Side Bar');
    await runCommand(page, 'Attention Lens: Open Trace...');
    await answerOpenDialog(page, saved);
    await page.locator('.tab', { hasText: 'ui-run.attn.safetensors' }).first().waitFor({ timeout: 20_000 });
    const editor = page.frameLocator('iframe.webview.ready:visible').frameLocator('#active-frame');
    await editor.locator(`canvas#heatmap[data-drawn="${drawn}"]`).waitFor({ timeout: 30_000 });
    assert.equal((await editor.locator('h1').first().textContent()) ?? '', model);
    assert.ok(await editor.locator('#export-trace').isVisible(), 'the trace editor offers its exports');
    assert.equal(await editor.locator('#select-model').isVisible(), false, 'a saved trace runs no model: no Select Model');
    await screenshot(page, 'trace-file-editor');
  });
});
