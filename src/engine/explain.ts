/**
 * @file explain(text, options) → AttentionTrace: tokenise, pick the input streams, run the model,
 * and assemble the trace. This runs inside the engine worker (and directly in tests).
 */
import { type BuiltinModel, BuiltinModelCache, parseBuiltinSpec } from './builtin';
import { type CancellationCheck, neverCancelled, UserFacingError } from './errors';
import type { AttentionTrace, StageTiming, Token, TokenStream, Truncation } from './trace';
import { TRACE_FORMAT_VERSION } from './trace';

export const DEFAULT_MODEL = 'builtin:tiny-decoder';
export const DEFAULT_MAX_TOKENS = 512;
/** Above this the attention of a single block alone passes hundreds of MB. */
export const MAX_TOKENS_CEILING = 8192;

export interface ExplainOptions {
  /** "builtin:<preset>"; default builtin:tiny-decoder. */
  model?: string;
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
}

function requireText(text: string, what: string): void {
  if (typeof text !== 'string' || text.length === 0) {
    throw new UserFacingError(`The ${what} is empty.`, 'Select some text and run "Explain Attention" again.');
  }
  if (text.trim().length === 0) {
    throw new UserFacingError(`The ${what} contains only whitespace.`, 'Select some words, code or sentences to see how attention connects them.');
  }
}

interface StreamPlan {
  stream: TokenStream;
  truncation: Truncation | null;
}

function truncate(tokens: Token[], name: TokenStream['name'], maxTokens: number): { kept: Token[]; truncation: Truncation | null } {
  if (tokens.length <= maxTokens) return { kept: tokens, truncation: null };
  return {
    kept: tokens.slice(0, maxTokens),
    truncation: { stream: name, originalTokens: tokens.length, keptTokens: maxTokens, maxTokens },
  };
}

function planDecoderStream(model: BuiltinModel, selection: string, selectionTokens: Token[], options: ExplainOptions, maxTokens: number): StreamPlan {
  if (model.info.kind !== 'encoder-decoder') {
    const { kept, truncation } = truncate(selectionTokens, 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: selection, origin: 'selection', tokens: kept }, truncation };
  }
  if (options.decoderText !== undefined) {
    requireText(options.decoderText, 'decoder text');
    const { kept, truncation } = truncate(model.tokenizer.encode(options.decoderText), 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: options.decoderText, origin: 'custom', tokens: kept }, truncation };
  }
  const start = model.tokenizer.startToken;
  if (!start) {
    throw new UserFacingError('This model\'s tokenizer has no start token to shift the decoder input with.', 'Give the decoder input text explicitly.');
  }
  const startToken: Token = { id: start.id, text: '', piece: start.piece, start: 0, end: 0, special: true };
  // Teacher forcing: the decoder reads <s> followed by the selection, each position predicting the
  // next. A tokenizer that already starts its output with that token ([CLS]) is not given a second.
  const first = selectionTokens[0];
  const alreadyStarted = first !== undefined && first.special && first.id === start.id;
  const shifted = alreadyStarted ? selectionTokens : [startToken, ...selectionTokens];
  const { kept, truncation } = truncate(shifted, 'decoder', maxTokens);
  return { stream: { name: 'decoder', text: selection, origin: 'shifted-selection', tokens: kept }, truncation };
}

function padTokens(model: BuiltinModel, tokens: Token[], text: string, padTo: number): Token[] {
  const pad = model.tokenizer.padToken;
  if (!pad) throw new UserFacingError('This model\'s tokenizer has no padding token.', 'Run without padding.');
  if (padTo < tokens.length) {
    throw new UserFacingError(
      `Cannot pad to ${padTo} tokens: the input already has ${tokens.length}.`,
      `Choose a padding length of at least ${tokens.length}.`,
    );
  }
  const padding: Token[] = Array.from({ length: padTo - tokens.length }, () => ({
    id: pad.id, text: '', piece: pad.piece, start: text.length, end: text.length, special: true,
  }));
  return [...tokens, ...padding];
}

export class ExplainEngine {
  private readonly models = new BuiltinModelCache();

  async explain(text: string, options: ExplainOptions = {}, cancel: CancellationCheck = neverCancelled): Promise<AttentionTrace> {
    const started = performance.now();
    const timings: StageTiming[] = [];
    const time = <T>(stage: string, work: () => T): T => {
      const stageStart = performance.now();
      const result = work();
      timings.push({ stage, ms: performance.now() - stageStart });
      return result;
    };
    requireText(text, 'selection');
    validateOptions(options);
    const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    const preset = parseBuiltinSpec(options.model ?? DEFAULT_MODEL);

    const loadStart = performance.now();
    const model = await this.models.get({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer });
    timings.push({ stage: 'load model', ms: performance.now() - loadStart });
    cancel.throwIfCancelled();

    const selectionTokens = time('tokenize', () => model.tokenizer.encode(text));
    const streams: TokenStream[] = [];
    const truncation: Truncation[] = [];
    let encoderPadding: boolean[] | undefined;
    if (options.padTo !== undefined && model.info.kind === 'decoder') {
      throw new UserFacingError('Padding applies to models with an encoder.', 'Choose an encoder or encoder-decoder model, or run without padding.');
    }
    if (model.info.kind !== 'decoder') {
      const { kept, truncation: cut } = truncate(selectionTokens, 'encoder', maxTokens);
      const tokens = options.padTo !== undefined ? padTokens(model, kept, text, options.padTo) : kept;
      encoderPadding = tokens.map((_, index) => index >= kept.length);
      streams.push({ name: 'encoder', text, origin: 'selection', tokens });
      if (cut) truncation.push(cut);
    }
    if (model.info.kind !== 'encoder') {
      const plan = planDecoderStream(model, text, selectionTokens, options, maxTokens);
      streams.push(plan.stream);
      if (plan.truncation) truncation.push(plan.truncation);
    }
    const ids = (name: TokenStream['name']): number[] | undefined => streams.find((s) => s.name === name)?.tokens.map((t) => t.id);

    const output = time('forward', () => model.transformer.forward(
      { encoderIds: ids('encoder'), encoderPadding, decoderIds: ids('decoder') },
      cancel,
      options.includeScores ?? false,
    ));
    timings.push({ stage: 'total', ms: performance.now() - started });

    const notices = truncation.map((cut) =>
      `The ${cut.stream} input was cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max tokens: ${cut.maxTokens}).`);
    const decoder = streams.find((s) => s.name === 'decoder');
    if (decoder?.origin === 'shifted-selection') {
      notices.push('Decoder input: the selection shifted right behind the start token (teacher forcing).');
    }
    return {
      formatVersion: TRACE_FORMAT_VERSION,
      model: model.info,
      backend: 'reference',
      streams,
      blocks: output.blocks,
      residual: output.residual,
      timings,
      truncation,
      notices,
      createdAt: new Date().toISOString(),
    };
  }
}
