/**
 * @file The large Attention panel in the editor area ("Attention Lens: Open Attention in Editor"),
 * for wide heatmaps. It shows the same runs as the side view.
 */
import * as vscode from 'vscode';
import { WebviewHost, type WebviewHostEvents, type WebviewHostSource } from './webviewHost';

export class AttentionPanel implements vscode.Disposable {
  static readonly viewType = 'attentionLens.panel';

  readonly host: WebviewHost;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    source: WebviewHostSource,
    events: WebviewHostEvents,
    private readonly onDisposed: () => void,
  ) {
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    this.host = new WebviewHost(panel.webview, extensionUri, source, events);
    this.disposables.push(this.host, panel.onDidDispose(() => this.dispose()));
  }

  static create(extensionUri: vscode.Uri, source: WebviewHostSource, events: WebviewHostEvents, onDisposed: () => void): AttentionPanel {
    const panel = vscode.window.createWebviewPanel(AttentionPanel.viewType, 'Attention', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    });
    return new AttentionPanel(panel, extensionUri, source, events, onDisposed);
  }

  reveal(): void {
    this.panel.reveal(undefined, true);
  }

  get active(): boolean {
    return this.panel.active;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.panel.dispose();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
    this.onDisposed();
  }
}
