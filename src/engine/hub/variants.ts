/**
 * @file Which files of a repository make a model Attention Lens can run. Only the resolve layout may
 * be assumed (a mirror or static server has no listing API), so the repository is asked about each
 * candidate name in turn (HEAD), or, offline, its snapshot folder is read.
 *
 * transformers.js keeps its exports under onnx/ (model.onnx fp32, model_fp16.onnx,
 * model_quantized.onnx int8, model_q4.onnx ...); optimum writes model.onnx at the root. Weights too
 * big for one protocol-buffer file sit beside the model as model.onnx_data or model.onnx.data.
 * Encoder-decoders (T5, BART, Marian) come as encoder_model.onnx with decoder_model.onnx or
 * decoder_model_merged.onnx, each with the same dtype suffixes; older decoder-only exports
 * (Xenova/gpt2) hold only decoder_model(_merged).onnx.
 */
import type { HubDtype } from './settings';

/** File-name suffixes of each dtype, best first ("" is full precision). */
const DTYPE_SUFFIXES: Readonly<Record<HubDtype, readonly string[]>> = {
  fp32: [''],
  fp16: ['_fp16'],
  q8: ['_quantized', '_int8', '_uint8'],
  q4: ['_q4', '_q4f16', '_bnb4'],
};

/** transformers.js's folder first, then optimum's root. */
const FOLDERS = ['onnx/', ''];

/** Without --dtype: full precision first, then what is smallest to download among the rest. */
export const DEFAULT_DTYPE_ORDER: readonly HubDtype[] = ['fp32', 'q8', 'fp16', 'q4'];

/** The repository's tokenizer and model description, used when present. */
export const SIDE_FILES: readonly string[] = ['tokenizer.json', 'tokenizer_config.json', 'config.json'];

/** What runs: one model file, or an encoder and the decoder to join to it. */
export interface ModelChoice {
  modelFile: string;
  decoderFile: string | null;
}

/** Each (folder, suffix) of the dtypes asked for, in preference order. */
function variants(dtype: HubDtype | null): Array<{ folder: string; suffix: string }> {
  return (dtype ? [dtype] : DEFAULT_DTYPE_ORDER).flatMap((each) => FOLDERS.flatMap((folder) => DTYPE_SUFFIXES[each].map((suffix) => ({ folder, suffix }))));
}

/** Where a model's external data may be (transformers.js and onnx.save's own names). */
export function externalDataCandidates(modelFile: string): string[] {
  return [`${modelFile}_data`, `${modelFile}.data`];
}

/** The one-file models to look for, in the order they are preferred: one dtype's, or every dtype's. */
export function modelCandidates(dtype: HubDtype | null): string[] {
  return variants(dtype).map(({ folder, suffix }) => `${folder}model${suffix}.onnx`);
}

/** Encoder and decoder files of a split export, for the dtypes asked for. */
export function splitCandidates(dtype: HubDtype | null): string[] {
  return variants(dtype).flatMap(({ folder, suffix }) => [
    `${folder}encoder_model${suffix}.onnx`, `${folder}decoder_model${suffix}.onnx`, `${folder}decoder_model_merged${suffix}.onnx`,
  ]);
}

/** Every name worth reporting when nothing fits. */
export function allCandidates(): string[] {
  return [...modelCandidates(null), ...splitCandidates(null)];
}

const VARIANT_NAME = /(?:^|\/)(?:model|encoder_model|decoder_model|decoder_model_merged)(_[a-z0-9]+)?\.onnx$/;

/** The dtype a variant file belongs to. */
export function dtypeOf(file: string): HubDtype | null {
  const suffix = VARIANT_NAME.exec(file)?.[1] ?? (VARIANT_NAME.test(file) ? '' : null);
  if (suffix === null) return null;
  return DEFAULT_DTYPE_ORDER.find((dtype) => DTYPE_SUFFIXES[dtype].includes(suffix)) ?? null;
}

/**
 * The first runnable choice present, in preference order: a one-file model; else an encoder with a
 * decoder of the same folder and dtype (the plain decoder before the merged one, which carries a
 * second copy behind an If); else, in a repository with no encoder at all, a decoder alone.
 */
export function chooseModel(present: ReadonlySet<string>, dtype: HubDtype | null): ModelChoice | null {
  const single = modelCandidates(dtype).find((file) => present.has(file));
  if (single) return { modelFile: single, decoderFile: null };
  const decoders = (folder: string, suffix: string): string[] => [`${folder}decoder_model${suffix}.onnx`, `${folder}decoder_model_merged${suffix}.onnx`];
  for (const { folder, suffix } of variants(dtype)) {
    const encoder = `${folder}encoder_model${suffix}.onnx`;
    const decoder = decoders(folder, suffix).find((file) => present.has(file));
    if (present.has(encoder) && decoder) return { modelFile: encoder, decoderFile: decoder };
  }
  if ([...present].some((file) => /(?:^|\/)encoder_model[^/]*\.onnx$/.test(file))) return null;
  for (const { folder, suffix } of variants(dtype)) {
    const decoder = decoders(folder, suffix).find((file) => present.has(file));
    if (decoder) return { modelFile: decoder, decoderFile: null };
  }
  return null;
}

/** The model files of a choice: the model, and the decoder joined to it. */
export function choiceFiles(choice: ModelChoice): string[] {
  return choice.decoderFile ? [choice.modelFile, choice.decoderFile] : [choice.modelFile];
}

/** The files a choice runs, in words ("onnx/encoder_model.onnx + onnx/decoder_model.onnx"). */
export function describeChoice(choice: ModelChoice): string {
  return choiceFiles(choice).join(' + ');
}
