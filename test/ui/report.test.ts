/**
 * The self-contained HTML report (`--html`): it opens in a browser with every network request
 * refused, shows the heatmap of the trace it carries, draws no control that needs VS Code, and
 * each export is a download with the right content.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { uiSession } from '../runner/session';

const TEXT = 'The cat sat on the mat.';

/** A context with no network: file: and data: load, blob: (the downloads) is in-page, anything else is refused and noted. */
async function offlineContext(requests: string[]): Promise<BrowserContext> {
  const context = await uiSession().browser.newContext({ offline: true, acceptDownloads: true });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    const local = url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:');
    if (!local) requests.push(url);
    return local ? route.continue() : route.abort();
  });
  // Test instrumentation, not part of the page: each Blob URL made, with its type and size, so a
  // download's content type can be checked (the page's CSP would refuse a fetch of it).
  await context.addInitScript(() => {
    const made: Array<{ type: string; size: number }> = [];
    (window as unknown as { madeBlobs: typeof made }).madeBlobs = made;
    const original = URL.createObjectURL.bind(URL);
    URL.createObjectURL = (object: Blob | MediaSource) => {
      if (object instanceof Blob) made.push({ type: object.type, size: object.size });
      return original(object);
    };
  });
  return context;
}

function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

async function openReport(page: Page, file: string): Promise<void> {
  await page.goto(pathToFileURL(file).href);
  await page.locator('main#app[data-state="trace"]').waitFor({ timeout: 30_000 });
  await page.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ timeout: 30_000 });
}

describe('the HTML report', function () {
  this.timeout(120_000);

  const folder = mkdtempSync(path.join(tmpdir(), 'al-report-'));
  const file = path.join(folder, 'report.html');
  const jsonFile = path.join(folder, 'trace.json');

  before(() => {
    // One run, written both ways: the report's JSON download must be this file's trace.
    execFileSync(process.execPath, [path.join(uiSession().extensionPath, 'dist/cli.js'), '--model', 'builtin:tiny-encdec', '--html', file, '--json', jsonFile, TEXT], { stdio: 'pipe' });
  });

  it('opens offline in Chromium and shows the heatmap, without controls that need VS Code', async () => {
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /(src|href)=["']https?:/, 'no remote resources');
    const requests: string[] = [];
    const context = await offlineContext(requests);
    const page = await context.newPage();
    const errors = watchErrors(page);
    try {
      await openReport(page, file);
      assert.equal(await page.locator('h1').first().textContent(), 'builtin:tiny-encdec');
      assert.equal(await page.locator('#select-model').isVisible(), false, 'Select Model… is drawn');
      for (const label of ['Select Model…', 'Explain Selection', 'Show Output']) {
        const buttons = page.locator('button').filter({ hasText: label });
        assert.ok(await buttons.count() > 0, `the panel has no ${label} button at all`);
        assert.equal(await buttons.filter({ visible: true }).count(), 0, `${label} is drawn`);
      }
      await page.locator('#tab-stats').click();
      await page.locator('#stats-table tbody tr').first().waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('#measure-induction').isVisible(), false, 'Measure induction is drawn');
      await page.locator('#tab-rollout').click();
      assert.doesNotMatch(await page.locator('#rollout .view-hint').first().innerText(), /editor/, 'the rollout hint promises editor highlights');
      for (const id of ['png', 'svg', 'json', 'csv', 'html']) assert.ok(await page.locator(`#export-${id}`).isVisible(), `export ${id} is not drawn`);
      assert.deepEqual(requests, [], 'the report asked the network for something');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('downloads each export: PNG, SVG, JSON (the CLI\'s trace), CSV and HTML (a copy that opens)', async () => {
    const requests: string[] = [];
    const context = await offlineContext(requests);
    const page = await context.newPage();
    const errors = watchErrors(page);
    const exported = new Map<string, { name: string; type: string; bytes: Buffer }>();
    try {
      await openReport(page, file);
      for (const id of ['png', 'svg', 'json', 'csv', 'html']) {
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), page.locator(`#export-${id}`).click()]);
        const saved = path.join(folder, `download.${id}`);
        await download.saveAs(saved);
        const blobs = await page.evaluate(() => (window as unknown as { madeBlobs: Array<{ type: string; size: number }> }).madeBlobs);
        const bytes = readFileSync(saved);
        const blob = blobs[blobs.length - 1];
        assert.equal(blob.size, bytes.length, `${id}: the download is the Blob`);
        exported.set(id, { name: download.suggestedFilename(), type: blob.type, bytes });
      }
      const png = exported.get('png')!;
      assert.equal(png.type, 'image/png');
      assert.match(png.name, /\.png$/);
      assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
      assert.ok(png.bytes.length > 1000, `PNG of ${png.bytes.length} bytes`);

      const svg = exported.get('svg')!;
      assert.equal(svg.type, 'image/svg+xml');
      assert.match(svg.name, /\.svg$/);
      assert.match(svg.bytes.toString('utf8'), /^\s*<svg[\s\S]*<\/svg>\s*$/);

      const json = exported.get('json')!;
      assert.equal(json.type, 'application/json');
      assert.equal(json.name, 'tiny-encdec-attention.json');
      assert.deepEqual(JSON.parse(json.bytes.toString('utf8')), JSON.parse(readFileSync(jsonFile, 'utf8')), 'the JSON download is the trace the CLI wrote');

      const csv = exported.get('csv')!;
      assert.equal(csv.type, 'text/csv');
      assert.equal(csv.name, 'tiny-encdec-attention.csv');
      const lines = csv.bytes.toString('utf8').trimEnd().split('\r\n');
      const trace = JSON.parse(readFileSync(jsonFile, 'utf8')) as { blocks: Array<{ heads: number; queries: number; keys: number; probs: number[] }> };
      assert.equal(lines[0], 'block,layer,kind,head,query,key,query_token,key_token,weight,allowed');
      assert.equal(lines.length - 1, trace.blocks.reduce((sum, b) => sum + b.heads * b.queries * b.keys, 0), 'one row per block, head, query and key');
      assert.equal(Number(lines[1].split(',')[8]), trace.blocks[0].probs[0]);

      const html = exported.get('html')!;
      assert.equal(html.type, 'text/html');
      assert.equal(html.name, 'tiny-encdec-report.html');
      assert.match(html.bytes.toString('utf8'), /^<!DOCTYPE html>/);
      assert.deepEqual(requests, []);
      assert.deepEqual(errors, []);

      // The copy is a report in its own right: it opens offline and shows the same trace.
      const copy = await context.newPage();
      const copyErrors = watchErrors(copy);
      await openReport(copy, path.join(folder, 'download.html'));
      assert.equal(await copy.locator('h1').first().textContent(), 'builtin:tiny-encdec');
      assert.equal(await copy.locator('#select-model').isVisible(), false);
      assert.deepEqual(copyErrors, []);
    } finally {
      await context.close();
    }
  });
});
