/**
 * @file Every Attention webview (the side view and the optional editor panel) and the state they
 * show: the current run's trace, where in which document its text came from, and what the user is
 * looking at. Runs are broadcast to all of them; block data is answered from the current trace.
 */
import * as vscode from 'vscode';
import type { LazyTrace } from '../shared/lazyTrace';
import type { FromWebviewMessage, ToWebviewMessage } from '../shared/protocol';
import { AttentionPanel } from './attentionPanel';
import { AttentionViewProvider } from './attentionView';
import type { HostTrace } from './hostTrace';
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
  /** The trace, read block by block (its shown and portable forms, its overview). */
  trace: HostTrace;
  origin: TraceOrigin | undefined;
}

export interface CurrentView {
  runId: number;
  blockIndex: number;
  head: number | 'mean';
}

function sameView(one: CurrentView, other: CurrentView): boolean {
  return one.runId === other.runId && one.blockIndex === other.blockIndex && one.head === other.head;
}

export class AttentionViews implements vscode.Disposable, WebviewHostSource {
  readonly sideView: AttentionViewProvider;
  private panel: AttentionPanel | undefined;
  private current: CurrentTrace | undefined;
  /** The latest runStarted / runFailed, replayed after the trace to a reloaded page. */
  private status: ToWebviewMessage | undefined;
  /** What each webview shows; the side view and the panel can look at different blocks. */
  private readonly views = new Map<WebviewHost, CurrentView>();
  /**
   * The block and head the user moved to last, in whichever webview: the others follow it, and a
   * webview that was hidden catches up when it is shown again.
   */
  private latestView: CurrentView | undefined;
  /**
   * A page that (re)loads reports its first view before the view it was told to open on; those
   * reports are not the user's moves, so the other webviews do not follow them (at most two).
   */
  private readonly joining = new Map<WebviewHost, { view: CurrentView; reportsLeft: number }>();
  /** The webview that has keyboard focus, as it reports. */
  private focusedHost: WebviewHost | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly hoverEmitter = new vscode.EventEmitter<Extract<FromWebviewMessage, { type: 'hoverQuery' }>>();
  private readonly hoverRolloutEmitter = new vscode.EventEmitter<Extract<FromWebviewMessage, { type: 'hoverRollout' }>>();
  private readonly exportImageEmitter = new vscode.EventEmitter<Extract<FromWebviewMessage, { type: 'exportImage' }>>();
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  private readonly ablationEmitter = new vscode.EventEmitter<Extract<FromWebviewMessage, { type: 'ablation' }>>();
  /** A webview changed the heads to ablate (the explain controller runs the text again). */
  readonly onDidRequestAblation = this.ablationEmitter.event;
  /** A webview's pointer moved over a query row (or off the heatmap). */
  readonly onDidHover = this.hoverEmitter.event;
  /** A webview's pointer moved over a rollout row (or off it). */
  readonly onDidHoverRollout = this.hoverRolloutEmitter.event;
  /** A webview asked to save an image of what it shows. */
  readonly onDidRequestImageExport = this.exportImageEmitter.event;
  /** The trace, the visible webviews or the shown block changed. */
  readonly onDidChange = this.changeEmitter.event;
  private readonly events: WebviewHostEvents;

