/**
 * @file explain(text, options) → AttentionTrace: tokenise, pick the input streams, run the model,
 * and assemble the trace. This runs inside the engine worker (and directly in tests).
 */
import { analyzeTrace } from './analysis/analyze';
import { headMatrix } from '../shared/colorLimits';
import { MAX_ROLLOUT_TOKENS } from './analysis/rollout';
import { DEFAULT_THRESHOLDS } from '../shared/analysis';
import { BuiltinExportCache, defaultCacheFolder } from './exportCache';
import { DEFAULT_LIMITS, type ResourceLimits } from './limits';
import { BuiltinModelCache, parseBuiltinSpec } from './builtin';
import { type CancellationCheck, neverCancelled, optionRef, UserFacingError } from '../shared/errors';
import { OnnxModelCache, explainOnnx } from './onnx/explainOnnx';
import type { DownloadProgress } from './hub/download';
import { explainHub } from './hub/explainHub';
import { explainFolder, isModelFolder } from './hub/localFolder';
import { isHubSpec } from './hub/spec';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL, effectiveThreads, type ExplainOptions, validateOptions } from './options';
import { isBuiltinSpec, kvHeadsOf, type PresetName, PRESETS } from './reference/config';
import { kvHeadOfQueryHead } from './reference/multiHeadAttention';
import { planStreams, requireText } from './streams';
import { BYTE_TOKENIZER_SPEC, getTokenizer } from './tokenizers/index';
import { type BlockShape, checkTraceEstimate, estimateTrace } from './traceEstimate';
import type { AttentionTrace, StageTiming } from '../shared/trace';
import { notice, TRACE_FORMAT_VERSION } from '../shared/trace';
import { builtinLogitLens, builtinPredictions } from './analysis/builtinLens';
import { checkTopK, DEFAULT_TOP_K, idTextOf } from './analysis/topTokens';
import { referenceAblation } from './analysis/ablationReference';

/** Refuses a trace whose attention would pass the ceiling, naming the setting to raise. */
export function checkTraceSize(trace: AttentionTrace, limits: ResourceLimits | undefined): void {
  const ceiling = limits?.maxTraceMB ?? DEFAULT_LIMITS.maxTraceMB;
  const bytes = trace.blocks.reduce((sum, block) => sum + block.probs.byteLength + (block.scores?.byteLength ?? 0) + (block.valueWeighted?.byteLength ?? 0), 0);
  if (bytes / 2 ** 20 > ceiling) {
    throw new UserFacingError(
      `This run's attention takes ${(bytes / 2 ** 20).toFixed(0)} MB, over the ${ceiling} MB limit.`,
      `Explain fewer tokens (${optionRef('maxTokens')}), or raise ${optionRef('maxTraceMB')} if the machine has the memory.`,
      { code: 'trace-too-big', facts: { traceMB: Math.round(bytes / 2 ** 20), limitMB: ceiling } },
    );
  }
}

/**
 * Value-weighted attention needs each block's value vectors and output projection. Where a path
 * (a Hub model's join, a future one) left blocks without it and said nothing, the trace says so:
 * never α in its place without a word.
 */
function noteMissingValueWeighted(trace: AttentionTrace): void {
  const missing = trace.blocks.filter((block) => !block.valueWeighted).length;
  if (missing === 0 || trace.notices.some((found) => found.code === 'value-weighted-unavailable')) return;
  trace.notices.push(notice('value-weighted-unavailable', `Value-weighted attention is missing for ${missing} of ${trace.blocks.length} blocks: their value vectors and output projection were not read.`));
}

/** Presets small enough that the TypeScript model beats starting an ONNX Runtime session. */
const SMALL_PRESETS = new Set(['trained-decoder', 'tiny-decoder', 'tiny-encoder', 'tiny-encdec', 'tiny-modern']);

function runsOnOnnxRuntime(preset: string, options: ExplainOptions): boolean {
  const backend = options.backend ?? 'auto';
  if (backend === 'reference' || options.includeScores) return false; // ONNX taps carry no pre-softmax scores
  return backend !== 'auto' || !SMALL_PRESETS.has(preset);
}

/**
 * Refuses, before any weights are loaded, a run of a built-in model whose attention would pass the
 * trace ceiling: the shapes follow from the preset and the token counts.
 */
