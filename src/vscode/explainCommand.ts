/**
 * @file "Explain Attention": run the engine on the editor's selection and show the result. A newer
 * run cancels the one in flight; a run that takes more than a moment shows a progress notification
 * with Cancel; failures say what to do, with a button where one helps.
 */
import * as vscode from 'vscode';
import { CancelledError, UserFacingError } from '../shared/errors';
import { vscodeWords } from './words';
import { type AblationTarget, type EngineProcessClient, type ExplainOptions, inductionProbe, isHubSpec } from '../engine';
import type { AblationMode } from '../shared/trace';
import { HostTrace } from './hostTrace';
import { confirmDownload, downloadText, type HubTokenStore, untrustedHubError, withHubOptions } from './hubModels';
import type { AttentionViews, TraceOrigin } from './attentionViews';
import type { ModelPicker } from './modelPicker';
import { readAblateMode, readExplainOptions, readMemoryBudgetMB, SECTION } from './settings';
import { workspaceFilesUsed } from './trust';
import { backendDetail, type ModelStatusBar } from './statusBar';

/** Runs shorter than this finish without a notification flashing up. */
const PROGRESS_DELAY_MS = 400;

export interface RunRequest {
  text: string;
  origin: TraceOrigin | undefined;
  source: string;
  /** Said to the user with the result (e.g. what an induction probe is). */
  notice?: string;
}

/** The engine's latest stage, passed on to a progress notification once there is one. */
class StageReporter {
  private latest: string | undefined;
  private sink: ((text: string) => void) | undefined;

  report(text: string): void {
    this.latest = text;
    this.sink?.(text);
  }

  attach(sink: (text: string) => void): void {
    this.sink = sink;
    if (this.latest) sink(this.latest);
  }
}

export class ExplainController implements vscode.Disposable {
  private runId = 0;
  private inFlight: AbortController | undefined;
  private lastRequest: RunRequest | undefined;
  /** The last text editor the user was in: a click in the Attention panel makes the panel active. */
  private lastTextEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  private readonly editorTracking = vscode.window.onDidChangeActiveTextEditor((editor) => {
    if (editor) this.lastTextEditor = editor;
  });
  private readonly finishedEmitter = new vscode.EventEmitter<{ runId: number; trace?: HostTrace; error?: Error }>();
  /** A run ended (with a trace, or an error); for tests and the status bar. */
  readonly onDidFinish = this.finishedEmitter.event;
  /**
   * The heads every run ablates until the list is cleared (the panel's Ablation view and the
   * commands edit it), and the mode the panel chose, if it chose one (else the setting's).
   */
  private ablated: AblationTarget[] = [];
  private ablateModeChoice: AblationMode | undefined;
  private readonly startedEmitter = new vscode.EventEmitter<{ runId: number }>();
  /** A run began: the Problems lists clear while it runs. */
  readonly onDidStart = this.startedEmitter.event;

  constructor(
    /** The engine; a big trace stays in the temporary file its process writes (HostTrace). */
    private readonly engine: Pick<EngineProcessClient, 'explainHeld' | 'inlineTraceBytes'>,
    private readonly views: AttentionViews,
    private readonly models: ModelPicker,
    private readonly statusBar: ModelStatusBar,
    private readonly log: vscode.LogOutputChannel,
    /** The Hugging Face token (SecretStorage), for private and gated Hub models. */
    private readonly hubTokens?: HubTokenStore,
  ) {}

  async explainSelection(): Promise<void> {
    // Where the command began, for the per-run timing line (bench/vscode.ts reads it).
    const commandStart = performance.now();
    const commandAt = Date.now();
    const editor = vscode.window.activeTextEditor
      ?? (this.lastTextEditor && vscode.window.visibleTextEditors.includes(this.lastTextEditor) ? this.lastTextEditor : undefined);
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
    const document = editor.document;
    await this.run({
      text,
      origin: { document, baseOffset: document.offsetAt(selection.start), version: document.version },
      source: `${vscode.workspace.asRelativePath(document.uri)}:${selection.start.line + 1}`,
    }, { start: commandStart, at: commandAt });
  }

  /**
   * Runs the model on a random sequence repeated twice (analysis/inductionProbe.ts): a head that, on
   * the second copy, attends to the token after the current token's first occurrence is an
   * induction head (HeadStats.induction). A fresh seed each time; the notice and the log name it.
   */
  async measureInduction(): Promise<void> {
    const probe = inductionProbe(Math.floor(Math.random() * 2 ** 31));
    await this.run({
      text: probe.text,
      origin: undefined,
      source: `induction probe (seed ${probe.seed})`,
      notice: `Induction probe (seed ${probe.seed}): ${probe.sequence.length} distinct random letters, written twice. The Stats view's induction column shows, per head, the mean attention from each token of the second copy to the token that followed its occurrence in the first.`,
    });
  }

