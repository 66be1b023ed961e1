/**
 * Webview security, checked where it is decided: the page's HTML and CSP, the validation of every
 * message crossing the webview boundary, and the bundles, which must not name a remote address.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { PANEL_COMMANDS, parseFromWebview, parseToWebview } from '../../src/shared/protocol';
import { makeNonce } from '../../src/vscode/nonce';
import { contentSecurityPolicy, webviewHtml } from '../../src/vscode/webviewHtml';

const root = path.resolve(__dirname, '../..');

test('the webview page: CSP default-src none, scripts only with a fresh nonce, nothing inline or remote', () => {
  const nonce = makeNonce();
  const html = webviewHtml({ cspSource: 'https://file+.vscode-resource.vscode-cdn.net', scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js', styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/panel.css', nonce });
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
  assert.equal(csp, contentSecurityPolicy('https://file+.vscode-resource.vscode-cdn.net', nonce));
  const directives = new Map(csp.split(';').map((part) => part.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
  assert.deepEqual(directives.get('default-src'), ["'none'"]);
  assert.deepEqual(directives.get('script-src'), [`'nonce-${nonce}'`]);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  // Every script element carries the nonce and a src; no inline script or style, no event handler attributes.
  const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0][1], new RegExp(`nonce="${nonce.replace(/[+/=]/g, '\\$&')}"`));
  assert.equal(scripts[0][2].trim(), '');
  assert.doesNotMatch(html, /<style|\son[a-z]+=|style="/i);
  // Nonces are unguessable: 18 random bytes, never repeated.
  const nonces = new Set(Array.from({ length: 200 }, makeNonce));
  assert.equal(nonces.size, 200);
  assert.ok([...nonces].every((value) => Buffer.from(value, 'base64').length === 18));
});

test('messages from the webview are validated; anything else is dropped', () => {
  assert.deepEqual(parseFromWebview({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseFromWebview({ type: 'requestBlock', requestId: 1, runId: 2, blockIndex: 3, extra: 'ignored' }), { type: 'requestBlock', requestId: 1, runId: 2, blockIndex: 3 });
  for (const bad of [
    null, 'ready', 42, [], {}, { type: 'unknown' }, { type: '__proto__' },
    { type: 'requestBlock', requestId: -1, runId: 1, blockIndex: 0 },
    { type: 'requestBlock', requestId: 1, runId: 1, blockIndex: 1.5 },
    { type: 'requestBlock', requestId: '1', runId: 1, blockIndex: 0 },
    { type: 'hoverQuery', runId: 1, blockIndex: 0, head: 'all', query: 0 },
    { type: 'hoverQuery', runId: 1, blockIndex: 0, head: 0, query: -2 },
    { type: 'runCommand', command: 'workbench.action.terminal.new' },
    { type: 'runCommand', command: 'attentionLens.selectModel; rm -rf /' },
    { type: 'exportImage', format: 'png', data: 'data:text/html;base64,PHNjcmlwdD4=', suggestedName: 'x' },
    { type: 'exportImage', format: 'svg', data: '<html><script>alert(1)</script>', suggestedName: 'x' },
    { type: 'exportImage', format: 'exe', data: 'MZ', suggestedName: 'x' },
    { type: 'focusChanged', focused: 'yes' },
  ]) {
    assert.equal(parseFromWebview(bad), null, JSON.stringify(bad));
  }
  for (const command of PANEL_COMMANDS) assert.ok(command.startsWith('attentionLens.'), command);
  const exported = parseFromWebview({ type: 'exportImage', format: 'png', data: 'data:image/png;base64,iVBORw0KGgo=', suggestedName: '../../etc/passwd' });
  assert.ok(exported && exported.type === 'exportImage');
  assert.doesNotMatch(exported.suggestedName, /[/\\]/, 'a suggested name cannot walk out of the folder');
});

test('messages to the webview are validated there too', () => {
  assert.equal(parseToWebview({ type: 'blockData', requestId: 1, runId: 1, blockIndex: 0, probs: [0.5, 0.5], mask: null }), null, 'number lists are refused: binary only');
  assert.ok(parseToWebview({ type: 'blockData', requestId: 1, runId: 1, blockIndex: 0, probs: new Float32Array(4), mask: new Uint8Array(4) }));
  assert.equal(parseToWebview({ type: 'configure', colorMap: 'javascript:alert(1)', defaultView: 'mean' }), null);
  assert.equal(parseToWebview({ type: 'step', unit: 'layer', direction: 'sideways' }), null);
  assert.equal(parseToWebview({ type: 'showBlock', runId: 1, blockIndex: -1, head: 0 }), null);
  assert.equal(parseToWebview(undefined), null);
});

test('no bundle or media file names a remote address (every URL found is listed here with why)', () => {
  // Addresses that are identifiers or message text, never fetched:
  const allowed = new Map([
    ['http://www.w3.org/2000/svg', 'the SVG XML namespace'],
    ['https://web.dev/cross-origin-isolation-guide/', "text of an onnxruntime-web warning about threads"],
    ['https://github.com/belladoreai/llama-tokenizer-js.', "a source comment of @huggingface/tokenizers, kept in development builds"],
  ]);
  // The one address the extension may contact: the Hugging Face Hub's default endpoint, only for an
  // hf: model the user names (HF_ENDPOINT and the hub.endpoint setting replace it; offline never does).
  // The pattern also takes the comma of the default-value text around it.
  for (const hub of ['https://huggingface.co', 'https://huggingface.co,']) allowed.set(hub, 'the default Hugging Face endpoint, fetched only for an hf: model');
  const files = [
    ...readdirSync(path.join(root, 'dist')).filter((name) => /\.(js|mjs|css|html)$/.test(name)).map((name) => path.join('dist', name)),
    // Every media file, the trained model's folder included (its weights are read as text too: a URL
    // would show up there just the same).
    ...readdirSync(path.join(root, 'media'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name))),
  ];
  assert.ok(files.some((file) => file.endsWith('webview.js')), 'build first: dist/webview.js is missing');
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/(?:https?|wss?|ftp):\/\/[^\s"'`)<>\\]+/g)) {
      if (!allowed.has(match[0])) found.push(`${file}: ${match[0]}`);
    }
    // Resource loads must be relative or local, whatever the text around them says.
    assert.doesNotMatch(text, /(?:src|href)\s*=\s*["'](?:https?:)?\/\//i, `${file} loads something remote`);
  }
  assert.deepEqual(found, []);
});
