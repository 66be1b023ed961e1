/**
 * @file What a `tokenizer.json` (+ `tokenizer_config.json`) says that matters for finding offsets,
 * read once from the untyped JSON, with user-facing errors for what we cannot run.
 */
import { UserFacingError } from '../../shared/errors';

export const SUPPORTED_MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'] as const;
export type HfModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

export interface TokenizerJsonInfo {
  modelType: HfModelType;
  /** GPT-2-style byte-level BPE: pieces spell bytes through the bytes→unicode table. */
  byteLevel: boolean;
  /** Pieces mark spaces with "▁" (SentencePiece-style Metaspace, or a normalizer replacing spaces by it). */
  metaspace: boolean;
  /** The post-processor trims whitespace off token offsets (ByteLevel trim_offsets, RoBERTa). */
  trimOffsets: boolean;
  /** The model's unknown piece, if it has one. */
  unkToken: string | null;
  /** "##" for WordPiece; BPE's continuing_subword_prefix; "" when none. */
  continuingSubwordPrefix: string;
  /** BPE's end_of_word_suffix (CLIP's "</w>"); "" when none. */
  endOfWordSuffix: string;
  /** BPE pieces "<0x41>" stand for single bytes. */
  byteFallback: boolean;
  /**
   * The normalizer section without its whole-text steps (Prepend, Strip), which cannot be applied
   * to one character at a time and only add or remove whitespace anyway; null when none is left.
   */
  localNormalizer: object | null;
  /** Whether the file has a normalizer at all (decides how added tokens are matched). */
  hasNormalizer: boolean;
  /** The normalizer lowercases (BERT uncased, a Lowercase step). */
  lowercases: boolean;
  /** The first special token of a TemplateProcessing/BERT/RoBERTa post-processor (e.g. "[CLS]"). */
  leadingSpecial: string | null;
}

export interface TokenizerConfigInfo {
  bosToken: string | null;
  clsToken: string | null;
  /** XLM-style lowercasing and accent removal done before the normalizer. */
  lowercaseAndRemoveAccent: boolean;
}

/** SentencePiece's word-start mark. */
const METASPACE = '\u2581';

type JsonRecord = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(record: JsonRecord | null, key: string): unknown {
  return record === null ? undefined : record[key];
}

function stringField(record: JsonRecord | null, key: string): string | null {
  const value = field(record, key);
  return typeof value === 'string' ? value : null;
}

function recordField(record: JsonRecord | null, key: string): JsonRecord | null {
  const value = field(record, key);
  return isRecord(value) ? value : null;
}

/** A component and, for "Sequence" components, the members listed under `membersKey`, flattened. */
function flatten(component: JsonRecord | null, membersKey: string): JsonRecord[] {
  if (component === null) {
    return [];
  }
  const members = field(component, membersKey);
  if (stringField(component, 'type') === 'Sequence' && Array.isArray(members)) {
    return members.flatMap((member) => flatten(isRecord(member) ? member : null, membersKey));
  }
  return [component];
}

/** The model type, inferred the way the library does when "type" is missing (old files). */
function modelTypeOf(model: JsonRecord): string {
  const declared = stringField(model, 'type');
  if (declared !== null) {
    return declared;
  }
  if (Array.isArray(model['vocab'])) {
    return 'Unigram';
  }
  if ('merges' in model) {
    return 'BPE';
  }
  return 'continuing_subword_prefix' in model ? 'WordPiece' : 'unknown';
}

function unkTokenOf(model: JsonRecord, modelType: HfModelType): string | null {
  if (modelType !== 'Unigram') {
    return stringField(model, 'unk_token');
  }
  // Unigram names its unknown piece by index into a [piece, score] list.
  const unkId = field(model, 'unk_id');
  const vocab = field(model, 'vocab');
  if (typeof unkId !== 'number' || !Array.isArray(vocab)) {
    return null;
  }
  const entry: unknown = vocab[unkId];
  return Array.isArray(entry) && typeof entry[0] === 'string' ? entry[0] : null;
}

function localNormalizerOf(normalizer: JsonRecord | null): object | null {
  const steps = flatten(normalizer, 'normalizers').filter((step) => {
    const type = stringField(step, 'type');
    return type !== 'Prepend' && type !== 'Strip';
  });
  return steps.length === 0 ? null : { type: 'Sequence', normalizers: steps };
}

