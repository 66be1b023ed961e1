/**
 * @file explain() for `hf:ORG/NAME[@REVISION]`: fetch the model's files into the Hugging Face cache
 * (or find them there), then run the ONNX model with the repository's own tokenizer.json and
 * tokenizer_config.json, and describe it by its name, revision and config.json.
 *
 * The model is handed to the ONNX loader as bytes with its external data: the cache's snapshot
 * files are links into blobs/, which the loader's rule "external data stays in the model's folder"
 * would rightly refuse when read from disk.
 */
import * as path from 'node:path';
import { type CancellationCheck, UserFacingError } from '../../shared/errors';
import { type AttentionTrace, notice } from '../../shared/trace';
import { DEFAULT_LIMITS } from '../limits';
import { joinEncoderDecoder } from '../onnx/joinEncoderDecoder';
import { decodeModel, encodeModel, externalDataFiles, type ModelProto } from '../onnx/model';
import { explainOnnx, type OnnxModelCache } from '../onnx/explainOnnx';
import type { ExplainOptions } from '../options';
import { readRegularFile } from '../safeRead';
import type { DownloadProgress } from './download';
import { readModelConfig } from './modelConfig';
import { type LocalHubModel, resolveHubModel, signalFromCancel } from './resolveModel';
import { hubSettings } from './settings';
import { parseHubSpec } from './spec';

/** Told what the run does now; during a download, with the figures. */
export type HubProgress = (stage: string, download?: DownloadProgress) => void;

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
async function readHubModel(local: LocalHubModel, maxModelMB: number): Promise<{ bytes: Uint8Array; externalData: Array<{ path: string; data: Uint8Array }> }> {
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

export async function explainHub(
  cache: OnnxModelCache,
  spec: string,
  text: string,
  options: ExplainOptions,
  cancel: CancellationCheck,
  onPartial?: (trace: AttentionTrace) => void,
  onProgress?: HubProgress,
): Promise<AttentionTrace> {
  const ref = parseHubSpec(spec);
  const settings = hubSettings(options.hub);
  const maxModelMB = options.limits?.maxModelMB ?? DEFAULT_LIMITS.maxModelMB;
  const fetchStart = performance.now();
  const cancelSignal = signalFromCancel(cancel);
  let local: LocalHubModel;
  try {
    local = await resolveHubModel(settings, ref, {
      dtype: options.dtype ?? null,
      maxModelMB,
      signal: cancelSignal.signal,
      onStage: (stage) => onProgress?.(stage),
      onDownload: (progress) => onProgress?.(`Downloading ${progress.file}`, progress),
    });
  } finally {
    cancelSignal.dispose();
  }
  const fetchMs = performance.now() - fetchStart;
  cancel.throwIfCancelled();
  const { bytes, externalData } = await readHubModel(local, maxModelMB);
  const files = local.decoderFile ? `${local.modelFile} + ${local.decoderFile}` : local.modelFile;
  const tokenizer = options.tokenizer ?? local.tokenizerPath ?? undefined;
  const config = await readModelConfig(local.configPath);
  const source = {
    path: local.modelPath, bytes, externalData, digest: `hf:${ref.repo}@${local.commit}/${files}`,
    ...(config && config.decoderStartId !== null ? { decoderStartId: config.decoderStartId } : {}),
  };
  const name = `${ref.repo}@${ref.revision}`;
  const trace = await explainOnnx(cache, source, text, { ...options, tokenizer }, cancel,
    onPartial && ((partial) => onPartial({ ...partial, model: { ...partial.model, name } })), onProgress);

  trace.model.name = name;
  trace.model.weights = `${files}${local.dtype ? ` (${local.dtype})` : ''}${config?.modelType ? `, ${config.modelType}` : ''}, commit ${local.commit}`;
  if (trace.model.dModel === null && config?.hiddenSize) trace.model.dModel = config.hiddenSize;
  if (local.tokenizerPath && options.tokenizer === undefined) trace.model.tokenizer = 'tokenizer.json (the repository\'s)';
  trace.timings.unshift({ stage: local.downloadedBytes > 0 ? 'download' : 'find in cache', ms: fetchMs });
  const where = local.downloadedBytes > 0
    ? `downloaded ${(local.downloadedBytes / MB).toFixed(1)} MB into the Hugging Face cache`
    : local.offline ? 'from the Hugging Face cache, offline' : 'from the Hugging Face cache (up to date)';
  trace.notices.unshift(notice('hub-model', `${name}: ${files}${local.decoderFile ? ' (joined into one graph)' : ''} at commit ${local.commit}, ${where}.`));
  if (local.fallbackReason) {
    trace.notices.unshift(notice('hub-offline-fallback', `The Hub could not be reached (${local.fallbackReason}): the cached copy of ${name} ran, which may be older than the Hub's.`));
  }
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
    trace.notices.push(notice('hub-no-tokenizer', `${ref.repo} holds no tokenizer.json.`));
  }
  return trace;
}
