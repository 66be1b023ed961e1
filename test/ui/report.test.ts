/**
 * The self-contained HTML report (`--html`): it opens in a browser with every network request
 * refused and shows the heatmap of the trace it carries.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { uiSession } from '../runner/session';

describe('the HTML report', function () {
  this.timeout(120_000);

  it('opens offline in Chromium and shows the heatmap', async () => {
    const session = uiSession();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'al-report-')), 'report.html');
    execFileSync(process.execPath, [path.join(session.extensionPath, 'dist/cli.js'), '--model', 'builtin:tiny-encdec', '--html', file, 'The cat sat on the mat.'], { stdio: 'pipe' });
    const html = readFileSync(file, 'utf8');
    assert.doesNotMatch(html, /(src|href)=["']https?:/, 'no remote resources');

    const context = await session.browser.newContext({ offline: true });
    const requests: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (!url.startsWith('file:') && !url.startsWith('data:')) requests.push(url);
      return url.startsWith('file:') ? route.continue() : route.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    try {
      await page.goto(pathToFileURL(file).href);
      await page.locator('main#app[data-state="trace"]').waitFor({ timeout: 30_000 });
      await page.locator('canvas#heatmap[data-drawn="23x23"]').waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('h1').first().textContent(), 'builtin:tiny-encdec');
      assert.deepEqual(requests, [], 'the report asked the network for something');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
