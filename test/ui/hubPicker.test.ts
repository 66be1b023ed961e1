/**
 * A Hugging Face model chosen the way a user does it: "Attention Lens: Select Model..." →
 * "Hugging Face model..." → the name typed into the second quick pick, from a Hub server started
 * here on 127.0.0.1 (test/support/hubServer.ts with the repositories of hubRepos.ts). Explaining a
 * selection then downloads it into the private HOME's Hugging Face cache of this code-server and
 * the panel draws its heatmap, with the model and its revision (`lens-test/bert-toy@main`) in the
 * panel's header and in the status bar.
 *
 * `attentionLens.hub.endpoint` goes into the user settings file the runner wrote
 * (`<user-data-dir>/User/settings.json`) before the window opens, and comes out again afterwards.
 * The setting is machine-scoped; code-server applies it from there (the test checks that the Hub
 * server here was asked, so a run that went elsewhere, or found the model in a cache, fails).
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { type HubServer, startHubServer } from '../support/hubServer';
import { testRepos } from '../support/hubRepos';
import { uiSession } from '../runner/session';
import { openFile, pickQuickItem, runCommand, screenshot, selectFirstLine, webviewFrame } from '../runner/vscodeUi';
import { openWorkbench } from '../runner/workbench';

const REPO = 'lens-test/bert-toy';
/** What the header and the status bar show: the repository at the revision it ran. */
const SHOWN = `${REPO}@main`;
const HUB_ITEM = 'Hugging Face model...';
/** BERT's pieces, labelled as the text was written ("The cat sat on the mat."). */
const TOKENS = ['[CLS]', 'The', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]'];

/** The user settings file of this code-server (test/runner/codeServer.ts writes it). */
function userSettingsFile(): string {
  return path.join(uiSession().server.stateDir, 'user-data', 'User', 'settings.json');
}

/** Sets one user setting; returns the file's earlier text (null: there was no file). */
function writeUserSetting(key: string, value: string): string | null {
  const file = userSettingsFile();
  const before = existsSync(file) ? readFileSync(file, 'utf8') : null;
  const settings = { ...(before?.trim() ? JSON.parse(before) as Record<string, unknown> : {}), [key]: value };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(settings, null, 2));
  return before;
}

