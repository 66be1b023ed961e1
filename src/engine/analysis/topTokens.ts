/**
 * @file The top-k tokens of one logits row: a softmax over the whole vocabulary (in float64, so the
 * probabilities do not depend on the order of a float32 sum) and the k largest, most likely first.
 * Shared by the predictions and the logit lens of both backends, so their numbers agree exactly.
 */
import { UserFacingError } from '../../shared/errors';
import type { TokenPrediction } from '../../shared/trace';
import { BYTE_ID_OFFSET, BYTE_SPECIAL_PIECES, BYTE_VOCAB_SIZE, BYTE_TOKENIZER_SPEC, type TextTokenizer } from '../tokenizers/index';

export { DEFAULT_TOP_K } from '../options';

/** Names the text of an id (one id decoded alone). */
export type IdText = (id: number) => string;

/**
 * The k largest entries of `logits` with their softmax probabilities, most likely first; equal
 * logits keep the lower id first, so the order is the same on every backend.
 */
export function topTokens(logits: ArrayLike<number>, k: number, text: IdText): TokenPrediction[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  // A sorted list of at most k ids: k is small (5 by default) next to the vocabulary.
  const best: number[] = [];
  for (let id = 0; id < logits.length; id++) {
    const value = logits[id];
    if (best.length === k && !(value > logits[best[k - 1]])) continue;
    let at = best.length;
    while (at > 0 && value > logits[best[at - 1]]) at--;
    best.splice(at, 0, id);
    if (best.length > k) best.pop();
  }
  return best.map((id) => ({ id, text: text(id), prob: Math.exp(logits[id] - max) / sum }));
}

/**
 * Refuses a top-k the vocabulary cannot fill. In facts, not in one host's words: each host names
 * its own option (the CLI's flag).
 */
export function checkTopK(k: number, vocabulary: number): void {
  if (!Number.isInteger(k) || k < 1 || k > vocabulary) {
    throw new UserFacingError(
      `${String(k)} top tokens per position were asked for, but the model's vocabulary has ${vocabulary} tokens.`,
      `Ask for a whole number of top tokens from 1 to ${vocabulary}.`,
      { code: 'invalid-top-k', facts: { topK: String(k), vocabulary } },
    );
  }
}

/** Byte-level BPE (GPT-2) writes a space as Ġ and a newline as Ċ; SentencePiece a space as ▁. */
const PIECE_MARKS: Readonly<Record<string, string>> = { 'Ġ': ' ', 'Ċ': '\n', 'ĉ': '\t', '▁': ' ' };

/**
 * The text of one id as the run's tokenizer has it. The byte tokenizer: the character of an ASCII
 * byte, `<0xHH>` for a byte of a longer character (alone it decodes to nothing), the special's
 * name; other tokenizers: the vocabulary piece with its space marks turned back into spaces. An id
 * the tokenizer cannot name (the model's vocabulary can be larger) is "[id]".
 */
export function idTextOf(tokenizer: TextTokenizer | null): IdText {
  if (tokenizer?.name === BYTE_TOKENIZER_SPEC) {
    return (id) => {
      if (id < BYTE_ID_OFFSET) return BYTE_SPECIAL_PIECES[id] ?? `[${id}]`;
      if (id >= BYTE_VOCAB_SIZE) return `[${id}]`;
      const byte = id - BYTE_ID_OFFSET;
      return byte < 0x80 ? String.fromCharCode(byte) : `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
    };
  }
  return (id) => {
    const piece = tokenizer?.pieceOf?.(id);
    return piece === undefined ? `[${id}]` : piece.replace(/[ĠĊĉ▁]/g, (mark) => PIECE_MARKS[mark] ?? mark);
  };
}
