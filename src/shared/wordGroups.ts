/**
 * @file Tokens grouped into words, so a byte- or sub-word-tokenized text can be labelled as words
 * (the heatmap's "Words" labels; the cells stay per token). Pure, and tokenizer-independent: the
 * words are found in the text the tokens' offsets cover, not from vocabulary markers, so GPT-2's
 * byte-level BPE ("Ġcat"), SentencePiece ("▁cat"), WordPiece ("##s"), word-level vocabularies and
 * the built-in byte tokenizer (one token per UTF-8 byte, the bytes of a character sharing its range)
 * all group the same text the same way.
 *
 * The rules (a small subset of Unicode's word boundaries, UAX #29, chosen to read well on prose and
 * on code):
 *   - Whitespace separates words and belongs to none. A gap between two tokens' ranges (text no
 *     token holds: the spaces WordPiece and SentencePiece drop) counts as whitespace.
 *   - A run of letters, digits, combining marks and connector punctuation ("_") is one word, and
 *     so is a run of other non-space characters (punctuation and symbols: "->", "==", "),").
 *     Where the two kinds meet, a new word begins ("foo(" is "foo" and "("), except for
 *     an apostrophe between letters ("don't", "l’homme") and "." or "," between digits ("3.14",
 *     "4,000"), which stay inside the word.
 *   - A Han, Hiragana or Katakana character is a word of its own (such text has no spaces).
 *   - Combining marks, variation selectors and the zero-width joiner never start a word, and the
 *     character after a joiner continues it (an emoji sequence is one word).
 *   - A token belongs to the word of its first non-space character, so a word is a run of
 *     consecutive tokens; a token spanning two words ("),\n") goes with the first.
 *   - Whitespace-only tokens (GPT-2's "Ġ" and "Ċ", the byte tokenizer's "␣") join the word after
 *     them, as GPT-2 puts a word's leading space in its first token; at the end of the text they
 *     make a group of their own. Empty tokens that are not special do the same.
 *   - A special token ([CLS], <s>) is a group of its own.
 */
import type { Token } from './trace';

/** What the grouping reads of a token. */
export type WordToken = Pick<Token, 'text' | 'piece' | 'start' | 'end' | 'special'>;

/** Consecutive tokens that make one word: tokens [start, end). */
export interface WordGroup {
  start: number;
  /** One past the last token. */
  end: number;
  /**
   * The word: its text without the whitespace before and after it; a special token's piece; the
   * whitespace itself for a group of whitespace only (trailing spaces or line breaks).
   */
  text: string;
}

type CharClass = 'space' | 'word' | 'other' | 'ideograph' | 'extend';

const SPACE = /^\s$/u;
const IDEOGRAPH = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;
const WORD = /^[\p{L}\p{N}\p{Pc}]$/u;
/** Marks, variation selectors and the zero-width joiner: they extend the character before them. */
const EXTEND = /^[\p{M}\u200d\ufe00-\ufe0f]$/u;
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{N}$/u;
const APOSTROPHES = new Set(["'", '\u2019', '\u02bc']);
const NUMBER_JOINERS = new Set(['.', ',']);
const ZWJ = '\u200d';

function classOf(character: string): CharClass {
  if (SPACE.test(character)) return 'space';
  if (EXTEND.test(character)) return 'extend';
  if (IDEOGRAPH.test(character)) return 'ideograph';
  if (WORD.test(character)) return 'word';
  return 'other';
}

/**
 * The text the tokens cover, in order, with each gap between ranges (and a range that starts before
 * the last one ended, which no well-formed trace has) read as one space; `at[i]` is the index in it
 * of token i's first character, or -1 for a token with no text.
 */
function coveredText(tokens: readonly WordToken[]): { text: string; at: number[] } {
  const parts: string[] = [];
  let length = 0;
  /** The source range [regionStart, covered) is the end of the text so far, without a gap. */
  let regionStart = -1;
  let covered = -1;
  const at: number[] = [];
  for (const token of tokens) {
    const usable = !token.special && token.text.length > 0 && token.end - token.start === token.text.length;
    if (!usable) {
      at.push(-1);
      continue;
    }
    if (regionStart < 0 || token.start > covered || token.start < regionStart) {
      if (regionStart >= 0) {
        parts.push(' ');
        length += 1;
      }
      at.push(length);
      parts.push(token.text);
      length += token.text.length;
      regionStart = token.start;
      covered = token.end;
      continue;
    }
    // Adjacent or overlapping (the byte tokenizer's bytes of one character share its whole range).
    at.push(length - (covered - token.start));
    if (token.end > covered) {
      parts.push(token.text.slice(covered - token.start));
      length += token.end - covered;
      covered = token.end;
    }
  }
  return { text: parts.join(''), at };
}

