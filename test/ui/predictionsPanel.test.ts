/**
 * What-if in the heatmap, in the real VS Code (issue 23), in the side bar at a device pixel ratio
 * of 2, on a line the default model's byte tokenizer cuts into one token per character: each row
 * label carries the model's top-1 next token ("→e"), a row label's and a cell's tooltip the top-k
 * with probabilities, and the "→ Next" toggle takes the notes away and back; shift-clicked rows
 * get a strip under the view with their mean (or sum) attention per key; the search box finds a
 * token by text, Enter going to the next match, and shows and selects its row; a saved trace with
 * a logit lens names the lens's top-1 per layer in a row label's tooltip. The expected numbers come
 * from the engine run here in Node on the same text (reference backend), not from the panel.
 * Screenshot: .artifacts/ui/heatmap-predictions.png, copied to docs/images/ for README.
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { lazyTrace, writeTraceFile } from '../../src/engine';
import { ExplainEngine } from '../../src/engine/explain';
import type { AttentionTrace, TokenPrediction } from '../../src/shared/trace';
import { uiSession } from '../runner/session';
import { answerOpenDialog, openFile, runCommand, screenshot, selectFirstLine, selectModel, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

/** ASCII only, so byte token i is character i; the repeat lets the model be sure of the second half. */
const LINE = 'The cat sat on the mat. The cat sat on the mat again.';
const T = LINE.length;

/** A predicted token as the panel should show it, worked out here: spaces and line breaks visible. */
function shown(text: string, id: number): string {
  return text === '' ? `[${id}]` : text.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5');
}

/** "e 37%" items of a tooltip line back into [token, percent] ("<0.1%" as 0.05 ± 0.05). */
function parseItems(line: string): Array<[string, number]> {
  return line.split(' \u00b7 ').map((item) => {
    const match = /^(.+) (<?)([\d.]+)%$/.exec(item);
    assert.ok(match, `an item "token percent": ${item}`);
    return [match[1], match[2] === '<' ? 0.05 : Number(match[3])];
  });
}

/** The tooltip's lines as [name, value] (continued lines join their named line). */
async function tooltipLines(frame: FrameLocator): Promise<Map<string, string>> {
  const rows = await frame.locator('.views .tooltip > div').evaluateAll((nodes) => nodes.map((node) => [node.children[0]?.textContent ?? '', node.children[1]?.textContent ?? '']));
  const lines = new Map<string, string>();
  let last = '';
  for (const [name, value] of rows) {
    if (name !== '') last = name;
    lines.set(last, name === '' ? `${lines.get(last)} \u00b7 ${value}` : value);
  }
  return lines;
}

function assertTopK(line: string | undefined, top: readonly TokenPrediction[], what: string): void {
  assert.ok(line, `${what}: a "next" line`);
  const items = parseItems(line);
  assert.deepEqual(items.map(([text]) => text), top.map((entry) => shown(entry.text, entry.id)), `${what}: the top-${top.length} in order`);
  // Rounded to whole percents from 10%, to 0.1 below; the panel's backend may differ by 1e-5.
  items.forEach(([, percent], i) => assert.ok(Math.abs(percent - top[i].prob * 100) <= (percent >= 10 ? 0.51 : 0.051) + 0.01, `${what}: #${i} ${percent}% vs ${top[i].prob * 100}`));
}

