/**
 * Issue 22's "notices are for exceptions", the kept trace and the exports, as a user meets them:
 * a random-weight preset's dozens of infos fold into one line of the Problems tab, whose count is
 * what VS Code's Problems panel lists; an ONNX model on `auto` shows no "WebGPU was not used" notice
 * (the backend fact's tooltip says why WebGPU did not run); a failed run keeps the last good trace,
 * dimmed under the error, and the status bar keeps naming its model; the PNG export is the whole
 * block at twice the resolution, the CSV button says it writes every weight, and a button that
 * cannot act says why. Screenshots go to .artifacts/ui/.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { answerSaveDialog, openFile, screenshot, selectFirstLine, selectModel, waitForFile, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

describe('the panel: notices for exceptions, the kept trace, exports', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;

  const chooseModel = (label: string, file?: string): Promise<void> => selectModel(page, label, file);

  async function traceShows(title: string): Promise<void> {
    await frame.locator('h1', { hasText: title }).waitFor({ timeout: 90_000 });
    await frame.locator('main#app[data-state="trace"]').waitFor({ timeout: 60_000 });
    // An earlier test may have left another tab on show: the heatmap is drawn where it is visible.
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
    await frame.locator('canvas#heatmap[data-drawn]').waitFor({ state: 'visible', timeout: 60_000 });
  }

  /** The extension's status bar item (its text: "$(eye) MODEL · BACKEND"). */
  function statusBarItem() {
    return page.locator('.statusbar-item').filter({ has: page.locator('.codicon-eye') }).first();
  }

  /** Errors and warnings in VS Code's Problems status bar entry ("Errors: 1, Warnings: 0" or "No Problems"). */
  async function vscodeProblemCount(): Promise<number> {
    const item = page.locator('[id="status.problems"]').first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    const label = `${await item.getAttribute('aria-label') ?? ''} ${await item.innerText()}`;
    const errors = /Errors?: (\d+)/i.exec(label)?.[1];
    const warnings = /Warnings?: (\d+)/i.exec(label)?.[1];
    if (errors !== undefined || warnings !== undefined) return Number(errors ?? 0) + Number(warnings ?? 0);
    const numbers = (await item.innerText()).match(/\d+/g) ?? [];
    return Number(numbers[0] ?? 0) + Number(numbers[1] ?? 0);
  }

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'sample.txt');
    await chooseModel('builtin:paper-base');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await traceShows('builtin:paper-base');
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED exceptions ${this.currentTest.title}`);
  });

  after(async () => {
    // The suites after this one expect the default model.
    if (page) {
      await chooseModel('builtin:trained-decoder').catch(() => undefined);
      await frame.locator('h1', { hasText: 'builtin:trained-decoder' }).waitFor({ timeout: 60_000 }).catch(() => undefined);
      await page.close();
    }
  });

  it("a random-weight preset's infos fold into one line; the tab's count is VS Code's (none) plus \"+N info\"", async () => {
    const count = frame.locator('#problems-count');
    await count.waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal(await count.locator('.count-badge').isVisible(), false, 'no errors or warnings: no number');
    const extra = (await count.locator('.count-extra').innerText()).trim();
    const infos = Number(/^\+(\d+) info$/.exec(extra)?.[1]);
    assert.ok(infos > 10, `"${extra}": paper-base's random heads are near-uniform`);
    assert.match(await frame.locator('#diagnostic-summary .summary-text').innerText(), new RegExp(`^No problems found · ${infos} info in the Problems tab$`));
    await frame.locator('#view-tabs button[data-view="problems"]').click();
    const group = frame.locator('#info-group');
    await group.locator('summary').waitFor({ state: 'visible' });
    assert.match(await group.locator('summary').innerText(), new RegExp(`${infos} info[\\s\\S]*uniform-head ×`));
    assert.equal(await frame.locator('#problems button.problem').count(), 0, 'nothing listed one by one until the line is opened');
    await group.locator('summary').click();
    await frame.locator('#info-group[open] button.problem.info').first().waitFor();
    assert.equal(await frame.locator('#info-group button.problem.info').count(), infos);
    await screenshot(page, 'problems-infos-grouped');
    assert.equal(await vscodeProblemCount(), 0, "VS Code's Problems panel lists no infos");
  });

  it('an ONNX model on auto shows no "WebGPU was not used" notice; the backend fact says why WebGPU did not run', async () => {
    await chooseModel('', path.join(uiSession().workspace, 'models', 'leaky-causal', 'model.onnx'));
    await traceShows('model.onnx');
    const notices = await frame.locator('.notices .notice').allInnerTexts();
    assert.ok(notices.every((text) => !/WebGPU/.test(text)), notices.join(' | '));
    const backend = frame.locator('#backend-fact');
    assert.match(await backend.innerText(), /^backend (native|wasm)$/);
    assert.match(await backend.getAttribute('title') ?? '', /ran: WebGPU was not used because/);
    // The planted bug's errors: the tab counts what VS Code's Problems panel lists.
    const badge = frame.locator('#problems-count .count-badge');
    await badge.waitFor({ state: 'visible', timeout: 20_000 });
    const listed = Number(await badge.innerText());
    assert.ok(listed > 0, 'the leaking mask is an error');
    let shown = -1;
    for (let i = 0; i < 50 && shown !== listed; i++) {
      shown = await vscodeProblemCount();
      if (shown !== listed) await page.waitForTimeout(200);
    }
    assert.equal(shown, listed, "the Problems tab's number is VS Code's");
    await screenshot(page, 'panel-onnx-auto-no-webgpu-notice');
  });

  it('a failed run keeps the last good trace, dimmed under the error, and the status bar keeps naming its model', async () => {
    await chooseModel('', path.join(uiSession().workspace, 'models', 'broken.onnx'));
    await frame.locator('main#app[data-state="error"][data-stale="true"]').waitFor({ timeout: 60_000 });
    assert.match(await frame.locator('#status').innerText(), /broken\.onnx is not an ONNX model[\s\S]*previous result is shown dimmed below/);
    assert.equal(await frame.locator('.trace-view').isVisible(), true, 'the last good trace stays');
    assert.match(await frame.locator('h1').innerText(), /^model\.onnx$/);
    // The error leads, above the dimmed trace.
    const statusBox = (await frame.locator('#status').boundingBox())!;
    const viewBox = (await frame.locator('.trace-view').boundingBox())!;
    assert.ok(statusBox.y < viewBox.y, 'the error is above the trace');
    assert.ok(Number(await frame.locator('.trace-view > .toolbar').evaluate((node) => getComputedStyle(node).opacity)) < 1, 'dimmed');
    assert.equal(await frame.locator('#select-model').evaluate((node) => getComputedStyle(node).opacity), '1', '"Select Model..." is not dimmed');
    const item = statusBarItem();
    await item.waitFor({ state: 'visible' });
    const text = (await item.innerText()).trim();
    assert.match(text, /^model\.onnx · (native|wasm)/, text);
    assert.doesNotMatch(text, /broken/);
    await screenshot(page, 'panel-error-keeps-trace');
  });

  it('exports: the PNG is the whole block at twice the resolution; CSV says it writes every weight; a button that cannot act says why', async () => {
    await chooseModel('builtin:tiny-decoder');
    await traceShows('builtin:tiny-decoder');
    await frame.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ timeout: 60_000 });
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
    const onScreen = (await frame.locator('canvas#heatmap').boundingBox())!;
    const png = path.join(mkdtempSync(path.join(tmpdir(), 'al-png-')), 'block.png');
    await frame.locator('#export-png').click();
    await answerSaveDialog(page, png);
    await waitForFile(png);
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(12, 16)], [...Buffer.from('IHDR')]);
    const width = bytes.readUInt32BE(16);
    const height = bytes.readUInt32BE(20);
    // 23 tokens: the SVG's layout gives each cell 16 px; at twice that the grid alone is 23 · 32 = 736 px square.
    assert.ok(width > 736 && height > 736, `${width}x${height}`);
    assert.ok(width > 2 * onScreen.width, `the image (${width} px) is the whole block, not the ${onScreen.width} px view`);

    const csv = frame.locator('#export-csv');
    assert.equal((await csv.innerText()).trim(), 'Weights CSV');
    assert.match(await csv.getAttribute('title') ?? '', /every attention weight/);

    await frame.locator('#view-tabs button[data-view="stats"]').click();
    const pngButton = frame.locator('#export-png');
    assert.equal(await pngButton.getAttribute('aria-disabled'), 'true');
    assert.match(await pngButton.getAttribute('title') ?? '', /switch to the Heatmap, Overview or Rollout tab/);
    await pngButton.hover();
    await screenshot(page, 'export-disabled-tooltip');
    await frame.locator('#view-tabs button[data-view="heatmap"]').click();
    assert.equal(await pngButton.getAttribute('aria-disabled'), null);
  });
});
