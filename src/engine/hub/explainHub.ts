/**
 * @file explain() for `hf:ORG/NAME[@REVISION]`: fetch the model's files into the Hugging Face cache
 * (or find them there), then run the ONNX model with the repository's own tokenizer.json and
 * tokenizer_config.json, and describe it by its name, revision and config.json.
 *
 * The model is handed to the ONNX loader as bytes with its external data (runRepository.ts): the
 * cache's snapshot files are links into blobs/, which the loader's rule "external data stays in the
 * model's folder" would rightly refuse when read from disk.
 */
import type { CancellationCheck } from '../../shared/errors';
import { type AttentionTrace, notice } from '../../shared/trace';
import { DEFAULT_LIMITS } from '../limits';
import type { OnnxModelCache } from '../onnx/explainOnnx';
import type { ExplainOptions } from '../options';
import type { DownloadProgress } from './download';
import { runRepositoryModel } from './runRepository';
import { type LocalHubModel, resolveHubModel, signalFromCancel } from './resolveModel';
import { hubSettings } from './settings';
import { parseHubSpec } from './spec';

/** Told what the run does now; during a download, with the figures. */
export type HubProgress = (stage: string, download?: DownloadProgress) => void;

const MB = 2 ** 20;

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
  const { trace, files } = await runRepositoryModel(cache, local, {
    name: `${ref.repo}@${ref.revision}`,
    digest: `hf:${ref.repo}@${local.commit}`,
    origin: `commit ${local.commit}`,
    tokenizerLabel: 'tokenizer.json (the repository\'s)',
  }, text, options, maxModelMB, cancel, onPartial, onProgress);
  const name = trace.model.name;
  trace.timings.unshift({ stage: local.downloadedBytes > 0 ? 'download' : 'find in cache', ms: fetchMs });
  const where = local.downloadedBytes > 0
    ? `downloaded ${(local.downloadedBytes / MB).toFixed(1)} MB into the Hugging Face cache`
    : local.offline ? 'from the Hugging Face cache, offline' : 'from the Hugging Face cache (up to date)';
  trace.notices.unshift(notice('hub-model', `${name}: ${files}${local.decoderFile ? ' (joined into one graph)' : ''} at commit ${local.commit}, ${where}.`));
  if (local.fallbackReason) {
    trace.notices.unshift(notice('hub-offline-fallback', `The Hub could not be reached (${local.fallbackReason}): the cached copy of ${name} ran, which may be older than the Hub's.`));
  }
  return trace;
}
