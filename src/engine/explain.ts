/**
 * @file explain(text, options) → AttentionTrace: tokenise, pick the input streams, run the model,
 * and assemble the trace. This runs inside the engine worker (and directly in tests).
 */
import { analyzeTrace } from './analysis/analyze';
import { headMatrix } from './analysis/colorLimits';
import { MAX_ROLLOUT_TOKENS } from './analysis/rollout';
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds } from './analysis/types';
import { BuiltinExportFiles } from './builtinExports';
import { BuiltinModelCache, parseBuiltinSpec } from './builtin';
import { type CancellationCheck, neverCancelled, UserFacingError } from './errors';
import type { InputSpec } from './onnx/inputs';
import { OnnxModelCache, explainOnnx } from './onnx/explainOnnx';
import { BACKEND_SETTINGS, type BackendSetting } from './onnx/runtime';
import { DEFAULT_PRESET, isBuiltinSpec } from './reference/config';
import { planStreams, requireText } from './streams';
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

export interface ResourceLimits {
  /** Largest ONNX or weights file loaded, in MB. Default 4096. */
  maxModelMB?: number;
  /** Largest attention a trace may hold (all blocks and heads, float32), in MB. Default 2048. */
  maxTraceMB?: number;
}

export const DEFAULT_LIMITS: Required<ResourceLimits> = { maxModelMB: 4096, maxTraceMB: 2048 };

/** Refuses a trace whose attention would pass the ceiling, naming the setting to raise. */
export function checkTraceSize(trace: AttentionTrace, limits: ResourceLimits | undefined): void {
  const ceiling = limits?.maxTraceMB ?? DEFAULT_LIMITS.maxTraceMB;
  const bytes = trace.blocks.reduce((sum, block) => sum + block.probs.byteLength + (block.scores?.byteLength ?? 0), 0);
  if (bytes / 2 ** 20 > ceiling) {
    throw new UserFacingError(
      `This run's attention takes ${(bytes / 2 ** 20).toFixed(0)} MB, over the ${ceiling} MB limit.`,
      'Explain fewer tokens ("attentionLens.maxTokens"), or raise "attentionLens.limits.maxTraceMB" if the machine has the memory.',
    );
  }
}

function checkInteger(value: number | undefined, name: string, low: number, high: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < low || value > high)) {
    throw new UserFacingError(`Invalid ${name}: ${String(value)}.`, `Use a whole number from ${low} to ${high}.`);
  }
}

export function validateOptions(options: ExplainOptions): void {
  checkInteger(options.maxTokens, 'maxTokens', 1, MAX_TOKENS_CEILING);
  checkInteger(options.padTo, 'padTo', 1, MAX_TOKENS_CEILING);
  checkInteger(options.seed, 'seed', 0, 0xffffffff);
  checkInteger(options.threads, 'threads', 1, 256);
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new UserFacingError(`Invalid limit ${name}: ${String(value)}.`, 'Use a positive number of megabytes.');
    }
  }
  if (options.backend !== undefined && !(BACKEND_SETTINGS as readonly string[]).includes(options.backend)) {
    throw new UserFacingError(`Unknown backend "${String(options.backend)}".`, `Use ${BACKEND_SETTINGS.join(', ')}.`);
  }
}


/** Presets small enough that the TypeScript model beats starting an ONNX Runtime session. */
const SMALL_PRESETS = new Set(['trained-decoder', 'tiny-decoder', 'tiny-encoder', 'tiny-encdec']);

function runsOnOnnxRuntime(preset: string, options: ExplainOptions): boolean {
  const backend = options.backend ?? 'auto';
  if (backend === 'reference' || options.includeScores) return false; // ONNX taps carry no pre-softmax scores
  return backend !== 'auto' || !SMALL_PRESETS.has(preset);
}

export class ExplainEngine {
  private readonly models = new BuiltinModelCache();
  private readonly onnxModels = new OnnxModelCache();
  private readonly exports = new BuiltinExportFiles();

  /**
   * @param onPartial called with a first, partial trace (the first block) when a big model runs on
   *        a long input, before the whole trace is ready
   */
  async explain(text: string, options: ExplainOptions = {}, cancel: CancellationCheck = neverCancelled, onPartial?: (partial: AttentionTrace) => void): Promise<AttentionTrace> {
    validateOptions(options);
    const spec = options.model ?? DEFAULT_MODEL;
    let trace: AttentionTrace;
    if (!isBuiltinSpec(spec)) trace = await explainOnnx(this.onnxModels, spec, text, options, cancel, onPartial);
    else if (runsOnOnnxRuntime(parseBuiltinSpec(spec), options)) trace = await this.explainBuiltinOnOnnx(spec, text, options, cancel, onPartial);
    else trace = await this.explainBuiltin(spec, text, options, cancel);
    checkTraceSize(trace, options.limits);
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
  private async explainBuiltinOnOnnx(spec: string, text: string, options: ExplainOptions, cancel: CancellationCheck, onPartial?: (partial: AttentionTrace) => void): Promise<AttentionTrace> {
    const preset = parseBuiltinSpec(spec);
    const exportStart = performance.now();
    const model = await this.models.get({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer });
    const file = await this.exports.file(preset, model, options);
    const exportMs = performance.now() - exportStart;
    cancel.throwIfCancelled();
    const trace = await explainOnnx(this.onnxModels, file, text, { ...options, tokenizer: options.tokenizer }, cancel,
      onPartial && ((partial) => onPartial({ ...partial, model: model.info })));
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

    const loadStart = performance.now();
    const model = await this.models.get({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer });
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
