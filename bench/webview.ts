/**
 * The webview's drawing speed in headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core), on real traces from the engine, with the panel's real script, stylesheet and
 * Content-Security-Policy. Results go to bench/results/webview-<date>-<host>.json.
 *
 *   node scripts/build.mjs && node --import tsx bench/webview.ts
 *
 *   heatmap    one 1024×1024 block (builtin:tiny-decoder, 1024 characters, maxTokens 1024; 3 layers ×
 *              4 heads, causal) drawn one pixel per cell: canvas#heatmap's data-render-ms, the time
 *              from the blockData message's arrival to the end of drawing (target < 16 ms). Each page
 *              load times its first block (cold: nothing compiled yet) and then steps to the next
 *              two layers (warm); the figure is the median over all of them, with the cold and warm
 *              medians beside it, for the mean of heads (the default view) and for head 0. Chromium
 *              records canvas drawing and rasterises it later; rasterMs is a 1-pixel read-back right
 *              after the message (it forces the pending raster), withRasterMs the sum.
 *   zoom       one zoom step of a 2048×2048 block (builtin:tiny-decoder, 2048 characters, maxTokens
 *              2048) with its data present: wheel events over the heatmap (one 100 px notch each,
 *              about the point at 40%/35% of the view) from Fit to the largest cell and back; each
 *              step's frame (canvas#heatmap's data-frame-ms: the visible window drawn from the weights,
 *              its overlays, labels, minimap and toolbar) and that frame plus a 1-pixel read-back (the
 *              raster), median and p95 over all steps of all page loads, at device pixel ratios 1
 *              and 2 (target < 16 ms: 60 fps).
 *   overview   the 144-cell overview (builtin:gpt2-shape, 12 layers × 12 heads, 512 tokens; the real
 *              forward pass, about 40 s on a small VM) on a viewport tall enough for the whole grid:
 *              #overview's data-render-ms, from its first block request to the last thumbnail drawn
 *              (target < 300 ms), and fromClickMs, from the click on the Overview tab.
 *
 * The page is the panel's own (src/shared/panelPage.ts), served by a local HTTP server, with the
 * panel's CSP plus `connect-src` for that server: the bench's stand-in host fetches the trace as one
 * binary file (src/shared/traceBinary.ts) where VS Code would post each block, and answers block
 * requests with the hosts' block server (src/shared/blockServer.ts): each block's probabilities,
 * mask and mean of heads as Float32Array/Uint8Array views, delivered as a MessageEvent on window
 * (as VS Code's own relay does).
 *
 * `runWebviewBench()` is exported for bench/run.ts; run directly, this file runs it and prints a
 * line per figure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { machineFacts } from './machine';
import * as esbuild from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { chromiumPath, launchBrowser } from '../test/runner/browser';
import { ExplainEngine } from '../src/engine/explain';
import { BROWSER_THEME_CSS, buildPanelPage } from '../src/shared/panelPage';
import { encodeTrace } from '../src/shared/traceBinary';

const root = path.resolve(__dirname, '..');

export const HEATMAP_TARGET_MS = 16;
export const OVERVIEW_TARGET_MS = 300;
export const ZOOM_TARGET_MS = 16;


export interface WebviewBenchOptions {
  /** Page loads per heatmap view (each times 3 blocks: the cold first one and 2 warm). Default 5. */
  heatmapPages?: number;
  /** Page loads of the overview. Default 5. */
  overviewPages?: number;
  /** Write bench/results/webview-<date>-<host>.json. Default true. */
  write?: boolean;
  /** Print a line per figure. Default true. */
  log?: boolean;
  /** Page loads per device pixel ratio for the zoom steps. Default 3. */
  zoomPages?: number;
  /** Measure only one of the figures (the overview's trace alone takes ~40 s to make). */
  only?: 'heatmap' | 'overview' | 'zoom';
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const round = (value: number): number => Math.round(value * 100) / 100;

