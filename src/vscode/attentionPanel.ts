/**
 * @file The Attention panel: a webview in the editor area that shows the latest trace. Its HTML is
 * set once; runs and data travel as protocol messages, and block data is sent when asked for.
 */
import * as vscode from 'vscode';
import type { AttentionTrace } from '../engine/trace';
import { parseFromWebview, type ToWebviewMessage, traceOverview } from '../protocol';
import { makeNonce } from './nonce';

export class AttentionPanel implements vscode.Disposable {
  static readonly viewType = 'attentionLens.panel';
  private static current: AttentionPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private trace: { runId: number; value: AttentionTrace } | undefined;
  private lastRunMessage: ToWebviewMessage | undefined;
  private disposed = false;

  /** Shows the panel (creating it if needed) and returns it. */
  static show(extensionUri: vscode.Uri): AttentionPanel {
    if (AttentionPanel.current) {
      AttentionPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return AttentionPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(AttentionPanel.viewType, 'Attention', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    });
    AttentionPanel.current = new AttentionPanel(panel, extensionUri);
    return AttentionPanel.current;
  }

  private constructor(private readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri) {
    panel.webview.html = this.html(panel.webview, extensionUri);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
    );
  }

  runStarted(runId: number, description: string): void {
    this.post({ type: 'runStarted', runId, description });
  }

  showTrace(runId: number, trace: AttentionTrace): void {
    this.trace = { runId, value: trace };
    this.post({ type: 'traceLoaded', runId, trace: traceOverview(trace) });
  }

  runFailed(runId: number, message: string, hint: string | undefined, cancelled: boolean): void {
    this.post({ type: 'runFailed', runId, message, hint, cancelled });
  }

  private post(message: ToWebviewMessage): void {
    if (this.disposed) return;
    if (message.type !== 'blockData') this.lastRunMessage = message;
    void this.panel.webview.postMessage(message);
  }

  private onMessage(raw: unknown): void {
    const message = parseFromWebview(raw);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        // The page (re)loaded: replay the latest state so it never waits for the next run.
        if (this.lastRunMessage) void this.panel.webview.postMessage(this.lastRunMessage);
        break;
      case 'requestBlock': {
        const trace = this.trace;
        const block = trace?.runId === message.runId ? trace.value.blocks[message.blockIndex] : undefined;
        if (!block) return;
        // Copies, not views: VS Code would post a view's whole backing buffer (every block of the trace).
        this.post({
          type: 'blockData',
          requestId: message.requestId,
          runId: message.runId,
          blockIndex: message.blockIndex,
          probs: block.probs.slice(),
          mask: block.mask ? block.mask.slice() : null,
        });
        break;
      }
      default: {
        const unreachable: never = message;
        void unreachable;
      }
    }
  }

  private html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
    const nonce = makeNonce();
    const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'panel.css'));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Attention</title>
</head>
<body>
<main id="app" data-state="empty">
  <p id="status" role="status">Select text in an editor and run "Explain Attention".</p>
</main>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (AttentionPanel.current === this) AttentionPanel.current = undefined;
    this.panel.dispose();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
