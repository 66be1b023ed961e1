/**
 * @file Reads the extension's settings (package.json "contributes.configuration") into engine options.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExplainOptions } from '../engine/explain';
import { isBuiltinSpec } from '../engine/reference/config';
import type { BackendSetting } from '../engine/onnx/runtime';

export const SECTION = 'attentionLens';

/** Relative paths in settings mean "relative to the (first) workspace folder", as users expect. */
function resolvePath(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (path.isAbsolute(value) || !folder || folder.uri.scheme !== 'file') return value;
  return path.join(folder.uri.fsPath, value);
}

export function readExplainOptions(): ExplainOptions {
  const config = vscode.workspace.getConfiguration(SECTION);
  const weights = config.get<string>('builtin.weightsPath', '').trim();
  const tokenizer = config.get<string>('tokenizerPath', '').trim();
  const model = config.get<string>('model', 'builtin:tiny-decoder').trim() || 'builtin:tiny-decoder';
  const threads = config.get<number>('threads', 0);
  return {
    model: isBuiltinSpec(model) ? model : resolvePath(model),
    backend: config.get<BackendSetting>('backend', 'auto'),
    ...(threads > 0 ? { threads } : {}),
    seed: config.get<number>('builtin.seed', 0),
    maxTokens: config.get<number>('maxTokens', 512),
    ...(weights ? { weightsPath: resolvePath(weights) } : {}),
    ...(tokenizer ? { tokenizer: tokenizer === 'bytes' ? tokenizer : resolvePath(tokenizer) } : {}),
  };
}
