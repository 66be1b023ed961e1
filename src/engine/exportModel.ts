/**
 * @file `--export-onnx`: a built-in model, with its weights and tokenizer, as an ONNX file that
 * other tools (and Attention Lens itself) can run on text again.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { loadBuiltinModel, parseBuiltinSpec } from './builtin';
import { encodeModel } from './onnx/model';
import { externalizeInitializers, needsExternalData } from './onnx/externalData';
import { type ExportFault, exportTransformer } from './onnx/exportBuiltin';
import type { ExportAttention } from './onnx/exportGroupQuery';
import { PRESETS } from './reference/config';
import { readRegularFileSync } from './safeRead';
import { BYTE_TOKENIZER_SPEC, getTokenizer } from './tokenizers/index';

export interface ExportOptions {
  model: string;
  seed?: number;
  weightsPath?: string;
  tokenizer?: string;
  /** Bugs planted on purpose (tests, teaching): see ExportFault. Default none; the file says which in its description. */
  faults?: readonly ExportFault[];
  /** Plain attention operators (default), or decoder self-attention as com.microsoft GroupQueryAttention ('fused'). */
  attention?: ExportAttention;
  /**
   * The name of the external data file, when the weights are too big for one ONNX file (over
   * 1.5 GB: qwen2-shape); it must sit beside the model under this name. Default `model.onnx.data`.
   */
  dataLocation?: string;
}

/** An exported model: the ONNX bytes, and the external data they refer to when the weights are too big for one file. */
export interface ExportedModel {
  model: Uint8Array;
  externalData: { location: string; data: Uint8Array } | null;
}

/** The tokenizer as the exported file's metadata carries it (loading it first checks the file). */
function tokenizerMetadata(spec: string | undefined): string {
  if (!spec || spec === BYTE_TOKENIZER_SPEC) return JSON.stringify({ type: 'bytes' });
  getTokenizer(spec);
  const file = statSync(spec).isDirectory() ? path.join(spec, 'tokenizer.json') : spec;
  return JSON.stringify({ type: 'huggingface', json: new TextDecoder().decode(readRegularFileSync(file, { maxBytes: 512 * 2 ** 20, what: 'the tokenizer.json', option: 'tokenizer' })) });
}

export async function exportBuiltinModel(options: ExportOptions): Promise<ExportedModel> {
  const preset = parseBuiltinSpec(options.model);
  const loaded = await loadBuiltinModel({ preset, seed: options.seed, weightsPath: options.weightsPath, tokenizer: options.tokenizer });
  const faults = options.faults ?? [];
  const planted = faults.length > 0 ? `, with planted faults: ${faults.join(', ')}` : '';
  const fused = options.attention === 'fused' ? ' with com.microsoft GroupQueryAttention' : '';
  const proto = exportTransformer(
    PRESETS[preset],
    loaded.weights,
    {
      config: JSON.stringify({ preset, ...PRESETS[preset] }),
      tokenizer: tokenizerMetadata(options.tokenizer),
      description: `Attention Lens built-in model ${preset} (${loaded.info.weights ?? ''}), exported to ONNX opset 17${fused}${planted}`,
    },
    { faults, attention: options.attention },
  );
  if (!needsExternalData(proto)) return { model: encodeModel(proto), externalData: null };
  const externalized = externalizeInitializers(proto, options.dataLocation ?? 'model.onnx.data');
  return { model: encodeModel(externalized.model), externalData: { location: externalized.location, data: externalized.data } };
}
