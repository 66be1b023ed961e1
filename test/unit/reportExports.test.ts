/**
 * The HTML report's exports (src/report/reportExports.ts): each export request of the panel
 * becomes a download with the right name, type and content, checked against the engine's own
 * JSON and CSV of the same run; nothing else does. The report tells the panel what it can do
 * (a validated `capabilities` field), and its CSP stays strict. test/ui/report.test.ts clicks the
 * buttons in Chromium.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import { buildHtmlReport } from '../../src/engine/report/htmlReport';
import type { AttentionTrace } from '../../src/shared/trace';
import { decodeTrace, encodeTrace } from '../../src/shared/traceBinary';
import { traceToJson } from '../../src/shared/traceJson';
import { type FromWebviewMessage, PANEL_COMMANDS, type PanelCommand, parseFromWebview, parseToWebview } from '../../src/shared/protocol';
import { REPORT_CAPABILITIES, type ReportDownload, reportDownload, reportPageHtml } from '../../src/report/reportExports';

const root = path.resolve(__dirname, '../..');
const PAGE = '<!DOCTYPE html><title>the page</title>';
const command = (name: PanelCommand): FromWebviewMessage => ({ type: 'runCommand', command: name });
const text = (file: ReportDownload): string => file.parts.map((part) => (typeof part === 'string' ? part : new TextDecoder().decode(part))).join('');

let original: AttentionTrace;
/** What the report host holds: the trace after the binary round trip of the page's embedded copy. */
let embedded: AttentionTrace;

before(async () => {
  original = await new ExplainEngine().explain('The cat sat on the mat.', { model: 'builtin:tiny-encdec' });
  embedded = decodeTrace(encodeTrace(original));
});

describe('report exports as downloads', () => {
  test('PNG: the bytes of the data URL the panel made', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 255, 7]);
    const message = parseFromWebview({ type: 'exportImage', format: 'png', data: `data:image/png;base64,${Buffer.from(png).toString('base64')}`, suggestedName: 'attention-L0-head1' });
    assert.ok(message);
    const file = reportDownload(message, embedded, () => PAGE);
    assert.ok(file);
    assert.deepEqual([file.fileName, file.mimeType], ['attention-L0-head1.png', 'image/png']);
    assert.equal(file.parts.length, 1);
    assert.deepEqual(Array.from(file.parts[0] as Uint8Array), Array.from(png));
  });

  test('SVG: the text the panel made', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"><rect width="1" height="1"/></svg>';
    const message = parseFromWebview({ type: 'exportImage', format: 'svg', data: svg, suggestedName: 'heads-decoder-L1' });
    assert.ok(message);
    const file = reportDownload(message, embedded, () => PAGE);
    assert.ok(file);
    assert.deepEqual([file.fileName, file.mimeType, text(file)], ['heads-decoder-L1.svg', 'image/svg+xml', svg]);
  });

  test('JSON: the trace JSON of the same run, as the CLI and VS Code write it', () => {
    const file = reportDownload(command('attentionLens.exportJson'), embedded, () => PAGE);
    assert.ok(file);
    assert.deepEqual([file.fileName, file.mimeType], ['tiny-encdec-attention.json', 'application/json']);
    assert.ok(file.parts.length > 1, 'in pieces, not one string');
    // From the trace the engine made, before the page's binary round trip.
    assert.deepEqual(JSON.parse(text(file)), JSON.parse(JSON.stringify(traceToJson(original))));
  });

  test('CSV: one row per block, head, query and key, the weights of the run', () => {
    const file = reportDownload(command('attentionLens.exportCsv'), embedded, () => PAGE);
    assert.ok(file);
    assert.deepEqual([file.fileName, file.mimeType], ['tiny-encdec-attention.csv', 'text/csv']);
    const lines = text(file).trimEnd().split('\r\n');
    assert.equal(lines[0], 'block,layer,kind,head,query,key,query_token,key_token,weight,allowed');
    assert.equal(lines.length - 1, original.blocks.reduce((sum, block) => sum + block.heads * block.queries * block.keys, 0));
    // The last row: the last block's last head, query and key.
    const last = original.blocks.length - 1;
    const block = original.blocks[last];
    const fields = lines[lines.length - 1].split(',');
    assert.deepEqual(fields.slice(0, 6), [last, block.layer, block.kind, block.heads - 1, block.queries - 1, block.keys - 1].map(String));
    assert.equal(Math.fround(Number(fields[8])), block.probs[block.probs.length - 1]);
  });

  test('HTML: the page itself, made only when asked for', () => {
    let made = 0;
    const page = (): string => {
      made++;
      return PAGE;
    };
    for (const name of ['attentionLens.exportJson', 'attentionLens.exportCsv'] as const) reportDownload(command(name), embedded, page);
    assert.equal(made, 0, 'the JSON and CSV exports built the page');
    const file = reportDownload(command('attentionLens.exportHtml'), embedded, page);
    assert.ok(file);
    assert.deepEqual([file.fileName, file.mimeType, text(file), made], ['tiny-encdec-report.html', 'text/html', PAGE, 1]);
  });

  test('anything else is not a download: the commands that need VS Code, hovers, block requests', () => {
    const others: FromWebviewMessage[] = [
      ...PANEL_COMMANDS.filter((name) => !REPORT_CAPABILITIES.commands.includes(name)).map(command),
      { type: 'ready' },
      { type: 'requestBlock', requestId: 1, runId: 1, blockIndex: 0 },
      { type: 'hoverQuery', runId: 1, blockIndex: 0, head: 0, query: 1 },
      { type: 'hoverRollout', runId: 1, stream: 'decoder', query: 1 },
      { type: 'viewChanged', runId: 1, blockIndex: 0, head: 'mean' },
      { type: 'focusChanged', focused: true },
      { type: 'ablation', action: 'clear' },
    ];
    assert.deepEqual(others.filter((message) => message.type === 'runCommand').map((message) => (message as { command: string }).command).sort(),
      // A trace file is written by VS Code or the CLI (--save), not by the report's page; the report
      // runs no model, so it has no ablation to clear.
      ['attentionLens.clearAblation', 'attentionLens.explainSelection', 'attentionLens.exportTraceFile', 'attentionLens.measureInduction', 'attentionLens.selectModel', 'attentionLens.showOutput']);
    for (const message of others) assert.equal(reportDownload(message, embedded, () => PAGE), null, JSON.stringify(message));
  });

  test('every command the report says it can do is a download', () => {
    for (const name of REPORT_CAPABILITIES.commands) assert.ok(reportDownload(command(name), embedded, () => PAGE), name);
    assert.equal(REPORT_CAPABILITIES.editorHighlights, false);
  });
});

