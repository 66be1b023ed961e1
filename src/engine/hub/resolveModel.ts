/**
 * @file `hf:ORG/NAME@REVISION` → the files of a runnable model in the local cache: ask the server
 * about each candidate file (HEAD on its resolve URL), choose the variant, download what the cache
 * lacks, and record the revision's commit. Offline (or when the server cannot be reached) the cache
 * alone answers, so a model fetched once, by us or by Python's tools, opens with no network.
 */
import { CancelledError, type CancellationCheck } from '../../shared/errors';
import { blobExists, blobName, cachedCommit, cachedFile, linkIntoSnapshot, snapshotListing, writeRef } from './cacheLayout';
import { type DownloadProgress, downloadBlob } from './download';
import { fileInfo, type HubHttp, hubRequest, type RemoteFileInfo } from './http';
import { encoderWithoutDecoder, httpFailure, modelTooBig, noOnnx, offlineNotCached, repoNotFound, unauthorized } from './hubErrors';
import type { HubDtype, HubSettings } from './settings';
import { type HubModelRef, resolveUrl } from './spec';
import { allCandidates, chooseModel, choiceFiles, dtypeOf, externalDataCandidates, modelCandidates, SIDE_FILES, splitCandidates } from './variants';

/** A Hub model's files, on disk in the cache. */
export interface LocalHubModel {
  ref: HubModelRef;
  /** The commit the revision pointed to (the revision itself when the server gave none). */
  commit: string;
  /** The model's repository path ("onnx/model_quantized.onnx") and its file in the snapshot; the encoder of a split export. */
  modelFile: string;
  modelPath: string;
  /** The decoder to join to the encoder `modelFile` (a split encoder-decoder export); null otherwise. */
  decoderFile: string | null;
  decoderPath: string | null;
  dtype: HubDtype | null;
  /** External data files in the snapshot (of the model and of its decoder), by repository path. */
  externalData: Array<{ file: string; path: string }>;
  tokenizerPath: string | null;
  tokenizerConfigPath: string | null;
  configPath: string | null;
  /** The network was not used (offline, or unreachable with the model cached). */
  offline: boolean;
  /** Why the cache was used though online was asked for (the server could not be reached); null otherwise. */
  fallbackReason: string | null;
  /** Bytes downloaded by this call (0 when all came from the cache). */
  downloadedBytes: number;
  /** Each file this call downloaded, with the bytes that an earlier interrupted download had left. */
  downloads: Array<{ file: string; bytes: number; resumedFrom: number; requests: number }>;
}

export interface ResolveOptions {
  dtype?: HubDtype | null;
  /** Ceiling on the model with its external data, in MB. */
  maxModelMB?: number;
  signal?: AbortSignal;
  onStage?: (stage: string) => void;
  onDownload?: (progress: DownloadProgress) => void;
  /** Only what a download would cost: stop before fetching (the VS Code host asks before big downloads). */
  planOnly?: boolean;
  freeBytes?: (folder: string) => Promise<number | null>;
}

interface Probe {
  file: string;
  url: string;
  status: number;
  info: RemoteFileInfo;
  errorCode: string | null;
}

/** Requests in flight at once while probing candidate names. */
const PROBE_CONCURRENCY = 8;

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function statusError(settings: HubSettings, ref: HubModelRef, status: number, headers: Headers, file: string): Error {
  const errorCode = headers.get('x-error-code');
  // The Hub answers 401 RepoNotFound for a repository that does not exist or that this request may not see.
  if ((status === 401 || status === 403) && errorCode === 'RepoNotFound') return repoNotFound(ref.repo, ref.revision, settings.endpoint, status, settings.token !== null);
  if (status === 401 || status === 403) return unauthorized(ref.repo, status, errorCode === 'GatedRepo', settings.token !== null, settings.endpoint);
  if (status === 404 && (errorCode === 'RepoNotFound' || errorCode === 'RevisionNotFound')) return repoNotFound(ref.repo, ref.revision, settings.endpoint, status, settings.token !== null);
  return httpFailure(settings.endpoint, ref.repo, file, status);
}

class Prober {
  readonly probes = new Map<string, Probe>();
  constructor(private readonly http: HubHttp, private readonly settings: HubSettings, private readonly ref: HubModelRef, private readonly signal?: AbortSignal) {}

