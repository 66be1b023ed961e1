/**
 * @file What a repository's config.json says about the model (transformers' PretrainedConfig): its
 * type, layers, heads and width, under the names the different architectures use.
 */
import { readRegularFile } from '../safeRead';

export interface HubModelConfig {
  modelType: string | null;
  /** Layers; of the encoder, for an encoder-decoder. */
  layers: number | null;
  /** An encoder-decoder's decoder layers (BART's decoder_layers, T5's num_decoder_layers). */
  decoderLayers: number | null;
  heads: number | null;
  hiddenSize: number | null;
  encoderDecoder: boolean;
  /** The id an encoder-decoder's decoder input starts with (transformers' decoder_start_token_id). */
  decoderStartId: number | null;
}

const MAX_CONFIG_BYTES = 4 * 2 ** 20;

function firstNumber(record: Record<string, unknown>, keys: readonly string[]): number | null {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  }
  return null;
}

/** Reads config.json; a missing or unreadable one is no error (the graph says the rest). */
export async function readModelConfig(file: string | null): Promise<HubModelConfig | null> {
  if (file === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES, what: 'config.json' })));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  const textConfig = typeof record.text_config === 'object' && record.text_config !== null ? record.text_config as Record<string, unknown> : record;
  return {
    modelType: typeof record.model_type === 'string' ? record.model_type : null,
    layers: firstNumber(textConfig, ['num_hidden_layers', 'n_layer', 'num_layers', 'n_layers', 'encoder_layers']),
    decoderLayers: firstNumber(textConfig, ['decoder_layers', 'num_decoder_layers']),
    heads: firstNumber(textConfig, ['num_attention_heads', 'n_head', 'num_heads', 'n_heads', 'encoder_attention_heads']),
    hiddenSize: firstNumber(textConfig, ['hidden_size', 'n_embd', 'd_model', 'dim']),
    encoderDecoder: record.is_encoder_decoder === true,
    decoderStartId: typeof record.decoder_start_token_id === 'number' && Number.isInteger(record.decoder_start_token_id) && record.decoder_start_token_id >= 0
      ? record.decoder_start_token_id : null,
  };
}
