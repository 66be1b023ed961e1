/**
 * @file Built-in models: a preset name (+ seed or safetensors weights) → a ready Transformer and its
 * tokenizer. Loading paper-base or gpt2-shape takes a while, so loaded models are cached by key.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { UserFacingError } from '../shared/errors';
import { readRegularFile } from './safeRead';
import { type PresetName, countParameters, getPreset, SHIPPED_WEIGHTS } from './reference/config';
import { parseSafetensors } from './reference/safetensors';
import { Transformer } from './reference/transformer';
import { WeightStore } from './reference/weights';
import { BYTE_TOKENIZER_SPEC, getTokenizer } from './tokenizers/index';
import type { TextTokenizer } from './tokenizers/types';
import type { ModelInfo } from '../shared/trace';

export const DEFAULT_SEED = 0;

export interface BuiltinModel {
  transformer: Transformer;
  /** The weights the transformer reads (for export). */
  weights: WeightStore;
  tokenizer: TextTokenizer;
  info: ModelInfo;
}

export interface BuiltinModelRequest {
  preset: string;
  seed?: number;
  /** A safetensors file with the tensor names of README "Weights"; overrides the seed. */
  weightsPath?: string;
  /** "bytes" (default) or the path of a tokenizer.json whose ids fit the preset's vocabulary. */
  tokenizer?: string;
  /** Largest weights file read, in MB (the model ceiling); default 4096. */
  maxModelMB?: number;
}

const DEFAULT_MAX_WEIGHTS_MB = 4096;

/** "builtin:tiny-decoder" → "tiny-decoder"; a bare preset name is accepted too. */
export function parseBuiltinSpec(spec: string): PresetName {
  const name = spec.startsWith('builtin:') ? spec.slice('builtin:'.length) : spec;
  getPreset(name); // throws a UserFacingError listing the presets
  return name as PresetName;
}

/**
 * The shipped weights of a trained preset: beside the bundle (dist/ → extension root) or, under the
 * test runner, from the repository root (src/engine/ → root).
 */
export function shippedWeightsPath(preset: PresetName): string | null {
  const relative = SHIPPED_WEIGHTS[preset];
  if (!relative) return null;
  const candidates = [path.join(__dirname, '..', relative), path.join(__dirname, '..', '..', relative)];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new UserFacingError(
      `The trained weights of builtin:${preset} are missing (${relative}).`,
      'Reinstall the extension; in a checkout, run `npm run train` to make them, or choose another built-in model.',
    );
  }
  return found;
}

/** The safetensors file a request loads: the one it names, else its preset's shipped weights, else none (seeded). */
function weightsFileOf(request: BuiltinModelRequest): string | undefined {
  return request.weightsPath || (shippedWeightsPath(parseBuiltinSpec(request.preset)) ?? undefined);
}

export async function loadBuiltinModel(request: BuiltinModelRequest): Promise<BuiltinModel> {
  const config = getPreset(request.preset);
  const seed = request.seed ?? DEFAULT_SEED;
  const weightsPath = weightsFileOf(request);
  let weights: WeightStore;
  if (weightsPath) {
    const bytes = await readRegularFile(weightsPath, {
      maxBytes: (request.maxModelMB ?? DEFAULT_MAX_WEIGHTS_MB) * 2 ** 20,
      what: 'the weights file',
      option: 'weights',
      limitOption: 'maxModelMB',
    });
    // Shipped weights are named by what they are, not by where the extension happens to be installed.
    const description = request.weightsPath ? weightsPath : `trained weights (${SHIPPED_WEIGHTS[parseBuiltinSpec(request.preset)]})`;
    weights = WeightStore.fromSafetensors(config, parseSafetensors(bytes, weightsPath).tensors, description);
  } else {
    weights = WeightStore.fromSeed(config, seed);
  }
  const tokenizer = getTokenizer(request.tokenizer ?? BYTE_TOKENIZER_SPEC);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new UserFacingError(
      `The tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids, more than the ${config.vocabSize} embeddings of builtin:${request.preset}.`,
      'Use the byte tokenizer, or a preset with a large vocabulary (paper-base: 37000, gpt2-shape: 50257).',
    );
  }
  const info: ModelInfo = {
    name: `builtin:${request.preset}`,
    kind: config.kind,
    source: 'builtin',
    preset: request.preset,
    encoderLayers: config.encoderLayers,
    decoderLayers: config.decoderLayers,
    heads: config.heads,
    dModel: config.dModel,
    dFF: config.dFF,
    vocabSize: config.vocabSize,
    normPlacement: config.normPlacement,
    activation: config.activation,
    ...(weightsPath ? {} : { seed }),
    weights: weights.description,
    parameterCount: countParameters(config),
    tokenizer: tokenizer.name,
  };
  return { transformer: new Transformer(config, weights), weights, tokenizer, info };
}

/** "size:mtime" of a file, or null when it cannot be read (the loader then reports why). */
async function fileVersion(path: string): Promise<string | null> {
  try {
    const info = await stat(path);
    return `${info.size}:${info.mtimeMs}`;
  } catch {
    return null;
  }
}

/** Keeps the last few loaded models; gpt2-shape alone is ~500 MB, so the cache is small. */
export class BuiltinModelCache {
  private readonly entries = new Map<string, Promise<BuiltinModel>>();

  constructor(private readonly capacity = 2) {}

  async get(request: BuiltinModelRequest): Promise<BuiltinModel> {
    // Files are part of the key with their size and time, so a rewritten file is loaded again.
    const weightsPath = weightsFileOf(request);
    const key = JSON.stringify([
      request.preset,
      weightsPath ? [weightsPath, await fileVersion(weightsPath)] : request.seed ?? DEFAULT_SEED,
      request.tokenizer && request.tokenizer !== BYTE_TOKENIZER_SPEC ? [request.tokenizer, await fileVersion(request.tokenizer)] : BYTE_TOKENIZER_SPEC,
    ]);
    const cached = this.entries.get(key);
    if (cached) {
      // Refresh recency.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached;
    }
    const loading = loadBuiltinModel(request);
    loading.catch(() => this.entries.delete(key));
    this.entries.set(key, loading);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return loading;
  }
}

export { PRESET_NAMES } from './reference/config';