describe('a Hugging Face model picked through "Select Model..."', function () {
  this.timeout(180_000);
  let page: Page;
  let frame: FrameLocator;
  let hub: HubServer;
  let earlierUserSettings: string | null = null;
  let settingWritten = false;

  /** The status bar entry of the extension (its text: "$(eye) MODEL · BACKEND"). */
  function statusBarModel(text: string) {
    return page.locator('.statusbar-item', { hasText: text }).filter({ has: page.locator('.codicon-eye') }).first();
  }

  before(async () => {
    const session = uiSession();
    // test/runner/codeServer.ts keeps HF_* out of the extension host, so the cache is the run's private HOME's.
    hub = await startHubServer(testRepos());
    assert.match(hub.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    earlierUserSettings = writeUserSetting('attentionLens.hub.endpoint', hub.endpoint);
    settingWritten = true;
    page = await session.browser.newPage({ viewport: { width: 1500, height: 950 } });
    await openWorkbench(page, session.server, { folder: session.workspace, extensionPath: session.extensionPath });
    frame = webviewFrame(page);
    // The palette lists the commands the extensions had when it opened: wait for this one to be active.
    await statusBarModel('').waitFor({ state: 'visible', timeout: 60_000 });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await screenshot(page, `FAILED hub-picker ${this.currentTest.title}`);
  });

  after(async () => {
    // The pick is kept per workspace: the suites after this one expect the default model.
    if (page) {
      await runCommand(page, 'Attention Lens: Select Model...').catch(() => undefined);
      await pickQuickItem(page, 'builtin:trained-decoder').catch(() => undefined);
      await statusBarModel('trained-decoder').waitFor({ timeout: 30_000 }).catch(() => undefined);
      await page.close();
    }
    if (settingWritten) {
      if (earlierUserSettings === null) rmSync(userSettingsFile(), { force: true });
      else writeFileSync(userSettingsFile(), earlierUserSettings);
    }
    await hub?.close();
  });

  it(`offers "${HUB_ITEM}" and takes a typed name`, async () => {
    await runCommand(page, 'Attention Lens: Select Model...');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Attention Lens: Select Model' }).waitFor({ state: 'visible' });
    await pickQuickItem(page, HUB_ITEM);
    // The second quick pick: recent names and suggestions, and a row for the name typed.
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Attention Lens: Hugging Face model' }).waitFor({ state: 'visible', timeout: 20_000 });
    const input = page.locator('.quick-input-widget input').filter({ visible: true }).first();
    await input.fill(REPO);
    // Enter before the extension answered the typed value accepts no row.
    const typedRow = page.locator('.quick-input-list .monaco-list-row', { hasText: 'download (or open from the cache)' }).first();
    await typedRow.waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal((await typedRow.locator('.label-name').first().innerText()).trim(), REPO);
    await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: REPO }).waitFor({ state: 'visible', timeout: 10_000 });
    await screenshot(page, 'hub-picker-name');
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 20_000 });
    // The pick is the model now.
    await statusBarModel(REPO).waitFor({ state: 'visible', timeout: 20_000 });
  });

  it('explaining a selection fetches it from the Hub server and draws its heatmap, named with its revision', async () => {
    await openFile(page, 'sample.txt');
    await selectFirstLine(page);
    await runCommand(page, 'Attention Lens: Explain Attention');
    const done = frame.locator('main#app[data-state="trace"], main#app[data-state="error"]');
    await done.waitFor({ timeout: 120_000 });
    assert.equal(await frame.locator('main#app').getAttribute('data-state'), 'trace', await frame.locator('#status').innerText().catch(() => ''));
    await frame.locator('h1', { hasText: SHOWN }).waitFor({ timeout: 30_000 });
    assert.equal((await frame.locator('h1').innerText()).trim(), SHOWN);
    await frame.locator(`canvas#heatmap[data-drawn="${TOKENS.length}x${TOKENS.length}"]`).waitFor({ state: 'visible', timeout: 60_000 });

    // Painted: the canvas holds opaque pixels of several colours (a blank or one-colour canvas fails).
    const pixels = await frame.locator('canvas#heatmap').evaluate((node) => {
      const canvas = node as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Set<number>();
      let opaque = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] === 0) continue;
        opaque += 1;
        colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      }
      return { total: canvas.width * canvas.height, opaque, colours: colours.size };
    });
    assert.ok(pixels.total > 0 && pixels.opaque / pixels.total > 0.5, `opaque pixels: ${pixels.opaque} of ${pixels.total}`);
    assert.ok(pixels.colours >= 4, `only ${pixels.colours} colours in the heatmap`);

    // The repository's own tokenizer labelled the axes.
    const columns = await frame.locator('.heatmap-cols .token-label').evaluateAll((nodes) => nodes.map((node) => [Number(node.getAttribute('data-index')), node.getAttribute('title')] as const));
    assert.ok(columns.length >= 3, `only ${columns.length} column labels`);
    for (const [index, title] of columns) assert.equal(title, TOKENS[index], `column ${index}`);

    // The status bar names the model at its revision, and the backend that ran it.
    const status = statusBarModel(SHOWN);
    await status.waitFor({ state: 'visible', timeout: 20_000 });
    assert.match((await status.innerText()).trim(), new RegExp(`^${SHOWN.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} · \\w+`));

    // It came from this server (not from a cache or another endpoint), into the private cache.
    const asked = hub.requests.filter((request) => request.server === 'hub' && request.path.startsWith(`/${REPO}/resolve/main/`));
    assert.ok(asked.length > 0, `the Hub server was not asked for ${REPO}: ${hub.requests.map((request) => request.path).join(', ') || 'no requests'}`);
    const cached = path.join(uiSession().server.stateDir, 'home', '.cache', 'huggingface', 'hub', `models--${REPO.replace('/', '--')}`);
    assert.ok(existsSync(cached), `${cached} was not written`);
    await frame.locator('canvas#heatmap').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await screenshot(page, 'hub-picker-heatmap');
  });
});