  constructor(private readonly extensionUri: vscode.Uri) {
    this.events = {
      onHover: (_host, message) => this.hoverEmitter.fire(message),
      onHoverRollout: (_host, message) => this.hoverRolloutEmitter.fire(message),
      onViewChanged: (host, message) => {
        const view = { runId: message.runId, blockIndex: message.blockIndex, head: message.head };
        this.views.set(host, view);
        if (!this.joined(host, view)) this.follow(host, view);
        this.changeEmitter.fire();
      },
      onExportImage: (_host, message) => this.exportImageEmitter.fire(message),
      onAblation: (_host, message) => this.ablationEmitter.fire(message),
      onCommand: (_host, command) => void vscode.commands.executeCommand(command),
      onFocusChanged: (host, focused) => {
        this.focusedHost = focused ? host : this.focusedHost === host ? undefined : this.focusedHost;
        void vscode.commands.executeCommand('setContext', 'attentionLens.webviewFocused', this.focusedHost !== undefined);
      },
    };
    this.sideView = new AttentionViewProvider(extensionUri, this, this.events, () => this.visibilityChanged());
    this.disposables.push(
      this.sideView,
      this.hoverEmitter,
      this.hoverRolloutEmitter,
      this.exportImageEmitter,
      this.changeEmitter,
      this.ablationEmitter,
      vscode.window.registerWebviewViewProvider(AttentionViewProvider.viewId, this.sideView, { webviewOptions: { retainContextWhenHidden: true } }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('attentionLens.colorMap') || event.affectsConfiguration('attentionLens.defaultHead')) this.broadcast(this.configureMessage());
      }),
    );
  }

  // ---- WebviewHostSource ----------------------------------------------------------------------

  replay(host: WebviewHost): ToWebviewMessage[] {
    const messages: ToWebviewMessage[] = [this.configureMessage()];
    if (this.current) {
      messages.push({ type: 'traceLoaded', runId: this.current.runId, trace: this.current.trace.overview });
      // A page that opens (the editor view) starts on what the other one shows.
      const shown = this.viewOfAnother(host);
      if (shown) {
        messages.push({ type: 'showBlock', ...shown });
        this.joining.set(host, { view: shown, reportsLeft: 2 });
      }
    }
    if (this.status) messages.push(this.status);
    return messages;
  }

  trace(runId: number): LazyTrace | undefined {
    return this.current?.runId === runId ? this.current.trace.shown : undefined;
  }

  // ---- state ----------------------------------------------------------------------------------

  get currentTrace(): CurrentTrace | undefined {
    return this.current;
  }

  /** The webview the user works with now: the editor panel while it is the active editor, else the side view. */
  private activeHost(): WebviewHost | undefined {
    if (this.focusedHost) return this.focusedHost;
    if (this.panel?.active) return this.panel.host;
    return this.sideView.visible ? this.sideView.host : this.panel?.visible ? this.panel.host : undefined;
  }

  /** What the active webview shows, for the current run. */
  get currentView(): CurrentView | undefined {
    const host = this.activeHost();
    const view = host ? this.views.get(host) : undefined;
    return view?.runId === this.current?.runId ? view : undefined;
  }

  /** What the side view and the editor view show now (for tests). */
  shownViews(): { side?: CurrentView; editor?: CurrentView; sideVisible: boolean } {
    const side = this.sideView.host ? this.views.get(this.sideView.host) : undefined;
    const editor = this.panel ? this.views.get(this.panel.host) : undefined;
    return { ...(side ? { side } : {}), ...(editor ? { editor } : {}), sideVisible: this.sideView.visible };
  }

  /** What another webview than `host` shows of the current run (the side view's first). */
  private viewOfAnother(host: WebviewHost): CurrentView | undefined {
    const runId = this.current?.runId;
    return this.hosts().filter((other) => other !== host).map((other) => this.views.get(other)).find((view) => view !== undefined && view.runId === runId);
  }

  /**
   * The webviews show the same block and head: when one moves, the others follow. The one that
   * follows reports its change back, which equals what it was sent, so nothing moves again.
   */
  private follow(moved: WebviewHost, view: CurrentView): void {
    if (view.runId !== this.current?.runId) return;
    this.latestView = view;
    for (const other of this.hosts()) if (other !== moved) this.catchUp(other);
  }

  /** False once `host` has opened on the view it was told to when its page loaded. */
  private joined(host: WebviewHost, view: CurrentView): boolean {
    const joining = this.joining.get(host);
    if (!joining) return false;
    joining.reportsLeft -= 1;
    if (sameView(view, joining.view) || joining.reportsLeft <= 0) this.joining.delete(host);
    return true;
  }

  /** Sends `host` the latest view when it shows something else of the current run. */
  private catchUp(host: WebviewHost): void {
    const latest = this.latestView;
    if (!latest || latest.runId !== this.current?.runId) return;
    const theirs = this.views.get(host);
    if (theirs && sameView(theirs, latest)) return;
    host.post({ type: 'showBlock', ...latest });
  }

  /**
   * A webview came into view or went out of it. One coming back catches up with what the other
   * showed meanwhile: a hidden webview may not have followed (its page can be paused or reloaded).
   */
  private visibilityChanged(): void {
    if (this.sideView.visible && this.sideView.host) this.catchUp(this.sideView.host);
    if (this.panel?.visible) this.catchUp(this.panel.host);
    this.changeEmitter.fire();
  }

  /** True while some Attention webview is on screen. */
  get anyVisible(): boolean {
    return this.sideView.visible || (this.panel?.visible ?? false);
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

  /** Shows `trace`, which the views now hold (and drop when a newer one replaces it). */
  showTrace(runId: number, trace: HostTrace, origin: TraceOrigin | undefined): void {
    const previous = this.current?.trace;
    this.current = { runId, trace, origin };
    if (previous && previous !== trace) previous.drop();
    this.status = undefined;
    this.views.clear();
    this.latestView = undefined;
    this.joining.clear();
    this.broadcast({ type: 'traceLoaded', runId, trace: trace.overview });
    void vscode.commands.executeCommand('setContext', 'attentionLens.hasTrace', true);
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

  /** A step command goes to the webview the user works with, not to both. */
  step(unit: 'layer' | 'step', direction: 'next' | 'previous'): void {
    this.activeHost()?.post({ type: 'step', unit, direction });
  }

  /**
   * The editor cursor is at `offset` of the analysed text: each webview selects the row of the
   * token there, in the query stream of the block it shows.
   */
  selectQueryAt(offset: number): void {
    const current = this.current;
    if (!current) return;
    for (const host of this.hosts()) {
      const view = this.views.get(host);
      const block = view?.runId === current.runId ? current.trace.overview.blocks[view.blockIndex] : undefined;
      const stream = current.trace.overview.streams.find((candidate) => candidate.name === block?.queryStream);
      if (!block || !stream || stream.origin === 'custom' || offset < 0 || offset > stream.text.length) continue;
      const tokenIndex = stream.tokens.findIndex((token) => token.start <= offset && offset < token.end);
      if (tokenIndex >= 0) host.post({ type: 'selectQuery', runId: current.runId, stream: stream.name, tokenIndex });
    }
  }

  /** Opens a block and head in the webview the user works with (from a diagnostic, say). */
  async showBlock(blockIndex: number, head: number | 'mean'): Promise<void> {
    const current = this.current;
    if (!current || !current.trace.overview.blocks[blockIndex]) return;
    if (!this.anyVisible) await this.reveal();
    const message: ToWebviewMessage = { type: 'showBlock', runId: current.runId, blockIndex, head };
    const host = this.activeHost();
    if (host) host.post(message);
    else this.broadcast(message);
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
      if (this.panel) {
        this.views.delete(this.panel.host);
        this.joining.delete(this.panel.host);
      }
      this.panel = undefined;
      this.changeEmitter.fire();
    }, () => this.visibilityChanged());
    this.changeEmitter.fire();
  }

  dispose(): void {
    this.current?.trace.drop();
    this.current = undefined;
    this.panel?.dispose();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
