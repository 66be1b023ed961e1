/**
 * @file explain() for a user's ONNX model: load and tap it (cached), turn the text into the
 * model's inputs, run it once, and read the taps into an AttentionTrace.
 */
import { stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { type CancellationCheck, optionRef, UserFacingError } from '../../shared/errors';
import { DEFAULT_LIMITS } from '../limits';
import { checkTraceEstimate, checkWasmMemory, estimateTrace } from '../traceEstimate';
import { planTapPasses, runPasses } from './tapPasses';
import type { ExplainOptions } from '../options';
import { planStreams, requireText, type StreamPlan } from '../streams';
import { type AblationResult, type AttentionTrace, type ModelInfo, notice, type StageTiming, type StreamName, type Token, type TokenStream, type TraceNotice } from '../../shared/trace';
import { TRACE_FORMAT_VERSION } from '../../shared/trace';
import { buildFeeds, checkExplicitNames, feedsFor, fixedSequenceLength, inputRole } from './inputs';
import { type LoadedOnnxModel, loadOnnxModel, type OnnxModelSource } from './onnxModel';
import { readTaps, tapOutputNames } from './traceFromRun';
import { addValueWeighted, valueOutputNames, valueWeightedNotice } from '../analysis/valueWeightedOnnx';
import { logitsOutputName, predictionsFromLogits } from '../analysis/onnxPredictions';
import { checkTopK, DEFAULT_TOP_K, idTextOf } from '../analysis/topTokens';
import { onnxAblation } from '../analysis/ablationOnnx';
import { gateFeeds } from './headGate';

const DEFAULT_MAX_TOKENS = 512;

/** What a load reports on its way and checks between its stages. */
interface LoadProgress {
  onProgress?: (stage: string) => void;
  cancel?: CancellationCheck;
}

/**
 * Loaded models by file (with its size and time) or by the digest of bytes in memory, backend,
 * threads and tokenizer. Sessions hold the weights in WASM memory, so only the last two stay.
 */
export class OnnxModelCache {
  private readonly entries = new Map<string, Promise<LoadedOnnxModel>>();

  /** @param digest for bytes in memory: what identifies them (a built-in export's key) */
  async get(source: OnnxModelSource & { digest?: string }, options: ExplainOptions, progress?: LoadProgress): Promise<{ model: LoadedOnnxModel; loadedNow: boolean }> {
    let version = source.digest ?? 'missing';
    if (!source.bytes) {
      try {
        const info = await stat(source.path);
        version = `${info.size}:${info.mtimeMs}`;
      } catch {
        // loadOnnxModel reports it
      }
    }
    const threads = options.threads ?? cpus().length;
    const key = JSON.stringify([source.bytes ? 'memory' : path.resolve(source.path), version, options.backend ?? 'auto', threads, options.tokenizer ?? null]);
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return { model: await cached, loadedNow: false };
    }
    const loading = loadOnnxModel(source, { backend: options.backend ?? 'auto', threads, tokenizer: options.tokenizer, maxModelMB: options.limits?.maxModelMB, ...progress });
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

function textStreams(model: LoadedOnnxModel, text: string, options: ExplainOptions, decoderStartId: number | undefined): StreamPlan {
  if (!model.tokenizer) {
    throw new UserFacingError(
      `No tokenizer for ${path.basename(model.path)}.`,
      `Put the model's tokenizer.json beside it, give one with ${optionRef('tokenizer')}, or give the inputs as tensors (${optionRef('inputs')}).`,
    );
  }
  requireText(text, 'selection');
  let maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  let padTo = options.padTo;
  let fillTo: number | undefined;
  const notices: TraceNotice[] = [];
  // A fixed-length export (TensorFlow often writes one; Megatron fixes its mask) takes exactly that many tokens.
  const fixed = fixedSequenceLength(model.inputs);
  if (fixed !== null) {
    maxTokens = Math.min(maxTokens, fixed);
    if (model.kind !== 'decoder') padTo = fixed;
    else fillTo = fixed;
    notices.push(notice('fixed-length', `This model takes exactly ${fixed} tokens: the input was cut or padded to that length, the padding masked where the model has a mask input.`));
  }
  const plan = planStreams(model.tokenizer, model.kind, text, {
    maxTokens,
    decoderText: options.decoderText,
    decoderStartId,
    padTo: padTo === undefined ? undefined : Math.max(padTo, 0),
    fillTo,
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

/** How ONNX Runtime's allocators say they ran out (WASM: bad_alloc or an abort; native: its own words). */
const OUT_OF_MEMORY = /bad_alloc|out of memory|Cannot enlarge memory|failed to allocate|Aborted\(\)/i;

/** Inputs at least this long show the first block before the whole forward pass is done. */
const FIRST_BLOCK_MIN_TOKENS = 256;

export async function explainOnnx(
  cache: OnnxModelCache,
  source: OnnxModelSource & { digest?: string },
  text: string,
  options: ExplainOptions,
  cancel: CancellationCheck,
  onPartial?: (trace: AttentionTrace) => void,
  onProgress?: (stage: string) => void,
): Promise<AttentionTrace> {
  const started = performance.now();
  const timings: StageTiming[] = [];
  const modelPath = source.path;
  const { model, loadedNow } = await cache.get(source, options, { onProgress, cancel });
  if (loadedNow) {
    timings.push({ stage: 'tap graph', ms: model.tapMs }, { stage: 'create session', ms: model.sessionMs });
  }
  cancel.throwIfCancelled();

  const explicit = options.inputs ?? {};
  checkExplicitNames(model.inputs, explicit);
  // Text is needed while some token-id input is not given explicitly.
  const textFeeds = model.inputs.some((input) => {
    const role = inputRole(input.name, input.elementType);
    return (role === 'ids' || role === 'decoder-ids') && !(input.name in explicit);
  });
  const tokenizeStart = performance.now();
  const plan: StreamPlan = textFeeds ? textStreams(model, text, options, source.decoderStartId) : { streams: [], truncation: [], notices: [notice('tensor-inputs', 'Inputs were given as tensors: tokens are positions.')] };
  timings.push({ stage: 'tokenize', ms: performance.now() - tokenizeStart });

  const first = plan.streams.find((stream) => stream.name === model.firstStream);
  const decoder = model.kind === 'encoder-decoder' ? plan.streams.find((stream) => stream.name === 'decoder') : undefined;
  const ids = first?.tokens.map((token) => token.id) ?? [];
  const padding = model.firstStream === 'decoder' ? plan.decoderPadding : plan.encoderPadding;
  const keep = first ? first.tokens.map((_, index) => (padding?.[index] ? 0 : 1)) : [];
  /** Tokens of a stream as fed: from the text, or from the explicit ids tensor. */
  const streamLength = (name: StreamName): number => {
    const fed = plan.streams.find((stream) => stream.name === name)?.tokens.length;
    if (fed !== undefined) return fed;
    const role = name === model.firstStream ? 'ids' : 'decoder-ids';
    const input = model.inputs.find((candidate) => inputRole(candidate.name, candidate.elementType) === role);
    const tensor = input ? feeds[input.name] : undefined;
    return tensor ? tensor.dims[tensor.dims.length - 1] ?? 1 : 1;
  };
  const feeds = buildFeeds(model.inputs, { ids, keep, decoderIds: decoder?.tokens.map((token) => token.id), explicit, vocabularySize: model.vocabularySize, maskConventions: model.plan.maskConventions });
  // The head gates of ablation runs are inputs too: a plain run feeds them open.
  Object.assign(feeds, gateFeeds(model.plan));

  const estimate = estimateTrace(model.plan.attention.map((tap) => ({
    heads: tap.heads ?? tap.expectedHeads ?? null,
    queries: streamLength(tap.queryStream),
    keys: streamLength(tap.keyStream),
  })), false);
  checkTraceEstimate(estimate, options.limits?.maxTraceMB ?? DEFAULT_LIMITS.maxTraceMB, { tokens: ids.length, padTo: options.padTo, includeScores: false });
  if (model.session.backend !== 'native') checkWasmMemory(estimate, model.modelBytes, ids.length);
  const passes = planTapPasses(model, estimate, streamLength);

  const topK = options.topK ?? DEFAULT_TOP_K;
  const logitsName = logitsOutputName(model.session.outputNames, new Set(tapOutputNames(model.plan)));
  if (logitsName && model.vocabularySize !== null) checkTopK(topK, model.vocabularySize);
  onProgress?.(`Running ${path.basename(modelPath)} on ${ids.length} tokens`);
  const runStart = performance.now();
  let outputs;
  try {
    if (onPartial && model.firstBlock && ids.length >= FIRST_BLOCK_MIN_TOKENS) {
      // A big model on a long input: layer 0 first (a fraction of the work), then everything.
      const first = await model.firstBlock();
      // The first block's graph is cut before the later inputs are read (an encoder-decoder's
      // decoder_input_ids): feed it only the inputs it still has.
      const partialOutputs = await first.session.run(feedsFor(first.session, feeds), tapOutputNames(first.plan));
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
        notices: [...plan.notices, notice('first-block', `Showing the first block; the other ${model.plan.attention.length - 1} blocks are still being computed.`)],
        createdAt: new Date().toISOString(),
      });
    }
    // The LM head's logits come with the taps from the same run; a run split into passes (each
    // session cut to its blocks) leaves them out rather than run the whole graph once more.
    // V for value-weighted attention comes with them too, from a run in one pass (its blocks' V only then).
    const values = options.valueWeighted && passes.groups.length <= 1 ? valueOutputNames(model.plan) : [];
    outputs = (logitsName || values.length > 0) && passes.groups.length <= 1
      ? await model.session.run(feeds, [...tapOutputNames(model.plan), ...values, ...(logitsName ? [logitsName] : [])])
      : await runPasses(model, feeds, passes, cancel, (pass) => onProgress?.(`Running ${path.basename(modelPath)} on ${ids.length} tokens (run ${pass + 1} of ${passes.groups.length}: ${passes.groups[pass].length} blocks)`));
  } catch (error) {
    if (error instanceof UserFacingError || (error instanceof Error && error.name === 'CancelledError')) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (OUT_OF_MEMORY.test(message)) {
      throw new UserFacingError(
        `ONNX Runtime ran out of memory running ${path.basename(modelPath)} on ${ids.length} tokens (weights ${(model.modelBytes / 2 ** 20).toFixed(0)} MB, attention ${estimate.exact ? '' : 'at least '}${(estimate.bytes / 2 ** 20).toFixed(0)} MB${model.session.backend === 'native' ? '' : '; WebAssembly holds at most 4096 MB'}).`,
        `Explain fewer tokens (${optionRef('maxTokens')}), or choose a smaller model.`,
        { code: 'out-of-memory', facts: { tokens: ids.length, modelMB: Math.ceil(model.modelBytes / 2 ** 20), traceMB: Math.ceil(estimate.bytes / 2 ** 20) } },
      );
    }
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
  const valuesMissing = options.valueWeighted
    ? (passes.groups.length <= 1 ? addValueWeighted(model.plan, outputs, blocks) : [`the run was split into ${passes.groups.length} passes, and the values would need the whole graph once more`])
    : [];
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
  if (model.session.choiceNote) notices.push(notice('backend-choice', model.session.choiceNote));
  if (model.session.fallbackNote) notices.push(notice('backend', model.session.fallbackNote));
  // The LM head reads the decoder, or the only stream of an encoder-only model.
  const headStream: StreamName = model.kind === 'encoder' ? model.firstStream : 'decoder';
  const logits = logitsName ? outputs[logitsName] : undefined;
  const reading = logitsName && logits ? predictionsFromLogits(logits, logitsName, headStream, streamLength(headStream), topK, idTextOf(model.tokenizer)) : null;
  if (reading && 'notice' in reading) notices.push(reading.notice);
  let ablation: AblationResult | undefined;
  if (options.ablate && options.ablate.length > 0) {
    const ablationStart = performance.now();
    const compared = logitsName && logits && reading && 'predictions' in reading ? { name: logitsName, tensor: logits, stream: headStream } : null;
    ablation = await onnxAblation(model, { feeds, blocks, logits: compared, passes }, { targets: options.ablate, mode: options.ablateMode ?? 'zero' }, idTextOf(model.tokenizer), cancel);
    timings.push({ stage: 'ablation', ms: performance.now() - ablationStart });
    if (!compared) notices.push(notice('ablation-attention-only', 'The ablation compared the attention only: this run read no next-token distribution from the model to compare.'));
  }
  if (logitsName && passes.groups.length > 1) notices.push(notice('predictions-skipped', `The predictions were not read: the run was split into ${passes.groups.length} passes, and the logits would need the whole graph once more.`));
  const valuesNotice = valueWeightedNotice(valuesMissing, blocks.length);
  if (valuesNotice) notices.push(valuesNotice);
  if (options.logitLens) notices.push(notice('logit-lens-unavailable', 'The logit lens needs every layer\'s residual vectors, the final norm and the unembedding; they are not found in ONNX graphs yet (the built-in models have it).'));
  if (passes.groups.length > 1) {
    notices.push(notice('passes', `The attention (${(estimate.bytes / 2 ** 20).toFixed(0)} MB) was fetched in ${passes.groups.length} runs of the model, each returning at most ${(passes.budgetBytes / 2 ** 20).toFixed(0)} MB, because ONNX Runtime Web holds at most 4 GB; each run repeats the forward pass up to its last block.`));
  }
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
    ...(reading && 'predictions' in reading ? { predictions: reading.predictions } : {}),
    ...(ablation ? { ablation } : {}),
  };
}
