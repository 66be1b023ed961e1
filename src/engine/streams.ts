/**
 * @file Choosing a model's input streams from the user's text: tokenise, truncate to the token
 * limit (and say so), pad the encoder input on request, and build the decoder input of an
 * encoder-decoder (a separate text, or the selection shifted right behind the start token).
 * Shared by the built-in and the ONNX paths.
 */
import { optionRef, UserFacingError } from '../shared/errors';
import { MAX_TEXT_CHARACTERS } from './limits';
import type { TextTokenizer } from './tokenizers/types';
import { type ModelKind, notice, type Token, type TokenStream, type TraceNotice, type Truncation } from '../shared/trace';

export function requireText(text: string, what: string): void {
  if (typeof text === 'string' && text.length > MAX_TEXT_CHARACTERS) {
    throw new UserFacingError(
      `The ${what} has ${text.length} characters, more than the ${MAX_TEXT_CHARACTERS} Attention Lens reads (a run keeps at most 8192 tokens).`,
      'Select a shorter part of the text.',
      { code: 'text-too-long', facts: { characters: text.length, limit: MAX_TEXT_CHARACTERS } },
    );
  }
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

function decoderStream(tokenizer: TextTokenizer, kind: ModelKind, selection: string, selectionTokens: Token[], options: StreamOptions): { stream: TokenStream; truncation: Truncation | null } {
  const { decoderText, maxTokens } = options;
  if (kind !== 'encoder-decoder') {
    const { kept, truncation } = truncate(selectionTokens, 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: selection, origin: 'selection', tokens: kept }, truncation };
  }
  if (decoderText !== undefined) {
    requireText(decoderText, 'decoder text');
    const decoderTokens = tokenizer.encode(decoderText);
    requireTokens(decoderTokens, tokenizer, decoderText, 'decoder text');
    const { kept, truncation } = truncate(decoderTokens, 'decoder', maxTokens);
    return { stream: { name: 'decoder', text: decoderText, origin: 'custom', tokens: kept }, truncation };
  }
  // A model's own config (transformers' decoder_start_token_id: <pad> for T5 and Marian, </s> for
  // BART) knows its start token better than the vocabulary's names do.
  const start = options.decoderStartId !== undefined
    ? { id: options.decoderStartId, piece: tokenizer.pieceOf?.(options.decoderStartId) ?? `[${options.decoderStartId}]` }
    : tokenizer.startToken;
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
  /** True per decoder token that is filler (a fixed-length decoder-only model); undefined otherwise. */
  decoderPadding?: boolean[];
  notices: TraceNotice[];
}

export interface StreamOptions {
  maxTokens: number;
  decoderText?: string;
  padTo?: number;
  /**
   * A decoder-only model that takes exactly this many tokens: the input is filled up to it (with
   * the pad token, else the start token, else id 0), the filler marked as padding.
   */
  fillTo?: number;
  /** The id an encoder-decoder's shifted decoder input starts with; default the tokenizer's start token. */
  decoderStartId?: number;
}

/** A tokenizer that turns text into no tokens leaves the model nothing to attend over. */
function requireTokens(tokens: readonly Token[], tokenizer: TextTokenizer, text: string, what: string): void {
  if (tokens.length > 0) return;
  throw new UserFacingError(
    `The tokenizer ${tokenizer.name} turned the ${what} (${text.length} characters) into no tokens, so there is no attention to show.`,
    `Use the tokenizer the model was trained with (${optionRef('tokenizer')}), or select other text.`,
    { code: 'no-tokens', facts: { tokenizer: tokenizer.name, characters: text.length } },
  );
}

export function planStreams(tokenizer: TextTokenizer, kind: ModelKind, text: string, options: StreamOptions): StreamPlan {
  const selectionTokens = tokenizer.encode(text);
  requireTokens(selectionTokens, tokenizer, text, 'selection');
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
  let decoderPadding: boolean[] | undefined;
  if (kind !== 'encoder') {
    const plan = decoderStream(tokenizer, kind, text, selectionTokens, options);
    if (kind === 'decoder' && options.fillTo !== undefined && plan.stream.tokens.length < options.fillTo) {
      const kept = plan.stream.tokens.length;
      const filler = tokenizer.padToken ?? tokenizer.startToken ?? { id: 0, piece: '<pad>' };
      plan.stream.tokens = [...plan.stream.tokens, ...Array.from({ length: options.fillTo - kept }, (): Token => ({
        id: filler.id, text: '', piece: filler.piece, start: text.length, end: text.length, special: true,
      }))];
      decoderPadding = plan.stream.tokens.map((_, index) => index >= kept);
    }
    streams.push(plan.stream);
    if (plan.truncation) truncation.push(plan.truncation);
  }
  const notices: TraceNotice[] = truncation.map((cut) => notice('truncated',
    `The ${cut.stream} input was cut to its first ${cut.keptTokens} of ${cut.originalTokens} tokens (max tokens: ${cut.maxTokens}; raise ${optionRef('maxTokens')} to see more).`));
  if (streams.find((s) => s.name === 'decoder')?.origin === 'shifted-selection') {
    notices.push(notice('teacher-forcing', 'Decoder input: the selection shifted right behind the start token (teacher forcing).'));
  }
  return { streams, truncation, encoderPadding, ...(decoderPadding ? { decoderPadding } : {}), notices };
}
