/**
 * Head ablation as a user meets it in the real VS Code (issue 23): on a 128-token repeated line and
 * the trained default model, right-click the previous-token head (layer 0 head 3) in the Overview
 * → "Ablate Head"; the Ablation tab opens with the head listed, the mean KL, a bar per position
 * and the later blocks' changes; the time from the click to that view drawn is measured (the
 * speed target: 300 ms); removing the head runs the text plainly and the tab goes. Screenshots of
 * the view in both themes go to .artifacts/ui/ and docs/images/ (ablation-{dark,light}.png, README's).
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { uiSession } from '../runner/session';
import { openFile, screenshot, selectFirstLine, selectModel, setThemeKind, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

/** 128 characters: 128 byte tokens for the default model, a line that repeats itself. */
const LENGTH = 128;
const LINE = 'The quick zebra juggles seven violet kites; the quick zebra juggles seven violet kites. '.repeat(2).slice(0, LENGTH);

describe('head ablation in the panel', function () {
  this.timeout(240_000);
  let page: Page;
  let frame: FrameLocator;

  /** The side bar's picture, kept in .artifacts/ui/ and, for README, in docs/images/. */
  async function sideBarShot(name: string): Promise<void> {
    const box = await page.locator('.part.sidebar').boundingBox();
    const file = await screenshot(page, name, box ? { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 900) } : undefined);
    copyFileSync(file, path.join(uiSession().extensionPath, 'docs', 'images', `${name}.png`));
  }

  before(async () => {
    const session = uiSession();
    writeFileSync(path.join(session.workspace, 'ablation.txt'), `${LINE}\n`);
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    await openFile(page, 'ablation.txt');
    await selectModel(page, 'builtin:trained-decoder');
    await openFile(page, 'ablation.txt');
    await selectFirstLine(page);
    await page.keyboard.press('Control+Alt+A');
    await frame.locator('h1', { hasText: 'builtin:trained-decoder' }).waitFor({ timeout: 60_000 });
    await frame.locator(`canvas#heatmap[data-drawn="${LENGTH}x${LENGTH}"]`).waitFor({ state: 'visible', timeout: 60_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED ablation ${this.currentTest.title}`);
  });

  after(async () => {
    await setThemeKind(page, 'dark').catch(() => undefined);
    await page?.close();
  });

  it('right-click a head in the Overview → Ablate Head shows what changed: the head listed, the KL per position, the later blocks', async () => {
    assert.equal(await frame.locator('#view-tabs button[data-view="ablation"]').isVisible(), false, 'no Ablation tab before a head is ablated');
    await frame.locator('#view-tabs button[data-view="overview"]').click();
    const cell = frame.locator('.overview-cell[data-block-index="0"][data-head="3"]');
    await cell.waitFor();
    await frame.locator('.overview-cell[data-block-index="0"][data-drawn]').first().waitFor({ timeout: 30_000 });
    await cell.click({ button: 'right' });
    const ablate = frame.locator('#ablation-menu-ablate');
    await ablate.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await ablate.innerText(), 'Ablate Head');
    // Times from the click to the Ablation view drawn with the new run's result, on the page's clock.
    await frame.locator('body').evaluate(() => {
      const view = document.getElementById('ablation');
      if (!view) throw new Error('no #ablation');
      const state = window as unknown as { ablationShownAt?: number; ablationClickAt?: number };
      delete state.ablationShownAt;
      const observer = new MutationObserver(() => {
        if (view.dataset.runId && !view.hidden && document.getElementById('ablation-kl-chart')?.dataset.drawn) {
          state.ablationShownAt = performance.now();
          observer.disconnect();
        }
      });
      observer.observe(view, { attributes: true, subtree: true, attributeFilter: ['data-run-id', 'data-drawn', 'hidden'] });
      document.getElementById('ablation-menu-ablate')?.addEventListener('click', () => {
        state.ablationClickAt = performance.now();
      }, { capture: true, once: true });
    });
    await ablate.click();
    const view = frame.locator('#ablation');
    await view.locator('.ablation-head[data-layer="0"][data-head="3"]').waitFor({ state: 'visible', timeout: 60_000 });
    await view.locator(`canvas#ablation-kl-chart[data-drawn="${LENGTH}"]`).waitFor({ state: 'visible', timeout: 30_000 });
    const ms = await frame.locator('body').evaluate(() => {
      const state = window as unknown as { ablationShownAt?: number; ablationClickAt?: number };
      return state.ablationShownAt !== undefined && state.ablationClickAt !== undefined ? state.ablationShownAt - state.ablationClickAt : -1;
    });
    console.log(`      ablation rerun of builtin:trained-decoder on ${LENGTH} tokens: click → Ablation view drawn ${ms.toFixed(0)} ms (target 300 ms; the machine is shared)`);
    assert.ok(ms > 0, 'the view was timed');
    assert.equal(await frame.locator('#view-tabs button[data-view="ablation"]').getAttribute('aria-selected'), 'true', 'the result opens the Ablation tab');
    assert.equal(await view.locator('.ablation-head').count(), 1);
    const summary = await view.locator('#ablation-summary').innerText();
    const mean = Number(/Mean KL over 128 positions: ([\d.e-]+) bits/.exec(summary)?.[1]);
    assert.ok(mean > 0.01, `mean KL shown: ${summary}`);
    // The later blocks (layers 1 and 2 of the three), each with a cell per head; a click opens one in the heatmap.
    assert.deepEqual(await view.locator('#ablation-blocks tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-block-index'))), ['1', '2']);
    assert.equal(await view.locator('#ablation-blocks tbody tr[data-block-index="1"] td.ablation-delta').count(), 4);
    assert.ok(await view.locator('#ablation-changed tbody tr').count() > 0);
    // The ablated head is outlined in the Overview.
    assert.equal(await cell.getAttribute('data-ablated'), '');

    await setThemeKind(page, 'dark');
    await frame.locator('body.vscode-dark').waitFor();
    await page.waitForTimeout(600);
    await sideBarShot('ablation-dark');
    await setThemeKind(page, 'light');
    await frame.locator('body.vscode-light').waitFor();
    await page.waitForTimeout(600);
    await sideBarShot('ablation-light');
    await setThemeKind(page, 'dark');
    await frame.locator('body.vscode-dark').waitFor();

    await view.locator('#ablation-blocks tbody tr[data-block-index="1"] td.ablation-delta').nth(0).click();
    await frame.locator('canvas#heatmap[data-layer="1"][data-head="0"]').waitFor({ timeout: 30_000 });
  });

  it('the menu is reachable from the keyboard, and removing the head runs the text plainly', async () => {
    await frame.locator('#view-tabs button[data-view="overview"]').click();
    const cell = frame.locator('.overview-cell[data-block-index="0"][data-head="3"]');
    await cell.focus();
    await page.keyboard.press('Shift+F10');
    const stop = frame.locator('#ablation-menu-remove');
    await stop.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await stop.innerText(), 'Stop Ablating Head', 'an ablated head offers to stop');
    await page.keyboard.press('Escape');
    await stop.waitFor({ state: 'detached' });

    await frame.locator('#view-tabs button[data-view="ablation"]').click();
    await frame.locator('#ablation .ablation-remove').click();
    // The plain run drops the tab and goes back to the Overview, the head no longer outlined.
    await frame.locator('#view-tabs button[data-view="ablation"]').waitFor({ state: 'hidden', timeout: 60_000 });
    await frame.locator('.overview-cell[data-block-index="0"][data-head="3"]:not([data-ablated])').waitFor({ timeout: 10_000 });
    assert.equal(await frame.locator('#view-tabs button[data-view="overview"]').getAttribute('aria-selected'), 'true');
  });
});
