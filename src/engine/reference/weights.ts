/**
 * @file The built-in model's weights: their names, shapes, seeded initialisation and loading.
 *
 * Names follow PyTorch conventions so a checkpoint trained elsewhere can be mapped by name alone.
 * Linear weights are `[out, in]` (nn.Linear), so y = x · Wᵀ + b. With S the stack ("encoder" or
 * "decoder") and i the 0-based layer:
 *
 *   embedding.weight                               [vocab, d]   shared with the LM head (paper §3.4)
 *   S.layers.i.self_attention.{query,key,value,output}.weight   [d, d]   .bias [d]
 *   decoder.layers.i.cross_attention.{query,key,value,output}.weight [d, d] .bias [d]  (encoder-decoder only)
 *   S.layers.i.feed_forward.fc1.weight [d_ff, d] .bias [d_ff];  fc2.weight [d, d_ff] .bias [d]
 *   S.layers.i.norm_self_attention.{weight,bias}   [d]   (and norm_cross_attention, norm_feed_forward)
 *   S.final_norm.{weight,bias}                     [d]   (pre-LN models only)
 *
 * Seeded initialisation (documented in README):
 *   - embedding: N(0, 1/d) when the embedding is scaled by sqrt(d) (unit variance after scaling),
 *     N(0, 0.02²) otherwise (GPT-2's init);
 *   - linear weights: Xavier/Glorot uniform U(-a, a), a = sqrt(6 / (in + out)), as in the original
 *     tensor2tensor implementation of the paper;
 *   - biases 0; layer-norm gain 1 and bias 0.
 * Every tensor has its own generator seeded by hash(seed, name) (see random.ts).
 */
import { createHash } from 'node:crypto';
import { UserFacingError } from '../../shared/errors';
import { hasBias, kvHeadsOf, type TransformerConfig } from './config';
import { hashSeed, SeededRandom } from './random';
import type { SafetensorsTensor } from './safetensors';

export type InitKind = 'embedding' | 'linear' | 'zeros' | 'ones';

export interface WeightSpec {
  name: string;
  shape: number[];
  init: InitKind;
}

/** Where layers get their parameters. */
export interface WeightSource {
  /** The tensor called `name`, which must have exactly `shape`. */
  tensor(name: string, shape: readonly number[]): Float32Array;
}

function linearSpecs(prefix: string, outFeatures: number, inFeatures: number, bias = true): WeightSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [outFeatures, inFeatures], init: 'linear' },
    ...(bias ? [{ name: `${prefix}.bias`, shape: [outFeatures], init: 'zeros' as const }] : []),
  ];
}

function normSpecs(prefix: string, width: number, rms: boolean): WeightSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [width], init: 'ones' },
    ...(rms ? [] : [{ name: `${prefix}.bias`, shape: [width], init: 'zeros' as const }]),
  ];
}

/** Queries and the output projection are d wide; keys and values kvHeads·d_k (narrower with grouped-query attention). */
function attentionSpecs(prefix: string, config: TransformerConfig): WeightSpec[] {
  const d = config.dModel;
  const kvWidth = kvHeadsOf(config) * (d / config.heads);
  return [
    ...linearSpecs(`${prefix}.query`, d, d, hasBias(config, 'query')),
    ...linearSpecs(`${prefix}.key`, kvWidth, d, hasBias(config, 'key')),
    ...linearSpecs(`${prefix}.value`, kvWidth, d, hasBias(config, 'value')),
    ...linearSpecs(`${prefix}.output`, d, d, hasBias(config, 'output')),
  ];
}

function feedForwardSpecs(prefix: string, config: TransformerConfig): WeightSpec[] {
  const d = config.dModel;
  const bias = hasBias(config, 'feed-forward');
  if (config.feedForward === 'swiglu') {
    return [...linearSpecs(`${prefix}.gate`, config.dFF, d, bias), ...linearSpecs(`${prefix}.up`, config.dFF, d, bias), ...linearSpecs(`${prefix}.down`, d, config.dFF, bias)];
  }
  return [...linearSpecs(`${prefix}.fc1`, config.dFF, d, bias), ...linearSpecs(`${prefix}.fc2`, d, config.dFF, bias)];
}

