/**
 * Issue 22's "notices are for exceptions" and the exports, in their pure parts: which diagnostics VS
 * Code's Problems panel lists and how the panel's Problems tab counts and groups the rest
 * (src/shared/problemsShare.ts, webview/diagnostics.ts); which notices the header shows
 * (webview/shell.ts); the status bar's words after a failed run (src/vscode/modelStatus.ts); why an
 * export button cannot act and the PNG's layout (webview/exportBar.ts, exportImage.ts); and that
 * messages in VS Code name settings and commands, never CLI flags (src/vscode/words.ts). Expected
 * numbers are worked out by hand in the comments.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { ExplainEngine } from '../../src/engine/explain';
import type { TraceDiagnostic } from '../../src/shared/analysis';
import { OPTION_NAMES, optionRef } from '../../src/shared/errors';
import { listedInProblems, problemsShare } from '../../src/shared/problemsShare';
import { renderTraceWords } from '../../src/shared/traceWords';
import { backendDetail, modelStatusView, sameModel, shortModelName } from '../../src/vscode/modelStatus';
import { describeFailure, VSCODE_OPTION_WORDS, vscodeWords } from '../../src/vscode/words';
import { diagnosticSummary, groupInfos, problemsCount } from '../../webview/diagnostics';
import { exportBlocked } from '../../webview/exportBar';
import { PNG_MAX_GRID, PNG_SCALE, pngLayout } from '../../webview/exportImage';
import { splitNotices } from '../../webview/shell';

const root = path.join(__dirname, '../..');

function diagnostic(partial: Partial<TraceDiagnostic>): TraceDiagnostic {
  return { code: 'uniform-head', severity: 'info', blockIndex: 0, layer: 0, head: 0, stream: 'decoder', message: 'm', ...partial };
}

/** A random-weight preset's findings: 86 infos (80 uniform heads, 6 of another code), no problem. */
const randomPreset: TraceDiagnostic[] = [
  ...Array.from({ length: 80 }, (_, i) => diagnostic({ head: i % 12, layer: Math.floor(i / 12) })),
  ...Array.from({ length: 6 }, () => diagnostic({ code: 'first-token-only' })),
];
const leak = diagnostic({ code: 'mask-leak', severity: 'error', layer: 2, head: 1 });
const blowup = diagnostic({ code: 'norm-blowup', severity: 'warning', blockIndex: null, head: null, layer: 1 });

