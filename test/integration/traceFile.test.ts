/**
 * Runs inside the real extension host: "Export Trace..." writes the current run as a trace file
 * (README "Trace files") that reads back equal to the run, with its notices' option references
 * kept; the trace file editor (`attentionLens.traceFile`) and "Open Trace..." show a saved trace in
 * the panel; a damaged file, a file of another schema and one over the trace ceiling show a message
 * in VS Code's words, never a stack.
 */
import * as assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { TraceFile } from '../../src/engine/traceFile/reader';
import { traceOverview } from '../../src/shared/protocol';
import type { AttentionTrace } from '../../src/shared/trace';
import { renderTraceWords } from '../../src/shared/traceWords';
import type { AttentionLensApi } from '../../src/vscode/extension';
import type { TraceEditorState } from '../../src/vscode/traceEditor';
import { VSCODE_OPTION_WORDS } from '../../src/vscode/words';

const EXTENSION_ID = 'attention-lens.attention-lens';
const VIEW_TYPE = 'attentionLens.traceFile';

async function api(): Promise<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded`);
  return extension.activate();
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

function workspaceFile(name: string): vscode.Uri {
  return vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, name);
}

/** Opens `uri` in the trace file editor and waits until its page has drawn the trace or its message. */
async function openInEditor(uri: vscode.Uri, until: (state: TraceEditorState) => boolean, open = () => vscode.commands.executeCommand('vscode.openWith', uri, VIEW_TYPE)): Promise<TraceEditorState> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  await open();
  const lens = await api();
  return waitFor(`the trace editor of ${uri.path}`, () => lens.traceEditors().find((state) => state.uri === uri.toString() && until(state)));
}

/** Explains "The cat sat on the mat." from a new editor, with the settings as they are; its trace. */
async function explainSentence(): Promise<AttentionTrace> {
  const document = await vscode.workspace.openTextDocument({ content: 'The cat sat on the mat.', language: 'plaintext' });
  const editor = await vscode.window.showTextDocument(document);
  editor.selection = new vscode.Selection(0, 0, 0, 23);
  const lens = await api();
  const finished = lens.nextRun();
  await vscode.commands.executeCommand('attentionLens.explainSelection');
  const result = await finished;
  assert.equal(result.error, undefined, String(result.error));
  return result.trace!;
}

describe('Trace files in the extension host', () => {
  const saved = workspaceFile('run.attn.safetensors');
  let run: AttentionTrace;

  it('"Export Trace..." writes the run as a trace file that reads back equal, option references kept', async function () {
    this.timeout(120_000);
    const config = vscode.workspace.getConfiguration('attentionLens');
    // Eight tokens of 23: the run carries a "truncated" notice that names the token setting.
    await config.update('maxTokens', 8, vscode.ConfigurationTarget.Global);
    try {
      run = await explainSentence();
    } finally {
      await config.update('maxTokens', undefined, vscode.ConfigurationTarget.Global);
    }
    assert.match(run.notices.find((notice) => notice.code === 'truncated')?.message ?? '', /the setting "attentionLens\.maxTokens"/);

    const written = await vscode.commands.executeCommand<vscode.Uri | undefined>('attentionLens.exportTraceFile', saved);
    assert.equal(written?.toString(), saved.toString());
    const file = await TraceFile.open(saved.fsPath);
    let back: AttentionTrace;
    try {
      back = await file.readTrace();
    } finally {
      await file.close();
    }
    // As the CLI's --save writes it: the option reference, for whichever host opens the file to word.
    assert.match(back.notices.find((notice) => notice.code === 'truncated')?.message ?? '', /\{\{option:maxTokens\}\}/);
    assert.deepEqual(renderTraceWords(back, VSCODE_OPTION_WORDS), run);
  });

  it('opens a trace file in its editor, where the panel draws the saved trace in VS Code\'s words', async function () {
    this.timeout(60_000);
    assert.ok(run, 'the export test ran first');
    const state = await openInEditor(saved, (candidate) => candidate.view !== undefined);
    assert.equal(state.failure, undefined);
    assert.deepEqual(state.trace, traceOverview(run));
    // The blocks stay in the file until the panel asks for them, and read back as the run made them.
    for (let index = 0; index < run.blocks.length; index++) assert.deepEqual(await state.readBlock!(index), run.blocks[index], `block ${index}`);
    assert.ok(state.view!.blockIndex >= 0 && state.view!.blockIndex < run.blocks.length, `shows block ${state.view!.blockIndex}`);
  });

  it('"Open Trace..." opens any *.safetensors trace given to it', async function () {
    this.timeout(60_000);
    const copy = workspaceFile('copy-of-run.safetensors');
    await writeFile(copy.fsPath, await readFile(saved.fsPath));
    const state = await openInEditor(copy, (candidate) => candidate.view !== undefined, () => vscode.commands.executeCommand('attentionLens.openTrace', copy));
    assert.deepEqual(state.trace, traceOverview(run));
  });

  it('a damaged file and another schema each show a message, not a stack; a trace over the run ceiling opens', async function () {
    this.timeout(90_000);
    const failureOf = async (uri: vscode.Uri): Promise<string> => {
      const state = await openInEditor(uri, (candidate) => candidate.failure !== undefined);
      assert.equal(state.trace, undefined);
      assert.doesNotMatch(state.failure!, /\n\s+at |Error:/, 'a stack or an error class reached the user');
      return state.failure!;
    };

    const damaged = workspaceFile('damaged.attn.safetensors');
    const good = await readFile(saved.fsPath);
    await writeFile(damaged.fsPath, good.subarray(0, good.length - 100));
    assert.match(await failureOf(damaged), /^damaged\.attn\.safetensors cannot be opened as a trace: .*(cut short|truncat|offset)/i);

    const schema = workspaceFile('schema2.attn.safetensors');
    const text = good.toString('latin1');
    assert.ok(text.includes('"attention_lens_schema":"1"'), 'the schema key is where the README says');
    await writeFile(schema.fsPath, Buffer.from(text.replace('"attention_lens_schema":"1"', '"attention_lens_schema":"2"'), 'latin1'));
    assert.match(await failureOf(schema), /schema 2.*schema 1/);

    const config = vscode.workspace.getConfiguration('attentionLens');
    // A ceiling far below this small trace: it bounds what a run keeps, not what a file shows, whose
    // blocks are read one at a time.
    await config.update('limits.maxTraceMB', 1e-6, vscode.ConfigurationTarget.Global);
    try {
      const big = workspaceFile('big.attn.safetensors');
      await writeFile(big.fsPath, good);
      const state = await openInEditor(big, (candidate) => candidate.view !== undefined);
      assert.equal(state.failure, undefined);
      assert.deepEqual(state.trace, traceOverview(run));
    } finally {
      await config.update('limits.maxTraceMB', undefined, vscode.ConfigurationTarget.Global);
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('an open trace file carries its errors and warnings in the Problems panel, and they go when it closes', async function () {
    this.timeout(120_000);
    const config = vscode.workspace.getConfiguration('attentionLens');
    const model = workspaceFile('models/leaky-causal/model.onnx');
    await config.update('model', model.fsPath, vscode.ConfigurationTarget.Global);
    let findings: AttentionTrace['analysis'];
    try {
      findings = (await explainSentence()).analysis;
    } finally {
      await config.update('model', undefined, vscode.ConfigurationTarget.Global);
    }
    const leaky = workspaceFile('leaky.attn.safetensors');
    await vscode.commands.executeCommand('attentionLens.exportTraceFile', leaky);
    await openInEditor(leaky, (candidate) => candidate.view !== undefined);
    const expected = (findings?.diagnostics ?? []).filter((finding) => finding.severity !== 'info');
    assert.ok(expected.some((finding) => finding.code === 'mask-leak'), 'the planted bug is found');
    const listed = await waitFor('the trace file\'s problems', () => {
      const problems = vscode.languages.getDiagnostics(leaky);
      return problems.length > 0 ? problems : undefined;
    });
    assert.deepEqual(listed.map((problem) => problem.code), expected.map((finding) => finding.code), 'the errors and warnings, no infos');
    const leak = listed.find((problem) => problem.code === 'mask-leak')!;
    assert.equal(leak.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(leak.source, 'Attention Lens');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitFor('the closed trace file\'s problems to go', () => (vscode.languages.getDiagnostics(leaky).length === 0 ? true : undefined));
  });
});
