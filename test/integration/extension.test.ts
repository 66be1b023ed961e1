/**
 * Runs inside the real extension host: activation, commands, contributions, and a real run of
 * "Explain Attention" on a selection that opens the Attention panel.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

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

function attentionTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) =>
    tab.input instanceof vscode.TabInputWebview && tab.input.viewType.endsWith('attentionLens.panel'));
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
    for (const command of ['attentionLens.explainSelection', 'attentionLens.showPanel']) {
      assert.ok(commands.includes(command), `${command} is not registered`);
    }
  });

  it('contributes "Explain Attention" to the editor context menu only when text is selected', () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { menus: Record<string, MenuItem[]>; commands: Array<{ command: string; title: string }> } };
    const entry = manifest.contributes.menus['editor/context'].find((item) => item.command === 'attentionLens.explainSelection');
    assert.ok(entry, 'no editor/context entry');
    assert.equal(entry.when, 'editorHasSelection');
    assert.equal(manifest.contributes.commands.find((c) => c.command === 'attentionLens.explainSelection')?.title, 'Explain Attention');
  });

  it('explains a selection and shows the Attention panel', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const document = await vscode.workspace.openTextDocument({ content: 'The cat sat on the mat.\nSecond line.', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(0, 0, 0, 23);
    await vscode.commands.executeCommand('attentionLens.explainSelection');
    const tab = await waitFor('the Attention panel', () => attentionTabs()[0]);
    assert.equal(tab.label, 'Attention');
  });

  it('does not open the panel when nothing is selected', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const document = await vscode.workspace.openTextDocument({ content: 'no selection here', language: 'plaintext' });
    const editor = await vscode.window.showTextDocument(document);
    editor.selection = new vscode.Selection(0, 3, 0, 3);
    await vscode.commands.executeCommand('attentionLens.explainSelection');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(attentionTabs().length, 0);
  });
});
