/**
 * @file Reads the extension's settings (package.json "contributes.configuration") into engine options.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds } from '../shared/analysis';
import { UserFacingError } from '../shared/errors';
import { type ExplainOptions, type InputSpec, parseInputSpec, DEFAULT_PRESET, isBuiltinSpec, isHubSpec, type BackendSetting } from '../engine';
import { COLOR_MAPS, type ColorMapName, DEFAULT_VIEWS, type DefaultView } from '../shared/protocol';
import { ABLATION_MODES, type AblationMode } from '../shared/trace';

export const SECTION = 'attentionLens';

/** Relative paths in settings mean "relative to the (first) workspace folder", as users expect. */
function resolvePath(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (path.isAbsolute(value) || !folder || folder.uri.scheme !== 'file') return value;
  return path.join(folder.uri.fsPath, value);
}

/** The "attentionLens.onnx.inputs" object as input specs; a bad entry is reported, not ignored. */
function readInputs(config: vscode.WorkspaceConfiguration, seed: number): Record<string, InputSpec> {
  const raw = config.get<Record<string, unknown>>('onnx.inputs', {});
  const inputs: Record<string, InputSpec> = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (typeof value !== 'string') {
      throw new UserFacingError(`The setting attentionLens.onnx.inputs.${name} must be a string.`, 'Use ids:1,2,3, random:D1xD2x... or a .npy path.');
    }
    const spec = parseInputSpec(value, seed);
    inputs[name] = spec.kind === 'npy' ? { ...spec, path: resolvePath(spec.path) } : spec;
  }
  return inputs;
}

export interface DisplaySettings {
  colorMap: ColorMapName;
  /** What a new trace shows first: the mean of heads or head 0. */
  defaultHead: DefaultView;
  /** Where results open: the side bar view or a panel in the editor area. */
  openIn: 'side' | 'editor';
}

export function readDisplaySettings(): DisplaySettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const colorMap = config.get<string>('colorMap', 'viridis');
  const defaultHead = config.get<string>('defaultHead', 'mean');
  return {
    colorMap: (COLOR_MAPS as readonly string[]).includes(colorMap) ? (colorMap as ColorMapName) : 'viridis',
    defaultHead: (DEFAULT_VIEWS as readonly string[]).includes(defaultHead) ? (defaultHead as DefaultView) : 'mean',
    openIn: config.get<string>('defaultView', 'side') === 'editor' ? 'editor' : 'side',
  };
}

/** The model setting as written (the model picker's per-workspace choice overrides it). */
export function configuredModel(): string {
  return vscode.workspace.getConfiguration(SECTION).get<string>('model', `builtin:${DEFAULT_PRESET}`).trim() || `builtin:${DEFAULT_PRESET}`;
}

/**
 * Engine options from the settings.
 * @param modelOverride the model chosen with "Select Model..." for this workspace, if any
 */
/** The numeric entries of "attentionLens.diagnostics" that name a threshold; others are ignored. */
function readThresholds(raw: Partial<DiagnosticThresholds> | undefined): Partial<DiagnosticThresholds> {
  const thresholds: Partial<DiagnosticThresholds> = {};
  for (const key of Object.keys(DEFAULT_THRESHOLDS) as Array<keyof DiagnosticThresholds>) {
    const value = raw?.[key];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) thresholds[key] = value;
  }
  return thresholds;
}

export function readExplainOptions(modelOverride?: string): ExplainOptions {
  const config = vscode.workspace.getConfiguration(SECTION);
  const weights = config.get<string>('builtin.weightsPath', '').trim();
  const tokenizer = config.get<string>('tokenizerPath', '').trim();
  const model = modelOverride ?? configuredModel();
  const threads = config.get<number>('threads', 0);
  const seed = config.get<number>('builtin.seed', 0);
  const inputs = readInputs(config, seed);
  const thresholds = config.get<Partial<DiagnosticThresholds>>('diagnostics', {});
  const maxModelMB = config.get<number>('limits.maxModelSizeMB', 4096);
  const maxTraceMB = config.get<number>('limits.maxTraceMB', 2048);
  return {
    model: isBuiltinSpec(model) || isHubSpec(model) ? model : resolvePath(model),
    thresholds: readThresholds(thresholds),
    limits: { maxModelMB, maxTraceMB },
    backend: config.get<BackendSetting>('backend', 'auto'),
    ...(threads > 0 ? { threads } : {}),
    seed,
    ...(Object.keys(inputs).length > 0 ? { inputs } : {}),
    maxTokens: config.get<number>('maxTokens', 512),
    ...(config.get<boolean>('logitLens', false) ? { logitLens: true } : {}),
    ...(weights ? { weightsPath: resolvePath(weights) } : {}),
    ...(tokenizer ? { tokenizer: tokenizer === 'bytes' ? tokenizer : resolvePath(tokenizer) } : {}),
  };
}

/** "attentionLens.memoryBudgetMB": how much of a run's attention the extension host keeps in memory. */
export function readMemoryBudgetMB(): number {
  const value = vscode.workspace.getConfiguration(SECTION).get<number>('memoryBudgetMB', 64);
  return Number.isFinite(value) ? Math.min(4096, Math.max(0, value)) : 64;
}

/** "attentionLens.ablateMode": how an ablated head's output is replaced (zero, or its mean over the positions). */
export function readAblateMode(): AblationMode {
  const value = vscode.workspace.getConfiguration(SECTION).get<string>('ablateMode', 'zero');
  return (ABLATION_MODES as readonly string[]).includes(value) ? (value as AblationMode) : 'zero';
}
