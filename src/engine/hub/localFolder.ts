/**
 * @file A folder given as the model: an export in a repository's layout on disk (what
 * `optimum-cli export onnx` writes, a clone of a transformers.js repository, or a snapshot folder
 * of the Hugging Face cache). The variant is chosen as for a Hub repository, a split
 * encoder-decoder is joined, and the folder's tokenizer.json and config.json are used.
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { type CancellationCheck, optionRef, UserFacingError } from '../../shared/errors';
import { type AttentionTrace, notice } from '../../shared/trace';
import { DEFAULT_LIMITS } from '../limits';
import type { OnnxModelCache } from '../onnx/explainOnnx';
import type { ExplainOptions } from '../options';
import type { LocalHubModel } from './resolveModel';
import { runRepositoryModel } from './runRepository';
import { allCandidates, chooseModel, choiceFiles, dtypeOf, externalDataCandidates, SIDE_FILES } from './variants';

/** Deep enough for onnx/ and a nested folder or two; a repository's layout never goes further. */
const MAX_DEPTH = 2;

/** Whether `spec` names a folder (a file, a missing path or a built-in name is not one). */
export async function isModelFolder(spec: string): Promise<boolean> {
  try {
    return (await stat(spec)).isDirectory();
  } catch {
    return false;
  }
}

/** The folder's files by their path inside it ("onnx/model.onnx"); links count when they lead to a file (cache snapshots are links). */
async function listFiles(folder: string): Promise<Map<string, { path: string; size: number; mtimeMs: number }>> {
  const files = new Map<string, { path: string; size: number; mtimeMs: number }>();
  async function walk(current: string, prefix: string, depth: number): Promise<void> {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      const info = await stat(full).catch(() => null);
      if (!info) continue;
      if (info.isDirectory() && depth < MAX_DEPTH && !entry.name.startsWith('.')) await walk(full, `${prefix}${entry.name}/`, depth + 1);
      else if (info.isFile()) files.set(`${prefix}${entry.name}`, { path: full, size: info.size, mtimeMs: info.mtimeMs });
    }
  }
  await walk(folder, '', 0);
  return files;
}

export async function explainFolder(
  cache: OnnxModelCache,
  folder: string,
  text: string,
  options: ExplainOptions,
  cancel: CancellationCheck,
  onPartial?: (trace: AttentionTrace) => void,
  onProgress?: (stage: string) => void,
): Promise<AttentionTrace> {
  const root = path.resolve(folder);
  const name = path.basename(root);
  const files = await listFiles(root);
  const dtype = options.dtype ?? null;
  const choice = chooseModel(new Set(files.keys()), dtype);
  if (!choice) {
    const found = [...files.keys()].filter((file) => file.endsWith('.onnx')).sort();
    throw new UserFacingError(
      found.length > 0
        ? `The folder ${name} holds ${found.join(', ')}, none of which Attention Lens can run${dtype ? ` as ${dtype}` : ''} on its own or as an encoder with its decoder.`
        : `The folder ${name} holds no ONNX model.`,
      found.length > 0 && dtype
        ? `Pick another variant with ${optionRef('dtype')}, or choose one .onnx file as the model.`
        : `Choose the .onnx file itself, or a folder laid out as an export (${allCandidates().slice(0, 3).join(', ')}, or encoder_model.onnx with decoder_model.onnx).`,
      { code: 'folder-no-model', facts: { folder: root, found: found.join(',') } },
    );
  }
  const at = (file: string | null): string | null => (file !== null ? files.get(file)?.path ?? null : null);
  const modelFiles = choiceFiles(choice);
  const local: LocalHubModel = {
    ref: { repo: name, revision: 'local' },
    commit: 'local',
    modelFile: choice.modelFile,
    modelPath: at(choice.modelFile)!,
    decoderFile: choice.decoderFile,
    decoderPath: at(choice.decoderFile),
    dtype: dtypeOf(choice.modelFile),
    externalData: modelFiles.flatMap(externalDataCandidates).filter((file) => files.has(file)).map((file) => ({ file, path: at(file)! })),
    tokenizerPath: at(SIDE_FILES[0]),
    tokenizerConfigPath: at(SIDE_FILES[1]),
    configPath: at(SIDE_FILES[2]),
    offline: true,
    fallbackReason: null,
    downloadedBytes: 0,
    downloads: [],
  };
  // The loaded-model cache knows these bytes by their files' sizes and times: an edited export reloads.
  const version = [...modelFiles, ...local.externalData.map((entry) => entry.file)].map((file) => `${file}:${files.get(file)!.size}:${files.get(file)!.mtimeMs}`).join(',');
  const maxModelMB = options.limits?.maxModelMB ?? DEFAULT_LIMITS.maxModelMB;
  const { trace, files: ran } = await runRepositoryModel(cache, local, {
    name,
    digest: `folder:${root}|${version}`,
    origin: `in ${root}`,
    tokenizerLabel: 'tokenizer.json (the folder\'s)',
  }, text, options, maxModelMB, cancel, onPartial, onProgress);
  trace.model.path = root;
  trace.notices.unshift(notice('folder-model', `${name}: ${ran}${choice.decoderFile ? ' (joined into one graph)' : ''}, chosen from the folder ${root}.`));
  return trace;
}