  async probe(files: readonly string[]): Promise<void> {
    const fresh = files.filter((file) => !this.probes.has(file));
    await mapLimited(fresh, PROBE_CONCURRENCY, async (file) => {
      const url = resolveUrl(this.settings.endpoint, this.ref, file);
      const { response, firstHeaders } = await hubRequest(this.http, 'HEAD', url, {}, this.signal);
      await response.body?.cancel().catch(() => undefined);
      const status = response.status >= 300 && response.status < 400 ? 200 : response.status;
      this.probes.set(file, { file, url, status, info: fileInfo(firstHeaders, response.headers), errorCode: firstHeaders.get('x-error-code') });
      if (status === 401 || status === 403 || (status === 404 && (firstHeaders.get('x-error-code') === 'RepoNotFound' || firstHeaders.get('x-error-code') === 'RevisionNotFound'))) {
        throw statusError(this.settings, this.ref, status, firstHeaders, file);
      }
      if (status !== 200 && status !== 404) throw httpFailure(this.settings.endpoint, this.ref.repo, file, status);
    });
  }

  present(): Set<string> {
    return new Set([...this.probes.values()].filter((probe) => probe.status === 200).map((probe) => probe.file));
  }

  commit(): string | null {
    for (const probe of this.probes.values()) if (probe.status === 200 && probe.info.commit) return probe.info.commit;
    return null;
  }
}

/** Refuses a model that together with its external data passes the model ceiling. */
function checkSize(ref: HubModelRef, modelFile: string, sizes: Array<number | null>, maxModelMB: number | undefined): void {
  const total = sizes.reduce<number>((sum, size) => sum + (size ?? 0), 0);
  if (maxModelMB !== undefined && total > maxModelMB * 2 ** 20) throw modelTooBig(ref.repo, modelFile, total, maxModelMB);
}

/** The model from the cache only (offline, or the server cannot be reached). */
async function fromCache(settings: HubSettings, ref: HubModelRef, options: ResolveOptions, fallbackReason: string | null): Promise<LocalHubModel> {
  const commit = await cachedCommit(settings.cacheDir, ref);
  const notCached = (what: string): Error => offlineNotCached(ref.repo, ref.revision, settings.cacheDir, what);
  if (commit === null) throw notCached(`no snapshot of revision ${ref.revision}`);
  const listing = await snapshotListing(settings.cacheDir, ref.repo, commit);
  const present = new Set(listing);
  const choice = chooseModel(present, options.dtype ?? null);
  if (choice === null) {
    if (!listing.some((file) => file.endsWith('.onnx'))) throw notCached(listing.length === 0 ? 'its snapshot is empty' : `its snapshot holds only ${listing.join(', ')}`);
    throw noModel(ref, listing, options.dtype ?? null);
  }
  const local = async (file: string): Promise<string | null> => cachedFile(settings.cacheDir, ref.repo, commit, file);
  const externalData: LocalHubModel['externalData'] = [];
  for (const file of choiceFiles(choice).flatMap(externalDataCandidates)) {
    const found = await local(file);
    if (found) externalData.push({ file, path: found });
  }
  return {
    ref, commit, modelFile: choice.modelFile, modelPath: (await local(choice.modelFile))!,
    decoderFile: choice.decoderFile, decoderPath: choice.decoderFile ? await local(choice.decoderFile) : null,
    dtype: dtypeOf(choice.modelFile), externalData,
    tokenizerPath: await local('tokenizer.json'), tokenizerConfigPath: await local('tokenizer_config.json'), configPath: await local('config.json'),
    offline: true, fallbackReason, downloadedBytes: 0, downloads: [],
  };
}

/** Nothing to run among `found`: an encoder without its decoder, or no model at all. */
function noModel(ref: HubModelRef, found: readonly string[], dtype: HubDtype | null): Error {
  const onnxFiles = found.filter((file) => file.endsWith('.onnx'));
  const encoders = splitCandidates(dtype).filter((file) => file.includes('encoder_model'));
  if (onnxFiles.some((file) => encoders.includes(file))) return encoderWithoutDecoder(ref.repo, onnxFiles);
  return noOnnx(ref.repo, found, [...modelCandidates(dtype), ...splitCandidates(dtype)], dtype);
}

/**
 * Finds, downloads (what the cache lacks) and returns the files of `ref`. With `planOnly`, returns
 * after choosing, with `downloadedBytes` the bytes that a download would fetch (nothing fetched).
 */
