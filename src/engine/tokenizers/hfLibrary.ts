/**
 * @file The one module that touches `@huggingface/tokenizers`; the slice of its API we use is typed here.
 *
 * Why `require` and local types: the package is ESM (`"type": "module"`) with a CommonJS build beside
 * it. This project compiles as CommonJS (Node16 resolution), where TypeScript refuses a static import
 * of an ESM package (TS1479); and the package's .d.ts files import each other without file
 * extensions, which Node16 resolution cannot follow, so `Encoding`, `Normalizer` and most other types
 * come out as `any`. `require` loads the CommonJS build in Node and esbuild bundles that same build.
 * If the project ever compiles as ESM, this becomes a plain `import`.
 *
 * What the library gives: `encode(text)` → `{ ids, tokens, attention_mask }`. It returns NO offsets
 * (0.2.0), so alignment.ts recovers them.
 */

export interface HfEncoding {
  readonly ids: readonly number[];
  /** The vocabulary pieces, e.g. "Ġcat", "##s", "[CLS]". */
  readonly tokens: readonly string[];
}

export interface HfAddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  /** Matched in the normalized text (true) or in the raw text (false). */
  readonly normalized: boolean;
}

export interface HfTokenizer {
  /** `addSpecialTokens` false skips the post-processor's [CLS]/[SEP]. */
  encode(text: string, addSpecialTokens: boolean): HfEncoding;
  tokenToId(piece: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Largest id of the vocabulary, added tokens included, plus one. */
  vocabSize(): number;
  addedTokens(): HfAddedToken[];
}

/** What we call on the library's objects (see the file comment for why it is declared here). */
interface LibraryTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): unknown;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
  get_added_tokens_decoder(): Map<number, HfAddedToken>;
}

interface Library {
  Tokenizer: new (tokenizerJson: object, tokenizerConfig: object) => LibraryTokenizer;
  SequenceNormalizer: new (config: object) => (text: string) => string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- see the file comment
const library = require('@huggingface/tokenizers') as Library;

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'number');
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function toEncoding(raw: unknown): HfEncoding {
  const record = (raw ?? {}) as { ids?: unknown; tokens?: unknown };
  if (!isNumberArray(record.ids) || !isStringArray(record.tokens) || record.ids.length !== record.tokens.length) {
    throw new Error('@huggingface/tokenizers returned an encoding without matching ids and tokens');
  }
  return { ids: record.ids, tokens: record.tokens };
}

/** Builds the library tokenizer; its own errors (bad vocab, unknown component) propagate. */
export function createHfTokenizer(tokenizerJson: object, tokenizerConfig: object): HfTokenizer {
  const tokenizer = new library.Tokenizer(tokenizerJson, tokenizerConfig);
  return {
    encode: (text, addSpecialTokens) => toEncoding(tokenizer.encode(text, { add_special_tokens: addSpecialTokens })),
    tokenToId: (piece) => tokenizer.token_to_id(piece),
    idToToken: (id) => tokenizer.id_to_token(id),
    vocabSize: () => {
      let largest = -1;
      for (const id of tokenizer.get_vocab(true).values()) {
        largest = Math.max(largest, id);
      }
      return largest + 1;
    },
    addedTokens: () => [...tokenizer.get_added_tokens_decoder().values()],
  };
}

/** The library's normalizer for a tokenizer.json `normalizer` section. */
export function createHfNormalizer(normalizerConfig: object): (text: string) => string {
  const normalizer = new library.SequenceNormalizer({ type: 'Sequence', normalizers: [normalizerConfig] });
  return (text) => normalizer(text);
}
