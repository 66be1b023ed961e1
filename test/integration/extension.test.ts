/**
 * Runs inside the real extension host: activation, commands, contributions, and a real run of
 * "Explain Attention" on a selection that opens the Attention panel.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as vscode from 'vscode';
import type { AttentionTrace } from '../../src/shared/trace';
import type { AttentionLensApi } from '../../src/vscode/extension';

const EXTENSION_ID = 'attention-lens.attention-lens';

interface MenuItem {
  command: string;
  when?: string;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function api(): Promise<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

async function explain(text: string, selection: vscode.Selection): Promise<{ trace?: AttentionTrace; error?: Error }> {
  const document = await vscode.workspace.openTextDocument({ content: text, language: 'plaintext' });
  const editor = await vscode.window.showTextDocument(document);
  editor.selection = selection;
  const lens = await api();
  const finished = lens.nextRun();
  await vscode.commands.executeCommand('attentionLens.explainSelection');
  return finished;
}

describe('Attention Lens in the extension host', () => {
  it('is installed and activates', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded`);
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  it('registers its commands', async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const command of ['explainSelection', 'selectModel', 'showPanel', 'openInEditor', 'showOutput', 'nextLayer', 'previousLayer', 'nextStep', 'previousStep']) {
      assert.ok(commands.includes(`attentionLens.${command}`), `attentionLens.${command} is not registered`);
    }
  });

  it('contributes "Explain Attention" to the editor context menu only when text is selected', () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { menus: Record<string, MenuItem[]>; commands: Array<{ command: string; title: string }> } };
    const entry = manifest.contributes.menus['editor/context'].find((item) => item.command === 'attentionLens.explainSelection');
    assert.ok(entry, 'no editor/context entry');
    assert.equal(entry.when, 'editorHasSelection');
    assert.equal(manifest.contributes.commands.find((c) => c.command === 'attentionLens.explainSelection')?.title, 'Explain Attention');
  });

  it('explains a selection and shows the Attention view', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const result = await explain('The cat sat on the mat.\nSecond line.', new vscode.Selection(0, 0, 0, 23));
    assert.equal(result.error, undefined, String(result.error));
    assert.equal(result.trace?.streams[0].tokens.length, 23);
    const lens = await api();
    assert.equal(lens.currentTrace()?.createdAt, result.trace?.createdAt, 'the views show the trace of this run');
    await waitFor('the Attention view', () => (lens.viewVisible() ? true : undefined));
  });

  it('"attentionLens.logitLens" adds the logit lens to the run, whose last layer equals the predictions', async function () {
    this.timeout(60_000);
    const config = vscode.workspace.getConfiguration('attentionLens');
    await config.update('logitLens', true, vscode.ConfigurationTarget.Global);
    try {
      const result = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
      assert.equal(result.error, undefined, String(result.error));
      const lensLayers = result.trace?.logitLens ?? [];
      assert.ok(lensLayers.length > 0, 'the trace has a logit lens');
      const last = lensLayers[lensLayers.length - 1];
      const predictions = result.trace?.predictions?.find((entry) => entry.stream === last.stream);
      assert.ok(predictions, 'the trace has predictions for the lens\'s stream');
      assert.deepEqual(last.top.map((top) => top[0].id), predictions.top.map((top) => top[0].id), 'the last layer\'s lens is the predictions');
    } finally {
      await config.update('logitLens', undefined, vscode.ConfigurationTarget.Global);
    }
    const plain = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
    assert.equal(plain.trace?.logitLens, undefined, 'off again, no lens');
  });

  it('keeps a trace over the memory budget in the engine\'s temporary trace file, and removes it when a newer run replaces it', async () => {
    const lens = await api();
    // The test workspace sets attentionLens.memoryBudgetMB to 0: every trace goes through a file.
    const first = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
    assert.equal(first.error, undefined, String(first.error));
    const held = lens.currentStorage();
    assert.equal(held?.storage, 'file');
    assert.ok(held?.file && existsSync(held.file), `the trace file ${held?.file} exists while it is shown`);
    // With a budget the same run's trace stays in memory, and its numbers are the file's.
    const config = vscode.workspace.getConfiguration('attentionLens');
    await config.update('memoryBudgetMB', 64, vscode.ConfigurationTarget.Workspace);
    try {
      const second = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
      assert.equal(second.error, undefined, String(second.error));
      assert.equal(lens.currentStorage()?.storage, 'memory');
      assert.equal(second.trace?.blocks.length, first.trace?.blocks.length);
      second.trace?.blocks.forEach((block, index) => assert.deepEqual(block.probs, first.trace?.blocks[index].probs, `block ${index}`));
    } finally {
      await config.update('memoryBudgetMB', 0, vscode.ConfigurationTarget.Workspace);
    }
    await waitFor('the replaced trace\'s folder to go', () => (existsSync(path.dirname(held.file!)) ? undefined : true), 10_000);
  });

  it('the editor view opens on what the side view shows, and the side view follows the editor view', async function () {
    this.timeout(60_000);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const result = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
    assert.equal(result.error, undefined, String(result.error));
    const lens = await api();
    const runId = (): number | undefined => lens.shownViews().side?.runId;
    await waitFor('the side view to show the run', () => runId());
    await vscode.commands.executeCommand('attentionLens.showBlock', 2, 1);
    await waitFor('the side view on block 2, head 1', () => (lens.shownViews().side?.blockIndex === 2 && lens.shownViews().side?.head === 1 ? true : undefined));
    await vscode.commands.executeCommand('attentionLens.openInEditor');
    const opened = await waitFor('the editor view to report what it shows', () => lens.shownViews().editor);
    assert.deepEqual(opened, lens.shownViews().side, 'the editor view opened on the side view\'s block and head');
    // Now the editor view is the active one: a block chosen there is followed by the side view.
    await vscode.commands.executeCommand('attentionLens.showBlock', 1, 'mean');
    await waitFor('the editor view on block 1, mean of heads', () => (lens.shownViews().editor?.blockIndex === 1 && lens.shownViews().editor?.head === 'mean' ? true : undefined));
    const followed = (): true | undefined => (lens.shownViews().side?.blockIndex === 1 && lens.shownViews().side?.head === 'mean' ? true : undefined);
    if (lens.shownViews().sideVisible) {
      await waitFor('the side view to follow', followed);
    } else {
      // A side view out of sight (the workbench may hide the side bar for the editor) catches up
      // when it is shown again.
      await vscode.commands.executeCommand('attentionLens.view.focus');
      await waitFor('the side view, shown again, to catch up', followed);
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('does not run when nothing is selected', async () => {
    const lens = await api();
    const before = lens.currentTrace();
    const document = await vscode.workspace.openTextDocument({ content: 'no selection here', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(0, 3, 0, 3);
    await vscode.commands.executeCommand('attentionLens.explainSelection');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(lens.currentTrace(), before);
  });

  it('an unreadable model file gives an error, and the extension keeps working', async () => {
    const config = vscode.workspace.getConfiguration('attentionLens');
    const broken = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'broken.onnx');
    await vscode.workspace.fs.writeFile(broken, new TextEncoder().encode('this is not an ONNX model'));
    await config.update('model', broken.fsPath, vscode.ConfigurationTarget.Global);
    try {
      const failed = await explain('Some text.', new vscode.Selection(0, 0, 0, 10));
      assert.ok(failed.error, 'expected an error');
      assert.match(failed.error.message, /broken\.onnx|ONNX/);
    } finally {
      await config.update('model', undefined, vscode.ConfigurationTarget.Global);
    }
    const recovered = await explain('Some text.', new vscode.Selection(0, 0, 0, 10));
    assert.equal(recovered.error, undefined, String(recovered.error));
    assert.equal(recovered.trace?.model.name, 'builtin:trained-decoder');
  });


  it('a model with a planted bug shows its problem in the Problems panel, on the model file', async () => {
    const config = vscode.workspace.getConfiguration('attentionLens');
    const model = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'models', 'leaky-causal', 'model.onnx');
    await config.update('model', model.fsPath, vscode.ConfigurationTarget.Global);
    try {
      const result = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
      assert.equal(result.error, undefined, String(result.error));
      const problems = vscode.languages.getDiagnostics(model);
      const leaks = problems.filter((problem) => problem.code === 'mask-leak');
      assert.ok(leaks.length > 0, `no mask-leak among: ${problems.map((p) => `${String(p.code)}: ${p.message}`).join(' | ')}`);
      assert.equal(leaks[0].severity, vscode.DiagnosticSeverity.Error);
      assert.match(leaks[0].message, /above the diagonal|future|leak/i);
      assert.equal(leaks[0].source, 'Attention Lens');
      assert.equal(leaks[0].relatedInformation?.[0].location.uri.scheme, 'attention-lens-evidence');
    } finally {
      await config.update('model', undefined, vscode.ConfigurationTarget.Global);
    }
    const healthy = await explain('The cat sat on the mat.', new vscode.Selection(0, 0, 0, 23));
    assert.equal(healthy.error, undefined);
    assert.deepEqual(vscode.languages.getDiagnostics(model), [], 'a new run replaces the old findings');
  });

  it('soak: 200 runs on varying selections; the host heap returns near its level and no panels pile up', async function () {
    this.timeout(300_000);
    // A collectable heap makes the comparison about leaks, not about when the collector ran.
    v8.setFlagsFromString('--expose-gc');
    const collect = vm.runInNewContext('gc') as () => void;
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const lines = Array.from({ length: 20 }, (_, i) => `Line ${i}: ${'attention '.repeat(1 + (i % 7))}${'x'.repeat(i)}`);
    const document = await vscode.workspace.openTextDocument({ content: lines.join('\n'), language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    const lens = await api();
    const runOnce = async (index: number): Promise<void> => {
      const line = index % lines.length;
      editor.selection = new vscode.Selection(line, 0, line, lines[line].length - (index % 5));
      const finished = lens.nextRun();
      await vscode.commands.executeCommand('attentionLens.explainSelection');
      const result = await finished;
      assert.equal(result.error, undefined, `run ${index}: ${String(result.error)}`);
    };
    await runOnce(0);
    collect();
    const baseline = process.memoryUsage().heapUsed;
    const traceFolders = (): number => readdirSync(tmpdir()).filter((name) => name.startsWith('attention-lens-trace-')).length;
    const foldersBefore = traceFolders();
    for (let i = 1; i < 200; i++) await runOnce(i);
    await new Promise((resolve) => setTimeout(resolve, 500));
    collect();
    const after = process.memoryUsage().heapUsed;
    console.log(`soak: host heap ${(baseline / 2 ** 20).toFixed(1)} MB after the first run, ${(after / 2 ** 20).toFixed(1)} MB after 200`);
    assert.ok(after <= baseline * 1.1, `the host heap grew from ${baseline} to ${after} bytes`);
    // Each run's temporary trace file went when the next run replaced it: only the shown one is left.
    assert.ok(traceFolders() <= foldersBefore, `${traceFolders() - foldersBefore} temporary trace folders were left behind`);
    const attentionTabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => tab.input instanceof vscode.TabInputWebview);
    assert.ok(attentionTabs.length <= 1, `${attentionTabs.length} webview panels are open`);
  });
});
