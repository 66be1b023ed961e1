/**
 * @file One Attention webview (the side view or the editor panel): its locked-down HTML, set once,
 * and its side of the protocol. It replays the latest run state when the page (re)loads, answers
 * block requests from the current trace (src/shared/blockServer.ts, as the report and the bench
 * do), and hands hovers, view changes and commands to its owner.
 */
import * as vscode from 'vscode';
import type { LazyTrace } from '../shared/lazyTrace';
import { answerLazyBlockRequest } from '../shared/blockServer';
import { type FromWebviewMessage, parseFromWebview, type ToWebviewMessage } from '../shared/protocol';
import { makeNonce } from './nonce';
import { webviewHtml } from './webviewHtml';

/** What a host hands to its owner; each call says which host it came from. */
export interface WebviewHostEvents {
  onHover(host: WebviewHost, message: Extract<FromWebviewMessage, { type: 'hoverQuery' }>): void;
  onHoverRollout(host: WebviewHost, message: Extract<FromWebviewMessage, { type: 'hoverRollout' }>): void;
  onViewChanged(host: WebviewHost, message: Extract<FromWebviewMessage, { type: 'viewChanged' }>): void;
  onExportImage(host: WebviewHost, message: Extract<FromWebviewMessage, { type: 'exportImage' }>): void;
  onCommand(host: WebviewHost, command: string): void;
  onFocusChanged(host: WebviewHost, focused: boolean): void;
  /** The panel changed the heads to ablate; absent where the host cannot run the model (a trace file). */
  onAblation?(host: WebviewHost, message: Extract<FromWebviewMessage, { type: 'ablation' }>): void;
}

/** Where a host gets its state: what a newly loaded page needs, and the trace blocks come from. */
export interface WebviewHostSource {
  /** The messages that bring `host`'s fresh page up to date, in order (configure, trace, what to show, run status). */
  replay(host: WebviewHost): ToWebviewMessage[];
  /** The trace of run `runId`, if it is still the current one. */
  trace(runId: number): LazyTrace | undefined;
}

export class WebviewHost implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  constructor(
    private readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    private readonly source: WebviewHostSource,
    private readonly events: WebviewHostEvents,
  ) {
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    };
    webview.html = WebviewHost.html(webview, extensionUri);
    this.disposables.push(webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)));
  }

  post(message: ToWebviewMessage): void {
    if (this.disposed) return;
    void this.webview.postMessage(message);
  }

  private onMessage(raw: unknown): void {
    const message = parseFromWebview(raw);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        for (const replayed of this.source.replay(this)) this.post(replayed);
        break;
      case 'requestBlock': {
        // No reply for a replaced run or a block it does not have: the protocol has no error reply
        // for blocks, and the panel drops replies for runs it no longer shows.
        // A block of a big run is read from its trace file: the reply comes when the read is done.
        void answerLazyBlockRequest((runId) => this.source.trace(runId), message, 'posted').then(
          (answer) => {
            if (answer.kind === 'reply') this.post(answer.message);
          },
          // The run was replaced and its file removed while the block was read: the panel no longer asks for it.
          () => undefined,
        );
        break;
      }
      case 'hoverQuery':
        this.events.onHover(this, message);
        break;
      case 'hoverRollout':
        this.events.onHoverRollout(this, message);
        break;
      case 'viewChanged':
        this.events.onViewChanged(this, message);
        break;
      case 'exportImage':
        this.events.onExportImage(this, message);
        break;
      case 'runCommand':
        this.events.onCommand(this, message.command);
        break;
      case 'focusChanged':
        this.events.onFocusChanged(this, message.focused);
        break;
      case 'ablation':
        this.events.onAblation?.(this, message);
        break;
      default: {
        const unreachable: never = message;
        void unreachable;
      }
    }
  }

  static html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
    return webviewHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'panel.css')).toString(),
      nonce: makeNonce(),
    });
  }

  dispose(): void {
    this.disposed = true;
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
