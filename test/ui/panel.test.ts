/**
 * The Attention panel as a user meets it: the heatmap of "The cat sat on the mat." labelled with
 * the model's tokens, stepping to the next layer, choosing an ONNX model exported by another tool
 * through "Select Model...", an unreadable model file, and the panel in the side bar and in the
 * editor view in the dark, light and high-contrast themes (screenshots saved as artifacts:
 * panel-side-*.png and panel-editor-*.png, README's pictures in docs/images/).
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

type ThemeName = 'light' | 'dark' | 'hc';

/** The webview's body class in each theme (VS Code sets it). */
const BODY_CLASS: Readonly<Record<ThemeName, string>> = { light: 'vscode-light', dark: 'vscode-dark', hc: 'vscode-high-contrast' };

/**
 * Picks a colour theme by its label in "Preferences: Color Theme" (clicked, not taken with Enter:
 * the palette may rank "Browse Color Themes in Marketplace", which this machine cannot reach, first).
 */
async function pickColorTheme(page: Page, label: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill('>Preferences: Color Theme');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Preferences: Color Theme' }).first().click();
  await page.locator('.quick-input-widget input[placeholder*="Color Theme"]').waitFor({ state: 'visible' });
  await pickQuickItem(page, label);
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
}

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

  /**
   * The content frame of the side bar's view or of the editor view, told apart by where the webview
   * lies (with both open, webviewFrame() would match two).
   */
  async function viewFrame(where: 'side' | 'editor'): Promise<FrameLocator> {
    const frames = page.locator('iframe.webview.ready');
    for (let attempt = 0; attempt < 100; attempt++) {
      const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
      for (let i = 0; i < await frames.count(); i++) {
        const box = await frames.nth(i).boundingBox();
        const inEditor = box !== null && box.width > 0 && box.x >= sideBar.x + sideBar.width - 1;
        const inSideBar = box !== null && box.width > 0 && box.x < sideBar.x + sideBar.width - 1;
        if ((where === 'editor' && inEditor) || (where === 'side' && inSideBar)) {
          return page.frameLocator(`iframe.webview.ready >> nth=${i}`).frameLocator('#active-frame');
        }
      }
      await page.waitForTimeout(200);
    }
    throw new Error(`no ${where} view open`);
  }

  /** The editor view's tab. */
  function attentionTab(): ReturnType<Page['locator']> {
    return page.locator('.part.editor .tab').filter({ hasText: 'Attention' }).first();
  }

  /**
   * Takes the keyboard from a webview (a clicked editor tab hands it to its webview, which keeps
   * F1 from the command palette) by clicking the side bar's title, which leaves the active editor
   * group as it is.
   */
  async function releaseFocus(): Promise<void> {
    await page.locator('.part.sidebar .composite.title').first().click({ position: { x: 5, y: 5 } });
  }

  /** The editor group that holds the editor view, with its tab. */
  async function editorGroupBox(): Promise<{ x: number; y: number; width: number; height: number }> {
    const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
    return page.evaluate((left) => {
      const groups = Array.from(document.querySelectorAll('.part.editor .editor-group-container')).map((node) => node.getBoundingClientRect());
      const group = groups.filter((rect) => rect.width > 0 && rect.left >= left - 1).sort((a, b) => b.width - a.width)[0];
      return { x: group.left, y: group.top, width: group.width, height: group.height };
    }, sideBar.x + sideBar.width);
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

  it('saves screenshots of the panel in the side bar and in the editor view, in the light, dark and high-contrast themes', async () => {
    await runCommand(page, 'Attention Lens: Open Attention in Editor');
    let previous: string | undefined;
    try {
      const editor = await viewFrame('editor');
      const side = await viewFrame('side');
      await editor.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ state: 'visible', timeout: 60_000 });
      // The editor view as wide as the editor area, as when it is the only editor beside the side
      // bar: its group (which opened without the focus) is made the active one, then maximized.
      await attentionTab().click();
      await releaseFocus();
      await runCommand(page, 'View: Toggle Maximize Editor Group');
      await page.waitForTimeout(800);
      const shots = async (theme: ThemeName): Promise<void> => {
        for (const view of [side, editor]) {
          await view.locator(`body.${BODY_CLASS[theme]}`).waitFor();
          await view.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ state: 'visible' });
        }
        await page.waitForTimeout(600);
        const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
        await screenshot(page, `panel-side-${theme}`, { x: sideBar.x, y: sideBar.y, width: sideBar.width, height: Math.min(sideBar.height, 900) });
        const group = await editorGroupBox();
        await screenshot(page, `panel-editor-${theme}`, { ...group, height: Math.min(group.height, 900) });
        if (theme !== 'hc') await screenshot(page, `panel-${theme}`);
      };
      await setThemeKind(page, 'light');
      await shots('light');
      await setThemeKind(page, 'dark');
      await shots('dark');
      // VS Code's built-in high-contrast theme ('Default High Contrast', labelled "Dark High
      // Contrast"); afterwards the theme on now, by the label the webview is told.
      previous = await side.locator('body').getAttribute('data-vscode-theme-name') ?? undefined;
      await pickColorTheme(page, 'Dark High Contrast');
      await shots('hc');
      // The high-contrast theme draws a border round the heatmap (panel.css).
      assert.equal(await side.locator('canvas#heatmap').evaluate((node) => getComputedStyle(node).outlineStyle), 'solid');
    } finally {
      await releaseFocus();
      if (previous) await pickColorTheme(page, previous).catch(async (error: unknown) => {
        await page.keyboard.press('Escape');
        console.log(`      could not put the theme back: ${String(error)}`);
      });
      await runCommand(page, 'View: Toggle Maximize Editor Group').catch(() => undefined);
      await attentionTab().hover();
      await attentionTab().locator('.tab-actions .action-label').first().click({ force: true });
      // The tests after this one read the side bar's view through webviewFrame(), which wants one webview.
      await page.waitForFunction(() => document.querySelectorAll('iframe.webview.ready').length === 1, undefined, { timeout: 10_000 });
    }
    await frame.locator('body.vscode-dark').waitFor();
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
