/**
 * @file The status bar item: which model explains selections and which backend ran last; a click
 * opens "Select Model...".
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Backend } from '../shared/trace';

export class ModelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('attentionLens.model', vscode.StatusBarAlignment.Right, 100);
  private backend: Backend | undefined;
  private adapter: string | undefined;
  private model = '';

  constructor() {
    this.item.name = 'Attention Lens Model';
    this.item.command = 'attentionLens.selectModel';
  }

  /** `adapter`: the GPU of a WebGPU run ("nvidia ampere, …"), shown in the tooltip. */
  update(model: string, backend?: Backend, detail?: string, adapter?: string): void {
    if (model !== this.model) {
      this.backend = undefined;
      this.adapter = undefined;
    }
    this.model = model;
    if (backend) {
      this.backend = backend;
      this.adapter = adapter;
    }
    const shown = model.startsWith('builtin:') ? model.slice('builtin:'.length) : model.startsWith('hf:') ? model.slice('hf:'.length) : path.basename(model);
    this.item.text = `$(eye) ${shown}${this.backend ? ` · ${this.backend}` : ''}`;
    this.item.tooltip = new vscode.MarkdownString(
      `**Attention Lens**\n\nModel: \`${model}\`${this.backend ? `\n\nBackend of the last run: ${this.backend}${this.adapter ? ` on ${this.adapter}` : ''}` : ''}${detail ? `\n\n${detail}` : ''}\n\nClick to select a model.`,
    );
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