/** For each UTF-16 index of `text`, the number of the word its character belongs to (-1 for whitespace). */
function wordNumbers(text: string): Int32Array {
  const numbers = new Int32Array(text.length).fill(-1);
  const characters: Array<{ index: number; character: string; kind: CharClass }> = [];
  for (let index = 0; index < text.length;) {
    const code = text.codePointAt(index) ?? 0;
    const character = String.fromCodePoint(code);
    characters.push({ index, character, kind: classOf(character) });
    index += character.length;
  }
  let word = -1;
  /** The class of the word being built ('word', 'other' or 'ideograph'), null after whitespace. */
  let open: CharClass | null = null;
  for (let i = 0; i < characters.length; i++) {
    const { index, character, kind } = characters[i];
    const before = characters[i - 1];
    let starts: boolean;
    let wordKind: CharClass = kind;
    if (kind === 'space') {
      open = null;
      continue;
    } else if (open === null) {
      starts = true;
      // A mark after whitespace has nothing to extend: it reads as a symbol.
      if (kind === 'extend') wordKind = 'other';
    } else if (kind === 'extend' || before?.character === ZWJ) {
      starts = false;
      wordKind = open;
    } else if (kind === 'ideograph' || open === 'ideograph') {
      starts = true;
    } else if (kind === open) {
      starts = false;
    } else if (kind === 'other' && joins(characters, i)) {
      starts = false;
      wordKind = 'word';
    } else {
      starts = true;
    }
    if (starts) word++;
    open = wordKind;
    for (let unit = 0; unit < character.length; unit++) numbers[index + unit] = word;
  }
  return numbers;
}

/** Whether the punctuation character at `i` joins the word characters on both sides ("don't", "3.14"). */
function joins(characters: ReadonlyArray<{ character: string }>, i: number): boolean {
  const before = characters[i - 1]?.character;
  const after = characters[i + 1]?.character;
  const middle = characters[i]?.character;
  if (before === undefined || after === undefined || middle === undefined) return false;
  if (APOSTROPHES.has(middle)) return LETTER.test(before) && LETTER.test(after);
  if (NUMBER_JOINERS.has(middle)) return DIGIT.test(before) && DIGIT.test(after);
  return false;
}

/** Groups `tokens` into words by the rules of the file comment. Every token is in exactly one group, in order. */
export function groupWords(tokens: readonly WordToken[]): WordGroup[] {
  const { text, at } = coveredText(tokens);
  const numbers = wordNumbers(text);
  const groups: WordGroup[] = [];
  /** The word each token belongs to: its first non-space character's, or null (whitespace only, no text). */
  const wordOf = (i: number): number | null => {
    const token = tokens[i];
    const first = at[i];
    if (first < 0) return null;
    const offset = token.text.search(/\S/u);
    return offset < 0 ? null : numbers[first + offset];
  };
  const textOf = (start: number, end: number): string => {
    // The covered text from the group's first token to its last token's end (overlaps counted once).
    let from = -1;
    let to = -1;
    for (let i = start; i < end; i++) {
      if (at[i] < 0) continue;
      if (from < 0) from = at[i];
      to = Math.max(to, at[i] + tokens[i].text.length);
    }
    return from < 0 ? '' : text.slice(from, to);
  };
  const push = (start: number, end: number): void => {
    const raw = textOf(start, end);
    const trimmed = raw.trim();
    groups.push({ start, end, text: trimmed !== '' ? trimmed : raw !== '' ? raw : tokens.slice(start, end).map((token) => token.piece).join('') });
  };
  /** First token of the whitespace (and empty) tokens waiting for the next word, -1 when none. */
  let pending = -1;
  let current: { start: number; word: number } | null = null;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i].special) {
      if (current) push(current.start, i);
      else if (pending >= 0) push(pending, i);
      current = null;
      pending = -1;
      push(i, i + 1);
      continue;
    }
    const word = wordOf(i);
    if (word === null) {
      if (current) push(current.start, i);
      current = null;
      if (pending < 0) pending = i;
      continue;
    }
    if (current && current.word === word) continue;
    if (current) push(current.start, i);
    current = { start: pending >= 0 ? pending : i, word };
    pending = -1;
  }
  if (current) push(current.start, tokens.length);
  else if (pending >= 0) push(pending, tokens.length);
  return groups;
}

/** For each token, the index of its group in `groups` (which must cover the tokens in order, as groupWords' do). */
export function groupIndexOfTokens(groups: readonly WordGroup[], tokenCount: number): Int32Array {
  const index = new Int32Array(tokenCount).fill(-1);
  groups.forEach((group, g) => index.fill(g, Math.max(0, group.start), Math.min(tokenCount, group.end)));
  return index;
}

/**
 * Which groups get a label when a token is `cell` px long: walking from the first group, one is
 * labelled when the middle of its span is at least `spacing` px past the last labelled one's. The
 * choice depends on the cell size only, not on what is in view, so panning keeps the same labels.
 */
export function labelledGroups(groups: readonly WordGroup[], cell: number, spacing: number): number[] {
  const chosen: number[] = [];
  if (!(cell > 0)) return chosen;
  let last = Number.NEGATIVE_INFINITY;
  groups.forEach((group, g) => {
    const middle = ((group.start + group.end) / 2) * cell;
    if (middle - last >= spacing - 1e-9) {
      chosen.push(g);
      last = middle;
    }
  });
  return chosen;
}
