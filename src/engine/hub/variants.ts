/**
 * @file Which files of a repository make a model Attention Lens can run. Only the resolve layout may
 * be assumed (a mirror or static server has no listing API), so the repository is asked about each
 * candidate name in turn (HEAD), or, offline, its snapshot folder is read.
 *
 * transformers.js keeps its exports under onnx/ (model.onnx fp32, model_fp16.onnx,
 * model_quantized.onnx int8, model_q4.onnx ...); optimum writes model.onnx at the root. Weights too
 * big for one protocol-buffer file sit beside the model as model.onnx_data or model.onnx.data.
 */
import type { HubDtype } from './settings';

/** The variants of each dtype, best first. */
export const VARIANT_FILES: Readonly<Record<HubDtype, readonly string[]>> = {
  fp32: ['onnx/model.onnx', 'model.onnx'],
  fp16: ['onnx/model_fp16.onnx', 'model_fp16.onnx'],
  q8: ['onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'model_quantized.onnx'],
  q4: ['onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_bnb4.onnx'],
};

/** Without --dtype: full precision first, then what is smallest to download among the rest. */
export const DEFAULT_DTYPE_ORDER: readonly HubDtype[] = ['fp32', 'q8', 'fp16', 'q4'];

/** Encoder-decoder exports (T5, BART, Marian, Whisper): two models to join. */
export const ENCODER_DECODER_FILES: readonly string[] = [
  'onnx/encoder_model.onnx', 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model.onnx',
  'encoder_model.onnx', 'decoder_model_merged.onnx', 'decoder_model.onnx',
];

/** The repository's tokenizer and model description, used when present. */
export const SIDE_FILES: readonly string[] = ['tokenizer.json', 'tokenizer_config.json', 'config.json'];

/** Where a model's external data may be (transformers.js and onnx.save's own names). */
export function externalDataCandidates(modelFile: string): string[] {
  return [`${modelFile}_data`, `${modelFile}.data`];
}

/** The model files to look for, in the order they are preferred: one dtype's, or every dtype's. */
export function modelCandidates(dtype: HubDtype | null): string[] {
  return (dtype ? [dtype] : DEFAULT_DTYPE_ORDER).flatMap((each) => VARIANT_FILES[each]);
}

/** Every name worth reporting when nothing fits: all variants and the encoder-decoder files. */
export function allCandidates(): string[] {
  return [...DEFAULT_DTYPE_ORDER.flatMap((each) => VARIANT_FILES[each]), ...ENCODER_DECODER_FILES];
}

/** The dtype a variant file belongs to. */
export function dtypeOf(file: string): HubDtype | null {
  for (const dtype of DEFAULT_DTYPE_ORDER) if (VARIANT_FILES[dtype].includes(file)) return dtype;
  return null;
}

/** The first candidate present, in preference order. */
export function chooseModel(present: ReadonlySet<string>, dtype: HubDtype | null): string | null {
  return modelCandidates(dtype).find((file) => present.has(file)) ?? null;
}
