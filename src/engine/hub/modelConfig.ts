/**
 * @file What a repository's config.json says about the model (transformers' PretrainedConfig): its
 * type, layers, heads and width, under the names the different architectures use.
 */
import { readRegularFile } from '../safeRead';

export interface HubModelConfig {
  modelType: string | null;
  layers: number | null;
  heads: number | null;
  hiddenSize: number | null;
  encoderDecoder: boolean;
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
    heads: firstNumber(textConfig, ['num_attention_heads', 'n_head', 'num_heads', 'n_heads', 'encoder_attention_heads']),
    hiddenSize: firstNumber(textConfig, ['hidden_size', 'n_embd', 'd_model', 'dim']),
    encoderDecoder: record.is_encoder_decoder === true,
  };
}
