/**
 * @file Running the model files of a repository, wherever its files are: a Hub snapshot in the
 * cache, or a folder on disk in the same layout (an optimum or transformers.js export). The chosen
 * variant runs with the repository's own tokenizer.json and config.json; a split encoder-decoder's
 * two files are joined into one graph first.
 */
import * as path from 'node:path';
import { type CancellationCheck, UserFacingError } from '../../shared/errors';
import { type AttentionTrace, notice } from '../../shared/trace';
import { joinEncoderDecoder } from '../onnx/joinEncoderDecoder';
import { decodeModel, encodeModel, externalDataFiles, type ModelProto } from '../onnx/model';
import { explainOnnx, type OnnxModelCache } from '../onnx/explainOnnx';
import type { ExplainOptions } from '../options';
import { readRegularFile } from '../safeRead';
import { type HubModelConfig, readModelConfig } from './modelConfig';
import type { LocalHubModel } from './resolveModel';
import { describeChoice } from './variants';

const MB = 2 ** 20;

/** The external data a model file names, read from the snapshot (each name must be a file the repository holds beside it). */
async function readExternalData(local: LocalHubModel, modelFile: string, model: ModelProto, budget: { used: number; max: number }): Promise<Array<{ path: string; data: Uint8Array }>> {
  const folder = path.posix.dirname(modelFile);
  const files: Array<{ path: string; data: Uint8Array }> = [];
  for (const location of externalDataFiles(model)) {
    const file = path.posix.normalize(folder === '.' ? location : `${folder}/${location}`);
    const found = local.externalData.find((candidate) => candidate.file === file);
    if (!found) {
      throw new UserFacingError(
        `${modelFile} of ${local.ref.repo} refers to external data "${location}", which the repository does not hold beside it.`,
        'The export is incomplete: choose another variant or repository.',
        { code: 'external-data-missing', facts: { repo: local.ref.repo, file: modelFile, location } },
      );
    }
    const data = await readRegularFile(found.path, { maxBytes: budget.max - budget.used, what: `the external data ${location}`, limitOption: 'maxModelMB' });
    budget.used += data.byteLength;
    files.push({ path: location, data });
  }
  return files;
}

/** The model's bytes and external data; a split export's encoder and decoder joined into one graph first. */
export async function readHubModel(local: LocalHubModel, maxModelMB: number): Promise<{ bytes: Uint8Array; externalData: Array<{ path: string; data: Uint8Array }> }> {
  const budget = { used: 0, max: maxModelMB * MB };
  const read = async (file: string, where: string): Promise<{ model: ModelProto; bytes: Uint8Array; externalData: Array<{ path: string; data: Uint8Array }> }> => {
    const bytes = await readRegularFile(where, { maxBytes: budget.max - budget.used, what: 'the ONNX model', option: 'model', limitOption: 'maxModelMB' });
    budget.used += bytes.byteLength;
    const model = decodeModel(bytes, path.posix.basename(file));
    return { model, bytes, externalData: await readExternalData(local, file, model, budget) };
  };
  const main = await read(local.modelFile, local.modelPath);
  if (!local.decoderFile || !local.decoderPath) return main;
  const decoder = await read(local.decoderFile, local.decoderPath);
  const joined = joinEncoderDecoder(main.model, decoder.model, { encoderFile: local.modelFile, decoderFile: local.decoderFile });
  return { bytes: encodeModel(joined), externalData: [...main.externalData, ...decoder.externalData] };
}

/** How the trace names what ran. */
export interface RepositoryNaming {
  /** The model's name in the trace ("ORG/NAME@main", a folder's name). */
  name: string;
  /** Identifies the repository's state for the loaded-model cache; the files that ran are added. */
  digest: string;
  /** Where the weights came from, after the files ("commit 0123…", "in /path"). */
  origin: string;
  /** The repository's tokenizer in the trace's words. */
  tokenizerLabel: string;
}

/** Runs the repository's chosen files; the trace carries the name, files and config's facts. */
export async function runRepositoryModel(
  cache: OnnxModelCache,
  local: LocalHubModel,
  naming: RepositoryNaming,
  text: string,
  options: ExplainOptions,
  maxModelMB: number,
  cancel: CancellationCheck,
  onPartial?: (trace: AttentionTrace) => void,
  onProgress?: (stage: string) => void,
): Promise<{ trace: AttentionTrace; files: string; config: HubModelConfig | null }> {
  const { bytes, externalData } = await readHubModel(local, maxModelMB);
  const files = describeChoice(local);
  const tokenizer = options.tokenizer ?? local.tokenizerPath ?? undefined;
  const config = await readModelConfig(local.configPath);
  const source = {
    path: local.modelPath, bytes, externalData, digest: `${naming.digest}/${files}`,
    ...(config && config.decoderStartId !== null ? { decoderStartId: config.decoderStartId } : {}),
  };
  const { name } = naming;
  const trace = await explainOnnx(cache, source, text, { ...options, tokenizer }, cancel,
    onPartial && ((partial) => onPartial({ ...partial, model: { ...partial.model, name } })), onProgress);
  trace.model.name = name;
  trace.model.weights = `${files}${local.dtype ? ` (${local.dtype})` : ''}${config?.modelType ? `, ${config.modelType}` : ''}, ${naming.origin}`;
  if (trace.model.dModel === null && config?.hiddenSize) trace.model.dModel = config.hiddenSize;
  if (local.tokenizerPath && options.tokenizer === undefined) trace.model.tokenizer = naming.tokenizerLabel;
  const split = trace.model.kind === 'encoder-decoder';
  // For an encoder-decoder, config.json counts each stack on its own (T5's num_layers is the encoder's).
  const counted: Array<[number | null | undefined, number, string]> = split
    ? [[config?.layers, trace.model.encoderLayers, 'encoder '], [config?.decoderLayers ?? config?.layers, trace.model.decoderLayers, 'decoder ']]
    : [[config?.layers, trace.model.encoderLayers + trace.model.decoderLayers, '']];
  for (const [said, found, stack] of counted) {
    if (said && found > 0 && said !== found) {
      trace.notices.push(notice('hub-config-layers', `config.json says ${said} ${stack}layers; the graph's attention was found in ${found}.`));
    }
  }
  if (!local.tokenizerPath && options.tokenizer === undefined) {
    trace.notices.push(notice('hub-no-tokenizer', `${local.ref.repo} holds no tokenizer.json.`));
  }
  return { trace, files, config };
}
