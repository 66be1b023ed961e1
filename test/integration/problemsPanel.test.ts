/**
 * What VS Code's Problems panel gets from a run (src/vscode/problems.ts), in the real extension
 * host: the errors and warnings, never the infos (a random-weight preset's dozens of uniform heads
 * stay in the Attention panel); on the model file when it is in the workspace, else on a read-only
 * note of the run's findings, one line per finding, where each diagnostic points at its line.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AttentionLensApi } from '../../src/vscode/extension';

const EXTENSION_ID = 'attention-lens.attention-lens';

async function api(): Promise<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

/** Runs the model on "The cat sat on the mat." and waits for the run to end; rejects with its error. */
async function runWith(model: string): Promise<void> {
  const config = vscode.workspace.getConfiguration('attentionLens');
  await config.update('model', model, vscode.ConfigurationTarget.Global);
  const document = await vscode.workspace.openTextDocument({ content: 'The cat sat on the mat.', language: 'plaintext' });
  const editor = await vscode.window.showTextDocument(document);
  editor.selection = new vscode.Selection(0, 0, 0, 23);
  const lens = await api();
  const finished = lens.nextRun() as Promise<{ error?: Error }>;
  await vscode.commands.executeCommand('attentionLens.explainSelection');
  const result = await finished;
  if (result.error) throw result.error;
}

/** Every diagnostic Attention Lens has put in the Problems panel, by resource. */
function ours(): Array<[vscode.Uri, vscode.Diagnostic[]]> {
  return vscode.languages.getDiagnostics()
    .map(([uri, list]): [vscode.Uri, vscode.Diagnostic[]] => [uri, list.filter((d) => d.source === 'Attention Lens')])
    .filter(([, list]) => list.length > 0);
}

describe("VS Code's Problems panel lists a run's errors and warnings", function () {
  this.timeout(180_000);
  let outside: string;

  before(() => {
    outside = mkdtempSync(path.join(tmpdir(), 'al-problems-'));
  });

  after(async () => {
    await vscode.workspace.getConfiguration('attentionLens').update('model', undefined, vscode.ConfigurationTarget.Global);
    rmSync(outside, { recursive: true, force: true });
  });

  it("a random-weight preset's infos stay out of it", async () => {
    await runWith('builtin:paper-base');
    assert.deepEqual(ours().map(([uri, list]) => `${uri.toString()}: ${list.length}`), []);
  });

  it('a model file in the workspace carries its errors; the same model outside the workspace has them on a findings note, one line each', async () => {
    const inWorkspace = vscode.Uri.joinPath(vscode.workspace.workspaceFolders![0].uri, 'models', 'leaky-causal', 'model.onnx');
    await runWith(inWorkspace.fsPath);
    const onFile = vscode.languages.getDiagnostics(inWorkspace).filter((d) => d.source === 'Attention Lens');
    assert.ok(onFile.some((d) => d.code === 'mask-leak'), onFile.map((d) => String(d.code)).join(', '));
    assert.ok(onFile.every((d) => d.severity !== vscode.DiagnosticSeverity.Information), 'no infos');
    assert.equal(ours().length, 1, 'only the model file');

    // The same planted bug, exported outside the workspace: no file of the workspace to carry it.
    const extensionPath = vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath;
    const model = path.join(outside, 'leaky.onnx');
    execFileSync(process.execPath, [path.join(extensionPath, 'dist/cli.js'), '--model', 'builtin:tiny-decoder', '--export-onnx', model, '--fault', 'causal-off-by-one'], { stdio: 'pipe' });
    await runWith(model);
    const found = ours();
    assert.equal(found.length, 1, found.map(([uri]) => uri.toString()).join(', '));
    const [note, listed] = found[0];
    assert.equal(note.scheme, 'attention-lens-evidence');
    assert.match(note.path, /leaky\.onnx findings\.md$/);
    // Same model, same text: the same findings as on the workspace file, and the old ones are gone.
    assert.deepEqual(listed.map((d) => [d.code, d.severity, d.message]), onFile.map((d) => [d.code, d.severity, d.message]));
    assert.deepEqual(vscode.languages.getDiagnostics(inWorkspace).filter((d) => d.source === 'Attention Lens'), []);
    const text = await vscode.workspace.openTextDocument(note);
    for (const d of listed) {
      assert.ok(text.lineAt(d.range.start.line).text.includes(`${String(d.code)} (`), `line ${d.range.start.line}: ${text.lineAt(d.range.start.line).text}`);
      assert.ok(text.lineAt(d.range.start.line).text.endsWith(d.message), 'the line holds its message');
    }

    // A run that fails puts back the findings of the trace still on show (clearing them meanwhile).
    await assert.rejects(runWith(path.join(outside, 'missing.onnx')));
    assert.deepEqual(ours().map(([uri, list]) => [uri.toString(), list.length]), [[note.toString(), listed.length]]);
  });
});
