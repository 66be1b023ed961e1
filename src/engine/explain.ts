/**
 * @file explain(text, options) → AttentionTrace: tokenise, pick the input streams, run the model,
 * and assemble the trace. This runs inside the engine worker (and directly in tests).
 */
import { analyzeTrace } from './analysis/analyze';
import { headMatrix } from './analysis/colorLimits';
import { MAX_ROLLOUT_TOKENS } from './analysis/rollout';
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds } from './analysis/types';
import { BuiltinExportCache, defaultCacheFolder } from './exportCache';
import { DEFAULT_LIMITS, type ResourceLimits } from './limits';
import { BuiltinModelCache, parseBuiltinSpec } from './builtin';
import { availableParallelism } from 'node:os';
import { type CancellationCheck, neverCancelled, type OptionName, optionRef, UserFacingError } from './errors';
import type { InputSpec } from './onnx/inputs';
import { OnnxModelCache, explainOnnx } from './onnx/explainOnnx';
import { BACKEND_SETTINGS, type BackendSetting } from './onnx/runtime';
import { DEFAULT_PRESET, isBuiltinSpec, type PresetName, PRESETS } from './reference/config';
import { planStreams, requireText } from './streams';
import { BYTE_TOKENIZER_SPEC, getTokenizer } from './tokenizers/index';
import { type BlockShape, checkTraceEstimate, estimateTrace } from './traceEstimate';
import type { AttentionTrace, StageTiming } from './trace';
import { TRACE_FORMAT_VERSION } from './trace';

export const DEFAULT_MODEL = `builtin:${DEFAULT_PRESET}`;
export const DEFAULT_MAX_TOKENS = 512;
/** Above this the attention of a single block alone passes hundreds of MB. */
export const MAX_TOKENS_CEILING = 8192;

export interface ExplainOptions {
  /** "builtin:<preset>" or the path of an .onnx file; default builtin:trained-decoder. */
  model?: string;
  /**
   * auto (default), reference, wasm, webgpu or native. Built-in models run in TypeScript with
   * 'reference' (and with 'auto' for the small presets, where it is fastest); otherwise through
   * their own ONNX export on ONNX Runtime. ONNX files run on ONNX Runtime ('reference' = 'auto').
   */
  backend?: BackendSetting;
  /** WASM threads for ONNX models; default: all cores. */
  threads?: number;
  /** Explicit tensors for ONNX inputs by name (non-text models, or inputs text cannot fill). */
  inputs?: Record<string, InputSpec>;
  /** Weight seed of a built-in model. */
  seed?: number;
  /** safetensors weights for a built-in model (tensor names: README "Weights"). */
  weightsPath?: string;
  /** Tokenizer of a built-in model: "bytes" (default) or a tokenizer.json path (its ids must fit the vocabulary). */
  tokenizer?: string;
  /** Tokens kept per stream; longer inputs are truncated, and the trace says so. Default 512. */
  maxTokens?: number;
  /** Decoder input of an encoder-decoder model; default: the selection shifted right behind <s>. */
  decoderText?: string;
  /** Pad the encoder input with <pad> tokens up to this length, to show the padding mask. */
  padTo?: number;
  /** Keep the pre-softmax scores in the trace. */
  includeScores?: boolean;
  /** When diagnostics fire (defaults: analysis/types.ts DEFAULT_THRESHOLDS). */
  thresholds?: Partial<DiagnosticThresholds>;
  /** Ceilings that protect the editor from a run it cannot hold (settings "attentionLens.limits.*"). */
  limits?: ResourceLimits;
}

export { DEFAULT_LIMITS, type ResourceLimits } from './limits';

/** Refuses a trace whose attention would pass the ceiling, naming the setting to raise. */
export function checkTraceSize(trace: AttentionTrace, limits: ResourceLimits | undefined): void {
  const ceiling = limits?.maxTraceMB ?? DEFAULT_LIMITS.maxTraceMB;
  const bytes = trace.blocks.reduce((sum, block) => sum + block.probs.byteLength + (block.scores?.byteLength ?? 0), 0);
  if (bytes / 2 ** 20 > ceiling) {
    throw new UserFacingError(
      `This run's attention takes ${(bytes / 2 ** 20).toFixed(0)} MB, over the ${ceiling} MB limit.`,
      `Explain fewer tokens (${optionRef('maxTokens')}), or raise ${optionRef('maxTraceMB')} if the machine has the memory.`,
      { code: 'trace-too-big', facts: { traceMB: Math.round(bytes / 2 ** 20), limitMB: ceiling } },
    );
  }
}

function checkInteger(value: number | undefined, name: OptionName, low: number, high: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < low || value > high)) {
    throw new UserFacingError(`Invalid ${optionRef(name)}: ${String(value)}.`, `Use a whole number from ${low} to ${high}.`, { code: 'invalid-option', facts: { option: name, value: String(value) } });
  }
}

