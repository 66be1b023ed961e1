/**
 * @file Loads a Hugging Face tokenizer.json from disk (with the tokenizer_config.json beside it, if
 * any). The only tokenizer module that touches the file system.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserFacingError } from '../../shared/errors';
import { readRegularFileSync } from '../safeRead';
import { loadHuggingFaceTokenizer } from './huggingface';
import type { TextTokenizer } from './types';

const TOKENIZER_FILE = 'tokenizer.json';
const CONFIG_FILE = 'tokenizer_config.json';
/** The largest tokenizer.json read; real ones are under 40 MB (Gemma's is about 33 MB). */
const MAX_TOKENIZER_BYTES = 512 * 2 ** 20;
const WHERE_HINT = `Give the path of a Hugging Face ${TOKENIZER_FILE} (it is saved beside the model's files), or use the built-in "bytes" tokenizer.`;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A folder stands for the tokenizer.json inside it, as Hugging Face model folders are laid out. */
function tokenizerPathOf(path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new UserFacingError(`Tokenizer file not found: ${absolute}`, WHERE_HINT, { code: 'file-not-found', facts: { path: absolute } });
  }
  // Anything but a folder is read as the file itself, which refuses devices and pipes.
  if (!statSync(absolute).isDirectory()) {
    return absolute;
  }
  const inside = join(absolute, TOKENIZER_FILE);
  if (!existsSync(inside)) {
    throw new UserFacingError(`The folder ${absolute} has no ${TOKENIZER_FILE}.`, WHERE_HINT);
  }
  return inside;
}

function readJsonObject(path: string, what: string): object {
  const bytes = readRegularFileSync(path, { maxBytes: MAX_TOKENIZER_BYTES, what: `the ${what}`, option: 'tokenizer' });
  const text = new TextDecoder().decode(bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UserFacingError(
      `The ${what} ${path} is not valid JSON (${errorMessage(error)}).`,
      `Check that it is a complete ${what}; save it again from Python (tokenizer.save_pretrained) if it was cut off or edited.`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserFacingError(`The ${what} ${path} is not a JSON object.`, WHERE_HINT);
  }
  return parsed;
}

/** A TextTokenizer for the tokenizer.json at `path` (or in the folder `path`), named after the path. */
export function loadTokenizerFile(path: string): TextTokenizer {
  const tokenizerPath = tokenizerPathOf(path);
  const tokenizerJson = readJsonObject(tokenizerPath, TOKENIZER_FILE);
  const configPath = join(dirname(tokenizerPath), CONFIG_FILE);
  const config = existsSync(configPath) ? readJsonObject(configPath, CONFIG_FILE) : {};
  try {
    return loadHuggingFaceTokenizer(tokenizerJson, config, path);
  } catch (error) {
    if (error instanceof UserFacingError) {
      throw new UserFacingError(`${tokenizerPath}: ${error.message}`, error.hint);
    }
    // The library's own complaints (a BPE without merges, an unknown normalizer type, ...).
    throw new UserFacingError(`The ${TOKENIZER_FILE} ${tokenizerPath} could not be loaded: ${errorMessage(error)}`, WHERE_HINT);
  }
}
