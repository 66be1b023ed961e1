/**
 * The panel page (src/shared/panelPage.ts), which the VS Code webviews, the HTML report and the
 * bench all build their page with: the CSP of each kind of page, directive by directive as it was
 * when each host wrote its own, the nonce on every script and nowhere else, nothing remote, the
 * escaping of what is written into the page, and one layout (the report's HTML export rebuilds its
 * page from the parts).
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { buildHtmlReport } from '../../src/engine/report/htmlReport';
import { assemblePanelPage, buildPanelPage, EMBEDDED_TRACE_ID, panelContentSecurityPolicy } from '../../src/shared/panelPage';
import { decodeTrace } from '../../src/shared/traceBinary';
import { makeNonce } from '../../src/vscode/nonce';
import { webviewHtml } from '../../src/vscode/webviewHtml';

/** VS Code's webview.cspSource: a source list, with a quote, a space and a wildcard. */
const CSP_SOURCE = "'self' https://*.vscode-cdn.net";
const RESOURCE = 'https://file+.vscode-resource.vscode-cdn.net/ext';
const BENCH_ORIGIN = 'http://127.0.0.1:41234';

const cspOf = (html: string): string => /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1] ?? '';
const directives = (csp: string): Map<string, string> =>
  new Map(csp.split(';').map((part) => part.trim()).map((part) => [part.slice(0, part.indexOf(' ')), part.slice(part.indexOf(' ') + 1)]));
const scriptTags = (html: string): Array<{ attributes: string; body: string }> =>
  [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map((match) => ({ attributes: match[1], body: match[2] }));
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The page's parts as the report's host takes them from the live document. */
function partsOf(html: string): { head: string; app: string; scripts: string[] } {
  const head = /<head>[\s\S]*?<\/head>/.exec(html)?.[0] ?? '';
  const app = /<main id="app"[\s\S]*?<\/main>/.exec(html)?.[0] ?? '';
  const scripts = [...html.slice(html.indexOf('<body>')).matchAll(/<script[^>]*>[\s\S]*?<\/script>/g)].map((match) => match[0]);
  return { head, app, scripts };
}

/** Nothing is loaded from anywhere but `allowed` (the host's own origin), and nothing inline runs without the nonce. */
function assertNothingRemoteOrUnsafe(html: string, allowed: string | null): void {
  for (const match of html.matchAll(/\s(?:src|href)="([^"]*)"/g)) {
    assert.ok(allowed !== null && match[1].startsWith(allowed), `loads ${match[1]}`);
  }
  assert.doesNotMatch(html, /\son[a-z]+=|\sstyle="/i, 'an inline event handler or style attribute');
  assert.doesNotMatch(cspOf(html), /unsafe-inline|unsafe-eval|unsafe-hashes|strict-dynamic/);
}

describe('the VS Code webview page', () => {
  const nonce = makeNonce();
  const html = webviewHtml({ cspSource: CSP_SOURCE, scriptUri: `${RESOURCE}/dist/webview.js`, styleUri: `${RESOURCE}/media/panel.css`, nonce });

  test('its CSP: the same directives and sources as before, in the one order every page uses', () => {
    const csp = cspOf(html);
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${CSP_SOURCE}; img-src ${CSP_SOURCE} data:; font-src ${CSP_SOURCE}`);
    // What src/vscode/webviewHtml.ts wrote when it built its page itself.
    const before = `default-src 'none'; img-src ${CSP_SOURCE} data:; style-src ${CSP_SOURCE}; script-src 'nonce-${nonce}'; font-src ${CSP_SOURCE}`;
    assert.deepEqual(directives(csp), directives(before));
  });

  test('one script, from the extension, with the nonce; the stylesheet from the extension; nothing inline', () => {
    const scripts = scriptTags(html);
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0].attributes, ` nonce="${nonce}" src="${RESOURCE}/dist/webview.js"`);
    assert.equal(scripts[0].body, '');
    assert.match(html, new RegExp(`<link rel="stylesheet" href="${escapeRegExp(`${RESOURCE}/media/panel.css`)}">`));
    assert.doesNotMatch(html, /<style/);
    assertNothingRemoteOrUnsafe(html, RESOURCE);
    assert.match(html, /<title>Attention<\/title>/);
    assert.match(html, /<p id="status" role="status">Select text in an editor and run &#34;Explain Attention&#34;\.<\/p>/);
  });
});

describe('the HTML report page', () => {
  const assets = {
    // "</script>" and "</style>" in the inlined code must not end their elements.
    webviewScript: 'window.panel = "</script><script>alert(1)</script>";',
    reportHostScript: 'window.host = 1;',
    stylesheet: 'body::after { content: "</style>"; }',
  };

  test('its CSP exactly as before: no origin at all, scripts and styles by nonce, images from data:', async () => {
    const trace = await new ExplainEngine().explain('ab', { model: 'builtin:tiny-decoder' });
    const html = buildHtmlReport(trace, assets);
    const csp = cspOf(html);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1] ?? '';
    assert.equal(Buffer.from(nonce, 'base64').length, 18);
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:`);
    assert.notEqual(nonce, /script-src 'nonce-([^']+)'/.exec(cspOf(buildHtmlReport(trace, assets)))?.[1], 'a fresh nonce per report');

    const scripts = scriptTags(html);
    assert.deepEqual(scripts.map((script) => script.attributes), [
      ` type="application/octet-stream" id="${EMBEDDED_TRACE_ID}"`,
      ` nonce="${nonce}"`,
      ` nonce="${nonce}"`,
    ], 'the trace (data, never run), then the host and the panel, each with the nonce');
    assert.equal(scripts[1].body, assets.reportHostScript);
    assert.equal(scripts[2].body, 'window.panel = "<\\/script><script>alert(1)<\\/script>";');
    const styles = [...html.matchAll(/<style([^>]*)>([\s\S]*?)<\/style>/g)];
    assert.equal(styles.length, 2, 'the stand-in theme and the panel stylesheet');
    for (const style of styles) assert.equal(style[1], ` nonce="${nonce}"`);
    assert.equal(styles[1][2], 'body::after { content: "<\\/style>"; }');
    assertNothingRemoteOrUnsafe(html, null);
    assert.doesNotMatch(html, /https?:\/\//, 'a remote address in the page');

    // The embedded trace carries the mean of heads, which the report's host now sends the panel.
    const embedded = decodeTrace(Uint8Array.from(Buffer.from(scripts[0].body, 'base64')));
    assert.equal(embedded.blocks.length, trace.blocks.length);
    embedded.blocks.forEach((block, index) => assert.deepEqual(block.meanProbs, trace.blocks[index].meanProbs));
  });
});

