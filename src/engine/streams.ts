/**
 * @file Choosing a model's input streams from the user's text: tokenise, truncate to the token
 * limit (and say so), pad the encoder input on request, and build the decoder input of an
 * encoder-decoder (a separate text, or the selection shifted right behind the start token).
 * Shared by the built-in and the ONNX paths.
 */
import { UserFacingError } from './errors';
import type { TextTokenizer } from './tokenizers/types';
import type { ModelKind, Token, TokenStream, Truncation } from './trace';

export function requireText(text: string, what: string): void {
  if (typeof text !== 'string' || text.length === 0) {
    throw new UserFacingError(`The ${what} is empty.`, 'Select some text and run "Explain Attention" again.');
  }
  if (text.trim().length === 0) {
    throw new UserFacingError(`The ${what} contains only whitespace.`, 'Select some words, code or sentences to see how attention connects them.');
  }
}

function truncate(tokens: Token[], name: TokenStream['name'], maxTokens: number): { kept: Token[]; truncation: Truncation | null } {
  if (tokens.length <= maxTokens) return { kept: tokens, truncation: null };
  return {
    kept: tokens.slice(0, maxTokens),
    truncation: { stream: name, originalTokens: tokens.length, keptTokens: maxTokens, maxTokens },
  };
}

function padTokens(tokenizer: TextTokenizer, tokens: Token[], text: string, padTo: number): Token[] {
  const pad = tokenizer.padToken;
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

function decoderStream(tokenizer: TextTokenizer, kind: ModelKind, selection: string, selectionTokens: Token[], decoderText: string | undefined, maxTokens: number): { stream: TokenStream; truncation: Truncation | null } {
  if (kind !== 'encoder-decoder') {
    const { kept, truncation } = truncate(selectionTokens, 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: selection, origin: 'selection', tokens: kept }, truncation };
  }
  if (decoderText !== undefined) {
    requireText(decoderText, 'decoder text');
    const { kept, truncation } = truncate(tokenizer.encode(decoderText), 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: decoderText, origin: 'custom', tokens: kept }, truncation };
  }
  const start = tokenizer.startToken;
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

export interface StreamPlan {
  streams: TokenStream[];
  truncation: Truncation[];
  /** True per encoder token that is padding (masked as a key); undefined without an encoder. */
  encoderPadding?: boolean[];
  notices: string[];
}

export interface StreamOptions {
  maxTokens: number;
  decoderText?: string;
  padTo?: number;
}

export function planStreams(tokenizer: TextTokenizer, kind: ModelKind, text: string, options: StreamOptions): StreamPlan {
  const selectionTokens = tokenizer.encode(text);
  const streams: TokenStream[] = [];
  const truncation: Truncation[] = [];
  let encoderPadding: boolean[] | undefined;
  if (options.padTo !== undefined && kind === 'decoder') {
    throw new UserFacingError('Padding applies to models with an encoder.', 'Choose an encoder or encoder-decoder model, or run without padding.');
  }
  if (kind !== 'decoder') {
    const { kept, truncation: cut } = truncate(selectionTokens, 'encoder', options.maxTokens);
    const tokens = options.padTo !== undefined ? padTokens(tokenizer, kept, text, options.padTo) : kept;
    encoderPadding = tokens.map((_, index) => index >= kept.length);
    streams.push({ name: 'encoder', text, origin: 'selection', tokens });
    if (cut) truncation.push(cut);
  }
  if (kind !== 'encoder') {
    const plan = decoderStream(tokenizer, kind, text, selectionTokens, options.decoderText, options.maxTokens);
    streams.push(plan.stream);
    if (plan.truncation) truncation.push(plan.truncation);
  }
  const notices = truncation.map((cut) =>
    `The ${cut.stream} input was cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max tokens: ${cut.maxTokens}; raise "attentionLens.maxTokens", or --max-tokens, to see more).`);
  if (streams.find((s) => s.name === 'decoder')?.origin === 'shifted-selection') {
    notices.push('Decoder input: the selection shifted right behind the start token (teacher forcing).');
  }
  return { streams, truncation, encoderPadding, notices };
}
