/**
 * @file Token ranges recovered by matching each token's bytes, in order, against the normalized text.
 *
 * The Hugging Face JS tokenizer gives ids and pieces but no offsets, so the ranges are rebuilt here.
 * Each token says what it contributes to the normalized text (its `Surface`):
 *   - `bytes`: exactly these bytes (GPT-2 "Ġcat" is " cat"; BERT "##s" is "s"; "<0xE2>" is byte E2).
 *     Whitespace in them may be the tokenizer's own (a prefix space, SentencePiece's "▁"), so
 *     unmatched whitespace in a piece is skipped; whitespace in the text that no token holds
 *     (BERT drops it) is skipped too.
 *   - `word`: BERT's [UNK], which replaces one whole pre-tokenized word: a punctuation character, or a
 *     run of characters up to the next whitespace or punctuation.
 *   - `unknown`: an unknown token of some other model; it covers whatever lies between its
 *     neighbours, split by words (then characters) when several unknowns share a gap.
 * A piece that does not match where the previous one ended is searched for a little further on (a
 * normalizer this module could not imitate); one that is not found is treated as `unknown`.
 * Whitespace-only pieces among unknown ones (a "▁" the tokenizer added) take no text.
 *
 * An unknown piece the user typed literally ("[UNK]" in the text) keeps that text.
 *
 * Ranges are in UTF-16 units of the original text and always whole characters: two tokens that hold
 * bytes of the same character (byte-level BPE splits emoji) both span that character, so consecutive
 * ranges may share exactly one character (a code point; for a tokenizer with a normalizer, a base
 * character with its combining marks) and never more.
 */
import { type AlignmentTarget, CHAR_SPACE, CHAR_WORD } from './alignmentTarget';

export type Surface =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /** `literal`: the unknown piece's own spelling, which the user may have typed ("[UNK]"). */
  | { readonly kind: 'word'; readonly literal?: Uint8Array }
  | { readonly kind: 'unknown'; readonly literal?: Uint8Array };

export interface Span {
  start: number;
  end: number;
}

/** How far past a mismatch to look for a piece, in bytes; keeps a bad alignment from going quadratic. */
const SEARCH_WINDOW_BYTES = 4096;

/** Bytes of the target a token took: [first, last] inclusive (-1 when none), and where matching goes on. */
interface Match {
  first: number;
  last: number;
  next: number;
}

function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

