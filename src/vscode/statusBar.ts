/**
 * @file The status bar item: the model of the trace on show and the backend that ran it (a failed
 * run leaves the last good trace on show, so the item keeps naming its model: modelStatus.ts); the
 * model selected for the next run when it differs; a click opens "Select Model...".
 */
import * as vscode from 'vscode';
import { CancelledError } from '../shared/errors';
import type { Backend } from '../shared/trace';
import { type ModelStatusState, modelStatusView } from './modelStatus';
import { describeFailure } from './words';

export { backendDetail } from './modelStatus';

/** The runs the item follows (ExplainController): a failed one is named in the tooltip. */
export interface StatusBarRuns {
  readonly onDidFinish: vscode.Event<{ trace?: unknown; error?: Error }>;
}

export class ModelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('attentionLens.model', vscode.StatusBarAlignment.Right, 100);
  private state: ModelStatusState = { selected: '' };

  constructor() {
    this.item.name = 'Attention Lens Model';
    this.item.command = 'attentionLens.selectModel';
  }

  /**
   * Without `backend`: the model selected for the next run (it is named only while no trace is on
   * show). With it: a run of `model` finished and its trace is on show.
   * @param detail why that backend ran (backendDetail(trace)); `adapter`: the GPU of a WebGPU run
   */
  update(model: string, backend?: Backend, detail?: string, adapter?: string): void {
    if (backend) {
      this.state = { selected: this.state.selected || model, shown: { model, backend, ...(detail ? { detail } : {}), ...(adapter ? { adapter } : {}) } };
    } else {
      this.state = { ...this.state, selected: model };
    }
    this.render();
  }

  /** A run that fails (not one cancelled) is named, with its message, until the next trace. */
  follow(runs: StatusBarRuns): vscode.Disposable {
    return runs.onDidFinish((result) => {
      if (!result.error || result.error instanceof CancelledError || result.trace) return;
      this.state = { ...this.state, failed: { model: this.state.selected, message: describeFailure(result.error) } };
      this.render();
    });
  }

  /** What the item shows now (tests). */
  get view(): { text: string; tooltip: string } {
    return modelStatusView(this.state);
  }

  private render(): void {
    const view = modelStatusView(this.state);
    this.item.text = view.text;
    this.item.tooltip = new vscode.MarkdownString(view.tooltip);
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