describe('predictions, several rows and the token search on the heatmap', function () {
  this.timeout(300_000);
  let page: Page;
  let frame: FrameLocator;
  let oracle: AttentionTrace;
  const canvas = (): ReturnType<FrameLocator['locator']> => frame.locator('.views canvas#heatmap');

  /** The oracle's weight of (query, key) in the block and head the canvas shows. */
  async function weightOf(query: number, key: number): Promise<number> {
    const data = await canvas().evaluate((node) => ({ ...(node as HTMLCanvasElement).dataset }));
    const block = oracle.blocks[Number(data.blockIndex)];
    const heads = data.head === 'mean' ? Array.from({ length: block.heads }, (_, h) => h) : [Number(data.head)];
    return heads.reduce((sum, h) => sum + block.probs[(h * block.queries + query) * block.keys + key], 0) / heads.length;
  }

  /** Moves the pointer onto the middle of cell (query, key) at the fit. */
  async function cellPoint(query: number, key: number): Promise<{ x: number; y: number }> {
    const box = (await canvas().boundingBox())!;
    return { x: box.x + (key + 0.5) * (box.width / T), y: box.y + (query + 0.5) * (box.height / T) };
  }

  before(async () => {
    oracle = await new ExplainEngine(null).explain(LINE, { model: 'builtin:trained-decoder', backend: 'reference' });
    assert.equal(oracle.streams[0].tokens.length, T, 'one byte token per character');
    const session = uiSession();
    writeFileSync(path.join(session.workspace, 'predictions.txt'), `${LINE}\n`);
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 }, deviceScaleFactor: 2 });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'predictions.txt');
    // The model is kept per workspace: an earlier file may have left another one chosen.
    await selectModel(page, 'builtin:trained-decoder');
    await openFile(page, 'predictions.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator('h1', { hasText: 'builtin:trained-decoder' }).waitFor({ timeout: 120_000 });
    await frame.locator(`.views canvas#heatmap[data-drawn="${T}x${T}"]`).waitFor({ state: 'visible', timeout: 120_000 });
    await page.waitForTimeout(300);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED predictions ${this.currentTest.title}`);
  });

  after(async () => {
    await page?.close();
  });

  it('each row label carries its top-1 next token, whole, inside the side bar', async () => {
    const top = oracle.predictions?.[0].top;
    assert.ok(top && top.length === T, 'the oracle has predictions at every position');
    const sideBar = (await page.locator('.part.sidebar').boundingBox())!;
    const labels = await frame.locator('.views .heatmap-rows .token-label').evaluateAll((nodes) => nodes.map((node) => {
      const box = node.getBoundingClientRect();
      // Inside the gutter: not cut at its left edge (the labels are right-aligned in it).
      const inside = box.left >= (node.parentElement?.getBoundingClientRect().left ?? 0) - 0.5;
      return { index: Number(node.getAttribute('data-index')), next: node.getAttribute('data-next'), note: node.querySelector('.token-next')?.textContent ?? null, title: node.getAttribute('title'), inside };
    }));
    assert.ok(labels.length >= 6, `only ${labels.length} row labels in a side bar ${sideBar.width} px wide`);
    for (const label of labels) {
      const first: TokenPrediction = top[label.index][0];
      assert.equal(label.next, shown(first.text, first.id), `row ${label.index}'s note`);
      // Byte tokens are short: the note is shown whole, and the label is not cut by the gutter's edge.
      assert.equal(label.note, ` \u2192${label.next}`, `row ${label.index} shows its note`);
      assert.equal(label.title, shown(LINE[label.index], 0), `row ${label.index}'s title is its token`);
      assert.ok(label.inside, `row ${label.index} is not cut at the gutter's left edge`);
    }
    assert.equal(await frame.locator('.views .toggle-next').getAttribute('aria-pressed'), 'true');
  });

  it('a row label\'s tooltip and a cell\'s name the top-k with probabilities', async () => {
    const top = oracle.predictions![0].top;
    const label = frame.locator('.views .heatmap-rows .token-label').nth(3);
    const index = Number(await label.getAttribute('data-index'));
    await label.hover();
    await frame.locator('.views .tooltip:not([hidden])').waitFor({ timeout: 5_000 });
    let lines = await tooltipLines(frame);
    assert.match(lines.get('query') ?? '', new RegExp(`#${index}$`));
    assertTopK(lines.get('next'), top[index], `row label ${index}`);
    assert.equal(lines.has('lens'), false, 'no logit lens in a plain run');
    const point = await cellPoint(30, 4);
    await page.mouse.move(point.x, point.y);
    await frame.locator('.views .tooltip:not([hidden])').waitFor({ timeout: 5_000 });
    lines = await tooltipLines(frame);
    assert.match(lines.get('query') ?? '', /#30$/);
    assertTopK(lines.get('next'), top[30], 'cell (30, 4)');
    await page.mouse.move(5, 5);
  });

  it('"→ Next" takes the notes away and brings them back', async () => {
    const button = frame.locator('.views .toggle-next');
    await button.click();
    await frame.locator('.views .toggle-next[aria-pressed="false"]').waitFor({ timeout: 5_000 });
    assert.equal(await frame.locator('.views .heatmap-rows .token-next').count(), 0);
    await button.click();
    await frame.locator('.views .heatmap-rows .token-next').first().waitFor({ timeout: 5_000 });
  });

  it('shift-clicked rows get a strip with their mean, or sum, attention per key', async () => {
    const rows = [30, 35, 44];
    const strip = frame.locator('.views canvas.rows-strip-canvas');
    assert.equal(await strip.isVisible(), false, 'no strip before rows are read together');
    let point = await cellPoint(rows[0], 2);
    await page.mouse.click(point.x, point.y);
    for (const row of rows.slice(1)) {
      point = await cellPoint(row, 2);
      await page.keyboard.down('Shift');
      await page.mouse.click(point.x, point.y);
      await page.keyboard.up('Shift');
    }
    await frame.locator(`.views canvas.rows-strip-canvas[data-rows="${rows.join(',')}"][data-drawn="${T}"]`).waitFor({ timeout: 5_000 });
    const stripBox = (await strip.boundingBox())!;
    const canvasBox = (await canvas().boundingBox())!;
    assert.ok(Math.abs(stripBox.x - canvasBox.x) <= 0.5 && Math.abs(stripBox.width - canvasBox.width) <= 0.5, 'the strip lines up with the columns');
    assert.ok(stripBox.y >= canvasBox.y + canvasBox.height, 'under the heatmap');
    // Labels of the rows in view are marked.
    const marked = await frame.locator('.views .heatmap-rows .token-label.in-rows').evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-index'))));
    assert.ok(marked.every((index) => rows.includes(index)), `marked labels ${marked}`);
    for (const mode of ['mean', 'sum'] as const) {
      for (const key of [0, 4, 26]) {
        await page.mouse.move(stripBox.x + (key + 0.5) * (stripBox.width / T), stripBox.y + stripBox.height / 2);
        await frame.locator('.views .tooltip:not([hidden])').waitFor({ timeout: 5_000 });
        const lines = await tooltipLines(frame);
        assert.match(lines.get('key') ?? '', new RegExp(`#${key}$`));
        let expected = 0;
        for (const row of rows) expected += await weightOf(row, key);
        if (mode === 'mean') expected /= rows.length;
        assert.ok(Math.abs(Number(lines.get(mode)) - expected) <= 2e-3, `${mode} at key ${key}: ${lines.get(mode)} vs ${expected}`);
      }
      if (mode === 'mean') {
        // The picture: the notes, the rows read together with their strip, and a selected row's top-k.
        await frame.locator(`.views .heatmap-rows .token-label[data-index="${rows[0]}"]`).hover();
        await frame.locator('.views .tooltip:not([hidden])').waitFor({ timeout: 5_000 });
        await screenshotSideBar('heatmap-predictions');
        await frame.locator('.views .rows-mode').click();
        await frame.locator('.views canvas.rows-strip-canvas[data-mode="sum"]').waitFor({ timeout: 5_000 });
      }
    }
    await frame.locator('.views .rows-clear').click();
    await strip.waitFor({ state: 'hidden', timeout: 5_000 });
    await page.mouse.move(5, 5);
  });

  it('the search box finds a token by its text: Enter the next match, Shift+Enter the previous', async () => {
    // Where a text occurs, the row of its last character (the one that has read it all), worked out here.
    const ends = (text: string): number[] => Array.from(LINE.toLowerCase().matchAll(new RegExp(text.toLowerCase(), 'g')), (match) => match.index + text.length - 1);
    const sat = ends('sat');
    assert.deepEqual(sat, [10, 34]);
    const search = frame.locator('.views .heatmap-search');
    await search.fill('sat');
    const selectedRow = async (row: number): Promise<void> => {
      await frame.locator(`.views .heatmap-rows .token-label.selected[data-index="${row}"]`).waitFor({ timeout: 5_000 });
      const [from, to] = ((await canvas().getAttribute('data-rows')) ?? '').split('-').map(Number);
      assert.ok(row >= from && row <= to, `row ${row} in view (${from}–${to})`);
      assert.ok(Number(await canvas().getAttribute('data-cell')) >= 11 - 1e-6, 'zoomed in until every row is labelled');
    };
    // Row 30 is selected (the previous test clicked it): the next match after it, then round to the first.
    await search.press('Enter');
    await selectedRow(sat[1]);
    assert.equal(await frame.locator('.views .find-count').textContent(), `2/${sat.length}`);
    await search.press('Enter');
    await selectedRow(sat[0]);
    assert.equal(await frame.locator('.views .find-count').textContent(), `1/${sat.length}`);
    await search.press('Shift+Enter');
    await selectedRow(sat[1]);
    // Across tokens, any case: "the c" ends at rows 4 and 28; after 34 it wraps round to 4.
    assert.deepEqual(ends('the c'), [4, 28]);
    await search.fill('the c');
    await search.press('Enter');
    await selectedRow(4);
    await search.fill('zebra');
    await search.press('Enter');
    assert.equal(await frame.locator('.views .find-count').textContent(), 'no match');
    await frame.locator('.views .zoom-fit').click();
  });

  it('a saved trace with a logit lens names the lens\'s top-1 per layer in a row label\'s tooltip', async () => {
    const lensed = await new ExplainEngine(null).explain(LINE, { model: 'builtin:trained-decoder', backend: 'reference', logitLens: true });
    const lens = lensed.logitLens ?? [];
    assert.ok(lens.length >= 2, 'one lens entry per layer');
    const file = path.join(uiSession().workspace, 'lens.attn.safetensors');
    await writeTraceFile(file, lazyTrace(lensed));
    await runCommand(page, 'View: Close Primary Side Bar');
    await runCommand(page, 'Attention Lens: Open Trace...');
    await answerOpenDialog(page, file);
    await page.locator('.tab', { hasText: 'lens.attn.safetensors' }).first().waitFor({ timeout: 20_000 });
    const editor = page.frameLocator('iframe.webview.ready:visible').frameLocator('#active-frame');
    await editor.locator(`.views canvas#heatmap[data-drawn="${T}x${T}"]`).waitFor({ timeout: 30_000 });
    const label = editor.locator('.views .heatmap-rows .token-label').nth(4);
    const index = Number(await label.getAttribute('data-index'));
    await label.hover();
    await editor.locator('.views .tooltip:not([hidden])').waitFor({ timeout: 5_000 });
    const lines = await tooltipLines(editor);
    const items = parseItems(lines.get('lens') ?? '');
    const layers = [...lens].sort((a, b) => a.layer - b.layer);
    assert.deepEqual(items.map(([text]) => text), layers.map((layer) => `L${layer.layer} ${shown(layer.top[index][0].text, layer.top[index][0].id)}`), `row ${index}'s lens`);
    items.forEach(([, percent], i) => assert.ok(Math.abs(percent - layers[i].top[index][0].prob * 100) <= 0.52, `L${i}: ${percent}%`));
    // The last layer's lens is the prediction.
    assertTopK(lines.get('next'), lensed.predictions![0].top[index], `row ${index} in the trace file`);
    assert.equal(items[items.length - 1][0].split(' ').slice(1).join(' '), shown(lensed.predictions![0].top[index][0].text, lensed.predictions![0].top[index][0].id));
  });

  /** The side bar's picture, kept in .artifacts/ui/ and, for README, in docs/images/. */
  async function screenshotSideBar(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    const file = await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 860) } : undefined);
    copyFileSync(file, path.join(uiSession().extensionPath, 'docs', 'images', `${name}.png`));
  }
});
