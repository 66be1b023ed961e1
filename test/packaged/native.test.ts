/**
 * Runs inside the extension host of a code-server that has the packaged linux-x64 .vsix installed
 * (no development folder): the installed copy activates and its models run on `native`, with the
 * onnxruntime-node binary the .vsix carries in dist/node_modules/. A .vsix without it would fall
 * back to WASM with a notice, and these tests fail.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AttentionTrace } from '../../src/shared/trace';
import type { AttentionLensApi } from '../../src/vscode/extension';

const EXTENSION_ID = 'attention-lens.attention-lens';

function installed(): vscode.Extension<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed`);
  return extension;
}

function notices(trace: AttentionTrace): string {
  return trace.notices.map((notice) => `${notice.code}: ${notice.message}`).join(' | ') || 'no notices';
}

/** Explains a short text with `model` on `backend` and returns the trace. */
async function explain(model: string, backend: string): Promise<AttentionTrace> {
  const config = vscode.workspace.getConfiguration('attentionLens');
  await config.update('model', model, vscode.ConfigurationTarget.Global);
  await config.update('backend', backend, vscode.ConfigurationTarget.Global);
  try {
    const document = await vscode.workspace.openTextDocument({ content: 'The cat sat on the mat because it was warm.', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(0, 0, 0, document.lineAt(0).text.length);
    const lens = await installed().activate();
    const finished = lens.nextRun();
    await vscode.commands.executeCommand('attentionLens.explainSelection');
    const result = await finished;
    assert.equal(result.error, undefined, String(result.error));
    assert.ok(result.trace);
    assert.ok(result.trace.blocks.length > 0, 'the trace has attention blocks');
    return result.trace;
  } finally {
    await config.update('model', undefined, vscode.ConfigurationTarget.Global);
    await config.update('backend', undefined, vscode.ConfigurationTarget.Global);
  }
}

describe('The installed linux-x64 .vsix', () => {
  it('is the copy installed from the .vsix, not a development folder', async () => {
    const extension = installed();
    assert.equal(path.basename(path.dirname(extension.extensionPath)), 'extensions', extension.extensionPath);
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  it('runs a built-in model on native when the backend is native', async function () {
    this.timeout(120_000);
    const trace = await explain('builtin:tiny-decoder', 'native');
    assert.equal(trace.backend, 'native', `ran on ${trace.backend} (${notices(trace)})`);
    // Native ran as asked: no backend notice (a fallback to WASM would bring one).
    assert.deepEqual(trace.notices.filter((notice) => notice.code === 'backend'), [], notices(trace));
  });

  it('picks native with auto, and its choice note says native CPU ran', async function () {
    this.timeout(120_000);
    const trace = await explain('builtin:paper-base', 'auto');
    if (trace.backend === 'webgpu' && trace.adapter) this.skip(); // a real GPU beat the CPU here
    assert.equal(trace.backend, 'native', `ran on ${trace.backend} (${notices(trace)})`);
    // auto chose: a choice note (shown beside the backend), not a fallback notice.
    assert.deepEqual(trace.notices.filter((each) => each.code === 'backend'), [], notices(trace));
    const notice = trace.notices.find((each) => each.code === 'backend-choice')?.message ?? '';
    assert.match(notice, /^Native CPU \(onnxruntime-node \d+\.\d+\.\d+, \d+ threads?\) ran/, notices(trace));
  });
});