function checkBuiltinRunSize(preset: PresetName, text: string, options: ExplainOptions): void {
  const config = PRESETS[preset];
  const plan = planStreams(getTokenizer(options.tokenizer ?? BYTE_TOKENIZER_SPEC), config.kind, text, {
    maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    decoderText: options.decoderText,
    padTo: options.padTo,
  });
  const length = (name: 'encoder' | 'decoder'): number => plan.streams.find((stream) => stream.name === name)?.tokens.length ?? 0;
  const encoder = length('encoder');
  const decoder = length('decoder');
  const layers = (count: number, queries: number, keys: number): BlockShape[] => Array.from({ length: count }, () => ({ heads: config.heads, queries, keys }));
  const blocks = [
    ...layers(config.encoderLayers, encoder, encoder),
    ...layers(config.decoderLayers, decoder, decoder),
    ...(config.kind === 'encoder-decoder' ? layers(config.decoderLayers, decoder, encoder) : []),
  ];
  const includeScores = options.includeScores ?? false;
  checkTopK(options.topK ?? DEFAULT_TOP_K, config.vocabSize);
  checkTraceEstimate(estimateTrace(blocks, includeScores), options.limits?.maxTraceMB ?? DEFAULT_LIMITS.maxTraceMB, { tokens: Math.max(encoder, decoder), padTo: options.padTo, includeScores });
}

export class ExplainEngine {
  private readonly models = new BuiltinModelCache();
  private readonly onnxModels = new OnnxModelCache();
  private readonly exports: BuiltinExportCache;

  /** @param cacheFolder where built-in models' ONNX exports are kept across runs (exportCache.ts); null: memory only */
  constructor(cacheFolder: string | null = defaultCacheFolder()) {
    this.exports = new BuiltinExportCache(cacheFolder);
  }

  /**
   * @param onPartial called with a first, partial trace (the first block) when a big model runs on
   *        a long input, before the whole trace is ready
   */
  /**
   * @param onProgress told, in words, what a long run does now (downloading, loading, starting ONNX
   *        Runtime, running); while a Hub model downloads, with the figures
   */
  async explain(text: string, options: ExplainOptions = {}, cancel: CancellationCheck = neverCancelled, onPartial?: (partial: AttentionTrace) => void, onProgress?: (stage: string, download?: DownloadProgress) => void): Promise<AttentionTrace> {
    validateOptions(options);
    const threads = effectiveThreads(options.threads);
    options = { ...options, threads: threads.threads };
    const spec = options.model ?? DEFAULT_MODEL;
    let trace: AttentionTrace;
    if (isHubSpec(spec)) trace = await explainHub(this.onnxModels, spec, text, options, cancel, onPartial, onProgress);
    else if (!isBuiltinSpec(spec) && await isModelFolder(spec)) trace = await explainFolder(this.onnxModels, spec, text, options, cancel, onPartial, onProgress);
    else if (!isBuiltinSpec(spec)) trace = await explainOnnx(this.onnxModels, { path: spec }, text, options, cancel, onPartial, onProgress);
    else if (runsOnOnnxRuntime(parseBuiltinSpec(spec), options)) trace = await this.explainBuiltinOnOnnx(spec, text, options, cancel, onPartial, onProgress);
    else trace = await this.explainBuiltin(spec, text, options, cancel);
    if (options.valueWeighted) noteMissingValueWeighted(trace);
    checkTraceSize(trace, options.limits);
    if (threads.notice && trace.backend !== 'reference') trace.notices.push(notice('threads-capped', threads.notice));
    // The debugger's statistics, rollout and diagnostics travel with the trace.
    const analysisStart = performance.now();
    for (const block of trace.blocks) block.meanProbs = headMatrix(block.probs, block.heads, block.queries, block.keys, 'mean');
    trace.analysis = analyzeTrace(trace, { ...DEFAULT_THRESHOLDS, ...options.thresholds });
    if (trace.streams.some((stream) => stream.tokens.length > MAX_ROLLOUT_TOKENS)) {
      trace.notices.push(notice('rollout-limited', `Attention rollout is computed up to ${MAX_ROLLOUT_TOKENS} tokens (its cost grows with the cube of the length).`));
    }
    trace.timings.push({ stage: 'analysis', ms: performance.now() - analysisStart });
    return trace;
  }

