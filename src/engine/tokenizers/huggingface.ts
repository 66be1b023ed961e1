/**
 * @file A Hugging Face `tokenizer.json` as a TextTokenizer: ids from `@huggingface/tokenizers`,
 * offsets recovered by alignment (the library returns none; see alignment.ts).
 *
 * Special tokens: the text is encoded twice, with and without the post-processor's specials; the
 * extra tokens before the plain ones ([CLS]) are specials at offset 0, those after ([SEP]) at
 * `text.length`. A special token the user typed ("[SEP]" in the selection) is part of the text and
 * keeps its range.
 */
import type { Token } from '../../shared/trace';
import { type Span, type Surface, alignSurfaces } from './alignment';
import { buildAlignmentTarget, comparable, type TargetRules } from './alignmentTarget';
import { inspectTokenizerConfig, inspectTokenizerJson, type TokenizerJsonInfo } from './hfConfig';
import { createHfNormalizer, createHfTokenizer, type HfEncoding, type HfTokenizer } from './hfLibrary';
import type { TextTokenizer } from './types';
import { utf8Bytes } from './utf8';

/** GPT-2's bytes→unicode table inverted: the character a byte-level piece uses → the byte it means. */
const BYTE_OF_CHARACTER: ReadonlyMap<string, number> = (() => {
  // Printable Latin-1 bytes stand for themselves; the rest are shifted to U+0100 onwards, in order.
  const isPrintable = (byte: number): boolean => (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
  const table = new Map<string, number>();
  let shifted = 0;
  for (let byte = 0; byte < 256; byte += 1) {
    const codePoint = isPrintable(byte) ? byte : 256 + shifted++;
    table.set(String.fromCharCode(codePoint), byte);
  }
  return table;
})();

const BYTE_FALLBACK_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Turns vocabulary pieces into what they contribute to the normalized text (cached per piece). */
class SurfaceReader {
  private readonly cache = new Map<string, Surface>();

  constructor(
    private readonly info: TokenizerJsonInfo,
    private readonly rules: TargetRules,
    /** Added tokens stand for their literal content, not for vocabulary spelling. */
    private readonly addedContents: ReadonlySet<string>,
  ) {}

  surfaceOf(piece: string): Surface {
    let surface = this.cache.get(piece);
    if (surface === undefined) {
      surface = this.read(piece);
      this.cache.set(piece, surface);
    }
    return surface;
  }

  private read(piece: string): Surface {
    const { info } = this;
    // Before added tokens: the unknown piece is usually one of them, yet stands for other text.
    if (piece === info.unkToken) {
      // WordPiece replaces a whole word by its unknown piece; other models an unknown stretch.
      const literal = Uint8Array.from(utf8Bytes(comparable(piece, this.rules)));
      return info.modelType === 'WordPiece' ? { kind: 'word', literal } : { kind: 'unknown', literal };
    }
    if (this.addedContents.has(piece)) {
      return this.bytes(comparable(piece, this.rules));
    }
    if (info.byteLevel) {
      const bytes: number[] = [];
      for (const character of piece) {
        const byte = BYTE_OF_CHARACTER.get(character);
        if (byte === undefined) {
          bytes.push(...utf8Bytes(character));
        } else {
          bytes.push(byte);
        }
      }
      return { kind: 'bytes', bytes: Uint8Array.from(bytes) };
    }
    const byteFallback = info.byteFallback ? BYTE_FALLBACK_PIECE.exec(piece) : null;
    if (byteFallback !== null) {
      return { kind: 'bytes', bytes: Uint8Array.of(Number.parseInt(byteFallback[1] as string, 16)) };
    }
    let text = piece;
    const prefix = info.continuingSubwordPrefix;
    if (prefix.length > 0 && text.length > prefix.length && text.startsWith(prefix)) {
      text = text.slice(prefix.length);
    }
    const suffix = info.endOfWordSuffix;
    if (suffix.length > 0 && text.length > suffix.length && text.endsWith(suffix)) {
      text = `${text.slice(0, -suffix.length)} `; // the suffix marks a word end, like a space
    }
    return this.bytes(comparable(text, this.rules));
  }

  private bytes(text: string): Surface {
    return { kind: 'bytes', bytes: Uint8Array.from(utf8Bytes(text)) };
  }
}

/** Index where `needle` occurs in `haystack` as a contiguous run, or -1. */
function indexOfRun(haystack: readonly number[], needle: readonly number[]): number {
  for (let offset = 0; offset + needle.length <= haystack.length; offset += 1) {
    if (needle.every((id, k) => haystack[offset + k] === id)) {
      return offset;
    }
  }
  return -1;
}

/** Narrows a span to its non-whitespace part (what `trim_offsets` does), unless it is all whitespace. */
function trimSpan(text: string, span: Span): Span {
  let { start, end } = span;
  while (start < end && /\s/u.test(text[start] as string)) {
    start += 1;
  }
  while (end > start && /\s/u.test(text[end - 1] as string)) {
    end -= 1;
  }
  return start < end ? { start, end } : span;
}

const START_TOKEN_NAMES = ['<s>', '<bos>', '[CLS]', '<|begin_of_text|>', '<|startoftext|>', '<|endoftext|>'];

class HuggingFaceTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly startToken?: { id: number; piece: string };
  private readonly rules: TargetRules;
  private readonly surfaces: SurfaceReader;
  private readonly specialContents: ReadonlySet<string>;

  constructor(
    readonly name: string,
    private readonly tokenizer: HfTokenizer,
    private readonly info: TokenizerJsonInfo,
    startCandidates: ReadonlyArray<string | null>,
    lowercaseAndRemoveAccent: boolean,
  ) {
    this.vocabSize = tokenizer.vocabSize();
    const added = tokenizer.addedTokens();
    this.specialContents = new Set(added.filter((token) => token.special).map((token) => token.content));
    const normalize = info.localNormalizer === null ? null : createHfNormalizer(info.localNormalizer);
    this.rules = {
      normalize: lowercaseAndRemoveAccent ? (text) => lowercaseAndRemoveAccents(text, normalize) : normalize,
      // Folding only evens out what lowercasing does differently in context (final sigma); on a
      // cased tokenizer it would hide real differences, such as the bytes of a byte-fallback piece.
      fold: !info.byteLevel && (info.lowercases || lowercaseAndRemoveAccent),
      metaspace: info.metaspace,
      // The library matches an added token in the raw text unless it is marked `normalized` and
      // there is a normalizer to apply to it.
      verbatim: added.filter((token) => !(token.normalized && info.hasNormalizer)).map((token) => token.content),
    };
    this.surfaces = new SurfaceReader(info, this.rules, new Set(added.map((token) => token.content)));
    for (const candidate of [...startCandidates, info.leadingSpecial, ...START_TOKEN_NAMES]) {
      const id = candidate === null ? undefined : this.tokenizer.tokenToId(candidate);
      if (candidate !== null && id !== undefined) {
        this.startToken = { id, piece: candidate };
        break;
      }
    }
  }

  pieceOf(id: number): string | undefined {
    return this.tokenizer.idToToken(id);
  }

  encode(text: string): Token[] {
    const plain = this.tokenizer.encode(text, false);
    const full = this.tokenizer.encode(text, true);
    const offset = indexOfRun(full.ids, plain.ids);
    if (offset < 0) {
      return this.encodeWithInlineSpecials(text, full);
    }
    const spans = this.align(text, plain.tokens);
    return full.ids.map((id, index) => {
      const piece = full.tokens[index] as string;
      if (index < offset || index >= offset + spans.length) {
        const position = index < offset ? 0 : text.length;
        return { id, text: '', piece, start: position, end: position, special: true };
      }
      const span = spans[index - offset] as Span;
      return { id, text: text.slice(span.start, span.end), piece, start: span.start, end: span.end, special: false };
    });
  }

  /** Fallback for a post-processor that does more than wrap the text: specials found by name. */
  private encodeWithInlineSpecials(text: string, full: HfEncoding): Token[] {
    const isSpecial = full.tokens.map((piece) => this.specialContents.has(piece));
    const spans = this.align(
      text,
      full.tokens.filter((_, index) => !isSpecial[index]),
    );
    let next = 0;
    let position = 0;
    return full.ids.map((id, index) => {
      const piece = full.tokens[index] as string;
      if (isSpecial[index]) {
        return { id, text: '', piece, start: position, end: position, special: true };
      }
      const span = spans[next++] as Span;
      position = span.end;
      return { id, text: text.slice(span.start, span.end), piece, start: span.start, end: span.end, special: false };
    });
  }

  private align(text: string, pieces: readonly string[]): Span[] {
    const target = buildAlignmentTarget(text, this.rules);
    const spans = alignSurfaces(
      target,
      pieces.map((piece) => this.surfaces.surfaceOf(piece)),
    );
    return this.info.trimOffsets ? spans.map((span) => trimSpan(text, span)) : spans;
  }
}

/** XLM's `do_lowercase_and_remove_accent` as the library does it, then the tokenizer's normalizer. */
function lowercaseAndRemoveAccents(text: string, normalize: ((text: string) => string) | null): string {
  const stripped = text.toLowerCase().replace(/\p{M}/gu, '');
  return normalize === null ? stripped : normalize(stripped);
}

/**
 * A TextTokenizer for a parsed tokenizer.json (and tokenizer_config.json, whose bos/cls token names
 * the start token). Throws a UserFacingError for a file it cannot run.
 */
export function loadHuggingFaceTokenizer(tokenizerJson: object, tokenizerConfig: object = {}, name = 'huggingface'): TextTokenizer {
  const info = inspectTokenizerJson(tokenizerJson);
  const config = inspectTokenizerConfig(tokenizerConfig);
  const tokenizer = createHfTokenizer(tokenizerJson, tokenizerConfig);
  return new HuggingFaceTokenizer(name, tokenizer, info, [config.bosToken, config.clsToken], config.lowercaseAndRemoveAccent);
}
