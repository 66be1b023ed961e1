/**
 * @file Extension entry: constructs the engine client, the views, the editor tie-in and the
 * commands, and wires them together. The work lives in the modules it connects.
 */
import * as vscode from 'vscode';
import { describeFailure } from './words';
import { wholeTrace } from '../shared/lazyTrace';
import type { TraceOverview } from '../shared/protocol';
import type { AttentionTrace } from '../shared/trace';
import { EngineProcessClient } from '../engine';
import { registerAblation } from './ablationCommands';
import { AttentionViews, type CurrentView } from './attentionViews';
import { EditorTieIn } from './editorTieIn';
import { ExplainController } from './explainCommand';
import { ModelPicker } from './modelPicker';
import { HubTokenStore } from './hubModels';
import { Exporter, type TraceExportCommand } from './exports';
import { ProblemsReporter } from './problems';
import { ModelStatusBar } from './statusBar';
import { type TraceEditorState, TraceEditorProvider } from './traceEditor';

/** What the extension returns from activate(): used by the integration tests. */
export interface AttentionLensApi {
  /** The trace the views show now, without its attention arrays. */
  currentTrace(): TraceOverview | undefined;
  /** Where the shown trace's blocks are read from: memory, or the engine's temporary trace file. */
  currentStorage(): { storage: 'memory' | 'file'; file?: string } | undefined;
  /** The block and head the side view and the editor view show. */
  shownViews(): { side?: CurrentView; editor?: CurrentView; sideVisible: boolean };
  /** True while the side view or the editor panel is on screen. */
  viewVisible(): boolean;
  /** Resolves when the next run ends, with its whole trace (every block read) or its error. */
  nextRun(): Promise<{ trace?: AttentionTrace; error?: Error }>;
  /** The model runs use now. */
  model(): string;
  /** What each open trace file editor shows. */
  traceEditors(): TraceEditorState[];
  /** The heads runs ablate now (layer, head, kind as given) and the mode. */
  ablation(): { heads: Array<{ kind?: string; layer: number; head: number }>; mode: string };
}

export function activate(context: vscode.ExtensionContext): AttentionLensApi {
  const log = vscode.window.createOutputChannel('Attention Lens', { log: true });
  const configuration = vscode.workspace.getConfiguration('attentionLens');
  const timeLimitSeconds = configuration.get<number>('runTimeLimitSeconds', 300);
  const idleMinutes = configuration.get<number>('engine.idleStopMinutes', 10);
  // The engine runs in a process of its own, so a model that exhausts memory or crashes ends that
  // process, not the extension host every extension shares. Built-in models' ONNX exports are kept
  // in the extension's own storage, private to this user.
  const engine = new EngineProcessClient(context.asAbsolutePath('dist/engineProcess.js'), context.asAbsolutePath('dist/engineWorker.js'), {
    timeLimitMs: timeLimitSeconds * 1000,
    cacheFolder: context.globalStorageUri.fsPath,
    idleStopMs: Math.max(0, idleMinutes) * 60_000,
  });
  const views = new AttentionViews(context.extensionUri);
  const models = new ModelPicker(context.workspaceState);
  const statusBar = new ModelStatusBar();
  const hubTokens = new HubTokenStore(context.secrets);
  const controller = new ExplainController(engine, views, models, statusBar, log, hubTokens);
  const tieIn = new EditorTieIn(views);
  const problems = new ProblemsReporter(views);
  const exporter = new Exporter(context.extensionUri);
  const traceFiles = TraceEditorProvider.register(context.extensionUri, exporter, log);
  statusBar.update(models.model);

  /** An export of the current run's trace; the trace file's target may come as the argument (tests, other extensions). */
  const exportTrace = (command: TraceExportCommand) => (target?: unknown): Promise<vscode.Uri | undefined> => {
    const shown = views.currentTrace?.trace;
    const where = target instanceof vscode.Uri ? target : undefined;
    // The export keeps the trace's file while it reads the blocks, even if a newer run replaces it.
    if (!shown) return exporter.exportTrace(command, undefined, where);
    return shown.use((held) => exporter.exportTrace(command, { trace: held.shown, portable: held.portable }, where));
  };

  const step = (unit: 'layer' | 'step', direction: 'next' | 'previous') => () => views.step(unit, direction);
  context.subscriptions.push(
    log,
    views,
    tieIn,
    controller,
    statusBar,
    models,
    { dispose: () => void engine.dispose() },
    problems,
    traceFiles.disposable,
    problems.follow(controller),
    statusBar.follow(controller),
    views.onDidRequestImageExport((message) => {
      void exporter.saveImage(message.format, message.data, message.suggestedName).catch((error: Error) => {
        void vscode.window.showErrorMessage(`Attention Lens: the export failed: ${describeFailure(error)}`);
      });
    }),
    models.onDidChange((model) => {
      statusBar.update(model);
      log.info(`model: ${model}`);
      // Another model's layers and heads are not the ones chosen: its first run ablates nothing.
      controller.resetAblation();
      void controller.rerun();
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('attentionLens.model')) void models.settingChanged();
    }),
    vscode.commands.registerCommand('attentionLens.explainSelection', () => controller.explainSelection()),
    vscode.commands.registerCommand('attentionLens.selectModel', () => models.pick()),
    vscode.commands.registerCommand('attentionLens.setHubToken', () => hubTokens.promptAndStore()),
    vscode.commands.registerCommand('attentionLens.showPanel', () => views.sideView.reveal()),
    vscode.commands.registerCommand('attentionLens.openInEditor', () => views.openPanel()),
    vscode.commands.registerCommand('attentionLens.showOutput', () => log.show(true)),
    vscode.commands.registerCommand('attentionLens.measureInduction', () => controller.measureInduction()),
    vscode.commands.registerCommand('attentionLens.exportJson', exportTrace('attentionLens.exportJson')),
    vscode.commands.registerCommand('attentionLens.exportCsv', exportTrace('attentionLens.exportCsv')),
    vscode.commands.registerCommand('attentionLens.exportHtml', exportTrace('attentionLens.exportHtml')),
    vscode.commands.registerCommand('attentionLens.exportTraceFile', exportTrace('attentionLens.exportTraceFile')),
    vscode.commands.registerCommand('attentionLens.showBlock', (blockIndex: unknown, head: unknown) => {
      if (typeof blockIndex === 'number' && (head === 'mean' || typeof head === 'number')) return views.showBlock(blockIndex, head);
      return undefined;
    }),
    ...registerAblation(controller, views),
    vscode.commands.registerCommand('attentionLens.nextLayer', step('layer', 'next')),
    vscode.commands.registerCommand('attentionLens.previousLayer', step('layer', 'previous')),
    vscode.commands.registerCommand('attentionLens.nextStep', step('step', 'next')),
    vscode.commands.registerCommand('attentionLens.previousStep', step('step', 'previous')),
  );

  return {
    currentTrace: () => views.currentTrace?.trace.overview,
    currentStorage: () => views.currentTrace?.trace.storage,
    viewVisible: () => views.anyVisible,
    shownViews: () => views.shownViews(),
    nextRun: () => new Promise((resolve) => {
      const subscription = controller.onDidFinish((result) => {
        subscription.dispose();
        const { trace, error } = result;
        if (!trace) resolve({ error });
        else void trace.use((held) => wholeTrace(held.shown)).then((whole) => resolve({ trace: whole }), (failure: Error) => resolve({ error: failure }));
      });
    }),
    model: () => models.model,
    traceEditors: () => traceFiles.provider.states(),
    ablation: () => controller.ablation,
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
