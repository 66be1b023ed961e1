/**
 * @file Loading a user's ONNX file: read it (and its external data), find and tap its attention,
 * open a session on the chosen backend, and find its tokenizer (an explicit one, tokenizer.json
 * beside the model, or the tokenizer an Attention Lens export carries in its metadata).
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { UserFacingError } from '../errors';
import { createByteTokenizer } from '../tokenizers/bytes';
import { loadHuggingFaceTokenizer } from '../tokenizers/huggingface';
import { getTokenizer } from '../tokenizers/index';
import type { TextTokenizer } from '../tokenizers/types';
import type { ModelKind, StreamName } from '../trace';
import { type ModelInput, inputRole, modelInputs } from './inputs';
import { decodeModel, encodeModel, externalDataFiles, type ModelProto } from './model';
import { type BackendSetting, createSession, type OnnxSession } from './runtime';
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
  /**
   * For big models: a session of the model cut down to its first attention block (prune.ts), to
   * show layer 0 while the whole forward pass runs. Created on first use; null for small models.
   */
  firstBlock: (() => Promise<{ session: OnnxSession; plan: TapPlan }>) | null;
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
}

const DEFAULT_MAX_MODEL_MB = 4096;

function metadataOf(model: ModelProto): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const entry of model.metadataProps ?? []) {
    if (entry.key) entries[entry.key] = entry.value ?? '';
  }
  return entries;
}

/** Reads the files the model's tensors point to, refusing any path outside the model's folder. */
async function readExternalData(model: ModelProto, modelPath: string): Promise<Array<{ path: string; data: Uint8Array }>> {
  const folder = path.dirname(path.resolve(modelPath));
  const files: Array<{ path: string; data: Uint8Array }> = [];
  for (const location of externalDataFiles(model)) {
    const resolved = path.resolve(folder, location);
    if (path.isAbsolute(location) || (resolved !== folder && !resolved.startsWith(`${folder}${path.sep}`))) {
      throw new UserFacingError(
        `The model refers to external data outside its folder ("${location}"); Attention Lens does not read it.`,
        'Keep the external data file (e.g. model.onnx.data) beside the model and refer to it by its plain file name.',
      );
    }
    try {
      // A link inside the folder may point outside it: judge the real path, not the text.
      const real = await realpath(resolved);
      const realFolder = await realpath(folder);
      if (real !== realFolder && !real.startsWith(`${realFolder}${path.sep}`)) {
        throw new UserFacingError(
          `The model's external data "${location}" links to a file outside its folder; Attention Lens does not read it.`,
          'Keep the external data file itself (not a link) beside the model.',
        );
      }
      files.push({ path: location, data: await readFile(real) });
    } catch (error) {
      if (error instanceof UserFacingError) throw error;
      throw new UserFacingError(
        `The model's external data file ${location} cannot be read: ${(error as Error).message}.`,
        `Put ${path.basename(location)} beside ${path.basename(modelPath)}, as the exporter wrote it.`,
      );
    }
  }
  return files;
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
      'Put the model\'s tokenizer.json beside it or set "attentionLens.tokenizerPath" (CLI: --tokenizer), or export the model again.',
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

/** Rows of the embedding table the ids input indexes (Gather(table, ids)), when it is a weight. */
function embeddingRows(model: ModelProto, inputs: readonly ModelInput[]): number | null {
  const ids = inputs.find((input) => inputRole(input.name, input.elementType) === 'ids');
  const graph = model.graph;
  if (!ids || !graph) return null;
  const names = new Set([ids.name]);
  for (const node of graph.node ?? []) {
    // Follow casts of the ids (int32 → int64) to the Gather that uses them.
    if (node.opType === 'Cast' && names.has(node.input?.[0] ?? '')) names.add(node.output?.[0] ?? '');
  }
  const initializerDims = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', (tensor.dims ?? []).map(Number)]));
  for (const node of graph.node ?? []) {
    if (node.opType === 'Gather' && names.has(node.input?.[1] ?? '')) {
      const dims = initializerDims.get(node.input?.[0] ?? '');
      if (dims && dims.length === 2) return dims[0];
    }
  }
  return null;
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

export async function loadOnnxModel(modelPath: string, options: OnnxLoadOptions): Promise<LoadedOnnxModel> {
  let size: number;
  try {
    size = (await stat(modelPath)).size;
  } catch {
    throw new UserFacingError(`ONNX model not found: ${modelPath}`, 'Check the model path, or choose the model again with "Select Model...".');
  }
  const ceiling = options.maxModelMB ?? DEFAULT_MAX_MODEL_MB;
  if (size / 2 ** 20 > ceiling) {
    throw new UserFacingError(
      `${path.basename(modelPath)} is ${(size / 2 ** 20).toFixed(0)} MB, over the ${ceiling} MB limit for models.`,
      'Raise "attentionLens.limits.maxModelSizeMB" if the machine has the memory (onnxruntime-web holds at most 4 GiB).',
    );
  }
  if (size >= PROTOBUF_LIMIT_BYTES) {
    throw new UserFacingError(
      `${path.basename(modelPath)} is ${(size / 2 ** 30).toFixed(1)} GB; an ONNX file cannot be over 2 GB.`,
      'Export it with its weights in external data (PyTorch: torch.onnx.export(..., external_data=True); onnx.save(..., save_as_external_data=True)) and keep model.onnx.data beside it.',
    );
  }
  const bytes = await readFile(modelPath);
  const model = decodeModel(bytes, path.basename(modelPath));
  const externalData = await readExternalData(model, modelPath);
  const metadata = metadataOf(model);
  const inputs = modelInputs(model);
  refuseOversizedInputs(inputs);

  const tapStart = performance.now();
  const tapped = analyzeAndTap(model);
  const tapMs = performance.now() - tapStart;

  const sessionStart = performance.now();
  const session = await createSession(encodeModel(tapped.model), { backend: options.backend, threads: options.threads, externalData });
  const sessionMs = performance.now() - sessionStart;

  const { tokenizer, source } = await resolveTokenizer(modelPath, metadata, options.tokenizer);
  const vocabularySize = embeddingRows(model, inputs);
  if (tokenizer && vocabularySize !== null && tokenizer.vocabSize > vocabularySize) {
    await session.release();
    throw new UserFacingError(
      `The tokenizer (${source}) has ${tokenizer.vocabSize} ids, but the model's embedding has only ${vocabularySize} rows: they do not belong together.`,
      'Put the model\'s own tokenizer.json beside it, or set "attentionLens.tokenizerPath" (CLI: --tokenizer).',
    );
  }
  let dModel: number | null = null;
  try {
    const config = JSON.parse(metadata['attention_lens.config'] ?? 'null') as { dModel?: number } | null;
    if (config && typeof config.dModel === 'number') dModel = config.dModel;
  } catch {
    // Not an Attention Lens export.
  }
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
    firstBlock: firstBlockRunner(tapped.model, tapped.plan, options, externalData),
  };
}
