/**
 * @file The byte tokenizer, the built-in model's default: one token per UTF-8 byte.
 *
 * Vocabulary (260 ids): 4 specials, then the 256 byte values.
 *   0 `<pad>`, 1 `<s>`, 2 `</s>`, 3 `<unk>`, then byte b → id 4 + b.
 * `encode` adds no specials; `<s>` is the start token a shifted-right decoder input begins with.
 *
 * Offsets: every byte token of a character spans the whole character (a surrogate pair for an emoji),
 * because a UTF-16 range cannot cut a character in the middle. So é gives two tokens that both have
 * `text === "é"`, and a 4-byte emoji gives four tokens with the same range.
 *
 * Pieces (what the UI shows for a token):
 *   - a one-byte character shows itself, with the invisible ones drawn visibly:
 *     space "␣", tab "⇥", line feed "↵", carriage return "␍", other C0 controls as their Unicode
 *     control pictures (U+0000 → "␀" … U+001F → "␟"), DEL → "␡";
 *   - a byte of a multi-byte character shows the character and which of its bytes it is:
 *     "é[1/2]", "é[2/2]", "😀[3/4]"; a combining mark is drawn on a dotted circle ("◌́[1/2]"), and an
 *     invisible character (format, separator, private use, lone surrogate) by its code point
 *     ("U+200D[2/3]" for the zero-width joiner of an emoji sequence).
 * A lone surrogate (possible in a JS string) is encoded as U+FFFD, as `TextEncoder` does, so it does
 * not decode back to itself.
 */
import type { Token } from '../../shared/trace';
import type { TextTokenizer } from './types';
import { appendUtf8, codePointAt, utf16Length } from './utf8';

export const BYTE_PAD_ID = 0;
export const BYTE_BOS_ID = 1;
export const BYTE_EOS_ID = 2;
export const BYTE_UNK_ID = 3;
/** Id of byte value 0; byte b has id BYTE_ID_OFFSET + b. */
export const BYTE_ID_OFFSET = 4;
export const BYTE_VOCAB_SIZE = BYTE_ID_OFFSET + 256;

/** Pieces of the special ids, indexed by id. */
export const BYTE_SPECIAL_PIECES: readonly string[] = ['<pad>', '<s>', '</s>', '<unk>'];

const NAMED_WHITESPACE: Readonly<Record<string, string>> = { ' ': '\u2423', '\t': '\u21e5', '\n': '\u21b5', '\r': '\u240d' };
const FIRST_CONTROL_PICTURE = 0x2400;
const DEL = 0x7f;

/** A character as the UI can show it: visible, one glyph or a U+XXXX label. */
export function displayCharacter(character: string): string {
  const named = NAMED_WHITESPACE[character];
  if (named !== undefined) {
    return named;
  }
  const cp = codePointAt(character, 0);
  if (cp < 0x20) {
    return String.fromCharCode(FIRST_CONTROL_PICTURE + cp);
  }
  if (cp === DEL) {
    return '\u2421';
  }
  if (/^\p{M}$/u.test(character)) {
    return `\u25cc${character}`;
  }
  if (/^[\p{C}\p{Z}]$/u.test(character)) {
    return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return character;
}

class ByteTokenizer implements TextTokenizer {
  readonly name = 'bytes';
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly startToken = { id: BYTE_BOS_ID, piece: '<s>' };
  readonly padToken = { id: BYTE_PAD_ID, piece: '<pad>' };

  encode(text: string): Token[] {
    const tokens: Token[] = [];
    const bytes: number[] = [];
    for (let start = 0; start < text.length; ) {
      const cp = codePointAt(text, start);
      const end = start + utf16Length(cp);
      const character = text.slice(start, end);
      bytes.length = 0;
      appendUtf8(cp, bytes);
      const shown = displayCharacter(character);
      bytes.forEach((byte, index) => {
        const piece = bytes.length === 1 ? shown : `${shown}[${index + 1}/${bytes.length}]`;
        tokens.push({ id: BYTE_ID_OFFSET + byte, text: character, piece, start, end, special: false });
      });
      start = end;
    }
    return tokens;
  }
}

export function createByteTokenizer(): TextTokenizer {
  return new ByteTokenizer();
}

/** The text of byte-tokenizer ids; special ids are skipped, invalid UTF-8 becomes U+FFFD. */
export function decodeByteIds(ids: Iterable<number>): string {
  const bytes: number[] = [];
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= BYTE_VOCAB_SIZE) {
      throw new RangeError(`byte tokenizer id ${id} is outside 0..${BYTE_VOCAB_SIZE - 1}`);
    }
    if (id >= BYTE_ID_OFFSET) {
      bytes.push(id - BYTE_ID_OFFSET);
    }
  }
  // ignoreBOM keeps a leading U+FEFF that the text really had.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(bytes));
}
