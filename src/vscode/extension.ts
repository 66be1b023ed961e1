/**
 * @file Extension entry: constructs the engine client, the controller and the commands. Kept thin;
 * the work lives in the modules it wires together.
 */
import * as vscode from 'vscode';
import { EngineClient } from '../engine/worker/engineClient';
import { AttentionPanel } from './attentionPanel';
import { ExplainController } from './explainCommand';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Attention Lens', { log: true });
  const engine = new EngineClient(context.asAbsolutePath('dist/engineWorker.js'));
  const controller = new ExplainController(engine, context.extensionUri, log);
  context.subscriptions.push(
    log,
    controller,
    { dispose: () => void engine.dispose() },
    vscode.commands.registerCommand('attentionLens.explainSelection', () => controller.explainSelection()),
    vscode.commands.registerCommand('attentionLens.showPanel', () => AttentionPanel.show(context.extensionUri)),
  );
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
