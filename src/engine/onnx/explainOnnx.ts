/**
 * @file explain() for a user's ONNX model: load and tap it (cached), turn the text into the
 * model's inputs, run it once, and read the taps into an AttentionTrace.
 */
import { stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { type CancellationCheck, UserFacingError } from '../errors';
import type { ExplainOptions } from '../explain';
import { planStreams, requireText, type StreamPlan } from '../streams';
import type { AttentionTrace, ModelInfo, StageTiming, StreamName, Token, TokenStream } from '../trace';
import { TRACE_FORMAT_VERSION } from '../trace';
import { buildFeeds, fixedSequenceLength, inputRole } from './inputs';
import { type LoadedOnnxModel, loadOnnxModel } from './onnxModel';
import { readTaps, tapOutputNames } from './traceFromRun';

const DEFAULT_MAX_TOKENS = 512;

/** Loaded models by file (with its size and time), backend, threads and tokenizer. Sessions hold
 *  the weights in WASM memory, so only the last two stay. */
export class OnnxModelCache {
  private readonly entries = new Map<string, Promise<LoadedOnnxModel>>();

  async get(modelPath: string, options: ExplainOptions): Promise<{ model: LoadedOnnxModel; loadedNow: boolean }> {
    let version = 'missing';
    try {
      const info = await stat(modelPath);
      version = `${info.size}:${info.mtimeMs}`;
    } catch {
      // loadOnnxModel reports it
    }
    const threads = options.threads ?? cpus().length;
    const key = JSON.stringify([path.resolve(modelPath), version, options.backend ?? 'auto', threads, options.tokenizer ?? null]);
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return { model: await cached, loadedNow: false };
    }
    const loading = loadOnnxModel(modelPath, { backend: options.backend ?? 'auto', threads, tokenizer: options.tokenizer, maxModelMB: options.limits?.maxModelMB });
    loading.catch(() => this.entries.delete(key));
    this.entries.set(key, loading);
    while (this.entries.size > 2) {
      const oldest = this.entries.keys().next().value as string;
      const evicted = this.entries.get(oldest);
      this.entries.delete(oldest);
      void evicted?.then((model) => model.session.release()).catch(() => undefined);
    }
    return { model: await loading, loadedNow: true };
  }
}

/** Tokens that stand for positions, for inputs given as tensors rather than text; with the ids when known. */
function positionTokens(count: number, ids?: readonly number[]): Token[] {
  return Array.from({ length: count }, (_, index) => {
    const id = ids?.[index];
    return { id: id ?? index, text: '', piece: id === undefined ? `#${index}` : `[${id}]`, start: 0, end: 0, special: true };
  });
}

function textStreams(model: LoadedOnnxModel, text: string, options: ExplainOptions): StreamPlan {
  if (!model.tokenizer) {
    throw new UserFacingError(
      `No tokenizer for ${path.basename(model.path)}.`,
      'Put the model\'s tokenizer.json beside it, set "attentionLens.tokenizerPath" (CLI: --tokenizer), or give the inputs as tensors (--input).',
    );
  }
  requireText(text, 'selection');
  let maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  let padTo = options.padTo;
  const notices: string[] = [];
  // A fixed-length export (TensorFlow often writes one) takes exactly that many tokens.
  const fixed = fixedSequenceLength(model.inputs);
  if (fixed !== null) {
    maxTokens = Math.min(maxTokens, fixed);
    if (model.kind !== 'decoder') padTo = fixed;
    notices.push(`This model takes exactly ${fixed} tokens: the input was cut or padded to that length.`);
  }
  const plan = planStreams(model.tokenizer, model.kind, text, {
    maxTokens,
    decoderText: options.decoderText,
    padTo: padTo === undefined ? undefined : Math.max(padTo, 0),
  });
  return { ...plan, notices: [...plan.notices, ...notices] };
}

/** Gives each stream a block refers to tokens of the right count (positions when there is no text). */
function completeStreams(streams: TokenStream[], blocks: AttentionTrace['blocks'], explicitIds: Partial<Record<StreamName, number[]>>): TokenStream[] {
  const byName = new Map(streams.map((stream) => [stream.name, stream]));
  for (const block of blocks) {
    for (const [name, count] of [[block.queryStream, block.queries], [block.keyStream, block.keys]] as Array<[StreamName, number]>) {
      const existing = byName.get(name);
      if (!existing) byName.set(name, { name, text: '', origin: 'custom', tokens: positionTokens(count, explicitIds[name]) });
      else if (existing.tokens.length !== count && existing.text === '') existing.tokens = positionTokens(Math.max(count, existing.tokens.length), explicitIds[name]);
    }
  }
  return [...byName.values()];
}

/** "bytes (the model file's metadata)", "tokenizer.json (beside the model)": short enough for a header. */
function describeTokenizer(name: string, source: string): string {
  const shown = path.isAbsolute(name) ? path.basename(name) : name;
  if (source === name) return shown;
  return source === 'tokenizer.json beside the model' ? `${shown} (beside the model)` : `${shown} (${source})`;
}