  /**
   * A built-in model through its own ONNX export (written once per preset, weights and tokenizer
   * to a temporary file): the same numbers (the parity tests prove it) at ONNX Runtime's speed.
   */
  private async explainBuiltinOnOnnx(spec: string, text: string, options: ExplainOptions, cancel: CancellationCheck, onPartial?: (partial: AttentionTrace) => void, onProgress?: (stage: string) => void): Promise<AttentionTrace> {
    const preset = parseBuiltinSpec(spec);
    checkBuiltinRunSize(preset, text, options);
    onProgress?.(`Loading ${spec}`);
    const exportStart = performance.now();
    const model = await this.models.get({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer, maxModelMB: options.limits?.maxModelMB });
    const exported = await this.exports.get(preset, model);
    const exportMs = performance.now() - exportStart;
    cancel.throwIfCancelled();
    const source = {
      path: `${preset}.onnx`,
      bytes: exported.bytes,
      digest: exported.key,
      ...(exported.externalData ? { externalData: [{ path: exported.externalData.location, data: exported.externalData.data }] } : {}),
    };
    // The graph's taps carry residual norms, not vectors: the lens comes from the reference model below.
    const trace = await explainOnnx(this.onnxModels, source, text, { ...options, logitLens: false, tokenizer: options.tokenizer ?? BYTE_TOKENIZER_SPEC }, cancel,
      onPartial && ((partial) => onPartial({ ...partial, model: model.info })), onProgress);
    // It is still the built-in model: keep its description, say how it ran.
    trace.model = model.info;
    trace.timings.unshift({ stage: 'load model', ms: exportMs });
    trace.notices = trace.notices.filter((found) => found.code !== 'tap-summary');
    // What the graph does not name (its key/value heads are repeated before Q·Kᵀ), the preset does.
    const config = PRESETS[preset];
    const kvHeads = kvHeadsOf(config);
    for (const block of trace.blocks) {
      if (block.kind === 'cross') continue;
      if (kvHeads < config.heads) Object.assign(block, { kvHeads, kvHeadOf: kvHeadOfQueryHead(config.heads, kvHeads) });
      if (config.slidingWindow !== undefined && config.slidingWindow < block.keys) block.slidingWindow = config.slidingWindow;
    }
    if (options.logitLens) builtinLogitLens(model, trace, text, options, cancel);
    return trace;
  }

  private async explainBuiltin(spec: string, text: string, options: ExplainOptions, cancel: CancellationCheck): Promise<AttentionTrace> {
    const started = performance.now();
    const timings: StageTiming[] = [];
    requireText(text, 'selection');
    const preset = parseBuiltinSpec(spec);
    checkBuiltinRunSize(preset, text, options);

    const loadStart = performance.now();
    const model = await this.models.get({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer, maxModelMB: options.limits?.maxModelMB });
    timings.push({ stage: 'load model', ms: performance.now() - loadStart });
    cancel.throwIfCancelled();

    const tokenizeStart = performance.now();
    const plan = planStreams(model.tokenizer, model.info.kind, text, {
      maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      decoderText: options.decoderText,
      padTo: options.padTo,
    });
    timings.push({ stage: 'tokenize', ms: performance.now() - tokenizeStart });
    const ids = (name: 'encoder' | 'decoder'): number[] | undefined => plan.streams.find((s) => s.name === name)?.tokens.map((t) => t.id);

    const forwardStart = performance.now();
    const input = { encoderIds: ids('encoder'), encoderPadding: plan.encoderPadding, decoderIds: ids('decoder') };
    const output = model.transformer.forward(
      input,
      cancel,
      options.includeScores ?? false,
      options.logitLens ?? false,
      undefined,
      options.valueWeighted ?? false,
    );
    timings.push({ stage: 'forward', ms: performance.now() - forwardStart });
    const lensStart = performance.now();
    const lens = builtinPredictions(model, output, options, cancel);
    timings.push({ stage: 'predictions', ms: performance.now() - lensStart });
    // Ablation: the same ids once more with the heads gated; the trace stays the first run's.
    const ablationStart = performance.now();
    const ablation = options.ablate && options.ablate.length > 0
      ? referenceAblation(model.transformer, input, output, { targets: options.ablate, mode: options.ablateMode ?? 'zero' }, idTextOf(model.tokenizer), cancel).result
      : undefined;
    if (ablation) timings.push({ stage: 'ablation', ms: performance.now() - ablationStart });
    timings.push({ stage: 'total', ms: performance.now() - started });
    return {
      formatVersion: TRACE_FORMAT_VERSION,
      model: model.info,
      backend: 'reference',
      streams: plan.streams,
      blocks: output.blocks,
      residual: output.residual,
      timings,
      truncation: plan.truncation,
      notices: plan.notices,
      createdAt: new Date().toISOString(),
      ...lens,
      ...(ablation ? { ablation } : {}),
    };
  }
}
