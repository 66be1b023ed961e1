/**
 * @file Extension entry: constructs the engine client, the views, the editor tie-in and the
 * commands, and wires them together. The work lives in the modules it connects.
 */
import * as vscode from 'vscode';
import { UserFacingError } from '../shared/errors';
import { vscodeWords } from './words';
import type { AttentionTrace } from '../shared/trace';
import { EngineProcessClient } from '../engine';
import { AttentionViews } from './attentionViews';
import { EditorTieIn } from './editorTieIn';
import { ExplainController } from './explainCommand';
import { ModelPicker } from './modelPicker';
import { HubTokenStore } from './hubModels';
import { Exporter } from './exports';
import { ProblemsReporter } from './problems';
import { ModelStatusBar } from './statusBar';

/** What the extension returns from activate(): used by the integration tests. */
export interface AttentionLensApi {
  /** The trace the views show now. */
  currentTrace(): AttentionTrace | undefined;
  /** True while the side view or the editor panel is on screen. */
  viewVisible(): boolean;
  /** Resolves when the next run ends, with its trace or its error. */
  nextRun(): Promise<{ trace?: AttentionTrace; error?: Error }>;
  /** The model runs use now. */
  model(): string;
}

/** A failure in VS Code's words: a user-facing error with what to do, else its message. */
function describeFailure(error: unknown): string {
  if (error instanceof UserFacingError) return `${vscodeWords(error.message)} ${vscodeWords(error.hint)}`;
  return error instanceof Error ? error.message : String(error);
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
  statusBar.update(models.model);

  /** Runs an export of the current trace, or says there is none yet. */
  const exportTrace = (save: (trace: AttentionTrace) => Promise<unknown>) => async (): Promise<void> => {
    const trace = views.currentTrace?.trace;
    if (!trace) {
      void vscode.window.showInformationMessage('Run "Explain Attention" first: there is nothing to export yet.');
      return;
    }
    try {
      await save(trace);
    } catch (error) {
      void vscode.window.showErrorMessage(`Attention Lens: the export failed: ${describeFailure(error)}`);
    }
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
    controller.onDidFinish((result) => {
      if (result.trace) problems.report(result.runId, result.trace);
    }),
    views.onDidRequestImageExport((message) => {
      void exporter.saveImage(message.format, message.data, message.suggestedName).catch((error: Error) => {
        void vscode.window.showErrorMessage(`Attention Lens: the export failed: ${describeFailure(error)}`);
      });
    }),
    models.onDidChange((model) => {
      statusBar.update(model);
      log.info(`model: ${model}`);
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
    vscode.commands.registerCommand('attentionLens.exportJson', exportTrace((trace) => exporter.saveJson(trace))),
    vscode.commands.registerCommand('attentionLens.exportCsv', exportTrace((trace) => exporter.saveCsv(trace))),
    vscode.commands.registerCommand('attentionLens.exportHtml', exportTrace((trace) => exporter.saveHtml(trace))),
    vscode.commands.registerCommand('attentionLens.showBlock', (blockIndex: unknown, head: unknown) => {
      if (typeof blockIndex === 'number' && (head === 'mean' || typeof head === 'number')) return views.showBlock(blockIndex, head);
      return undefined;
    }),
    vscode.commands.registerCommand('attentionLens.nextLayer', step('layer', 'next')),
    vscode.commands.registerCommand('attentionLens.previousLayer', step('layer', 'previous')),
    vscode.commands.registerCommand('attentionLens.nextStep', step('step', 'next')),
    vscode.commands.registerCommand('attentionLens.previousStep', step('step', 'previous')),
  );

  return {
    currentTrace: () => views.currentTrace?.trace,
    viewVisible: () => views.anyVisible,
    nextRun: () => new Promise((resolve) => {
      const subscription = controller.onDidFinish((result) => {
        subscription.dispose();
        resolve(result);
      });
    }),
    model: () => models.model,
  };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
