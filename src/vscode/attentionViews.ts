/**
 * @file Every Attention webview (the side view and the optional editor panel) and the state they
 * show: the current run's trace, where in which document its text came from, and what the user is
 * looking at. Runs are broadcast to all of them; block data is answered from the current trace.
 */
import * as vscode from 'vscode';
import type { AttentionTrace } from '../engine/trace';
import { type FromWebviewMessage, type ToWebviewMessage, traceOverview } from '../protocol';
import { AttentionPanel } from './attentionPanel';
import { AttentionViewProvider } from './attentionView';
import { readDisplaySettings } from './settings';
import type { WebviewHost, WebviewHostEvents, WebviewHostSource } from './webviewHost';

/** Where the analysed text sits in the editor, to map token offsets back to document ranges. */
export interface TraceOrigin {
  document: vscode.TextDocument;
  /** Document offset of the first character of the analysed text. */
  baseOffset: number;
  /** The document's version at the run; an edit after it makes the offsets stale. */
  version: number;
}

export interface CurrentTrace {
  runId: number;
  trace: AttentionTrace;
  origin: TraceOrigin | undefined;
}

export interface CurrentView {
  runId: number;
  blockIndex: number;
  head: number | 'mean';
}

export class AttentionViews implements vscode.Disposable, WebviewHostSource {
  readonly sideView: AttentionViewProvider;
  private panel: AttentionPanel | undefined;
  private current: CurrentTrace | undefined;
  /** The latest runStarted / runFailed, replayed after the trace to a reloaded page. */
  private status: ToWebviewMessage | undefined;
  private view: CurrentView | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly hoverEmitter = new vscode.EventEmitter<Extract<FromWebviewMessage, { type: 'hoverQuery' }>>();
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** A webview's pointer moved over a query row (or off the heatmap). */
  readonly onDidHover = this.hoverEmitter.event;
  /** The trace, the visible webviews or the shown block changed. */
  readonly onDidChange = this.changeEmitter.event;
  private readonly events: WebviewHostEvents;

  constructor(private readonly extensionUri: vscode.Uri) {
    this.events = {
      onHover: (message) => this.hoverEmitter.fire(message),
      onViewChanged: (message) => {
        this.view = { runId: message.runId, blockIndex: message.blockIndex, head: message.head };
        this.changeEmitter.fire();
      },
      onCommand: (command) => void vscode.commands.executeCommand(command),
    };
    this.sideView = new AttentionViewProvider(extensionUri, this, this.events, () => this.changeEmitter.fire());
    this.disposables.push(
      this.sideView,
      this.hoverEmitter,
      this.changeEmitter,
      vscode.window.registerWebviewViewProvider(AttentionViewProvider.viewId, this.sideView, { webviewOptions: { retainContextWhenHidden: true } }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('attentionLens.colorMap') || event.affectsConfiguration('attentionLens.defaultHead')) this.broadcast(this.configureMessage());
      }),
    );
  }

  // ---- WebviewHostSource ----------------------------------------------------------------------

  replay(): ToWebviewMessage[] {
    const messages: ToWebviewMessage[] = [this.configureMessage()];
    if (this.current) messages.push({ type: 'traceLoaded', runId: this.current.runId, trace: traceOverview(this.current.trace) });
    if (this.status) messages.push(this.status);
    return messages;
  }

  trace(runId: number): AttentionTrace | undefined {
    return this.current?.runId === runId ? this.current.trace : undefined;
  }

  // ---- state ----------------------------------------------------------------------------------

  get currentTrace(): CurrentTrace | undefined {
    return this.current;
  }

  get currentView(): CurrentView | undefined {
    return this.view?.runId === this.current?.runId ? this.view : undefined;
  }

  /** True while some Attention webview is on screen. */
  get anyVisible(): boolean {
    return this.sideView.visible || this.panel !== undefined;
  }

  private hosts(): WebviewHost[] {
    return [this.sideView.host, this.panel?.host].filter((host): host is WebviewHost => host !== undefined);
  }

  private broadcast(message: ToWebviewMessage): void {
    for (const host of this.hosts()) host.post(message);
  }

  private configureMessage(): ToWebviewMessage {
    const display = readDisplaySettings();
    return { type: 'configure', colorMap: display.colorMap, defaultView: display.defaultHead };
  }

  // ---- runs -----------------------------------------------------------------------------------

  runStarted(runId: number, description: string): void {
    this.status = { type: 'runStarted', runId, description };
    this.broadcast(this.status);
  }

  showTrace(runId: number, trace: AttentionTrace, origin: TraceOrigin | undefined): void {
    this.current = { runId, trace, origin };
    this.status = undefined;
    this.view = undefined;
    this.broadcast({ type: 'traceLoaded', runId, trace: traceOverview(trace) });
    this.changeEmitter.fire();
  }

  runFailed(runId: number, message: string, hint: string | undefined, cancelled: boolean): void {
    this.status = { type: 'runFailed', runId, message, ...(hint ? { hint } : {}), cancelled };
    this.broadcast(this.status);
  }

  /** Forgets the trace (its text was edited or closed): the webviews keep showing it, the editor tie-in stops. */
  detachOrigin(): void {
    if (this.current) this.current = { ...this.current, origin: undefined };
    this.changeEmitter.fire();
  }

  step(unit: 'layer' | 'step', direction: 'next' | 'previous'): void {
    this.broadcast({ type: 'step', unit, direction });
  }

  selectQuery(tokenIndex: number): void {
    const current = this.current;
    const view = this.currentView;
    if (!current || !view) return;
    const block = current.trace.blocks[view.blockIndex];
    if (!block) return;
    this.broadcast({ type: 'selectQuery', runId: current.runId, stream: block.queryStream, tokenIndex });
  }

  // ---- where results appear -------------------------------------------------------------------

  /** Shows the results where the "attentionLens.defaultView" setting says. */
  async reveal(): Promise<void> {
    if (readDisplaySettings().openIn === 'editor') this.openPanel();
    else await this.sideView.reveal();
  }

  openPanel(): void {
    if (this.panel) {
      this.panel.reveal();
      return;
    }
    this.panel = AttentionPanel.create(this.extensionUri, this, this.events, () => {
      this.panel = undefined;
      this.changeEmitter.fire();
    });
    this.changeEmitter.fire();
  }

  dispose(): void {
    this.panel?.dispose();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