  /** Runs the last text again (after a model change), if there was one. */
  async rerun(): Promise<void> {
    if (this.lastRequest) await this.run(this.lastRequest);
  }

  /** The heads runs ablate now, and how. */
  get ablation(): { heads: AblationTarget[]; mode: AblationMode } {
    return { heads: this.ablated.map((target) => ({ ...target })), mode: this.ablateModeChoice ?? readAblateMode() };
  }

  /** Forgets the heads to ablate without running (another model's heads are other heads). */
  resetAblation(): void {
    this.ablated = [];
    this.ablatingChanged();
  }

  /** "Clear Ablation" shows in the command palette only while heads are ablated. */
  private ablatingChanged(): void {
    void vscode.commands.executeCommand('setContext', 'attentionLens.ablating', this.ablated.length > 0);
  }

  /**
   * Changes the heads to ablate and runs the last text again with them: the trace shown stays the
   * plain run's, with what the ablation changed beside it (trace.ablation).
   */
  async changeAblation(change: { action: 'add' | 'remove'; head: AblationTarget } | { action: 'clear' } | { action: 'mode'; mode: AblationMode }): Promise<void> {
    const same = (a: AblationTarget, b: AblationTarget): boolean => a.layer === b.layer && a.head === b.head && (a.kind ?? '') === (b.kind ?? '');
    switch (change.action) {
      case 'add':
        if (!this.ablated.some((target) => same(target, change.head))) this.ablated = [...this.ablated, { ...change.head }];
        break;
      case 'remove':
        this.ablated = this.ablated.filter((target) => !same(target, change.head));
        break;
      case 'clear':
        this.ablated = [];
        break;
      case 'mode':
        this.ablateModeChoice = change.mode;
        break;
      default: {
        const unreachable: never = change;
        void unreachable;
      }
    }
    this.ablatingChanged();
    // A mode with no head to ablate changes nothing until a head is ablated.
    if (change.action === 'mode' && this.ablated.length === 0) return;
    if (!this.lastRequest) {
      void vscode.window.showInformationMessage('Explain a selection first (Attention Lens: Explain Attention): ablation runs the explained text again.');
      return;
    }
    await this.run(this.lastRequest);
  }

  /** @param command when the command that asked for the run began (performance.now, Date.now); default now */
  async run(request: RunRequest, command?: { start: number; at: number }): Promise<void> {
    const commandStart = command?.start ?? performance.now();
    const commandAt = command?.at ?? Date.now();
    this.inFlight?.abort();
    const controller = new AbortController();
    this.inFlight = controller;
    this.lastRequest = request;
    const runId = ++this.runId;
    const model = this.models.model;
    let options;
    try {
      options = readExplainOptions(model);
      if (this.ablated.length > 0) options = { ...options, ablate: this.ablated.map((target) => ({ ...target })), ablateMode: this.ablation.mode };
      this.checkTrust(options);
      if (isHubSpec(model)) {
        options = withHubOptions(options, vscode.workspace.getConfiguration(SECTION), await this.hubTokens?.get());
        // A big download is confirmed first, with its size; declining ends the run quietly.
        if (!await confirmDownload(options) || runId !== this.runId) return;
      }
    } catch (error) {
      this.report(runId, error as Error);
      return;
    }
    const ablating = options.ablate?.length ? `, ablating ${options.ablate.map((target) => `L${target.layer} H${target.head}`).join(', ')} (${options.ablateMode ?? 'zero'})` : '';
    const description = `${model} on ${request.text.length} characters${ablating}`;
    this.views.runStarted(runId, description);
    this.startedEmitter.fire({ runId });
    void this.views.reveal();
    this.log.info(`run ${runId}: ${description} from ${request.source}`);
    try {
      const engineStart = performance.now();
      // A trace over the memory budget stays in the engine's temporary trace file (HostTrace).
      const budgetBytes = readMemoryBudgetMB() * 2 ** 20;
      this.engine.inlineTraceBytes = budgetBytes;
      const stage = new StageReporter();
      const running = this.engine.explainHeld(request.text, options, controller.signal, (partial) => {
        // A big model shows its first block while the rest is computed.
        if (runId === this.runId) this.views.showTrace(runId, HostTrace.inMemory(partial), request.origin);
      }, (text, download) => stage.report(download ? downloadText(download) : text));
      const held = await this.withDelayedProgress(running, model, controller, stage);
      if (runId !== this.runId) {
        void held.release();
        return;
      }
      // The views show the trace in VS Code's words; a trace file saves it as the engine wrote it.
      const hostTrace = new HostTrace(held, budgetBytes, request.notice ? { code: 'induction-probe', message: request.notice } : undefined);
      const trace = hostTrace.overview;
      const traceAt = performance.now();
      const stages = trace.timings.map((timing) => `${timing.stage} ${timing.ms.toFixed(1)} ms`).join(', ');
      const tokens = trace.streams.map((stream) => `${stream.name} ${stream.tokens.length}`).join(', ');
      this.log.info(`run ${runId}: ${trace.model.name} [${trace.backend}] tokens ${tokens}; ${stages}${hostTrace.storage.file ? `; blocks read from ${hostTrace.storage.file}` : ''}`);
      for (const notice of trace.notices) this.log.info(`run ${runId}: ${notice.message}`);
      // The text may have changed while the model ran: then the offsets no longer match the editor.
      const origin = request.origin && request.origin.document.version === request.origin.version ? request.origin : undefined;
      this.views.showTrace(runId, hostTrace, origin);
      const postedAt = performance.now();
      // Host side of the command → heatmap latency; Date.now anchors line it up with the webview's clock.
      this.log.info(`run ${runId}: timing command→engine ${(engineStart - commandStart).toFixed(1)} ms, engine ${(traceAt - engineStart).toFixed(1)} ms, `
        + `trace→posted ${(postedAt - traceAt).toFixed(1)} ms, command→posted ${(postedAt - commandStart).toFixed(1)} ms `
        + `(command at ${commandAt}, posted at ${commandAt + Math.round(postedAt - commandStart)})`);
      const backendNotice = backendDetail(trace);
      // A Hub model shows its name with the revision it ran at.
      this.statusBar.update(isHubSpec(model) ? `hf:${trace.model.name}` : model, trace.backend, backendNotice, trace.adapter);
      this.finishedEmitter.fire({ runId, trace: hostTrace });
    } catch (error) {
      if (runId !== this.runId) return;
      this.report(runId, error as Error);
    } finally {
      if (this.inFlight === controller) this.inFlight = undefined;
    }
  }

