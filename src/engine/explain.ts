/**
 * @file explain(text, options) → AttentionTrace: tokenise, pick the input streams, run the model,
 * and assemble the trace. This runs inside the engine worker (and directly in tests).
 */
import { analyzeTrace } from './analysis/analyze';
import { DEFAULT_THRESHOLDS, type DiagnosticThresholds } from './analysis/types';
import { BuiltinModelCache, parseBuiltinSpec } from './builtin';
import { type CancellationCheck, neverCancelled, UserFacingError } from './errors';
import type { InputSpec } from './onnx/inputs';
import { OnnxModelCache, explainOnnx } from './onnx/explainOnnx';
import type { BackendSetting } from './onnx/runtime';
import { isBuiltinSpec } from './reference/config';
import { planStreams, requireText } from './streams';
import type { AttentionTrace, StageTiming } from './trace';
import { TRACE_FORMAT_VERSION } from './trace';

export const DEFAULT_MODEL = 'builtin:tiny-decoder';
export const DEFAULT_MAX_TOKENS = 512;
/** Above this the attention of a single block alone passes hundreds of MB. */
export const MAX_TOKENS_CEILING = 8192;

export interface ExplainOptions {
  /** "builtin:<preset>" or the path of an .onnx file; default builtin:tiny-decoder. */
  model?: string;
  /** ONNX backend: auto (default), wasm, webgpu or native. */
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
  if (options.backend !== undefined && !['auto', 'wasm', 'webgpu', 'native'].includes(options.backend)) {
    throw new UserFacingError(`Unknown backend "${String(options.backend)}".`, 'Use auto, wasm, webgpu or native.');
  }
}


export class ExplainEngine {
  private readonly models = new BuiltinModelCache();
  private readonly onnxModels = new OnnxModelCache();

  async explain(text: string, options: ExplainOptions = {}, cancel: CancellationCheck = neverCancelled): Promise<AttentionTrace> {
    validateOptions(options);
    const spec = options.model ?? DEFAULT_MODEL;
    const trace = isBuiltinSpec(spec)
      ? await this.explainBuiltin(spec, text, options, cancel)
      : await explainOnnx(this.onnxModels, spec, text, options, cancel);
    // The debugger's statistics, rollout and diagnostics travel with the trace.
    const analysisStart = performance.now();
    trace.analysis = analyzeTrace(trace, { ...DEFAULT_THRESHOLDS, ...options.thresholds });
    trace.timings.push({ stage: 'analysis', ms: performance.now() - analysisStart });
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
