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
    onViewStateChanged: () => void,
  ) {
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    this.host = new WebviewHost(panel.webview, extensionUri, source, events);
    this.disposables.push(this.host, panel.onDidDispose(() => this.dispose()), panel.onDidChangeViewState(() => onViewStateChanged()));
  }

  static create(extensionUri: vscode.Uri, source: WebviewHostSource, events: WebviewHostEvents, onDisposed: () => void, onViewStateChanged: () => void): AttentionPanel {
    const panel = vscode.window.createWebviewPanel(AttentionPanel.viewType, 'Attention', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    });
    return new AttentionPanel(panel, extensionUri, source, events, onDisposed, onViewStateChanged);
  }

  reveal(): void {
    this.panel.reveal(undefined, true);
  }

  /** The panel is the focused editor. */
  get active(): boolean {
    return this.panel.active;
  }

  /** The panel's tab is the shown one in its group (it may be behind another tab). */
  get visible(): boolean {
    return this.panel.visible;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.panel.dispose();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
    this.onDisposed();
  }
}
