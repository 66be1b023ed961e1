/**
 * @file Loading a user's ONNX file: read it (and its external data), find and tap its attention,
 * open a session on the chosen backend, and find its tokenizer (an explicit one, tokenizer.json
 * beside the model, or the tokenizer an Attention Lens export carries in its metadata).
 */
import { realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { type CancellationCheck, optionRef, UserFacingError } from '../../shared/errors';
import { openError, readRegularFile } from '../safeRead';
import { createByteTokenizer } from '../tokenizers/bytes';
import { loadHuggingFaceTokenizer } from '../tokenizers/huggingface';
import { getTokenizer } from '../tokenizers/index';
import type { TextTokenizer } from '../tokenizers/types';
import { type ModelKind, notice, type StreamName } from '../../shared/trace';
import { inlineNoCacheBranch, USE_CACHE_INPUT } from './cacheBranch';
import { type ModelInput, modelInputs } from './inputs';
import { decodeModel, encodeModel, externalDataFiles, type ModelProto } from './model';
import type { BackendSetting } from '../options';
import { createSession, type OnnxSession } from './runtime';
import { embeddingRows, hiddenSize } from './modelFacts';
import { pruneToOutputs } from './prune';
import type { TapPlan } from './tapPlan';
import { analyzeAndTap } from './tapper';

/** Protocol buffers cannot hold more; bigger models keep their weights in external data files. */
const PROTOBUF_LIMIT_BYTES = 2 ** 31;

export interface LoadedOnnxModel {
  path: string;
  plan: TapPlan;
  session: OnnxSession;
  inputs: ModelInput[];
  kind: ModelKind;
  /** The stream `input_ids` feeds (the decoder for decoder-only models). */
  firstStream: StreamName;
  tokenizer: TextTokenizer | null;
  /** Where the tokenizer came from, in words. */
  tokenizerSource: string;
  /** Rows of the token embedding table, when the graph shows it. */
  vocabularySize: number | null;
  /** d_model of an Attention Lens export (from its metadata), else null. */
  dModel: number | null;
  /** Metadata config of an Attention Lens export. */
  metadata: Record<string, string>;
  tapMs: number;
  sessionMs: number;
  /** Bytes of the model file and its external data: what its session holds at least. */
  modelBytes: number;
  /**
   * For big models: a session of the model cut down to its first attention block (prune.ts), to
   * show layer 0 while the whole forward pass runs. Created on first use; null for small models.
   */
  firstBlock: (() => Promise<{ session: OnnxSession; plan: TapPlan }>) | null;
  /**
   * A session of the tapped model cut down to `outputs` (and the nodes they need), on the backend
   * the model runs on: one pass of a run whose taps do not fit one run (tapPasses.ts). The caller
   * releases it.
   */
  passSession(outputs: readonly string[]): Promise<OnnxSession>;
}

/** Models with at least this many attention blocks get a first-block session for long inputs. */
const FIRST_BLOCK_MIN_BLOCKS = 8;

function firstBlockRunner(tappedModel: ModelProto, plan: TapPlan, options: OnnxLoadOptions, externalData: Array<{ path: string; data: Uint8Array }>): LoadedOnnxModel['firstBlock'] {
  const first = plan.attention[0];
  if (!first || plan.attention.length < FIRST_BLOCK_MIN_BLOCKS) return null;
  const subPlan: TapPlan = {
    attention: [first],
    residual: plan.residual.filter((step) => step.stage === 'embedding' && step.stream === first.queryStream),
    notes: [],
  };
  const outputs = [first.output, ...(first.mask ? [first.mask.output] : []), ...subPlan.residual.map((step) => step.output)];
  // Cut now (the weights are shared, not copied); encode and open the session only when asked.
  const pruned = pruneToOutputs(tappedModel, outputs);
  let opened: Promise<{ session: OnnxSession; plan: TapPlan }> | undefined;
  return () => {
    opened ??= createSession(encodeModel(pruned), { backend: options.backend, threads: options.threads, externalData }).then((session) => ({ session, plan: subPlan }));
    return opened;
  };
}

export interface OnnxLoadOptions {
  backend: BackendSetting;
  threads: number;
  /** "bytes" or a tokenizer.json path; otherwise tokenizer.json beside the model, then metadata. */
  tokenizer?: string;
  /** Largest model (file plus external data) loaded, in MB; default 4096. */
  maxModelMB?: number;
  /** Told what the load does now, in words ("Starting ONNX Runtime on model.onnx (812 nodes, 498 MB)"). */
  onProgress?: (stage: string) => void;
  /** Checked between the load's stages. */
  cancel?: CancellationCheck;
}

const DEFAULT_MAX_MODEL_MB = 4096;

function metadataOf(model: ModelProto): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const entry of model.metadataProps ?? []) {
    if (entry.key) entries[entry.key] = entry.value ?? '';
  }
  return entries;
}