/** The most WASM threads ever started: more only costs memory (each thread has its own stack). */
const MAX_THREADS = 1024;

export function validateOptions(options: ExplainOptions): void {
  checkInteger(options.maxTokens, 'maxTokens', 1, MAX_TOKENS_CEILING);
  checkInteger(options.padTo, 'padTo', 1, MAX_TOKENS_CEILING);
  checkInteger(options.seed, 'seed', 0, 0xffffffff);
  checkInteger(options.threads, 'threads', 1, MAX_THREADS);
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      const option: OptionName = name === 'maxTraceMB' ? 'maxTraceMB' : 'maxModelMB';
      throw new UserFacingError(`Invalid ${optionRef(option)}: ${String(value)}.`, 'Use a positive number of megabytes.', { code: 'invalid-option', facts: { option, value: String(value) } });
    }
  }
  if (options.backend !== undefined && !(BACKEND_SETTINGS as readonly string[]).includes(options.backend)) {
    throw new UserFacingError(`Unknown backend "${String(options.backend)}" (${optionRef('backend')}).`, `Use ${BACKEND_SETTINGS.join(', ')}.`, { code: 'invalid-option', facts: { option: 'backend', value: String(options.backend) } });
  }
}

/**
 * Threads beyond the cores only add memory and contention (256 WASM threads took 2.8 GB and 25 s
 * for a 3 s run): a request for more runs on the cores there are, with a notice.
 */
export function effectiveThreads(requested: number | undefined, cores = availableParallelism()): { threads: number; notice: string | null } {
  if (requested === undefined) return { threads: cores, notice: null };
  if (requested <= cores) return { threads: requested, notice: null };
  return { threads: cores, notice: `${requested} threads were asked for (${optionRef('threads')}), but this machine has ${cores} cores: ${cores} ran.` };
}


/** Presets small enough that the TypeScript model beats starting an ONNX Runtime session. */
const SMALL_PRESETS = new Set(['trained-decoder', 'tiny-decoder', 'tiny-encoder', 'tiny-encdec']);

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
  /** @param onProgress told, in words, what a long run does now (loading, starting ONNX Runtime, running) */
  async explain(text: string, options: ExplainOptions = {}, cancel: CancellationCheck = neverCancelled, onPartial?: (partial: AttentionTrace) => void, onProgress?: (stage: string) => void): Promise<AttentionTrace> {
    validateOptions(options);
    const threads = effectiveThreads(options.threads);
    options = { ...options, threads: threads.threads };
    const spec = options.model ?? DEFAULT_MODEL;
    let trace: AttentionTrace;
    if (!isBuiltinSpec(spec)) trace = await explainOnnx(this.onnxModels, { path: spec }, text, options, cancel, onPartial, onProgress);
    else if (runsOnOnnxRuntime(parseBuiltinSpec(spec), options)) trace = await this.explainBuiltinOnOnnx(spec, text, options, cancel, onPartial, onProgress);
    else trace = await this.explainBuiltin(spec, text, options, cancel);
    checkTraceSize(trace, options.limits);
    if (threads.notice && trace.backend !== 'reference') trace.notices.push(threads.notice);
    // The debugger's statistics, rollout and diagnostics travel with the trace.
    const analysisStart = performance.now();
    for (const block of trace.blocks) block.meanProbs = headMatrix(block.probs, block.heads, block.queries, block.keys, 'mean');
    trace.analysis = analyzeTrace(trace, { ...DEFAULT_THRESHOLDS, ...options.thresholds });
    if (trace.streams.some((stream) => stream.tokens.length > MAX_ROLLOUT_TOKENS)) {
      trace.notices.push(`Attention rollout is computed up to ${MAX_ROLLOUT_TOKENS} tokens (its cost grows with the cube of the length).`);
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
    const source = { path: `${preset}.onnx`, bytes: exported.bytes, digest: exported.key };
    const trace = await explainOnnx(this.onnxModels, source, text, { ...options, tokenizer: options.tokenizer ?? BYTE_TOKENIZER_SPEC }, cancel,
      onPartial && ((partial) => onPartial({ ...partial, model: model.info })), onProgress);
    // It is still the built-in model: keep its description, say how it ran.
    trace.model = model.info;
    trace.timings.unshift({ stage: 'load model', ms: exportMs });
    trace.notices = trace.notices.filter((notice) => !/attention block\(s\) found/.test(notice));
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
    const output = model.transformer.forward(
      { encoderIds: ids('encoder'), encoderPadding: plan.encoderPadding, decoderIds: ids('decoder') },
      cancel,
      options.includeScores ?? false,
    );
    timings.push({ stage: 'forward', ms: performance.now() - forwardStart });
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
    };
  }
}