/** The value below which `share` of the sorted values lie (nearest rank). */
function percentile(values: number[], share: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))];
}


/** Text of exactly `length` characters (one byte token each with the built-in byte tokenizer). */
function textOf(length: number): string {
  const base = 'The quick brown fox jumps over the lazy dog while attention heads watch every token closely. ';
  return base.repeat(Math.ceil(length / base.length)).slice(0, length);
}

// ---- the page -----------------------------------------------------------------------------------

/**
 * The stand-in host: answers the panel's protocol from a trace fetched as one binary file, with
 * the block server every host uses (src/shared/blockServer.ts): the same replies as VS Code's,
 * the mean of heads included, handed over in the page as views (VS Code copies them in the
 * extension host, off the webview's thread; a copy here would be timed as the page's work).
 */
const HOST_SOURCE = `
import { answerBlockRequest, singleRun, traceLoadedMessage } from './src/shared/blockServer';
import { parseFromWebview } from './src/shared/protocol';
import { decodeTrace } from './src/shared/traceBinary';

const RUN_ID = 1;
const params = new URLSearchParams(location.search);
document.body.classList.add('vscode-dark');
const stats = { handlerMs: {}, rasterMs: {} };
window.__bench = stats;
const tracePromise = fetch('/data/' + params.get('trace') + '.bin')
  .then((response) => response.arrayBuffer())
  .then((buffer) => decodeTrace(new Uint8Array(buffer)));
let state;

function deliver(message, after) {
  // Asynchronously, as VS Code does: the page finishes its own work first.
  setTimeout(() => {
    const start = performance.now();
    window.dispatchEvent(new MessageEvent('message', { data: message }));
    const end = performance.now();
    if (after) after(start, end);
  }, 0);
}

window.acquireVsCodeApi = () => ({
  postMessage(raw) {
    const message = parseFromWebview(raw);
    if (message?.type === 'ready') {
      tracePromise.then((trace) => {
        deliver({ type: 'configure', colorMap: 'viridis', defaultView: params.get('view') === 'head0' ? 'head0' : 'mean' });
        deliver(traceLoadedMessage(RUN_ID, trace).message);
      });
    } else if (message?.type === 'requestBlock') {
      tracePromise.then((trace) => {
        const answer = answerBlockRequest(singleRun(RUN_ID, trace), message, 'in-page');
        if (answer.kind !== 'reply') return;
        deliver(answer.message, (start, end) => {
          stats.handlerMs[message.blockIndex] = end - start;
          // Canvas drawing is recorded and rasterised later; a 1-pixel read-back forces that now.
          const canvas = document.getElementById('heatmap');
          if (canvas && canvas.dataset.drawn && params.get('raster') === '1') {
            const t = performance.now();
            canvas.getContext('2d').getImageData(0, 0, 1, 1);
            stats.rasterMs[message.blockIndex] = performance.now() - t;
          }
        });
      });
    }
  },
  getState: () => state,
  setState: (next) => { state = next; },
});
`;

/** The panel's page (src/shared/panelPage.ts, as VS Code's), with the bench host's script first. */
function panelHtml(origin: string): string {
  return buildPanelPage({
    nonce: randomBytes(18).toString('base64'),
    assets: {
      kind: 'served',
      origin,
      stylesheetUris: [`${origin}/theme.css`, `${origin}/media/panel.css`],
      scriptUris: [`${origin}/bench-host.js`, `${origin}/dist/webview.js`],
    },
    // Only the bench's host needs this (VS Code posts the blocks instead).
    connectOrigin: origin,
  });
}

async function serve(files: Map<string, { body: Uint8Array | string; type: string }>): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const origin = `http://${request.headers.host}`;
    if (url.pathname === '/panel.html') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(panelHtml(origin));
      return;
    }
    const file = files.get(url.pathname);
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    response.end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ---- measurements --------------------------------------------------------------------------------

function watchErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
}

interface HeatmapSample {
  block: number;
  cold: boolean;
  renderMs: number;
  rasterMs: number;
  canvas: string;
}

