// Renders media/icon.svg (the activity-bar icon, grey cells) as media/icon.png, the extension's
// icon on its page and in the Extensions view: vsce refuses SVG icons. The cells take the top colour
// of the panel's default viridis map over a dark tile, fading with their opacity as the heatmap's
// weights fade into the background. Uses Debian's chromium through playwright-core, as the UI tests
// do. Usage: node scripts/make-icon.mjs [out.png]   (default media/icon.png)
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

const ICON_SIZE = 128;
const root = path.resolve(import.meta.dirname, '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'media/icon.png'));
const svg = readFileSync(path.join(root, 'media/icon.svg'), 'utf8');

const html = `<!DOCTYPE html><html><head><style>
  html, body { margin: 0; background: transparent; }
  #icon { width: ${ICON_SIZE}px; height: ${ICON_SIZE}px; box-sizing: border-box; padding: 12px; border-radius: 20px; background: #1b1b2a; }
  #icon svg { display: block; width: 100%; height: 100%; }
  /* CSS outranks the SVG's fill attribute, so the file itself stays the grey activity-bar icon. */
  #icon svg g { fill: #fde725; }
</style></head><body><div id="icon">${svg}</div></body></html>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: ICON_SIZE * 2, height: ICON_SIZE * 2 }, deviceScaleFactor: 1 });
  await page.setContent(html);
  // omitBackground: the corners outside the rounded tile stay transparent.
  await page.locator('#icon').screenshot({ path: out, omitBackground: true });
  console.log(`${path.relative(root, out)}: ${ICON_SIZE}x${ICON_SIZE} PNG`);
} finally {
  await browser.close();
}
