/**
 * @file The engine's tokenizers: the built-in byte tokenizer and Hugging Face tokenizer.json files.
 */
import { createByteTokenizer } from './bytes';
import { loadTokenizerFile } from './file';
import type { TextTokenizer } from './types';

export type { TextTokenizer } from './types';
export {
  BYTE_BOS_ID,
  BYTE_EOS_ID,
  BYTE_ID_OFFSET,
  BYTE_PAD_ID,
  BYTE_SPECIAL_PIECES,
  BYTE_UNK_ID,
  BYTE_VOCAB_SIZE,
  createByteTokenizer,
  decodeByteIds,
  displayCharacter,
} from './bytes';
export { loadHuggingFaceTokenizer } from './huggingface';
export { loadTokenizerFile } from './file';

/** The spec naming the built-in byte tokenizer. */
export const BYTE_TOKENIZER_SPEC = 'bytes';

/** A tokenizer by spec: "bytes", or the path of a tokenizer.json (or of the folder holding one). */
export function getTokenizer(spec: string): TextTokenizer {
  return spec.trim() === BYTE_TOKENIZER_SPEC ? createByteTokenizer() : loadTokenizerFile(spec);
}
