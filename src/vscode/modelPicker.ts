/**
 * @file "Select Model...": a quick pick of the built-in presets, recent ONNX files and "Browse for
 * ONNX file...". The choice is remembered per workspace (workspace state), over the
 * "attentionLens.model" setting, and recent files are kept for the next pick.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PRESETS, type PresetName, SHIPPED_WEIGHTS } from '../engine';
import { pickHubModel } from './hubModels';
import { configuredModel } from './settings';

const SELECTED_KEY = 'attentionLens.selectedModel';
const RECENT_KEY = 'attentionLens.recentModels';
const MAX_RECENT = 5;

interface ModelItem extends vscode.QuickPickItem {
  model?: string;
  browse?: boolean;
  hub?: boolean;
  /** With browse: choose a folder (an export in a repository's layout), not a file. */
  folder?: boolean;
}

function describePreset(name: PresetName): string {
  const config = PRESETS[name];
  const layers = config.kind === 'encoder-decoder' ? `${config.encoderLayers}+${config.decoderLayers}` : `${config.encoderLayers + config.decoderLayers}`;
  const weights = SHIPPED_WEIGHTS[name] ? 'trained weights' : 'random weights';
  return `${config.kind}, ${layers} layers × ${config.heads} heads, d=${config.dModel}, ${weights}`;
}

export class ModelPicker {
  private readonly changeEmitter = new vscode.EventEmitter<string>();
  /** The effective model changed (picked, or the setting changed while nothing was picked). */
  readonly onDidChange = this.changeEmitter.event;

  constructor(private readonly state: vscode.Memento) {}

  /** The model to run: this workspace's pick, else the setting. */
  get model(): string {
    return this.state.get<string>(SELECTED_KEY) ?? configuredModel();
  }

  private get recent(): string[] {
    return this.state.get<string[]>(RECENT_KEY, []);
  }

  /**
   * The "attentionLens.model" setting was changed: it wins again over an earlier pick (otherwise
   * editing the setting after one pick would silently do nothing).
   */
  async settingChanged(): Promise<void> {
    await this.state.update(SELECTED_KEY, undefined);
    this.changeEmitter.fire(this.model);
  }

  async choose(model: string): Promise<void> {
    await this.state.update(SELECTED_KEY, model);
    if (!model.startsWith('builtin:')) {
      await this.state.update(RECENT_KEY, [model, ...this.recent.filter((entry) => entry !== model)].slice(0, MAX_RECENT));
    }
    this.changeEmitter.fire(model);
  }

  /** Shows the quick pick; resolves to the chosen model, or undefined when dismissed. */
  async pick(): Promise<string | undefined> {
    const current = this.model;
    const items: ModelItem[] = [
      { label: 'Built-in models', kind: vscode.QuickPickItemKind.Separator },
      ...(Object.keys(PRESETS) as PresetName[]).map((name) => ({
        label: `builtin:${name}`,
        description: describePreset(name),
        detail: current === `builtin:${name}` ? 'current' : undefined,
        model: `builtin:${name}`,
      })),
    ];
    const recent = this.recent;
    if (recent.length > 0) {
      items.push({ label: 'Recent models', kind: vscode.QuickPickItemKind.Separator });
      items.push(...recent.map((file) => ({ label: file.startsWith('hf:') ? file.slice(3) : path.basename(file), description: file.startsWith('hf:') ? 'Hugging Face' : file, detail: current === file ? 'current' : undefined, model: file })));
    }
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(folder-opened) Browse for ONNX file...', browse: true }, { label: '$(file-directory) ONNX export folder...', description: 'optimum or transformers.js layout', browse: true, folder: true }, { label: '$(cloud-download) Hugging Face model...', description: 'an ONNX repository by name', hub: true });
    const chosen = await vscode.window.showQuickPick(items, { title: 'Attention Lens: Select Model', placeHolder: `Current: ${current}`, matchOnDescription: true });
    if (!chosen) return undefined;
    let model = chosen.model;
    if (chosen.hub) model = await pickHubModel(recent);
    if (chosen.browse) {
      // A folder holds an export in a repository's layout: its variant, encoder + decoder and tokenizer are found there.
      const files = await vscode.window.showOpenDialog(chosen.folder
        ? { title: 'Choose a folder with an ONNX export', canSelectMany: false, canSelectFiles: false, canSelectFolders: true, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri }
        : { title: 'Choose an ONNX model', canSelectMany: false, filters: { 'ONNX models': ['onnx'], 'All files': ['*'] }, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
      if (!files || files.length === 0) return undefined;
      model = files[0].fsPath;
    }
    if (!model) return undefined;
    await this.choose(model);
    return model;
  }

  dispose(): void {
    this.changeEmitter.dispose();
  }
}