function leadingSpecialOf(processors: readonly JsonRecord[]): string | null {
  for (const processor of processors) {
    const single = field(processor, 'single');
    if (Array.isArray(single) && isRecord(single[0])) {
      return stringField(recordField(single[0], 'SpecialToken'), 'id');
    }
    const cls = field(processor, 'cls');
    if (Array.isArray(cls) && typeof cls[0] === 'string') {
      return cls[0];
    }
  }
  return null;
}

function trimsOffsets(processors: readonly JsonRecord[]): boolean {
  return processors.some((processor) => {
    const type = stringField(processor, 'type');
    const trim = field(processor, 'trim_offsets');
    // RoBERTa trims unless told not to; ByteLevel only when told to.
    return (type === 'ByteLevel' && trim === true) || (type === 'RobertaProcessing' && trim !== false);
  });
}

const FORMAT_HINT =
  'Use the tokenizer.json that `tokenizers` or `transformers` save (tokenizer.save / save_pretrained), or the built-in "bytes" tokenizer.';

export function inspectTokenizerJson(json: unknown): TokenizerJsonInfo {
  if (!isRecord(json)) {
    throw new UserFacingError('The tokenizer file is not a JSON object.', FORMAT_HINT);
  }
  const model = recordField(json, 'model');
  if (model === null) {
    throw new UserFacingError('The tokenizer file has no "model" section, so it is not a Hugging Face tokenizer.json.', FORMAT_HINT);
  }
  const modelType = modelTypeOf(model);
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new UserFacingError(
      `The tokenizer's model type "${modelType}" is not supported; Attention Lens runs ${SUPPORTED_MODEL_TYPES.join(', ')} tokenizers.`,
      'Pick a model whose tokenizer.json uses one of those (GPT-2, BERT, T5, Llama all do), or the built-in "bytes" tokenizer.',
    );
  }
  const supported = modelType as HfModelType;
  const preTokenizers = flatten(recordField(json, 'pre_tokenizer'), 'pretokenizers');
  const decoders = flatten(recordField(json, 'decoder'), 'decoders');
  const processors = flatten(recordField(json, 'post_processor'), 'processors');
  const isByteLevel = (component: JsonRecord): boolean => stringField(component, 'type') === 'ByteLevel';
  const isMetaspace = (component: JsonRecord): boolean => stringField(component, 'type') === 'Metaspace';
  const replacesSpaces = flatten(recordField(json, 'normalizer'), 'normalizers').some(
    (step) => stringField(step, 'type') === 'Replace' && stringField(step, 'content') === METASPACE,
  );
  return {
    modelType: supported,
    byteLevel: supported === 'BPE' && (preTokenizers.some(isByteLevel) || decoders.some(isByteLevel)),
    metaspace: preTokenizers.some(isMetaspace) || decoders.some(isMetaspace) || replacesSpaces,
    trimOffsets: trimsOffsets(processors),
    unkToken: unkTokenOf(model, supported),
    continuingSubwordPrefix: stringField(model, 'continuing_subword_prefix') ?? (supported === 'WordPiece' ? '##' : ''),
    endOfWordSuffix: stringField(model, 'end_of_word_suffix') ?? '',
    byteFallback: field(model, 'byte_fallback') === true,
    localNormalizer: localNormalizerOf(recordField(json, 'normalizer')),
    hasNormalizer: recordField(json, 'normalizer') !== null,
    lowercases: flatten(recordField(json, 'normalizer'), 'normalizers').some((step) => {
      const type = stringField(step, 'type');
      return type === 'Lowercase' || (type === 'BertNormalizer' && field(step, 'lowercase') === true);
    }),
    leadingSpecial: leadingSpecialOf(processors),
  };
}

/** A token named in tokenizer_config.json: a string, or an AddedToken object with `content`. */
function tokenName(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  return isRecord(value) ? stringField(value, 'content') : null;
}

export function inspectTokenizerConfig(config: unknown): TokenizerConfigInfo {
  const record = isRecord(config) ? config : null;
  return {
    bosToken: tokenName(field(record, 'bos_token')),
    clsToken: tokenName(field(record, 'cls_token')),
    lowercaseAndRemoveAccent: field(record, 'do_lowercase_and_remove_accent') === true,
  };
}
