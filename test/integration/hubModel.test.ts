/**
 * Runs inside the real extension host: a Hugging Face model by name (`hf:ORG/NAME`), fetched from a
 * Hub server started here on 127.0.0.1 into the (private) home's Hugging Face cache, runs on a
 * selection with the repository's own tokenizer and shows in the Attention view.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { AttentionLensApi } from '../../src/vscode/extension';
import { startHubServer } from '../support/hubServer';
import { testRepos } from '../support/hubRepos';

const EXTENSION_ID = 'attention-lens.attention-lens';

async function api(): Promise<AttentionLensApi> {
  const extension = vscode.extensions.getExtension<AttentionLensApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

describe('Hugging Face models in the extension host', () => {
  it('runs hf:ORG/NAME from a Hub server with the repository\'s tokenizer and shows it', async function () {
    this.timeout(180_000);
    const server = await startHubServer(testRepos());
    const config = vscode.workspace.getConfiguration('attentionLens');
    try {
      await config.update('hub.endpoint', server.endpoint, vscode.ConfigurationTarget.Global);
      await config.update('model', 'hf:lens-test/bert-toy', vscode.ConfigurationTarget.Global);
      const lens = await api();
      assert.equal(lens.model(), 'hf:lens-test/bert-toy');
      const document = await vscode.workspace.openTextDocument({ content: 'The cat sat on the mat.', language: 'plaintext' });
      const editor = await vscode.window.showTextDocument(document);
      editor.selection = new vscode.Selection(0, 0, 0, 23);
      const finished = lens.nextRun();
      await vscode.commands.executeCommand('attentionLens.explainSelection');
      const result = await finished;
      assert.equal(result.error, undefined, String(result.error));
      assert.equal(result.trace?.model.name, 'lens-test/bert-toy@main');
      assert.deepEqual(result.trace?.streams[0].tokens.map((token) => token.piece), ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]']);
      assert.equal(result.trace?.blocks.length, 5);
      assert.ok(server.requests.some((request) => request.server === 'cdn'), 'the model was downloaded');
      const deadline = Date.now() + 30_000;
      while (!lens.viewVisible() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(lens.viewVisible(), 'the Attention view shows the run');
    } finally {
      await config.update('model', undefined, vscode.ConfigurationTarget.Global);
      await config.update('hub.endpoint', undefined, vscode.ConfigurationTarget.Global);
      await server.close();
    }
  });
});
