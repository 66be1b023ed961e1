/**
 * Word labels and row-label hover on the heatmap in the real VS Code (issue 22), in the side bar at
 * a device pixel ratio of 2, on a sentence the default model's byte tokenizer cuts into one token per
 * character: the Words toggle labels each word once, centred on its tokens' rows and columns, with a
 * gap in the background colour between words' cells, and the tooltip names a token's word; hovering
 * a row label highlights that row and, in the editor, the keys it attends to, as hovering its cells
 * does, and leaving the label clears them. The screenshot goes to .artifacts/ui/heatmap-words.png.
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { openFile, screenshot, selectFirstLine, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

/** ASCII only, so byte token i is character i. */
const LINE = 'Transformers attend to every earlier token.';

/**
 * The words as the panel documents them, worked out here independently with a regular expression:
 * whitespace leads the word after it, a run of word characters or of punctuation is a word.
 * [text, first token, last token].
 */
const WORDS: Array<[string, number, number]> = Array.from(LINE.matchAll(/\s*(\w+|[^\w\s]+)/g), (match) => [match[1], match.index, match.index + match[0].length - 1]);

interface Label {
  word: string;
  first: number;
  last: number;
  middle: number;
}

describe('word labels and row-label hover on the heatmap', function () {
  this.timeout(240_000);
  let page: Page;
  let frame: FrameLocator;
  const canvas = (): ReturnType<FrameLocator['locator']> => frame.locator('.views canvas#heatmap');

  /** The row (or column) labels on show, with the middle of each along its axis (CSS px from the canvas's edge). */
  async function labels(axis: 'rows' | 'cols'): Promise<Label[]> {
    const origin = (await canvas().boundingBox())!;
    const nodes = frame.locator(`.views .heatmap-${axis} .token-label`);
    const out: Label[] = [];
    for (let i = 0; i < (await nodes.count()); i++) {
      const node = nodes.nth(i);
      const box = (await node.boundingBox())!;
      out.push({
        word: (await node.getAttribute('data-word')) ?? '',
        first: Number(await node.getAttribute('data-index')),
        last: Number(await node.getAttribute('data-end')),
        middle: axis === 'rows' ? box.y + box.height / 2 - origin.y : box.x + box.width / 2 - origin.x,
      });
    }
    return out.sort((a, b) => a.first - b.first);
  }

  /** Editor ranges painted by the panel's highlight (its warm hue, rgba(255, 140, 0, α)). */
  function highlighted(): Promise<number> {
    return page.locator('.editor-instance .monaco-editor .view-overlays div').evaluateAll((nodes) => nodes.filter((node) => getComputedStyle(node).backgroundColor.startsWith('rgba(255, 140, 0')).length);
  }

  async function waitForHighlights(check: (count: number) => boolean, what: string): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const count = await highlighted();
      if (check(count)) return count;
      if (Date.now() > deadline) throw new Error(`the editor's highlights: ${what}, but ${count}`);
      await page.waitForTimeout(100);
    }
  }

  /** Colours along the canvas's last pixel row (the last query, which sees every key) at device-px x positions. */
  function lastRowColours(xs: number[]): Promise<string[]> {
    return canvas().evaluate((node, positions) => {
      const element = node as HTMLCanvasElement;
      const cell = Number(element.dataset.cellDevice);
      const rows = Number(element.dataset.drawn?.split('x')[0]);
      const y = Math.floor((rows - 0.5) * cell);
      const context = element.getContext('2d')!;
      return positions.map((x) => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)).join(','));
    }, xs);
  }

  before(async () => {
    const session = uiSession();
    writeFileSync(path.join(session.workspace, 'words.txt'), `${LINE}\n`);
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 }, deviceScaleFactor: 2 });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'words.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator(`.views canvas#heatmap[data-drawn="${LINE.length}x${LINE.length}"]`).waitFor({ state: 'visible', timeout: 120_000 });
    await page.waitForTimeout(300);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED words ${this.currentTest.title}`);
  });

  after(async () => {
    // Labels per token again, for the files after this one.
    if (page && (await frame.locator('.views .zoom-words').getAttribute('aria-pressed').catch(() => null)) === 'true') {
      await frame.locator('.views .zoom-words').click().catch(() => undefined);
    }
    await page?.close();
  });

  it('Words labels each word once, centred on its tokens, with gaps between the words\' cells', async () => {
    assert.ok(WORDS.length === 7 && WORDS[1][0] === 'attend' && WORDS[1][1] === 12, `the oracle's words: ${JSON.stringify(WORDS)}`);
    const button = frame.locator('.views .zoom-words');
    assert.equal(await button.getAttribute('aria-pressed'), 'false', 'labels start per token');
    // At side-bar width the toolbar's readout gives way, not the buttons' text.
    const fits = await frame.locator('.views .heatmap-zoom .zoom-button').evaluateAll((nodes) => nodes.map((node) => [node.textContent, node.scrollWidth <= node.clientWidth + 1]));
    assert.ok(fits.every(([, fit]) => fit), `buttons whose text spills: ${JSON.stringify(fits)}`);
    assert.equal(await frame.locator('.views .heatmap-rows').getAttribute('data-mode'), 'tokens');
    // Where words begin, in device px at a cell size; the last row's colours there, per token first.
    const edgesAt = (cellDevice: number): number[] => WORDS.slice(1).map(([, first]) => first * cellDevice);
    const before = await lastRowColours(edgesAt(Number(await canvas().getAttribute('data-cell-device'))));

    await button.click();
    await frame.locator('.views .heatmap-rows[data-mode="words"]').waitFor({ timeout: 10_000 });
    assert.equal(await button.getAttribute('aria-pressed'), 'true');
    // The word labels' gutter is wider, so the cells may have shrunk.
    const cell = Number(await canvas().getAttribute('data-cell'));
    const cellDevice = Number(await canvas().getAttribute('data-cell-device'));
    assert.ok(cellDevice >= 4, `cells of ${cellDevice} device px show separators`);
    const edges = edgesAt(cellDevice);
    for (const axis of ['rows', 'cols'] as const) {
      const shown = await labels(axis);
      // One label per word at most, each naming a word of the oracle with its exact tokens.
      assert.ok(shown.length >= 5 && shown.length <= WORDS.length, `${axis}: ${JSON.stringify(shown)}`);
      for (const label of shown) {
        const word = WORDS.find(([, first]) => first === label.first);
        assert.ok(word, `${axis}: a label starts at token ${label.first}, where no word does`);
        assert.deepEqual([label.word, label.last], [word[0], word[2]], `${axis}: the label of ${word[0]}`);
      }
      // The long words are all labelled at this size, centred on their tokens (the whole block is in
      // view at the fit; the words at the ends may be pushed inside the gutter, so they are not checked).
      for (const name of ['Transformers', 'attend', 'earlier']) {
        const label = shown.find((candidate) => candidate.word === name);
        const word = WORDS.find(([text]) => text === name)!;
        assert.ok(label, `${axis}: no label for ${name}`);
        const middle = ((word[1] + word[2] + 1) / 2) * cell;
        assert.ok(Math.abs(label.middle - middle) <= 1.5, `${axis}: "${name}" centred at ${label.middle}, its tokens' middle is ${middle}`);
      }
    }
    // A gap in the background colour at every word's first column, on the last row.
    await page.waitForTimeout(200);
    const after = await lastRowColours(edges);
    const background = await frame.locator('body').evaluate(() => {
      const probe = document.createElement('div');
      probe.style.color = getComputedStyle(document.body).getPropertyValue('--vscode-editor-background');
      document.body.append(probe);
      const rgb = getComputedStyle(probe).color.match(/\d+/g)!.slice(0, 3).join(',');
      probe.remove();
      return rgb;
    });
    assert.deepEqual(after, edges.map(() => background), `separators at ${edges} device px`);
    assert.ok(before.some((colour) => colour !== background), `per token, those pixels are cells: ${before}`);
    await screenshotSideBar('heatmap-words');
  });

  it('the tooltip names the token and its word', async () => {
    const box = (await canvas().boundingBox())!;
    // The cell of row 5 ("o" of "Transformers") and column 14 ("t" of "attend").
    await page.mouse.move(box.x + 14.5 * (box.width / LINE.length), box.y + 5.5 * (box.height / LINE.length));
    const text = await frame.locator('.views .tooltip').innerText();
    assert.match(text, /query.*#5 .*in “Transformers”/);
    assert.match(text, /key.*#14 .*in “attend”/);
  });

  it('hovering a row label highlights its row and, in the editor, the keys it attends to', async () => {
    await page.mouse.move(5, 5);
    await waitForHighlights((count) => count === 0, 'none before the hover');
    const label = frame.locator('.views .heatmap-rows .token-label[data-word="attend"]');
    await label.hover();
    // The word's last token ("d", #18) is the row the label stands for.
    await frame.locator('.views .heatmap-rows .token-label.hovered[data-word="attend"]').waitFor({ timeout: 5_000 });
    const band = frame.locator('.views .row-highlight.hover');
    await band.waitFor({ state: 'visible', timeout: 5_000 });
    const canvasBox = (await canvas().boundingBox())!;
    const bandBox = (await band.boundingBox())!;
    const cell = canvasBox.height / LINE.length;
    assert.ok(Math.abs(bandBox.y + bandBox.height / 2 - (canvasBox.y + 18.5 * cell)) <= 1.5, `the band is on row 18: ${bandBox.y} in ${canvasBox.y}+${cell}×18.5`);
    const fromLabel = await waitForHighlights((count) => count > 0, 'some from the label');
    // Off the label: the highlights go.
    await page.mouse.move(5, 5);
    await waitForHighlights((count) => count === 0, 'none after leaving the label');
    // The same row's cells give the same highlights.
    await page.mouse.move(canvasBox.x + canvasBox.width * 0.1, canvasBox.y + 18.5 * cell);
    const fromCell = await waitForHighlights((count) => count > 0, 'some from the row\'s cells');
    assert.equal(fromLabel, fromCell, 'the label and the cells of row 18 highlight the same keys');
    await page.mouse.move(5, 5);
    await waitForHighlights((count) => count === 0, 'none after leaving the cells');
  });

  it('per token again, a row label hovers its own token\'s row', async () => {
    await frame.locator('.views .zoom-words').click();
    await frame.locator('.views .heatmap-rows[data-mode="tokens"]').waitFor({ timeout: 10_000 });
    const first = frame.locator('.views .heatmap-rows .token-label').first();
    const index = Number(await first.getAttribute('data-index'));
    await first.hover();
    await frame.locator(`.views .heatmap-rows .token-label.hovered[data-index="${index}"]`).waitFor({ timeout: 5_000 });
    await waitForHighlights((count) => count > 0, `some from token ${index}'s label`);
    await page.mouse.move(5, 5);
    await waitForHighlights((count) => count === 0, 'none after leaving');
  });

  async function screenshotSideBar(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 760) } : undefined);
  }
});
