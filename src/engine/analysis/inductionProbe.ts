/**
 * @file The text "Measure induction" runs the model on: a random sequence written twice (Olsson et
 * al. 2022), so that in the second copy each token's successor is predictable only by finding the
 * token's earlier occurrence and attending to what followed it (HeadStats.induction).
 *
 * The sequence is distinct lowercase letters with nothing between them, and the two copies are
 * separated by one space. Why this shape, for each kind of tokenizer:
 * - Byte or character tokenizers see one token per letter. No separator between letters: with
 *   "a b c", every space's previous occurrence is two tokens back, so the token after it is the
 *   previous token and a previous-token head looks exactly like an induction head (the bug this
 *   replaces). Distinct letters: no letter recurs inside a copy, so every counted row is in the
 *   second copy and its target lies one copy back, never at q − 1.
 * - BPE (GPT-2) and WordPiece (BERT) tokenizers cut each copy into multi-letter pieces. Each copy is
 *   one word, so both copies are cut the same way (WordPiece exactly; BPE apart from the second
 *   copy's first piece or two, where the leading space can join letters differently: "Ġawe|z"
 *   against "aw|ez"), and since no letter recurs in a copy, no piece does either: the pieces of the
 *   second copy repeat those of the first, one period back.
 * - Uncased tokenizers lowercase: lowercase letters only, so that does not create repeats.
 */
import { hashSeed, SeededRandom } from '../reference/random';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';
/** The default copy length: 24 of the 26 letters, 49 byte tokens in all. */
export const INDUCTION_PROBE_LETTERS = 24;

export interface InductionProbe {
  /** The whole probe: `sequence + ' ' + sequence`. */
  text: string;
  /** One copy: `letters` distinct lowercase letters in random order. */
  sequence: string;
  seed: number;
}

/**
 * The probe for `seed` (the same seed always gives the same text).
 * @param letters letters per copy, 2 to 26
 */
export function inductionProbe(seed: number, letters = INDUCTION_PROBE_LETTERS): InductionProbe {
  if (!Number.isInteger(letters) || letters < 2 || letters > ALPHABET.length) {
    throw new RangeError(`an induction probe has 2 to ${ALPHABET.length} distinct letters per copy, not ${letters}`);
  }
  const random = new SeededRandom(hashSeed(seed, 'induction probe text'));
  const pool = ALPHABET.split('');
  // Fisher–Yates, stopped after `letters` draws: a uniformly random arrangement of distinct letters.
  for (let i = 0; i < letters; i++) {
    const pick = i + Math.floor(random.next() * (pool.length - i));
    [pool[i], pool[pick]] = [pool[pick], pool[i]];
  }
  const sequence = pool.slice(0, letters).join('');
  return { text: `${sequence} ${sequence}`, sequence, seed };
}
