/**
 * @file Reads the extension's settings (package.json "contributes.configuration") into engine options.
 */
import * as vscode from 'vscode';
import type { ExplainOptions } from '../engine/explain';

export const SECTION = 'attentionLens';

export function readExplainOptions(): ExplainOptions {
  const config = vscode.workspace.getConfiguration(SECTION);
  const weights = config.get<string>('builtin.weightsPath', '').trim();
  const tokenizer = config.get<string>('tokenizerPath', '').trim();
  return {
    model: config.get<string>('model', 'builtin:tiny-decoder'),
    seed: config.get<number>('builtin.seed', 0),
    maxTokens: config.get<number>('maxTokens', 512),
    ...(weights ? { weightsPath: weights } : {}),
    ...(tokenizer ? { tokenizer } : {}),
  };
}
