/**
 * Repositories for the Hub tests, built from the shared ONNX fixtures (read-only) and tokenizers
 * generated here: a small WordPiece tokenizer.json whose ids fit ort_bert_toy_op12's 99-row
 * embedding, laid out as transformers.js (onnx/…) and optimum (model.onnx at the root) publish them.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '../../src/engine/onnx/model';
import { externalizeInitializers } from '../../src/engine/onnx/externalData';
import type { HubRepoSpec } from './hubServer';

/** The repository's root, found upwards (these helpers also run bundled, from out/test/integration/). */
function findRoot(): string {
  let folder = __dirname;
  while (!existsSync(path.join(folder, 'src', 'engine', 'hub')) && path.dirname(folder) !== folder) folder = path.dirname(folder);
  return folder;
}

const root = findRoot();
export const FIXTURES = path.resolve(root, '../shared/fixtures/onnx');
export const BERT_TOY = readFileSync(path.join(FIXTURES, 'ort_bert_toy_op12.onnx'));
export const DISTILBERT = readFileSync(path.join(FIXTURES, 'optimum_tiny-distilbert_pt1.10_op11.onnx'));

const WORDS = ['the', 'cat', 'sat', 'on', 'mat', '.', 'dog', 'ran', '##s', 'a'];

/** A bert-base-uncased-shaped tokenizer.json with `size` ids: 5 specials, the words above, then filler pieces. */
export function smallBertTokenizer(size = 64): object {
  const vocab: Record<string, number> = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4 };
  for (const word of WORDS) vocab[word] = Object.keys(vocab).length;
  while (Object.keys(vocab).length < size) vocab[`[unused${Object.keys(vocab).length}]`] = Object.keys(vocab).length;
  const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((content) => added(vocab[content], content)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
      pair: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]'), { Sequence: { id: 'B', type_id: 1 } }, special('[SEP]')],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

export const TOKENIZER_CONFIG = { tokenizer_class: 'BertTokenizer', do_lower_case: true, cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' };
export const BERT_TOY_CONFIG = { model_type: 'bert', num_hidden_layers: 5, num_attention_heads: 4, hidden_size: 20, vocab_size: 99 };

export function json(value: object): string {
  return JSON.stringify(value, null, 1);
}

/** The side files every text repository has. */
function sideFiles(tokenizer: object = smallBertTokenizer()): HubRepoSpec['files'] {
  return [
    { path: 'tokenizer.json', content: json(tokenizer) },
    { path: 'tokenizer_config.json', content: json(TOKENIZER_CONFIG) },
    { path: 'config.json', content: json(BERT_TOY_CONFIG) },
  ];
}

/** ort_bert_toy with its weights moved to `model.onnx_data` (what transformers.js does for big models). */
export function bertToyWithExternalData(): { model: Uint8Array; data: Uint8Array } {
  const externalized = externalizeInitializers(decodeModel(BERT_TOY), 'model.onnx_data');
  return { model: encodeModel(externalized.model), data: externalized.data };
}

export function testRepos(): HubRepoSpec[] {
  const external = bertToyWithExternalData();
  return [
    {
      repo: 'lens-test/bert-toy',
      files: [
        { path: 'onnx/model.onnx', content: BERT_TOY, lfs: true },
        { path: 'onnx/model_quantized.onnx', content: Buffer.concat([BERT_TOY]), lfs: true },
        ...sideFiles(),
      ],
    },
    { repo: 'lens-test/distilbert-optimum', files: [{ path: 'model.onnx', content: DISTILBERT, lfs: true }, { path: 'config.json', content: json({ model_type: 'distilbert' }) }] },
    { repo: 'lens-test/bert-external', files: [{ path: 'onnx/model.onnx', content: external.model, lfs: true }, { path: 'onnx/model.onnx_data', content: external.data, lfs: true }, ...sideFiles()] },
    { repo: 'lens-test/tokenizer-only', files: sideFiles() },
    // An encoder whose decoder exists only in another dtype: nothing to join it with.
    { repo: 'lens-test/t5-like', files: [{ path: 'onnx/encoder_model.onnx', content: BERT_TOY, lfs: true }, { path: 'onnx/decoder_model_merged_quantized.onnx', content: BERT_TOY, lfs: true }, ...sideFiles()] },
    { repo: 'lens-test/big-vocab', files: [{ path: 'onnx/model.onnx', content: BERT_TOY, lfs: true }, ...sideFiles(smallBertTokenizer(300))] },
    { repo: 'lens-test/private', privateToken: 'hf_testSecretToken123', files: [{ path: 'onnx/model.onnx', content: BERT_TOY, lfs: true }, ...sideFiles()] },
    { repo: 'lens-test/gated', privateToken: 'hf_testSecretToken123', gated: true, files: [{ path: 'onnx/model.onnx', content: BERT_TOY, lfs: true }, ...sideFiles()] },
  ];
}
