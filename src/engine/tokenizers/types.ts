/**
 * @file What every tokenizer gives the engine: ids with exact source offsets.
 */
import type { Token } from '../../shared/trace';

export interface TextTokenizer {
  /** Short name shown in the trace and the UI: "bytes", "gpt2", or the tokenizer.json path. */
  readonly name: string;
  /** Number of ids the tokenizer can produce (the model's embedding must have at least this many rows). */
  readonly vocabSize: number;
  /**
   * Tokens of `text`, in order, including the specials the tokenizer itself adds (BERT's [CLS] and
   * [SEP]). Offsets are UTF-16 indices into `text`: `text.slice(t.start, t.end) === t.text`.
   */
  encode(text: string): Token[];
  /** The token put in front of a decoder input that is shifted right (e.g. "<s>"), if the vocabulary has one. */
  readonly startToken?: { id: number; piece: string };
  /** The piece an id stands for, where the tokenizer can say (an id a model config names). */
  pieceOf?(id: number): string | undefined;
  /** The filler token used to pad a sequence to a fixed length, if the vocabulary has one. */
  readonly padToken?: { id: number; piece: string };
}