/** The model as the trace describes it; layers are counted from the whole plan (also for a partial trace). */
function describe(model: LoadedOnnxModel, modelPath: string, blocks: AttentionTrace['blocks']): ModelInfo {
  const layersOf = (kind: string): number => new Set(model.plan.attention.filter((tap) => tap.kind === kind).map((tap) => tap.layer)).size;
  return {
    name: path.basename(modelPath),
    kind: model.kind,
    source: 'onnx',
    path: path.resolve(modelPath),
    encoderLayers: layersOf('encoder-self') + (model.kind === 'encoder' ? layersOf('self') : 0),
    decoderLayers: layersOf('decoder-self') + (model.kind === 'decoder' ? layersOf('self') : 0),
    heads: blocks[0]?.heads ?? 0,
    dModel: model.dModel,
    ...(model.vocabularySize !== null ? { vocabSize: model.vocabularySize } : {}),
    weights: path.basename(modelPath),
    tokenizer: model.tokenizer ? describeTokenizer(model.tokenizer.name, model.tokenizerSource) : 'none (tensor inputs)',
  };
}

/** Inputs at least this long show the first block before the whole forward pass is done. */
const FIRST_BLOCK_MIN_TOKENS = 256;

export async function explainOnnx(
  cache: OnnxModelCache,
  modelPath: string,
  text: string,
  options: ExplainOptions,
  cancel: CancellationCheck,
  onPartial?: (trace: AttentionTrace) => void,
): Promise<AttentionTrace> {
  const started = performance.now();
  const timings: StageTiming[] = [];
  const { model, loadedNow } = await cache.get(modelPath, options);
  if (loadedNow) {
    timings.push({ stage: 'tap graph', ms: model.tapMs }, { stage: 'create session', ms: model.sessionMs });
  }
  cancel.throwIfCancelled();

  const explicit = options.inputs ?? {};
  // Text is needed while some token-id input is not given explicitly.
  const textFeeds = model.inputs.some((input) => {
    const role = inputRole(input.name, input.elementType);
    return (role === 'ids' || role === 'decoder-ids') && !(input.name in explicit);
  });
  const tokenizeStart = performance.now();
  const plan: StreamPlan = textFeeds ? textStreams(model, text, options) : { streams: [], truncation: [], notices: ['Inputs were given as tensors: tokens are positions.'] };
  timings.push({ stage: 'tokenize', ms: performance.now() - tokenizeStart });

  const first = plan.streams.find((stream) => stream.name === model.firstStream);
  const decoder = model.kind === 'encoder-decoder' ? plan.streams.find((stream) => stream.name === 'decoder') : undefined;
  const ids = first?.tokens.map((token) => token.id) ?? [];
  const keep = first ? first.tokens.map((_, index) => (plan.encoderPadding?.[index] ? 0 : 1)) : [];
  const feeds = buildFeeds(model.inputs, { ids, keep, decoderIds: decoder?.tokens.map((token) => token.id), explicit });

  const runStart = performance.now();
  let outputs;
  try {
    if (onPartial && model.firstBlock && ids.length >= FIRST_BLOCK_MIN_TOKENS) {
      // A big model on a long input: layer 0 first (a fraction of the work), then everything.
      const first = await model.firstBlock();
      const partialOutputs = await first.session.run(feeds, tapOutputNames(first.plan));
      cancel.throwIfCancelled();
      const partial = readTaps(first.plan, partialOutputs);
      onPartial({
        formatVersion: TRACE_FORMAT_VERSION,
        model: describe(model, modelPath, partial.blocks),
        backend: first.session.backend,
        ...(first.session.adapter ? { adapter: first.session.adapter } : {}),
        streams: completeStreams(plan.streams, partial.blocks, {}),
        blocks: partial.blocks,
        residual: partial.residual,
        timings: [...timings, { stage: 'first block', ms: performance.now() - runStart }],
        truncation: plan.truncation,
        notices: [...plan.notices, `Showing the first block; the other ${model.plan.attention.length - 1} blocks are still being computed.`],
        createdAt: new Date().toISOString(),
      });
    }
    outputs = await model.session.run(feeds, tapOutputNames(model.plan));
  } catch (error) {
    if (error instanceof UserFacingError || (error instanceof Error && error.name === 'CancelledError')) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new UserFacingError(
      `The model failed to run on this input: ${message.replace(/\s+/g, ' ').slice(0, 500)}`,
      /out of (data )?bounds|indices element/i.test(message)
        ? 'A token id is outside the model\'s vocabulary: use the tokenizer the model was trained with.'
        : 'Check that the inputs match what the model expects (README "ONNX models").',
    );
  }
  timings.push({ stage: 'forward', ms: performance.now() - runStart });
  cancel.throwIfCancelled();

  const readStart = performance.now();
  const { blocks, residual } = readTaps(model.plan, outputs);
  timings.push({ stage: 'read taps', ms: performance.now() - readStart });
  timings.push({ stage: 'total', ms: performance.now() - started });

  const explicitIds: Partial<Record<StreamName, number[]>> = {};
  for (const input of model.inputs) {
    const spec = explicit[input.name];
    const role = inputRole(input.name, input.elementType);
    if (spec?.kind !== 'ids') continue;
    if (role === 'ids') explicitIds[model.firstStream] = spec.values;
    if (role === 'decoder-ids') explicitIds.decoder = spec.values;
  }
  const streams = completeStreams(plan.streams, blocks, explicitIds);
  const info = describe(model, modelPath, blocks);
  const notices = [...plan.notices, ...model.plan.notes];
  if (model.session.fallbackNote) notices.push(model.session.fallbackNote);
  return {
    formatVersion: TRACE_FORMAT_VERSION,
    model: info,
    backend: model.session.backend,
    ...(model.session.adapter ? { adapter: model.session.adapter } : {}),
    streams,
    blocks,
    residual,
    timings,
    truncation: plan.truncation,
    notices,
    createdAt: new Date().toISOString(),
  };
}
