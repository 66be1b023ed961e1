/**
 * The Attention panel as a user meets it: the heatmap of "The cat sat on the mat." labelled with
 * the model's tokens, stepping to the next layer, choosing an ONNX model exported by another tool
 * through "Select Model...", an unreadable model file, and the panel in the dark and light themes
 * (screenshots saved as artifacts).
 */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import {
  answerOpenDialog, notificationTexts, openFile, pickQuickItem, runCommand, screenshot, selectFirstLine, setThemeKind, webviewFrame,
} from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

const TOKENS = ['T', 'h', 'e', '␣', 'c', 'a', 't', '␣', 's', 'a', 't', '␣', 'o', 'n', '␣', 't', 'h', 'e', '␣', 'm', 'a', 't', '.'];

describe('the Attention panel', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;

  async function explainFirstLine(): Promise<void> {
    await openFile(page, 'sample.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
  }

  async function heatmapShows(title: string, size: string): Promise<void> {
    await frame.locator('h1', { hasText: title }).waitFor({ timeout: 90_000 });
    await frame.locator(`canvas#heatmap[data-drawn="${size}"]`).waitFor({ state: 'visible', timeout: 60_000 });
  }

  async function heatmapPixels(): Promise<string> {
    return frame.locator('canvas#heatmap').evaluate((canvas) => (canvas as HTMLCanvasElement).toDataURL());
  }

  before(async () => {
    const session = uiSession();
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED panel ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('shows a heatmap whose row and column labels are the model\'s tokens', async () => {
    await explainFirstLine();
    await heatmapShows('builtin:trained-decoder', '23x23');
    // A narrow side bar shows every n-th label; each shown label is the token at its index.
    for (const axis of ['rows', 'cols']) {
      const labels = await frame.locator(`.heatmap-${axis} .token-label`).evaluateAll((nodes) => nodes.map((node) => [Number(node.getAttribute('data-index')), node.getAttribute('title')] as const));
      assert.ok(labels.length >= 6, `${axis}: only ${labels.length} labels`);
      assert.equal(labels[0][0], 0);
      for (const [index, title] of labels) assert.equal(title, TOKENS[index], `${axis} label ${index}`);
    }
    assert.equal(await frame.locator('#layer-select').inputValue().then((value) => value.length > 0), true);
  });

  it('Next Layer shows the next layer, with other values', async () => {
    const before = await heatmapPixels();
    assert.equal(await frame.locator('canvas#heatmap').getAttribute('data-layer'), '0');
    await frame.locator('#next-layer').click();
    await frame.locator('canvas#heatmap[data-layer="1"][data-drawn="23x23"]').waitFor({ timeout: 30_000 });
    assert.match(await frame.locator('#step-label').innerText(), /layer 1/i);
    assert.notEqual(await heatmapPixels(), before, 'layer 1 must not look like layer 0');
    await frame.locator('#prev-layer').click();
    await frame.locator('canvas#heatmap[data-layer="0"]').waitFor({ timeout: 30_000 });
  });

  it('saves screenshots of the panel in the dark and the light theme', async () => {
    await setThemeKind(page, 'dark');
    await frame.locator('body.vscode-dark').waitFor();
    await page.waitForTimeout(500);
    await screenshot(page, 'panel-dark');
    await setThemeKind(page, 'light');
    await frame.locator('body.vscode-light').waitFor();
    await frame.locator('canvas#heatmap[data-drawn="23x23"]').waitFor();
    await page.waitForTimeout(500);
    await screenshot(page, 'panel-light');
    await setThemeKind(page, 'dark');
  });

  it('runs an ONNX model exported by another tool, chosen through "Select Model..."', async () => {
    const model = path.join(uiSession().workspace, 'models', 'distilbert', 'model.onnx');
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, 'Browse for ONNX file...');
    await answerOpenDialog(page, model);
    // Choosing a model runs the last text again with it.
    await heatmapShows('model.onnx', '9x9');
    const columns = await frame.locator('.heatmap-cols .token-label').evaluateAll((nodes) => nodes.map((node) => [Number(node.getAttribute('data-index')), node.getAttribute('title')] as const));
    // Labels show the text as the user wrote it (BERT's pieces are lowercased).
    const expected = ['[CLS]', 'The', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]'];
    for (const [index, title] of columns) assert.equal(title, expected[index], `column ${index}`);
    await screenshot(page, 'panel-onnx-distilbert');
  });

  it('an unreadable model file shows a message, and the extension keeps working', async () => {
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, 'Browse for ONNX file...');
    await answerOpenDialog(page, path.join(uiSession().workspace, 'models', 'broken.onnx'));
    await frame.locator('main#app[data-state="error"]').waitFor({ timeout: 60_000 });
    assert.match(await frame.locator('#status').innerText(), /broken\.onnx is not an ONNX model/);
    const messages = await notificationTexts(page);
    assert.ok(messages.some((text) => /Attention Lens: .*broken\.onnx/.test(text)), messages.join(' | '));
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, 'builtin:tiny-encdec');
    await heatmapShows('builtin:tiny-encdec', '23x23');
  });

  it("shows the trained default model's induction head on a repeated phrase (README's picture)", async () => {
    // Which head that is comes from the model's card, so retraining cannot leave the test behind.
    const card = JSON.parse(readFileSync(path.join(uiSession().extensionPath, 'media/models/lens-decoder.json'), 'utf8')) as {
      heads: { induction: { layer: number; head: number; score: number } };
    };
    const { layer, head } = card.heads.induction;
    // One byte token per character of the (ASCII) line.
    const size = readFileSync(path.join(uiSession().workspace, 'induction.txt'), 'utf8').split('\n')[0].length;
    // The test above chose another model; choosing the default again reruns the last text with it.
    await runCommand(page, 'Attention Lens: Select Model...');
    await pickQuickItem(page, 'builtin:trained-decoder');
    await heatmapShows('builtin:trained-decoder', '23x23');
    await openFile(page, 'induction.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await heatmapShows('builtin:trained-decoder', `${size}x${size}`);
    await frame.locator('#layer-select').selectOption(`decoder:${layer}`);
    await frame.locator('#head-select').selectOption(String(head));
    await frame.locator(`canvas#heatmap[data-layer="${layer}"][data-head="${head}"][data-drawn="${size}x${size}"]`).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    await screenshot(page, 'trained-induction');
    // README's picture: the side bar dragged wide, so the 87 x 87 heatmap is large, then put back.
    const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
    const dragWidth = async (from: number, to: number): Promise<void> => {
      await page.mouse.move(sideBar.x + from, sideBar.y + 300);
      await page.mouse.down();
      await page.mouse.move(sideBar.x + to, sideBar.y + 300, { steps: 12 });
      await page.mouse.up();
    };
    await dragWidth(sideBar.width + 1, 760);
    const wide = (await page.locator('.part.sidebar').boundingBox())!;
    assert.ok(wide.width > 1.5 * sideBar.width, `the side bar is ${wide.width} px wide`);
    await page.waitForTimeout(1500);
    await frame.locator(`canvas#heatmap[data-layer="${layer}"][data-head="${head}"][data-drawn="${size}x${size}"]`).waitFor({ timeout: 30_000 });
    await screenshot(page, 'trained-induction-wide', { x: wide.x, y: wide.y, width: wide.width, height: Math.min(wide.height, 880) });
    await dragWidth(wide.width + 1, sideBar.width);
    // Last in this suite: the tests above run "the last text" and expect sample.txt's first line.
  });
});