export async function resolveHubModel(settings: HubSettings, ref: HubModelRef, options: ResolveOptions = {}): Promise<LocalHubModel> {
  if (settings.offline) return fromCache(settings, ref, options, null);
  const http: HubHttp = { endpoint: settings.endpoint, token: settings.token };
  const prober = new Prober(http, settings, ref, options.signal);
  const dtype = options.dtype ?? null;
  options.onStage?.(`Looking up ${ref.repo}@${ref.revision} at ${settings.endpoint}`);
  try {
    await prober.probe([...SIDE_FILES, ...modelCandidates(dtype)]);
  } catch (error) {
    // No network: what the cache holds still opens (as Python's tools do), with a notice.
    if (error instanceof Error && (error as { code?: string }).code === 'hub-unreachable') {
      try {
        return await fromCache(settings, ref, options, (error as { facts?: { reason?: string } }).facts?.reason ?? 'unreachable');
      } catch (cacheError) {
        if ((cacheError as { code?: string }).code === 'hub-offline-not-cached') throw error;
        throw cacheError;
      }
    }
    throw error;
  }
  let choice = chooseModel(prober.present(), dtype);
  if (choice === null) {
    await prober.probe(splitCandidates(dtype));
    choice = chooseModel(prober.present(), dtype);
  }
  if (choice === null) {
    await prober.probe(allCandidates());
    const found = [...prober.present()].sort();
    if (found.length === 0) throw repoNotFound(ref.repo, ref.revision, settings.endpoint, 404, settings.token !== null);
    throw noModel(ref, found, dtype);
  }
  const modelFiles = choiceFiles(choice);
  await prober.probe(modelFiles.flatMap(externalDataCandidates));
  const present = prober.present();
  const commit = prober.commit() ?? ref.revision;
  const externalFiles = modelFiles.flatMap(externalDataCandidates).filter((file) => present.has(file));
  const wanted = [...modelFiles, ...externalFiles, ...SIDE_FILES.filter((file) => present.has(file))];
  checkSize(ref, modelFiles.join(' + '), [...modelFiles, ...externalFiles].map((file) => prober.probes.get(file)!.info.size), options.maxModelMB);

  const missing: string[] = [];
  for (const file of wanted) if (!await cachedFile(settings.cacheDir, ref.repo, commit, file)) missing.push(file);
  let toFetch = 0;
  for (const file of missing) {
    const info = prober.probes.get(file)!.info;
    if (!(info.etag !== null && await blobExists(settings.cacheDir, ref.repo, blobName(info.etag, '')))) toFetch += info.size ?? 0;
  }
  const result: LocalHubModel = {
    ref, commit, modelFile: choice.modelFile, modelPath: '', decoderFile: choice.decoderFile, decoderPath: null, dtype: dtypeOf(choice.modelFile), externalData: [], tokenizerPath: null, tokenizerConfigPath: null, configPath: null,
    offline: false, fallbackReason: null, downloadedBytes: toFetch, downloads: [],
  };
  if (options.planOnly) return result;
  result.downloadedBytes = 0;
  for (const file of missing) {
    if (options.signal?.aborted) throw new CancelledError();
    const probe = prober.probes.get(file)!;
    options.onStage?.(`Downloading ${file} from ${ref.repo}`);
    const downloaded = await downloadBlob({
      http, cacheDir: settings.cacheDir, repo: ref.repo, signal: options.signal, onProgress: options.onDownload, freeBytes: options.freeBytes,
      statusError: (status, headers, name) => statusError(settings, ref, status, headers, name),
    }, probe.url, file, probe.info);
    await linkIntoSnapshot(settings.cacheDir, ref.repo, commit, file, downloaded.blob);
    if (downloaded.requests > 0) {
      result.downloadedBytes += downloaded.bytes - downloaded.resumedFrom;
      result.downloads.push({ file, bytes: downloaded.bytes, resumedFrom: downloaded.resumedFrom, requests: downloaded.requests });
    }
  }
  await writeRef(settings.cacheDir, ref, commit);
  const local = async (file: string): Promise<string | null> => present.has(file) ? cachedFile(settings.cacheDir, ref.repo, commit, file) : null;
  result.modelPath = (await local(choice.modelFile))!;
  result.decoderPath = choice.decoderFile ? await local(choice.decoderFile) : null;
  for (const file of externalFiles) result.externalData.push({ file, path: (await local(file))! });
  result.tokenizerPath = await local('tokenizer.json');
  result.tokenizerConfigPath = await local('tokenizer_config.json');
  result.configPath = await local('config.json');
  return result;
}

/** An AbortSignal that fires when the engine's cancel flag is set (polled; the flag lives in shared memory). */
export function signalFromCancel(cancel: CancellationCheck, intervalMs = 50): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    try {
      cancel.throwIfCancelled();
    } catch {
      controller.abort();
      clearInterval(timer);
    }
  }, intervalMs);
  timer.unref?.();
  return { signal: controller.signal, dispose: () => clearInterval(timer) };
}
