/**
 * @file Workspace trust: in a restricted workspace, files from the workspace (an ONNX model, a
 * tokenizer, weights, input arrays) are not loaded, since a crafted model file is code-adjacent
 * input to a native runtime; the built-in models still run. Trace files (traceEditor.ts) open in
 * any workspace: they are data that only our own reader parses, checked before any tensor is read,
 * and nothing in them runs. Pure, so it is unit-tested.
 */
import * as path from 'node:path';
import { type ExplainOptions, isBuiltinSpec } from '../engine';

/** The files a run would read, by the setting that names each. */
export function filesUsed(options: ExplainOptions): Array<{ file: string; setting: string }> {
  const files: Array<{ file: string; setting: string }> = [];
  if (options.model && !isBuiltinSpec(options.model)) files.push({ file: options.model, setting: 'attentionLens.model' });
  if (options.tokenizer && options.tokenizer !== 'bytes') files.push({ file: options.tokenizer, setting: 'attentionLens.tokenizerPath' });
  if (options.weightsPath) files.push({ file: options.weightsPath, setting: 'attentionLens.builtin.weightsPath' });
  for (const [name, spec] of Object.entries(options.inputs ?? {})) {
    if (spec.kind === 'npy') files.push({ file: spec.path, setting: `attentionLens.onnx.inputs.${name}` });
  }
  return files;
}

/** Files of `options` inside one of `folders` (absolute paths): what an untrusted workspace must not load. */
export function workspaceFilesUsed(options: ExplainOptions, folders: readonly string[]): Array<{ file: string; setting: string }> {
  return filesUsed(options).filter(({ file }) => {
    const absolute = path.resolve(file);
    return folders.some((folder) => absolute === folder || absolute.startsWith(`${path.resolve(folder)}${path.sep}`));
  });
}