async function heatmapPage(browser: Browser, origin: string, view: 'mean' | 'head0', errors: string[]): Promise<HeatmapSample[]> {
  // 1400 CSS px wide at DPR 1: 1024 keys get 1 device pixel per cell (the panel's densest case).
  const context = await browser.newContext({ viewport: { width: 1400, height: 1100 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watchErrors(page, errors);
  const samples: HeatmapSample[] = [];
  try {
    await page.goto(`${origin}/panel.html?trace=decoder1024&view=${view}&raster=1`);
    for (let block = 0; block < 3; block++) {
      if (block > 0) await page.click('#next-layer');
      const canvas = page.locator(`canvas#heatmap[data-render-block="${block}"][data-render-ms]`);
      await canvas.waitFor({ state: 'attached', timeout: 60_000 });
      const renderMs = Number(await canvas.getAttribute('data-render-ms'));
      const facts = await page.evaluate((index) => {
        const element = document.getElementById('heatmap') as HTMLCanvasElement;
        const stats = (window as unknown as { __bench: { rasterMs: Record<number, number> } }).__bench;
        return { raster: stats.rasterMs[index] ?? NaN, canvas: `${element.width}x${element.height}` };
      }, block);
      samples.push({ block, cold: block === 0, renderMs, rasterMs: facts.raster, canvas: facts.canvas });
    }
  } finally {
    await context.close();
  }
  return samples;
}

interface OverviewSample {
  renderMs: number;
  fromClickMs: number;
  cells: number;
}

async function overviewPage(browser: Browser, origin: string, errors: string[]): Promise<OverviewSample> {
  // Tall enough that all 12 layer rows are in view (the grid scrolls within 80vh).
  const context = await browser.newContext({ viewport: { width: 1400, height: 2200 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  watchErrors(page, errors);
  try {
    await page.goto(`${origin}/panel.html?trace=gpt2-512&view=mean`);
    // The heatmap's first block first, so the overview starts from a settled page.
    await page.locator('canvas#heatmap[data-render-ms]').waitFor({ state: 'attached', timeout: 120_000 });
    await page.waitForTimeout(200);
    const fromClickMs = await page.evaluate(() => new Promise<number>((resolve) => {
      const overview = document.getElementById('overview') as HTMLElement;
      const start = performance.now();
      const observer = new MutationObserver(() => {
        if (overview.dataset.renderMs === undefined) return;
        observer.disconnect();
        resolve(performance.now() - start);
      });
      observer.observe(overview, { attributes: true, attributeFilter: ['data-render-ms'] });
      (document.getElementById('tab-overview') as HTMLElement).click();
    }));
    const overview = page.locator('#overview[data-render-ms]');
    const renderMs = Number(await overview.getAttribute('data-render-ms'));
    const cells = Number(await overview.getAttribute('data-render-cells'));
    const drawn = await page.locator('.overview-cell[data-drawn]').count();
    if (drawn !== cells) throw new Error(`overview: ${drawn} thumbnails drawn but data-render-cells says ${cells}`);
    return { renderMs, fromClickMs, cells };
  } finally {
    await context.close();
  }
}

interface ZoomSample {
  direction: 'in' | 'out';
  /** CSS px per cell after the step. */
  cell: number;
  frameMs: number;
  rasterMs: number;
}

async function zoomPage(browser: Browser, origin: string, deviceScaleFactor: number, errors: string[]): Promise<{ samples: ZoomSample[]; canvas: string }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1100 }, deviceScaleFactor });
  const page = await context.newPage();
  watchErrors(page, errors);
  try {
    await page.goto(`${origin}/panel.html?trace=decoder2048&view=mean`);
    await page.locator('canvas#heatmap[data-drawn="2048x2048"]').waitFor({ state: 'attached', timeout: 120_000 });
    await page.waitForTimeout(300);
    // In the page, so each step is timed without a round trip: a wheel notch, then the animation
    // frame the view draws in (this callback is queued after the view's, in the same frame).
    return await page.evaluate(async () => {
      const canvas = document.getElementById('heatmap') as HTMLCanvasElement;
      const box = canvas.parentElement as HTMLElement;
      const rect = canvas.getBoundingClientRect();
      const samples: Array<{ direction: 'in' | 'out'; cell: number; frameMs: number; rasterMs: number }> = [];
      for (const direction of ['in', 'out'] as const) {
        for (let step = 0; step < 80; step++) {
          const before = canvas.dataset.frames;
          box.dispatchEvent(new WheelEvent('wheel', {
            deltaY: direction === 'in' ? -100 : 100, clientX: rect.left + rect.width * 0.4, clientY: rect.top + rect.height * 0.35, bubbles: true, cancelable: true,
          }));
          await new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
          if (canvas.dataset.frames === before) break; // at the limit: the step changed nothing
          const frameMs = Number(canvas.dataset.frameMs);
          const start = performance.now();
          (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, 1, 1);
          samples.push({ direction, cell: Number(canvas.dataset.cell), frameMs, rasterMs: performance.now() - start });
        }
      }
      return { samples, canvas: `${canvas.width}x${canvas.height}` };
    });
  } finally {
    await context.close();
  }
}

function zoomSummary(samples: ZoomSample[], canvas: string): Record<string, unknown> {
  const frames = samples.map((s) => s.frameMs);
  const withRaster = samples.map((s) => s.frameMs + s.rasterMs);
  return {
    steps: samples.length,
    canvas,
    medianMs: round(median(frames)),
    p95Ms: round(percentile(frames, 0.95)),
    maxMs: round(Math.max(...frames)),
    withRasterMedianMs: round(median(withRaster)),
    withRasterP95Ms: round(percentile(withRaster, 0.95)),
    cells: [round(Math.min(...samples.map((s) => s.cell)) * 1000) / 1000, Math.max(...samples.map((s) => s.cell))],
    samples: samples.map((s) => ({ ...s, frameMs: round(s.frameMs), rasterMs: round(s.rasterMs) })),
  };
}

function heatmapSummary(samples: HeatmapSample[]): Record<string, unknown> {
  const all = samples.map((s) => s.renderMs);
  const withRaster = samples.map((s) => s.renderMs + s.rasterMs);
  return {
    medianMs: round(median(all)),
    coldMedianMs: round(median(samples.filter((s) => s.cold).map((s) => s.renderMs))),
    warmMedianMs: round(median(samples.filter((s) => !s.cold).map((s) => s.renderMs))),
    maxMs: round(Math.max(...all)),
    rasterMedianMs: round(median(samples.map((s) => s.rasterMs))),
    withRasterMedianMs: round(median(withRaster)),
    canvas: samples[0]?.canvas,
    samples: samples.map((s) => ({ ...s, renderMs: round(s.renderMs), rasterMs: round(s.rasterMs) })),
  };
}

export async function runWebviewBench(options: WebviewBenchOptions = {}): Promise<Record<string, unknown>> {
  const log = options.log ?? true;
  const say = (line: string): void => {
    if (log) console.log(line);
  };
  const webviewScript = path.join(root, 'dist/webview.js');
  if (!existsSync(webviewScript)) throw new Error('dist/webview.js is missing: run `node scripts/build.mjs` first.');
  const executablePath = chromiumPath();
  const chromiumVersion = execFileSync(executablePath, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

  // Real traces from the engine.
  const engine = new ExplainEngine();
  let started = performance.now();
  const wants = (figure: 'heatmap' | 'overview' | 'zoom'): boolean => options.only === undefined || options.only === figure;
  const decoder = wants('heatmap') ? await engine.explain(textOf(1024), { model: 'builtin:tiny-decoder', maxTokens: 1024 }) : null;
  if (decoder) say(`trace: builtin:tiny-decoder, ${decoder.blocks[0].queries}×${decoder.blocks[0].keys}, ${decoder.blocks.length} blocks × ${decoder.blocks[0].heads} heads (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  started = performance.now();
  const long = wants('zoom') ? await engine.explain(textOf(2048), { model: 'builtin:tiny-decoder', maxTokens: 2048 }) : null;
  if (long) say(`trace: builtin:tiny-decoder, ${long.blocks[0].queries}×${long.blocks[0].keys}, ${long.blocks.length} blocks × ${long.blocks[0].heads} heads (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  started = performance.now();
  const gpt2 = wants('overview') ? await engine.explain(textOf(512), { model: 'builtin:gpt2-shape', maxTokens: 512 }) : null;
  if (gpt2) say(`trace: builtin:gpt2-shape, ${gpt2.blocks[0].queries}×${gpt2.blocks[0].keys}, ${gpt2.blocks.length} blocks × ${gpt2.blocks[0].heads} heads (${((performance.now() - started) / 1000).toFixed(1)} s)`);

  const host = await esbuild.build({
    stdin: { contents: HOST_SOURCE, resolveDir: root, sourcefile: 'bench-host.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    target: 'chrome120',
    format: 'iife',
    write: false,
    logLevel: 'warning',
  });
  const files = new Map<string, { body: Uint8Array | string; type: string }>([
    ['/dist/webview.js', { body: readFileSync(webviewScript), type: 'text/javascript' }],
    ['/media/panel.css', { body: readFileSync(path.join(root, 'media/panel.css')), type: 'text/css' }],
    ['/theme.css', { body: BROWSER_THEME_CSS, type: 'text/css' }],
    ['/bench-host.js', { body: host.outputFiles[0].contents, type: 'text/javascript' }],
    ['/favicon.ico', { body: '', type: 'image/x-icon' }],
  ]);
  if (decoder) files.set('/data/decoder1024.bin', { body: encodeTrace(decoder), type: 'application/octet-stream' });
  if (long) files.set('/data/decoder2048.bin', { body: encodeTrace(long), type: 'application/octet-stream' });
  if (gpt2) files.set('/data/gpt2-512.bin', { body: encodeTrace(gpt2), type: 'application/octet-stream' });
  const { server, origin } = await serve(files);
  const browser = await launchBrowser();
  const errors: string[] = [];
  const results: Record<string, unknown> = { machine: machineFacts({ chromium: chromiumVersion }) };
  try {
    const heatmapPages = options.heatmapPages ?? 5;
    const heatmap: Record<string, unknown> = {
      workload: `builtin:tiny-decoder, 1024 tokens: ${decoder?.blocks.length} blocks of ${decoder?.blocks[0].heads} heads × 1024 × 1024, causal`,
      targetMs: HEATMAP_TARGET_MS,
      pages: heatmapPages,
    };
    for (const view of decoder ? ['mean', 'head0'] as const : []) {
      const samples: HeatmapSample[] = [];
      for (let i = 0; i < heatmapPages; i++) samples.push(...await heatmapPage(browser, origin, view, errors));
      const summary = heatmapSummary(samples);
      heatmap[view] = summary;
      say(`heatmap 1024×1024 (${view === 'mean' ? 'mean of heads' : 'head 0'}): ${summary.medianMs} ms median of ${samples.length} `
        + `(cold ${summary.coldMedianMs}, warm ${summary.warmMedianMs}, max ${summary.maxMs}; + raster ${summary.rasterMedianMs}) target < ${HEATMAP_TARGET_MS} ms`
        + ` ${(summary.medianMs as number) < HEATMAP_TARGET_MS ? 'ok' : 'MISSED'}`);
    }
    if (decoder) results.heatmap = heatmap;

    if (long) {
      const zoomPages = options.zoomPages ?? 3;
      const zoom: Record<string, unknown> = {
        workload: `builtin:tiny-decoder, 2048 tokens: mean of heads of block 0, 2048 × 2048, causal; wheel notches (100 px) from Fit to the largest cell and back, in a 1400 × 1100 page`,
        targetMs: ZOOM_TARGET_MS,
        pages: zoomPages,
      };
      for (const ratio of [1, 2]) {
        const samples: ZoomSample[] = [];
        let canvas = '';
        for (let i = 0; i < zoomPages; i++) {
          const page = await zoomPage(browser, origin, ratio, errors);
          samples.push(...page.samples);
          canvas = page.canvas;
        }
        const summary = zoomSummary(samples, canvas);
        zoom[`dpr${ratio}`] = summary;
        say(`zoom step 2048×2048 at DPR ${ratio} (canvas ${canvas}): ${summary.medianMs} ms median, p95 ${summary.p95Ms}, max ${summary.maxMs} of ${samples.length} steps`
          + ` (+ raster: median ${summary.withRasterMedianMs}, p95 ${summary.withRasterP95Ms}) target < ${ZOOM_TARGET_MS} ms ${(summary.p95Ms as number) < ZOOM_TARGET_MS ? 'ok' : 'MISSED'}`);
      }
      results.zoom = zoom;
    }

    const overviewPages = options.overviewPages ?? 5;
    const overviewSamples: OverviewSample[] = [];
    for (let i = 0; gpt2 && i < overviewPages; i++) overviewSamples.push(await overviewPage(browser, origin, errors));
    if (gpt2) {
    const overviewMedian = median(overviewSamples.map((s) => s.renderMs));
    results.overview = {
      workload: `builtin:gpt2-shape (real forward), 512 tokens: ${gpt2.blocks.length} layers × ${gpt2.blocks[0].heads} heads, thumbnails ≤ 48 px a side`,
      targetMs: OVERVIEW_TARGET_MS,
      cells: overviewSamples[0]?.cells,
      medianMs: round(overviewMedian),
      fromClickMedianMs: round(median(overviewSamples.map((s) => s.fromClickMs))),
      maxMs: round(Math.max(...overviewSamples.map((s) => s.renderMs))),
      samples: overviewSamples.map((s) => ({ renderMs: round(s.renderMs), fromClickMs: round(s.fromClickMs), cells: s.cells })),
    };
    say(`overview ${overviewSamples[0]?.cells} cells at 512 tokens: ${round(overviewMedian)} ms median of ${overviewSamples.length} `
      + `(from the tab click ${round(median(overviewSamples.map((s) => s.fromClickMs)))} ms) target < ${OVERVIEW_TARGET_MS} ms ${overviewMedian < OVERVIEW_TARGET_MS ? 'ok' : 'MISSED'}`);
    }
    if (errors.length > 0) results.pageErrors = errors;
  } finally {
    await browser.close();
    server.close();
  }
  if (errors.length > 0) say(`page errors: ${errors.join(' | ')}`);

  if (options.write ?? true) {
    const directory = path.join(root, 'bench/results');
    mkdirSync(directory, { recursive: true });
    const file = path.join(directory, `webview-${new Date().toISOString().slice(0, 10)}-${os.hostname()}.json`);
    // One figure alone (--only … --write) joins the day's file, the others' figures kept, with its
    // own machine facts (the load may differ from theirs).
    const merged = options.only !== undefined && existsSync(file)
      ? { ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), ...Object.fromEntries(Object.entries(results).filter(([key]) => key !== 'machine').map(([key, value]) => [key, { ...(value as object), machine: results.machine }])) }
      : results;
    writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
    say(`results written to ${path.relative(root, file)}`);
  }
  return results;
}

if (require.main === module) {
  // --only heatmap | overview | zoom: one figure (then nothing is written unless --write).
  const at = process.argv.indexOf('--only');
  const only = at > 0 ? process.argv[at + 1] : undefined;
  if (only !== undefined && only !== 'heatmap' && only !== 'overview' && only !== 'zoom') throw new Error('--only takes heatmap, overview or zoom');
  runWebviewBench({ only, write: only === undefined || process.argv.includes('--write') }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