/**
 * Reads the files the model's tensors point to, refusing any path outside the model's folder.
 * Each file is read once, however many names refer to it (as written, or through links), and
 * every byte counts against the model ceiling together with the model file itself.
 */
async function readExternalData(model: ModelProto, modelPath: string, budget: { usedBytes: number; maxBytes: number }): Promise<Array<{ path: string; data: Uint8Array }>> {
  const folder = path.dirname(path.resolve(modelPath));
  const files: Array<{ path: string; data: Uint8Array }> = [];
  const byRealPath = new Map<string, Uint8Array>();
  const realFolder = await realpath(folder);
  for (const location of externalDataFiles(model)) {
    const resolved = path.resolve(folder, location);
    if (path.isAbsolute(location) || (resolved !== folder && !resolved.startsWith(`${folder}${path.sep}`))) {
      throw new UserFacingError(
        `The model refers to external data outside its folder ("${location}"); Attention Lens does not read it.`,
        'Keep the external data file (e.g. model.onnx.data) beside the model and refer to it by its plain file name.',
        { code: 'external-data-outside', facts: { location } },
      );
    }
    let real: string;
    try {
      // A link inside the folder may point outside it: judge the real path, not the text.
      real = await realpath(resolved);
    } catch (error) {
      throw missingExternalData(error, location, modelPath);
    }
    if (real !== realFolder && !real.startsWith(`${realFolder}${path.sep}`)) {
      throw new UserFacingError(
        `The model's external data "${location}" links to a file outside its folder; Attention Lens does not read it.`,
        'Keep the external data file itself (not a link) beside the model.',
        { code: 'external-data-outside', facts: { location } },
      );
    }
    let data = byRealPath.get(real);
    if (!data) {
      const limits = { maxBytes: budget.maxBytes - budget.usedBytes, what: `the model's external data file ${location}`, limitOption: 'maxModelMB' as const };
      let info;
      try {
        info = await stat(real);
      } catch (error) {
        throw missingExternalData(error, location, modelPath);
      }
      if (info.isFile() && info.size > limits.maxBytes) throw modelTooBig(modelPath, budget.usedBytes + info.size, budget.maxBytes);
      data = await readRegularFile(real, limits);
      budget.usedBytes += data.byteLength;
      byRealPath.set(real, data);
    }
    files.push({ path: location, data });
  }
  return files;
}

function missingExternalData(error: unknown, location: string, modelPath: string): UserFacingError {
  return new UserFacingError(
    `The model's external data file ${location} cannot be read: ${(error as Error).message}.`,
    `Put ${path.basename(location)} beside ${path.basename(modelPath)}, as the exporter wrote it.`,
    { code: 'external-data-missing', facts: { location } },
  );
}

function modelTooBig(modelPath: string, bytes: number, maxBytes: number): UserFacingError {
  return new UserFacingError(
    `${path.basename(modelPath)} with its external data is ${(bytes / 2 ** 20).toFixed(0)} MB, over the ${(maxBytes / 2 ** 20).toFixed(0)} MB limit for models.`,
    `Raise ${optionRef('maxModelMB')} if the machine has the memory (onnxruntime-web holds at most 4 GiB).`,
    { code: 'model-too-big', facts: { sizeMB: Math.ceil(bytes / 2 ** 20), limitMB: Math.floor(maxBytes / 2 ** 20) } },
  );
}