  /** In a restricted workspace, files from the workspace are not loaded (trust.ts). */
  private checkTrust(options: ExplainOptions): void {
    if (vscode.workspace.isTrusted) return;
    if (options.model && isHubSpec(options.model)) throw untrustedHubError(options.model);
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((folder) => folder.uri.scheme === 'file').map((folder) => folder.uri.fsPath);
    const refused = workspaceFilesUsed(options, folders);
    if (refused.length > 0) {
      throw new UserFacingError(
        `This workspace is not trusted, so Attention Lens does not load files from it (${refused.map((entry) => `${vscode.workspace.asRelativePath(entry.file)} from "${entry.setting}"`).join(', ')}).`,
        'Trust the workspace (Manage Workspace Trust) to run models from it; the built-in models work without trust.',
        { code: 'untrusted-workspace' },
      );
    }
  }

  private report(runId: number, error: Error): void {
    if (error instanceof CancelledError) {
      this.log.info(`run ${runId}: cancelled`);
      this.views.runFailed(runId, 'Cancelled.', undefined, true);
      this.finishedEmitter.fire({ runId, error });
      return;
    }
    // Heads this model lacks would fail every later run too: the list starts again empty.
    if (error instanceof UserFacingError && error.code === 'invalid-ablate') this.resetAblation();
    const hint = error instanceof UserFacingError ? vscodeWords(error.hint) : undefined;
    const message = vscodeWords(error.message);
    this.log.error(`run ${runId}: ${error instanceof UserFacingError ? message : error.stack ?? message}`);
    this.views.runFailed(runId, message, hint, false);
    this.finishedEmitter.fire({ runId, error });
    const untrusted = error instanceof UserFacingError && error.code === 'untrusted-workspace';
    const actions = untrusted ? ['Manage Workspace Trust', 'Select Model...'] : ['Select Model...', 'Show Output'];
    void vscode.window.showErrorMessage(`Attention Lens: ${hint ? `${message} ${hint}` : message}`, ...actions).then((action) => {
      if (action === 'Select Model...') void vscode.commands.executeCommand('attentionLens.selectModel');
      if (action === 'Show Output') this.log.show(true);
      if (action === 'Manage Workspace Trust') void vscode.commands.executeCommand('workbench.trust.manage');
    });
  }

  /**
   * Awaits `running`; if it takes long, shows a cancellable progress notification meanwhile, which
   * says what the engine does now (loading, starting ONNX Runtime, running).
   */
  private async withDelayedProgress<T>(running: Promise<T>, model: string, controller: AbortController, stage: StageReporter): Promise<T> {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Attention Lens: running ${model}…`, cancellable: true },
        (progress, token) => {
          stage.attach((text) => progress.report({ message: text }));
          const listener = token.onCancellationRequested(() => controller.abort());
          return running.catch(() => undefined).finally(() => listener.dispose());
        },
      );
    }, PROGRESS_DELAY_MS);
    try {
      return await running;
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  }

  dispose(): void {
    this.inFlight?.abort();
    this.finishedEmitter.dispose();
    this.startedEmitter.dispose();
    this.editorTracking.dispose();
  }
}