describe("the Problems tab counts what VS Code's Problems panel lists", () => {
  test('errors and warnings are listed there; infos stay in the panel', () => {
    assert.equal(listedInProblems('error'), true);
    assert.equal(listedInProblems('warning'), true);
    assert.equal(listedInProblems('info'), false);
    assert.deepEqual(problemsShare([...randomPreset, leak, blowup, blowup]), { listed: 3, panelOnly: 86 });
  });

  test('a random-weight preset: no badge, "+86 info", and a header line that says no problems', () => {
    const count = problemsCount(randomPreset);
    assert.equal(count.badge, '', 'VS Code lists nothing, so the tab shows no number');
    assert.equal(count.extra, '+86 info');
    assert.match(count.label, /^No problems; 86 information-level findings .* in this tab only$/);
    const line = diagnosticSummary(randomPreset, false);
    assert.equal(line.text, 'No problems found · 86 info in the Problems tab');
    assert.equal(line.severity, null, 'not drawn as a finding');
  });

  test('3 problems and 86 infos read "3" and "+86 info", the problems named first', () => {
    const all = [...randomPreset, blowup, leak, blowup];
    const count = problemsCount(all);
    assert.equal(count.badge, '3');
    assert.equal(count.extra, '+86 info');
    assert.match(count.label, /^1 error, 2 warnings, as in VS Code's Problems panel; 86 information-level findings/);
    assert.equal(diagnosticSummary(all, false).text, '✖ 1 error, 2 warnings: mask-leak in layer 2 head 1 (+86 info)');
    assert.deepEqual(problemsCount([leak]), { badge: '1', extra: '', label: "1 error, as in VS Code's Problems panel" });
  });

  test('infos fold into one line naming each code with its count, the most frequent first', () => {
    const group = groupInfos([leak, ...randomPreset]);
    assert.equal(group.infos.length, 86);
    assert.equal(group.codes, 'uniform-head ×80, first-token-only ×6');
    assert.deepEqual(groupInfos([leak]), { infos: [], codes: '' });
  });
});

describe('notices are for exceptions', () => {
  test("auto's choice of backend is the backend fact's tooltip, not a notice; a fallback is a notice", () => {
    const choice = { code: 'backend-choice', message: 'WASM ran: WebGPU was not used because no WebGPU adapter was found.' };
    const cut = { code: 'truncated', message: 'The decoder input was cut.' };
    assert.deepEqual(splitNotices([choice, cut]), { shown: ['The decoder input was cut.'], backendTitle: choice.message });
    const fallback = { code: 'backend', message: 'WebGPU is not available here (no adapter), so WASM ran instead.' };
    assert.deepEqual(splitNotices([fallback]), { shown: [fallback.message], backendTitle: null });
  });
});

describe('the status bar keeps naming the model of the trace on show', () => {
  test('before any run it names the selected model', () => {
    const view = modelStatusView({ selected: 'builtin:tiny-decoder' });
    assert.equal(view.text, '$(eye) tiny-decoder');
    assert.match(view.tooltip, /Model: `builtin:tiny-decoder`/);
  });

  test('a failed run with another model leaves the shown trace named, and says what failed', () => {
    const view = modelStatusView({
      selected: '/work/models/missing.onnx',
      shown: { model: 'builtin:trained-decoder', backend: 'native', detail: 'Native CPU ran.' },
      failed: { model: '/work/models/missing.onnx', message: 'missing.onnx was not found.' },
    });
    assert.equal(view.text, '$(eye) trained-decoder · native $(warning)');
    assert.match(view.tooltip, /Model of the trace on show: `builtin:trained-decoder`/);
    assert.match(view.tooltip, /The last run, with `\/work\/models\/missing\.onnx`, failed: missing\.onnx was not found\. The panel still shows the trace above\./);
    assert.doesNotMatch(view.tooltip, /Selected for the next run/, 'the failed model is already named');
  });

  test('a model selected but not yet run is named as the next run, not as the shown one', () => {
    const view = modelStatusView({ selected: 'builtin:tiny-encdec', shown: { model: 'builtin:tiny-decoder', backend: 'reference' } });
    assert.equal(view.text, '$(eye) tiny-decoder · reference');
    assert.match(view.tooltip, /Selected for the next run: `builtin:tiny-encdec`/);
  });

  test('a Hub model shown at its revision is the selected one', () => {
    assert.equal(sameModel('hf:org/name', 'hf:org/name@0123abc'), true);
    assert.equal(sameModel('hf:org/name', 'hf:org/name-2@0123abc'), false);
    assert.equal(shortModelName('hf:org/name@0123abc'), 'org/name@0123abc');
    assert.equal(shortModelName('/a/b/model.onnx'), 'model.onnx');
    assert.doesNotMatch(modelStatusView({ selected: 'hf:org/name', shown: { model: 'hf:org/name@0123abc', backend: 'wasm' } }).tooltip, /Selected for the next run/);
  });

  test("the backend's detail: the fallback first, then auto's choice", () => {
    assert.equal(backendDetail({ notices: [{ code: 'backend-choice', message: 'B.' }, { code: 'truncated', message: 'T.' }, { code: 'backend', message: 'A.' }] }), 'A. B.');
    assert.equal(backendDetail({ notices: [{ code: 'truncated', message: 'T.' }] }), undefined);
  });
});

describe('exports', () => {
  test('a button that cannot act says why', () => {
    assert.match(exportBlocked('csv', 'heatmap', false) ?? '', /run "Explain Attention" first/);
    assert.equal(exportBlocked('csv', 'stats', true), null);
    assert.match(exportBlocked('png', 'stats', true) ?? '', /switch to the Heatmap, Overview or Rollout tab/);
    assert.match(exportBlocked('svg', 'overview', true) ?? '', /switch to the Heatmap, Heads or Rollout tab/);
    assert.equal(exportBlocked('png', 'overview', true), null);
    assert.equal(exportBlocked('svg', 'heads', true), null);
  });

  test('the PNG holds the whole block at twice the SVG layout, and is as wide as its title', () => {
    assert.equal(PNG_SCALE, 2);
    // 23 tokens: the SVG's cell is min(16, floor(960 / 23) = 41) = 16, so 32 image px per cell.
    // Gutters: rows 30·2 + 20 = 80, columns 40·2 + 16 = 96; pad 20, title 52, legend 120.
    const short = pngLayout(23, 23, { rowLabel: 30, columnLabel: 40, title: 300 });
    assert.equal(short.cell, 32);
    assert.equal(short.labelStep, 1, 'every token labelled');
    assert.equal(short.gridLeft, 100); // 20 + 80
    assert.equal(short.gridTop, 148); // 52 + 96
    assert.equal(short.width, 976); // 100 + 23·32 + 120 + 20 (the title needs only 40 + 600)
    assert.equal(short.height, 904); // 148 + 736 + 20
    // A title of 600 layout px needs 40 + 1200 image px: the image widens, the title is never cut.
    assert.equal(pngLayout(23, 23, { rowLabel: 30, columnLabel: 40, title: 600 }).width, 1240);
    // 1024 tokens: the SVG's cell is 2 (its floor), so 4 image px: the whole block is 4096 px wide.
    const long = pngLayout(1024, 1024, { rowLabel: 30, columnLabel: 30, title: 300 });
    assert.equal(long.cell, 4);
    assert.equal(long.labelStep, 7); // ceil(28 / 4)
    // 8192 tokens would be 16384 px at 2x: held to PNG_MAX_GRID (1 px a cell).
    const huge = pngLayout(8192, 8192, { rowLabel: 30, columnLabel: 30, title: 300 });
    assert.equal(huge.cell, 1);
    assert.equal(8192 * huge.cell, PNG_MAX_GRID);
  });
});

describe('messages in VS Code name settings and commands, never CLI flags', () => {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, unknown> } | Array<{ properties: Record<string, unknown> }>; commands: Array<{ title: string; category?: string }> };
  };
  const configuration = manifest.contributes.configuration;
  const settings = new Set((Array.isArray(configuration) ? configuration : [configuration]).flatMap((part) => Object.keys(part.properties)));
  const commands = manifest.contributes.commands.map((command) => command.title);

  test('every option reference has VS Code words that quote only real settings and commands', () => {
    for (const name of OPTION_NAMES) {
      const words = vscodeWords(optionRef(name));
      assert.doesNotMatch(words, /--[a-z]/, `${name}: ${words}`);
      for (const [, setting] of words.matchAll(/the setting "([^"]+)"/g)) assert.ok(settings.has(setting), `${name}: no setting ${setting}`);
      for (const [, command] of words.matchAll(/"Attention Lens: ([^"]+)"/g)) assert.ok(commands.includes(command), `${name}: no command ${command}`);
      assert.equal(VSCODE_OPTION_WORDS[name], words);
    }
  });

  test('a truncated run and a model without its tokenizer, as the panel shows them', async () => {
    const engine = new ExplainEngine();
    const trace = renderTraceWords(await engine.explain('The cat sat on the mat.', { model: 'builtin:tiny-decoder', maxTokens: 4 }), VSCODE_OPTION_WORDS);
    const cut = trace.notices.find((notice) => notice.code === 'truncated')?.message ?? '';
    assert.match(cut, /raise the setting "attentionLens\.maxTokens" to see more/);
    for (const notice of trace.notices) assert.doesNotMatch(notice.message, /--[a-z]|\{\{option:/, notice.message);
    const failure = await engine.explain('The cat sat.', { model: path.resolve(root, '../shared/fixtures/onnx/ort_bert_toy_op12.onnx') }).then(() => null, (error: unknown) => error);
    assert.ok(failure, 'a model without a tokenizer fails');
    const words = describeFailure(failure);
    assert.match(words, /the setting "attentionLens\.tokenizerPath"/, words);
    assert.doesNotMatch(words, /--[a-z]|\{\{option:/, words);
  });
});