describe('the report page', () => {
  test('rebuilt from its head, initial #app and scripts, it is the page buildHtmlReport wrote', () => {
    const asset = (relative: string): string => readFileSync(path.join(root, relative), 'utf8');
    const html = buildHtmlReport(original, { webviewScript: asset('dist/webview.js'), reportHostScript: asset('dist/reportHost.js'), stylesheet: asset('media/panel.css') });
    const head = /<head>[\s\S]*?<\/head>/.exec(html)?.[0];
    const app = /<main id="app"[\s\S]*?<\/main>/.exec(html)?.[0];
    const body = html.slice(html.indexOf('<body>'));
    // Inlined scripts cannot contain "</script" (buildHtmlReport escapes it), so the lazy match is exact.
    const scripts = [...body.matchAll(/<script[^>]*>[\s\S]*?<\/script>/g)].map((match) => match[0]);
    assert.ok(head && app);
    assert.equal(scripts.length, 3, 'the trace, the host and the panel');
    assert.equal(reportPageHtml({ head, app, scripts }), html);
  });

  test('its CSP stays strict: no network, scripts and styles only with the nonce, images only from data: (downloads need none of it)', () => {
    const html = buildHtmlReport(original, { webviewScript: '', reportHostScript: '', stylesheet: '' });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1] ?? '';
    assert.ok(nonce.length >= 24, 'a nonce of 18 random bytes');
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:`);
  });

  test('the host says what it can do, and the panel checks it', () => {
    const configure = { type: 'configure', colorMap: 'viridis', defaultView: 'mean' };
    assert.ok(parseToWebview({ ...configure, capabilities: REPORT_CAPABILITIES }));
    assert.ok(parseToWebview(configure), 'absent: everything (VS Code)');
    for (const capabilities of [
      null, [], {}, { commands: ['attentionLens.exportJson'] },
      { commands: 'attentionLens.exportJson', editorHighlights: false },
      { commands: ['workbench.action.terminal.new'], editorHighlights: false },
      { commands: [], editorHighlights: 'no' },
    ]) {
      assert.equal(parseToWebview({ ...configure, capabilities }), null, JSON.stringify(capabilities));
    }
  });
});
