/**
 * The attention debugger as a user meets it: the overview grid of all layers × heads, a planted
 * bug found from the Problems panel in two clicks, and exports that parse back.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { answerSaveDialog, openFile, screenshot, selectFirstLine, selectModel, waitForFile, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('the attention debugger', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;

  const useModel = (label: string, file?: string): Promise<void> => selectModel(page, label, file);

  async function explainFirstLine(): Promise<void> {
    await openFile(page, 'sample.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
  }

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'sample.txt');
    await useModel('builtin:tiny-decoder');
    await explainFirstLine();
    await frame.locator('h1', { hasText: 'builtin:tiny-decoder' }).waitFor({ timeout: 60_000 });
    await frame.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ timeout: 60_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED debugger ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('the overview shows layers × heads cells for the default model, and a click opens one', async () => {
    await frame.locator('#view-tabs button[data-view="overview"]').click();
    const cells = frame.locator('.overview-cell');
    await cells.first().waitFor();
    assert.equal(await cells.count(), 3 * 4, 'tiny-decoder: 3 layers × 4 heads');
    await frame.locator('.overview-cell[data-drawn]').nth(11).waitFor({ timeout: 30_000 });
    await screenshot(page, 'debugger-overview');
    await frame.locator('.overview-cell[data-block-index="1"][data-head="2"]').click();
    await frame.locator('canvas#heatmap[data-layer="1"][data-head="2"][data-drawn="23x23"]').waitFor({ timeout: 30_000 });
  });

  it('exports the view as PNG and SVG and the numbers as JSON, files that parse back', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'al-exports-'));
    const png = path.join(folder, 'view.png');
    await frame.locator('#export-png').click();
    await answerSaveDialog(page, png);
    await waitForFile(png);
    assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');

    const svg = path.join(folder, 'heatmap.svg');
    await frame.locator('#export-svg').click();
    await answerSaveDialog(page, svg);
    await waitForFile(svg);
    const svgText = readFileSync(svg, 'utf8');
    assert.match(svgText, /^\s*(<\?xml[^>]*>\s*)?<svg[\s\S]*<\/svg>\s*$/);
    assert.ok((svgText.match(/<rect/g) ?? []).length > 10, 'the SVG draws cells');

    const json = path.join(folder, 'trace.json');
    await frame.locator('#export-json').click();
    await answerSaveDialog(page, json);
    await waitForFile(json);
    const exported = JSON.parse(readFileSync(json, 'utf8'));
    // The same model and text through the CLI give the same numbers: the export is the trace.
    const cli = JSON.parse(execFileSync(process.execPath, [path.join(uiSession().extensionPath, 'dist/cli.js'), '--model', 'builtin:tiny-decoder', '--json', '-', 'The cat sat on the mat.'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }));
    assert.equal(exported.model.name, 'builtin:tiny-decoder');
    assert.deepEqual(exported.blocks.map((b: { probs: number[] }) => b.probs), cli.blocks.map((b: { probs: number[] }) => b.probs));
    assert.deepEqual(exported.tokens, cli.tokens);
    assert.ok(Array.isArray(exported.headStats) && exported.headStats.length === 12);
  });

  it('finds a planted bug from the Problems panel in two clicks', async () => {
    const model = path.join(uiSession().workspace, 'models', 'leaky-causal', 'model.onnx');
    await useModel('', model);
    await frame.locator('h1', { hasText: 'model.onnx' }).waitFor({ timeout: 60_000 });
    await page.keyboard.press('Control+Shift+M');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'mask-leak' }).first();
    await problem.waitFor({ timeout: 30_000 });
    await screenshot(page, 'debugger-problems-panel');
    // Click 1: the problem; click 2: its evidence, which shows the layer and head in the panel.
    await problem.click();
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
    await frame.locator('#next-layer').click();
    await frame.locator('canvas#heatmap[data-layer="1"]').waitFor();
    const evidence = page.locator('.markers-panel .monaco-list-row', { hasText: 'Show the evidence in the Attention view' }).first();
    await evidence.click();
    await page.locator('.tab', { hasText: 'mask-leak' }).first().waitFor({ timeout: 20_000 });
    await frame.locator('canvas#heatmap[data-layer="0"][data-head="0"]').waitFor({ timeout: 20_000 });
    assert.match(await frame.locator('#leak-count').innerText(), /\d+ (masked )?cells? .*carr|leak/i);
    await screenshot(page, 'debugger-evidence');
  });
});
