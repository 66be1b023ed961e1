/**
 * @file The text as a tokenizer's model sees it (normalized), as UTF-8 bytes that each remember which
 * characters of the original text they came from. Token pieces are matched against these bytes to
 * find each token's range in the original text (see alignment.ts).
 *
 * Normalizing the whole text at once (what the tokenizer does) loses track of where each output
 * character came from, so the normalizer is applied to one small segment at a time instead: a base
 * character together with its combining marks (so NFC can compose "e" + U+0301 and accent stripping
 * can drop the mark while the result still points at both). Normalizers that look further than that
 * are rare; the only common one, the Greek final sigma of `toLowerCase`, is covered by folding (below).
 *
 * Folding (for tokenizers that lowercase): both the target and the token pieces are compared
 * lowercased per character, with "ς" as "σ". That makes matching insensitive to the context-dependent
 * part of lowercasing (the Greek final sigma) without changing which characters match. For
 * SentencePiece-style tokenizers the word mark "▁" also reads as a space, on both sides.
 */
import { appendUtf8, codePointAt, utf16Length } from './utf8';

/** What a normalized character is, for skipping whitespace and finding BERT-style word ends. */
export const CHAR_SPACE = 0;
export const CHAR_PUNCTUATION = 1;
export const CHAR_WORD = 2;
export type CharClass = typeof CHAR_SPACE | typeof CHAR_PUNCTUATION | typeof CHAR_WORD;

/** How the tokenizer changes text before its model sees it, as far as alignment needs to know. */
export interface TargetRules {
  /** The tokenizer's normalizer, applied one segment at a time; null when it has none. */
  readonly normalize: ((text: string) => string) | null;
  /** Compare case-insensitively (see the file comment). */
  readonly fold: boolean;
  /** Read SentencePiece's "▁" as a space. */
  readonly metaspace: boolean;
  /** Added tokens the tokenizer finds in the raw text before normalizing; kept verbatim. */
  readonly verbatim: readonly string[];
}

export interface AlignmentTarget {
  /** The original text; every range below indexes it in UTF-16 code units. */
  readonly text: string;
  /** UTF-8 of the normalized (and folded) text. */
  readonly bytes: Uint8Array;
  /** For each byte, the original range it came from (a whole segment, never half a character). */
  readonly originStart: Int32Array;
  readonly originEnd: Int32Array;
  /** For each byte, the class of the normalized character it belongs to. */
  readonly charClass: Uint8Array;
  /**
   * Characters the normalizer removed that belong to the character before them (combining marks,
   * zero-width joiners, variation selectors): original start → end. A token that ends right before
   * one is extended over it, so "cafe\u0301" stays one range.
   */
  readonly attachedEnd: ReadonlyMap<number, number>;
}

// The punctuation BERT splits on: Unicode punctuation plus every ASCII symbol (same set as the library).
const PUNCTUATION = /^[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]$/u;
const WHITESPACE = /^\s$/u;
const MARKS = /^\p{M}$/u;
const ATTACHABLE = /^[\p{M}\p{Cf}]+$/u;

/** SentencePiece's word-start mark, which stands for a space. */
const METASPACE = '\u2581';

/** One character of a string as it is compared during alignment. */
function foldCharacter(character: string): string {
  if (character === '\u03c2') {
    return '\u03c3'; // final sigma: whole-text lowercasing writes it, per-segment lowercasing cannot
  }
  return character.toLowerCase();
}

/** A token piece or normalized text as compared during alignment (see the file comment). */
export function foldForAlignment(text: string, metaspace: boolean): string {
  let folded = '';
  for (const character of text) {
    folded += metaspace && character === METASPACE ? ' ' : foldCharacter(character);
  }
  return folded;
}

/** What `rules` make of a piece of text before comparing it. */
export function comparable(text: string, rules: Pick<TargetRules, 'fold' | 'metaspace'>): string {
  if (rules.fold) {
    return foldForAlignment(text, rules.metaspace);
  }
  return rules.metaspace ? text.replaceAll(METASPACE, ' ') : text;
}