function isContinuationByte(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

class Aligner {
  private readonly bytes: Uint8Array;
  private readonly length: number;

  constructor(private readonly target: AlignmentTarget) {
    this.bytes = target.bytes;
    this.length = target.bytes.length;
  }

  private isSpace(index: number): boolean {
    return this.target.charClass[index] === CHAR_SPACE;
  }

  skipSpace(index: number): number {
    let i = index;
    while (i < this.length && this.isSpace(i)) {
      i += 1;
    }
    return i;
  }

  /** Index of the first byte of the character after the one at `index`. */
  nextCharacter(index: number): number {
    let i = index + 1;
    while (i < this.length && isContinuationByte(this.bytes[i] as number)) {
      i += 1;
    }
    return i;
  }

  /** Matches `piece` starting at byte `at`, skipping whitespace on either side that the other lacks. */
  matchAt(piece: Uint8Array, at: number): Match | null {
    let i = 0;
    let j = at;
    let first = -1;
    let last = -1;
    while (i < piece.length) {
      const byte = piece[i] as number;
      if (j < this.length && byte === this.bytes[j]) {
        if (first < 0) {
          first = j;
        }
        last = j;
        i += 1;
        j += 1;
      } else if (isAsciiSpace(byte)) {
        i += 1;
      } else if (j < this.length && this.isSpace(j)) {
        j += 1;
      } else {
        return null;
      }
    }
    return { first, last, next: j };
  }

  /** The first match of `piece` that begins on a non-space byte at or after `from`. */
  search(piece: Uint8Array, from: number): Match | null {
    const limit = Math.min(this.length, from + SEARCH_WINDOW_BYTES);
    for (let at = from; at < limit; at += 1) {
      if (this.isSpace(at) || isContinuationByte(this.bytes[at] as number)) {
        continue;
      }
      const match = this.matchAt(piece, at);
      if (match !== null && match.first === at) {
        return match;
      }
    }
    return null;
  }

  /** The pre-tokenized word (BERT rules) after `at`, or null at the end of the text. */
  wordAt(at: number): Match | null {
    const first = this.skipSpace(at);
    if (first >= this.length) {
      return null;
    }
    let next = this.nextCharacter(first);
    if (this.target.charClass[first] === CHAR_WORD) {
      while (next < this.length && this.target.charClass[next] === CHAR_WORD) {
        next += 1;
      }
    }
    return { first, last: next - 1, next };
  }

  /** The original range of target bytes [first, last]; when the token took none, an empty range at `next`. */
  spanOf(match: Match): Span {
    if (match.first < 0) {
      const position = match.next < this.length ? (this.target.originStart[match.next] as number) : this.target.text.length;
      return { start: position, end: position };
    }
    return { start: this.target.originStart[match.first] as number, end: this.target.originEnd[match.last] as number };
  }

  /**
   * Splits target bytes [from, to) among unknown tokens, by words, else by characters; tokens marked
   * `blank` (whitespace-only pieces) get an empty range after the unknown one before them.
   */
  distribute(from: number, to: number, blank: readonly boolean[]): Span[] {
    const start = this.skipSpace(from);
    let end = to;
    while (end > start && this.isSpace(end - 1)) {
      end -= 1;
    }
    const count = blank.filter((isBlank) => !isBlank).length;
    const units = this.units(start, end, true);
    const pieces = units.length >= count ? units : this.units(start, end, false);
    let position = this.spanOf({ first: -1, last: -1, next: start }).start;
    let k = 0;
    return blank.map((isBlank) => {
      const unit = isBlank ? undefined : pieces[k];
      const isLast = !isBlank && (k += 1) === count;
      if (unit === undefined) {
        return { start: position, end: position };
      }
      // The last unknown takes everything left, so no text between neighbours goes unassigned.
      const unitEnd = isLast ? end : unit[1];
      const span = this.spanOf({ first: unit[0], last: unitEnd - 1, next: unitEnd });
      position = span.end;
      return span;
    });
  }

  /** [start, end) byte ranges of the words (runs of non-space) or characters in [from, to). */
  private units(from: number, to: number, words: boolean): Array<[number, number]> {
    const units: Array<[number, number]> = [];
    let i = from;
    while (i < to) {
      if (this.isSpace(i)) {
        i += 1;
        continue;
      }
      let end = this.nextCharacter(i);
      while (words && end < to && !this.isSpace(end)) {
        end += 1;
      }
      units.push([i, Math.min(end, to)]);
      i = end;
    }
    return units;
  }
}

/** Keeps ranges in order and extends each over the dropped marks that follow it (see AlignmentTarget). */
function tidy(spans: Span[], target: AlignmentTarget): Span[] {
  let previousStart = 0;
  spans.forEach((span, index) => {
    span.start = Math.max(span.start, previousStart);
    span.end = Math.max(span.end, span.start);
    previousStart = span.start;
    const next = spans[index + 1];
    // Only when the next token does not share the last character, so ends stay in order.
    if (span.end > span.start && (next === undefined || next.start >= span.end)) {
      let extended = target.attachedEnd.get(span.end);
      while (extended !== undefined && (next === undefined || next.start >= extended)) {
        span.end = extended;
        extended = target.attachedEnd.get(span.end);
      }
    }
  });
  return spans;
}

function isBlank(surface: Surface): boolean {
  return surface.kind === 'bytes' && surface.bytes.every(isAsciiSpace);
}

/** Where `surface` lies when every token before it has been placed and matching stands at `cursor`. */
function locateAfterPlaced(aligner: Aligner, surface: Surface, cursor: number): Match | null {
  if (surface.kind === 'bytes') {
    return aligner.matchAt(surface.bytes, cursor) ?? aligner.search(surface.bytes, cursor);
  }
  // The user may have typed the unknown piece itself ("[UNK]").
  const literal = surface.literal === undefined ? null : aligner.matchAt(surface.literal, cursor);
  if (literal !== null && literal.first === aligner.skipSpace(cursor)) {
    return literal;
  }
  return surface.kind === 'word' ? aligner.wordAt(cursor) : null;
}

/** Where `surface` lies after unknown tokens not yet placed, which hold at least one character. */
function locateAfterUnknown(aligner: Aligner, surface: Surface, cursor: number): Match | null {
  if (surface.kind !== 'bytes' || isBlank(surface)) {
    return null;
  }
  return aligner.search(surface.bytes, aligner.nextCharacter(aligner.skipSpace(cursor)));
}

/** One range per surface, in order (see the file comment). */
export function alignSurfaces(target: AlignmentTarget, surfaces: readonly Surface[]): Span[] {
  const aligner = new Aligner(target);
  const spans = new Array<Span>(surfaces.length);
  let cursor = 0;
  /** Unknown tokens waiting for the next placed token to bound them. */
  let pending: number[] = [];
  const placePending = (to: number): void => {
    const blank = pending.map((index) => isBlank(surfaces[index] as Surface));
    aligner.distribute(cursor, to, blank).forEach((span, k) => {
      spans[pending[k] as number] = span;
    });
    pending = [];
  };
  surfaces.forEach((surface, index) => {
    const afterUnknown = pending.length > 0;
    const match = afterUnknown ? locateAfterUnknown(aligner, surface, cursor) : locateAfterPlaced(aligner, surface, cursor);
    if (match === null) {
      pending.push(index);
      return;
    }
    if (afterUnknown) {
      placePending(match.first);
    }
    spans[index] = aligner.spanOf(match);
    cursor = match.next;
  });
  if (pending.length > 0) {
    placePending(target.bytes.length);
  }
  return tidy(spans, target);
}