function tokenizerFromMetadata(metadata: Record<string, string>): TextTokenizer | null {
  const text = metadata['attention_lens.tokenizer'];
  if (!text) return null;
  let parsed: { type?: string; json?: string };
  try {
    parsed = JSON.parse(text) as { type?: string; json?: string };
  } catch {
    throw new UserFacingError(
      'The tokenizer stored in this model\'s metadata (attention_lens.tokenizer) is damaged.',
      `Put the model's tokenizer.json beside it or give one with ${optionRef('tokenizer')}, or export the model again.`,
    );
  }
  if (parsed.type === 'bytes') return createByteTokenizer();
  if (parsed.type === 'huggingface' && parsed.json) return loadHuggingFaceTokenizer(JSON.parse(parsed.json) as object, undefined, 'embedded tokenizer.json');
  return null;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function resolveTokenizer(modelPath: string, metadata: Record<string, string>, explicit: string | undefined): Promise<{ tokenizer: TextTokenizer | null; source: string }> {
  if (explicit) return { tokenizer: getTokenizer(explicit), source: explicit };
  const beside = path.join(path.dirname(modelPath), 'tokenizer.json');
  if (await exists(beside)) return { tokenizer: getTokenizer(beside), source: 'tokenizer.json beside the model' };
  const embedded = tokenizerFromMetadata(metadata);
  if (embedded) return { tokenizer: embedded, source: 'the model file\'s metadata' };
  return { tokenizer: null, source: 'none' };
}

function modelKind(plan: TapPlan): ModelKind {
  const kinds = new Set(plan.attention.map((tap) => tap.kind));
  if (kinds.has('cross')) return 'encoder-decoder';
  if (kinds.has('decoder-self')) return 'decoder';
  return 'encoder';
}

/** No input this engine feeds has 2^31 elements; ONNX Runtime would spend seconds before failing. */
const MAX_INPUT_ELEMENTS = 2 ** 31 - 1;

/**
 * A graph input declared with a fixed size of 2^31 elements or more cannot be fed (ONNX Runtime Web
 * spends 4-30 s on such a model before it fails with bad_alloc), so it is refused at once.
 */
function refuseOversizedInputs(inputs: readonly ModelInput[]): void {
  for (const input of inputs) {
    const elements = input.dims.reduce<number>((product, dim) => product * (typeof dim === 'number' ? Math.max(dim, 1) : 1), 1);
    if (elements > MAX_INPUT_ELEMENTS) {
      throw new UserFacingError(
        `The ONNX model declares its input "${input.name}" with shape [${input.dims.map((dim) => dim ?? '?').join(', ')}]: ${elements} elements, more than ONNX Runtime can allocate.`,
        'Re-export the model with symbolic (dynamic) or realistic input sizes.',
      );
    }
  }
}

/** Where a model comes from: a file, or bytes already in memory (a built-in model's export). */
export interface OnnxModelSource {
  /** The model's file; for bytes in memory, the name it goes by in messages. */
  path: string;
  /** The model's bytes, when they are already in memory: the file is then not read. */
  bytes?: Uint8Array;
  /** With `bytes`: the external data they refer to, by the names the model uses. */
  externalData?: Array<{ path: string; data: Uint8Array }>;
  /** The id an encoder-decoder's shifted decoder input starts with, when the model's config names one. */
  decoderStartId?: number;
}

/** Reads a model file, refusing what is not a regular file or is over the ceiling before reading it. */
async function readModelFile(modelPath: string, maxBytes: number): Promise<Uint8Array> {
  let info;
  try {
    info = await stat(modelPath);
  } catch (error) {
    throw openError(error, modelPath, { maxBytes, what: 'the ONNX model', option: 'model' });
  }
  if (info.isFile() && info.size > maxBytes) throw modelTooBig(modelPath, info.size, maxBytes);
  if (info.isFile() && info.size >= PROTOBUF_LIMIT_BYTES) {
    throw new UserFacingError(
      `${path.basename(modelPath)} is ${(info.size / 2 ** 30).toFixed(1)} GB; an ONNX file cannot be over 2 GB.`,
      'Export it with its weights in external data (PyTorch: torch.onnx.export(..., external_data=True); onnx.save(..., save_as_external_data=True)) and keep model.onnx.data beside it.',
      { code: 'model-over-protobuf-limit', facts: { sizeMB: Math.ceil(info.size / 2 ** 20) } },
    );
  }
  return readRegularFile(modelPath, { maxBytes, what: 'the ONNX model', option: 'model', limitOption: 'maxModelMB' });
}

export async function loadOnnxModel(modelSource: OnnxModelSource, options: OnnxLoadOptions): Promise<LoadedOnnxModel> {
  const modelPath = modelSource.path;
  const maxBytes = (options.maxModelMB ?? DEFAULT_MAX_MODEL_MB) * 2 ** 20;
  const bytes = modelSource.bytes ?? await readModelFile(modelPath, maxBytes);
  // A merged decoder's attention sits in both branches of an If: the branch without past runs.
  const { model, inlined } = inlineNoCacheBranch(decodeModel(bytes, path.basename(modelPath)));
  const externalData = modelSource.bytes && modelSource.externalData
    ? modelSource.externalData
    : await readExternalData(model, modelPath, { usedBytes: bytes.byteLength, maxBytes });
  const metadata = metadataOf(model);
  const inputs = modelInputs(model);
  refuseOversizedInputs(inputs);

  // The tokenizer first: a mismatch is found in milliseconds, before a session that may take minutes.
  const { tokenizer, source } = await resolveTokenizer(modelPath, metadata, options.tokenizer);
  const vocabularySize = embeddingRows(model, inputs);
  if (tokenizer && vocabularySize !== null && tokenizer.vocabSize > vocabularySize) {
    throw new UserFacingError(
      `The tokenizer (${source}) has ${tokenizer.vocabSize} ids, but the model's embedding has only ${vocabularySize} rows: they do not belong together.`,
      `Put the model's own tokenizer.json beside it, or give it with ${optionRef('tokenizer')}.`,
      { code: 'tokenizer-mismatch', facts: { tokenizerIds: tokenizer.vocabSize, embeddingRows: vocabularySize } },
    );
  }
  options.cancel?.throwIfCancelled();

  const nodeCount = model.graph?.node?.length ?? 0;
  options.onProgress?.(`Finding the attention in ${path.basename(modelPath)} (${nodeCount} nodes)`);
  const tapStart = performance.now();
  const tapped = analyzeAndTap(model);
  const tapMs = performance.now() - tapStart;
  if (inlined > 0) {
    tapped.plan.notes.push(notice('cache-branch', `The model holds its decoder twice, with and without past key/values, behind ${inlined === 1 ? 'an If' : `${inlined} If nodes`} on ${USE_CACHE_INPUT}; the branch without past ran, on the whole input at once.`));
  }
  options.cancel?.throwIfCancelled();

  const weightsMB = (bytes.byteLength + [...new Set(externalData.map((file) => file.data))].reduce((sum, data) => sum + data.byteLength, 0)) / 2 ** 20;
  options.onProgress?.(`Starting ONNX Runtime on ${path.basename(modelPath)} (${tapped.model.graph?.node?.length ?? nodeCount} nodes, ${weightsMB.toFixed(weightsMB < 10 ? 1 : 0)} MB)`);
  const sessionStart = performance.now();
  const session = await createSession(encodeModel(tapped.model), { backend: options.backend, threads: options.threads, externalData });
  const sessionMs = performance.now() - sessionStart;

  let dModel: number | null = null;
  try {
    const config = JSON.parse(metadata['attention_lens.config'] ?? 'null') as { dModel?: number } | null;
    if (config && typeof config.dModel === 'number') dModel = config.dModel;
  } catch {
    // Not an Attention Lens export: the graph's shapes tell.
  }
  dModel ??= hiddenSize(model, inputs);
  const kind = modelKind(tapped.plan);
  return {
    path: modelPath,
    plan: tapped.plan,
    session,
    inputs,
    kind,
    firstStream: kind === 'decoder' ? 'decoder' : 'encoder',
    tokenizer,
    tokenizerSource: source,
    vocabularySize,
    dModel,
    metadata,
    tapMs,
    sessionMs,
    modelBytes: bytes.byteLength + [...new Set(externalData.map((file) => file.data))].reduce((sum, data) => sum + data.byteLength, 0),
    firstBlock: firstBlockRunner(tapped.model, tapped.plan, options, externalData),
    passSession: (outputs) => createSession(encodeModel(pruneToOutputs(tapped.model, outputs)), { backend: session.backend === 'native' || session.backend === 'webgpu' ? session.backend : 'wasm', threads: options.threads, externalData }),
  };
}