function classify(codePoint: number, character: string): CharClass {
  if (codePoint < 0x80) {
    if (codePoint === 0x20 || (codePoint >= 0x09 && codePoint <= 0x0d)) {
      return CHAR_SPACE;
    }
    return PUNCTUATION.test(character) ? CHAR_PUNCTUATION : CHAR_WORD;
  }
  if (WHITESPACE.test(character)) {
    return CHAR_SPACE;
  }
  return PUNCTUATION.test(character) ? CHAR_PUNCTUATION : CHAR_WORD;
}

/** Accumulates target bytes; typed arrays are made once at the end. */
class TargetBuilder {
  readonly bytes: number[] = [];
  readonly originStart: number[] = [];
  readonly originEnd: number[] = [];
  readonly charClass: number[] = [];
  readonly attachedEnd = new Map<number, number>();
  private readonly scratch: number[] = [];

  /** Adds `normalized`, the output of original range [start, end). */
  add(normalized: string, start: number, end: number): void {
    for (let i = 0; i < normalized.length; ) {
      const cp = codePointAt(normalized, i);
      const length = utf16Length(cp);
      const cls = classify(cp, normalized.slice(i, i + length));
      this.scratch.length = 0;
      appendUtf8(cp, this.scratch);
      for (const byte of this.scratch) {
        this.bytes.push(byte);
        this.originStart.push(start);
        this.originEnd.push(end);
        this.charClass.push(cls);
      }
      i += length;
    }
  }

  finish(text: string): AlignmentTarget {
    return {
      text,
      bytes: Uint8Array.from(this.bytes),
      originStart: Int32Array.from(this.originStart),
      originEnd: Int32Array.from(this.originEnd),
      charClass: Uint8Array.from(this.charClass),
      attachedEnd: this.attachedEnd,
    };
  }
}

/** Finds the verbatim added tokens in the raw text, longest first, as the library's splitter does. */
class VerbatimMatcher {
  private readonly contents: readonly string[];
  private readonly firstUnits: ReadonlySet<string>;

  constructor(contents: readonly string[]) {
    this.contents = contents.filter((content) => content.length > 0).sort((a, b) => b.length - a.length);
    this.firstUnits = new Set(this.contents.map((content) => content[0] as string));
  }

  /** Length of the added token that starts at `index`, or 0. */
  matchAt(text: string, index: number): number {
    if (!this.firstUnits.has(text[index] as string)) {
      return 0;
    }
    const found = this.contents.find((content) => text.startsWith(content, index));
    return found === undefined ? 0 : found.length;
  }
}

/** End of the segment starting at `start`: the character plus the combining marks after it. */
function segmentEnd(text: string, start: number, withMarks: boolean): number {
  let end = start + utf16Length(codePointAt(text, start));
  while (withMarks && end < text.length) {
    const length = utf16Length(codePointAt(text, end));
    if (!MARKS.test(text.slice(end, end + length))) {
      break;
    }
    end += length;
  }
  return end;
}

export function buildAlignmentTarget(text: string, rules: TargetRules): AlignmentTarget {
  const builder = new TargetBuilder();
  const verbatim = new VerbatimMatcher(rules.verbatim);
  const finish = (segment: string): string => comparable(segment, rules);
  for (let start = 0; start < text.length; ) {
    const verbatimLength = verbatim.matchAt(text, start);
    if (verbatimLength > 0) {
      builder.add(finish(text.slice(start, start + verbatimLength)), start, start + verbatimLength);
      start += verbatimLength;
      continue;
    }
    const end = segmentEnd(text, start, rules.normalize !== null);
    const segment = text.slice(start, end);
    const normalized = finish(rules.normalize === null ? segment : rules.normalize(segment));
    if (normalized.length === 0 && ATTACHABLE.test(segment)) {
      builder.attachedEnd.set(start, end);
    }
    builder.add(normalized, start, end);
    start = end;
  }
  return builder.finish(text);
}