describe('one builder for every page', () => {
  test('the bench page: the webview page with two scripts and connect-src for its own server', () => {
    const nonce = makeNonce();
    const html = buildPanelPage({
      nonce,
      assets: { kind: 'served', origin: BENCH_ORIGIN, stylesheetUris: [`${BENCH_ORIGIN}/theme.css`, `${BENCH_ORIGIN}/media/panel.css`], scriptUris: [`${BENCH_ORIGIN}/bench-host.js`, `${BENCH_ORIGIN}/dist/webview.js`] },
      connectOrigin: BENCH_ORIGIN,
    });
    const csp = cspOf(html);
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${BENCH_ORIGIN}; img-src ${BENCH_ORIGIN} data:; font-src ${BENCH_ORIGIN}; connect-src ${BENCH_ORIGIN}`);
    const before = `default-src 'none'; img-src ${BENCH_ORIGIN} data:; style-src ${BENCH_ORIGIN}; script-src 'nonce-${nonce}'; font-src ${BENCH_ORIGIN}; connect-src ${BENCH_ORIGIN}`;
    assert.deepEqual(directives(csp), directives(before));
    assert.deepEqual(scriptTags(html).map((script) => script.attributes), [
      ` nonce="${nonce}" src="${BENCH_ORIGIN}/bench-host.js"`,
      ` nonce="${nonce}" src="${BENCH_ORIGIN}/dist/webview.js"`,
    ]);
    assertNothingRemoteOrUnsafe(html, BENCH_ORIGIN);
  });

  test('every page is its parts assembled (what the report\'s HTML export rebuilds)', () => {
    const nonce = makeNonce();
    const pages = [
      webviewHtml({ cspSource: CSP_SOURCE, scriptUri: `${RESOURCE}/dist/webview.js`, styleUri: `${RESOURCE}/media/panel.css`, nonce }),
      buildPanelPage({ nonce, assets: { kind: 'inlined', stylesheets: ['p {}'], scripts: ['1', '2'] }, data: [{ id: 'x', text: 'QUJD' }], title: 'T', status: 'S', generator: 'G' }),
    ];
    for (const html of pages) assert.equal(assemblePanelPage(partsOf(html)), html);
  });

  test('text written into the page is escaped; scripts carry only the given nonce', () => {
    const nonce = makeNonce();
    const html = buildPanelPage({
      nonce,
      assets: { kind: 'inlined', stylesheets: [], scripts: ['run()'] },
      title: 'model "<img src=x>"',
      status: '<b>busy</b> & waiting',
      generator: '"><script>',
    });
    assert.match(html, /<title>model &#34;&#60;img src=x&#62;&#34;<\/title>/);
    assert.match(html, /role="status">&#60;b&#62;busy&#60;\/b&#62; &#38; waiting<\/p>/);
    assert.match(html, /<meta name="generator" content="&#34;&#62;&#60;script&#62;">/);
    assert.deepEqual(scriptTags(html).map((script) => script.attributes), [` nonce="${nonce}"`]);
    assert.equal([...html.matchAll(/nonce-|nonce="/g)].length, 3, 'the nonce in script-src, style-src and the one script');
  });

  test('what would break the page or weaken its CSP is refused', () => {
    const page = (overrides: Partial<Parameters<typeof buildPanelPage>[0]>): string =>
      buildPanelPage({ nonce: makeNonce(), assets: { kind: 'inlined', stylesheets: [], scripts: [] }, ...overrides });
    for (const nonce of ['', 'short', `${makeNonce()}" onload="x`, `${makeNonce()}'; script-src *`, 'a'.repeat(21)]) {
      assert.throws(() => page({ nonce }), /nonce/, JSON.stringify(nonce));
    }
    for (const origin of ['', ' ', 'https://a; script-src *', 'https://a"><script>', 'https://a,https://b', 'https://a\nb']) {
      assert.throws(() => page({ assets: { kind: 'served', origin, stylesheetUris: [], scriptUris: [] } }), /source/, JSON.stringify(origin));
      assert.throws(() => page({ connectOrigin: origin }), /source/, JSON.stringify(origin));
    }
    assert.throws(() => page({ data: [{ id: 'trace', text: 'QUJD</script><script>alert(1)' }] }), /<\/script/);
    assert.throws(() => page({ data: [{ id: 'a" onload="x', text: 'QUJD' }] }), /id/);
    assert.throws(() => panelContentSecurityPolicy('not base64!', null), /nonce/);
  });
});
