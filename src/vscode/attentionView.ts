/**
 * @file The "Attention" view in the Attention Lens side bar: the default place results appear.
 */
import * as vscode from 'vscode';
import { WebviewHost, type WebviewHostEvents, type WebviewHostSource } from './webviewHost';

export class AttentionViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'attentionLens.view';

  private view: vscode.WebviewView | undefined;
  private viewHost: WebviewHost | undefined;
  /** Listeners of the current view; replaced when VS Code resolves the view again. */
  private viewListeners: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly source: WebviewHostSource,
    private readonly events: WebviewHostEvents,
    private readonly onVisibilityChanged: () => void,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.releaseView();
    this.view = view;
    this.viewHost = new WebviewHost(view.webview, this.extensionUri, this.source, this.events);
    this.viewListeners = [
      view.onDidDispose(() => {
        // A late dispose of an older view must not wipe the current one.
        if (this.view !== view) return;
        this.releaseView();
        this.onVisibilityChanged();
      }),
      view.onDidChangeVisibility(() => this.onVisibilityChanged()),
    ];
    this.onVisibilityChanged();
  }

  private releaseView(): void {
    this.viewHost?.dispose();
    this.viewHost = undefined;
    this.view = undefined;
    while (this.viewListeners.length > 0) this.viewListeners.pop()?.dispose();
  }

  get host(): WebviewHost | undefined {
    return this.viewHost;
  }

  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  /** Opens the side bar on the view (resolving it if needed) without taking focus from the editor. */
  async reveal(): Promise<void> {
    if (this.view) {
      this.view.show(true);
      return;
    }
    await vscode.commands.executeCommand(`${AttentionViewProvider.viewId}.focus`, { preserveFocus: true });
  }

  dispose(): void {
    this.releaseView();
  }
}