/** Every tensor the configuration needs, in a fixed order. */
export function weightSpecs(config: TransformerConfig): WeightSpec[] {
  const d = config.dModel;
  const rms = config.norm === 'rms';
  const specs: WeightSpec[] = [{ name: 'embedding.weight', shape: [config.vocabSize, d], init: 'embedding' }];
  const stacks: Array<['encoder' | 'decoder', number]> = [['encoder', config.encoderLayers], ['decoder', config.decoderLayers]];
  for (const [stack, layers] of stacks) {
    for (let i = 0; i < layers; i++) {
      const layer = `${stack}.layers.${i}`;
      specs.push(...attentionSpecs(`${layer}.self_attention`, config), ...normSpecs(`${layer}.norm_self_attention`, d, rms));
      if (stack === 'decoder' && config.kind === 'encoder-decoder') {
        specs.push(...attentionSpecs(`${layer}.cross_attention`, config), ...normSpecs(`${layer}.norm_cross_attention`, d, rms));
      }
      specs.push(...feedForwardSpecs(`${layer}.feed_forward`, config), ...normSpecs(`${layer}.norm_feed_forward`, d, rms));
    }
    if (layers > 0 && config.normPlacement === 'pre') {
      specs.push(...normSpecs(`${stack}.final_norm`, d, rms));
    }
  }
  return specs;
}

function initialise(spec: WeightSpec, config: TransformerConfig, seed: number): Float32Array {
  const size = spec.shape.reduce((product, dim) => product * dim, 1);
  const values = new Float32Array(size);
  const random = new SeededRandom(hashSeed(seed, spec.name));
  switch (spec.init) {
    case 'zeros':
      break;
    case 'ones':
      values.fill(1);
      break;
    case 'embedding': {
      const std = config.scaleEmbedding ? 1 / Math.sqrt(config.dModel) : 0.02;
      for (let i = 0; i < size; i++) values[i] = std * random.normal();
      break;
    }
    case 'linear': {
      const [outFeatures, inFeatures] = spec.shape;
      const bound = Math.sqrt(6 / (inFeatures + outFeatures));
      for (let i = 0; i < size; i++) values[i] = random.uniform(-bound, bound);
      break;
    }
    default: {
      const unreachable: never = spec.init;
      throw new Error(`unknown init ${String(unreachable)}`);
    }
  }
  return values;
}

/** A name → tensor map checked against the configuration's specs. */
export class WeightStore implements WeightSource {
  private contentDigest: string | undefined;

  private constructor(private readonly tensors: ReadonlyMap<string, Float32Array>, readonly description: string) {}

  /**
   * The sha256 of every tensor's name, shape and bytes, in a fixed order: what the weights are,
   * whatever file or seed they came from (caches are keyed by it, never by a path).
   */
  digest(): string {
    if (this.contentDigest) return this.contentDigest;
    const hash = createHash('sha256');
    for (const [name, values] of [...this.tensors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      hash.update(`${name}:${values.length};`);
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
    this.contentDigest = hash.digest('hex');
    return this.contentDigest;
  }

  /** Deterministic weights from a seed. */
  static fromSeed(config: TransformerConfig, seed: number): WeightStore {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new UserFacingError(`Invalid seed ${String(seed)}.`, 'Use an integer from 0 to 4294967295.');
    }
    const tensors = new Map<string, Float32Array>();
    for (const spec of weightSpecs(config)) {
      tensors.set(spec.name, initialise(spec, config, seed));
    }
    return new WeightStore(tensors, `seed ${seed}`);
  }

  /** Weights read from a safetensors file; every tensor the config needs must be there with its shape. */
  static fromSafetensors(config: TransformerConfig, tensors: ReadonlyMap<string, SafetensorsTensor>, origin: string): WeightStore {
    const problems: string[] = [];
    const chosen = new Map<string, Float32Array>();
    for (const spec of weightSpecs(config)) {
      const found = tensors.get(spec.name);
      if (!found) {
        problems.push(`missing ${spec.name} [${spec.shape.join(', ')}]`);
      } else if (found.shape.length !== spec.shape.length || found.shape.some((dim, i) => dim !== spec.shape[i])) {
        problems.push(`${spec.name} has shape [${found.shape.join(', ')}], expected [${spec.shape.join(', ')}]`);
      } else {
        chosen.set(spec.name, found.values);
      }
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
      throw new UserFacingError(
        `The weights in ${origin} do not fit this model: ${shown}.`,
        'Choose the preset the weights were trained for, or check the tensor names (README, "Weights").',
      );
    }
    return new WeightStore(chosen, origin);
  }

  tensor(name: string, shape: readonly number[]): Float32Array {
    const values = this.tensors.get(name);
    const size = shape.reduce((product, dim) => product * dim, 1);
    if (!values || values.length !== size) {
      throw new Error(`weight ${name} [${shape.join(', ')}] is not in the store`);
    }
    return values;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }
}
