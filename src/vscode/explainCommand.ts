/**
 * @file "Explain Attention": run the engine on the editor's selection and show the result.
 * A newer run cancels the one in flight; runs show a cancellable progress notification.
 */
import * as vscode from 'vscode';
import { CancelledError, UserFacingError } from '../engine/errors';
import type { EngineClient } from '../engine/worker/engineClient';
import { AttentionPanel } from './attentionPanel';
import { readExplainOptions } from './settings';

export class ExplainController implements vscode.Disposable {
  private runId = 0;
  private inFlight: AbortController | undefined;

  constructor(
    private readonly engine: EngineClient,
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async explainSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage('Open a file and select some text to explain its attention.');
      return;
    }
    const selection = editor.selection;
    const text = editor.document.getText(selection);
    if (selection.isEmpty || text.trim().length === 0) {
      void vscode.window.showInformationMessage('Select some text first: Attention Lens explains the selected text.');
      return;
    }
    await this.run(text, editor.document.uri.toString());
  }

  private async run(text: string, source: string): Promise<void> {
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    const runId = ++this.runId;
    const options = readExplainOptions();
    const panel = AttentionPanel.show(this.extensionUri);
    const description = `${options.model ?? 'builtin'} on ${text.length} characters`;
    panel.runStarted(runId, description);
    this.log.info(`run ${runId}: ${description} from ${source}`);
    try {
      const trace = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Attention Lens: running ${options.model ?? 'model'}…`, cancellable: true },
        (_progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          return this.engine.explain(text, options, controller.signal);
        },
      );
      if (runId !== this.runId) return;
      const stages = trace.timings.map((timing) => `${timing.stage} ${timing.ms.toFixed(1)} ms`).join(', ');
      const tokens = trace.streams.map((stream) => `${stream.name} ${stream.tokens.length}`).join(', ');
      this.log.info(`run ${runId}: ${trace.model.name} [${trace.backend}] tokens ${tokens}; ${stages}`);
      for (const notice of trace.notices) this.log.info(`run ${runId}: ${notice}`);
      // The user may have closed the panel while the run was going: show it again with the result.
      AttentionPanel.show(this.extensionUri).showTrace(runId, trace);
    } catch (error) {
      if (runId !== this.runId) return;
      if (error instanceof CancelledError) {
        this.log.info(`run ${runId}: cancelled`);
        panel.runFailed(runId, 'Cancelled.', undefined, true);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const hint = error instanceof UserFacingError ? error.hint : undefined;
      this.log.error(`run ${runId}: ${error instanceof Error && error.stack ? error.stack : message}`);
      panel.runFailed(runId, message, hint, false);
      void vscode.window.showErrorMessage(hint ? `${message} ${hint}` : message);
    } finally {
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  dispose(): void {
    this.inFlight?.abort();
  }
}
