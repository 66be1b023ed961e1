/**
 * @file Feeding an arbitrary ONNX model: discover its inputs, fill the ones a Transformer export
 * usually has (input_ids, attention_mask, token_type_ids, position_ids, decoder_input_ids, empty
 * past key/values, use_cache flags) from the token streams, and take explicit tensors for the rest
 * (`ids:1,2,3`, a .npy file, or `random:2x3x4`; see inputSpec.ts). An input nothing can fill is an
 * error that lists it.
 */
export { type InputSpec, parseInputSpec } from './inputSpec';
import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { UserFacingError } from '../errors';
import { floatToHalf } from '../half';
import { SeededRandom } from '../reference/random';
import type { InputSpec } from './inputSpec';
import { parseNpy } from './npy';
import type { HostTensor } from './runtime';

const DataType = onnx.TensorProto.DataType;

export interface ModelInput {
  name: string;
  /** onnx.TensorProto.DataType */
  elementType: number;
  /** Fixed sizes as numbers, symbolic ones as their name (or null when unnamed). */
  dims: Array<number | string | null>;
}

/** Graph inputs that are not initializers (older exporters list weights as inputs too). */
export function modelInputs(model: onnx.IModelProto): ModelInput[] {
  const graph = model.graph;
  if (!graph) return [];
  const initializers = new Set((graph.initializer ?? []).map((tensor) => tensor.name ?? ''));
  return (graph.input ?? []).filter((input) => !initializers.has(input.name ?? '')).map((input) => {
    const tensorType = input.type?.tensorType;
    const dims = (tensorType?.shape?.dim ?? []).map((dim) => {
      if (dim.dimValue !== undefined && dim.dimValue !== null && Number(dim.dimValue) > 0) return Number(dim.dimValue);
      return dim.dimParam ? dim.dimParam : null;
    });
    return { name: input.name ?? '', elementType: tensorType?.elemType ?? DataType.UNDEFINED, dims };
  });
}

function isIntegerType(elementType: number): boolean {
  return elementType === DataType.INT64 || elementType === DataType.INT32;
}

/** A tensor of `elementType` holding `values` (integers for integer types). */
export function tensorOf(elementType: number, values: ArrayLike<number>, dims: number[]): HostTensor {
  switch (elementType) {
    case DataType.INT64:
      return { type: 'int64', data: BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims };
    case DataType.INT32:
      return { type: 'int32', data: Int32Array.from(values), dims };
    case DataType.FLOAT:
      return { type: 'float32', data: Float32Array.from(values), dims };
    case DataType.BOOL:
      return { type: 'bool', data: Uint8Array.from(values), dims };
    case DataType.FLOAT16: {
      const data = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = floatToHalf(values[i]);
      return { type: 'float16', data, dims };
    }
    default:
      throw new UserFacingError(`Inputs of ONNX element type ${elementType} are not supported.`, 'Give this input as a float32 or int64 tensor.');
  }
}

function explicitTensor(input: ModelInput, spec: InputSpec): HostTensor {
  switch (spec.kind) {
    case 'ids':
      return tensorOf(input.elementType, spec.values, [1, spec.values.length]);
    case 'random': {
      const random = new SeededRandom(spec.seed);
      const count = spec.shape.reduce((product, dim) => product * dim, 1);
      const values = Array.from({ length: count }, () => (isIntegerType(input.elementType) ? Math.floor(random.next() * 100) : random.uniform(-1, 1)));
      return tensorOf(input.elementType, values, spec.shape);
    }
    case 'npy': {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(spec.path);
      } catch (error) {
        throw new UserFacingError(`Cannot read ${spec.path}: ${(error as Error).message}.`, 'Check the path given to --input.');
      }
      const array = parseNpy(bytes, spec.path);
      return tensorOf(input.elementType, array.values, array.shape);
    }
    default: {
      const unreachable: never = spec;
      throw new Error(`unknown input spec ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Which role a well-known input plays. */
type InputRole = 'ids' | 'decoder-ids' | 'mask' | 'mask-index' | 'decoder-mask' | 'token-types' | 'positions' | 'past' | 'use-cache';

/** The role of an input, from its name and, for token inputs, its integer element type. */
export function inputRole(name: string, elementType: number = DataType.INT64): InputRole | null {
  const lower = name.toLowerCase();
  const integer = isIntegerType(elementType);
  if (/mask_index/.test(lower)) return integer ? 'mask-index' : null;
  // Ids, token types and positions are integers; a float input named "input" is a hidden state.
  if (!integer && !/mask|past|cache/.test(lower)) return null;
  if (/^(past|past_key_values|cache)([._]|$)/.test(lower) || /^past_\d+$/.test(lower)) return 'past';
  if (/use_cache/.test(lower)) return 'use-cache';
  if (/^decoder_input_ids$|^decoder_ids$/.test(lower)) return 'decoder-ids';
  if (/^decoder_attention_mask$/.test(lower)) return 'decoder-mask';
  // Token types and positions end in "_ids" too: name them before the catch-all for ids.
  if (/token_type_ids|segment_ids|token_types/.test(lower)) return 'token-types';
  if (/position_ids|positions$/.test(lower)) return 'positions';
  if (/attention_mask|input_mask|^mask$/.test(lower)) return 'mask';
  if (/(^|_)(input_ids|ids|input)$|^input_ids|^tokens?$/.test(lower)) return 'ids';
  return null;
}

export interface FeedRequest {
  /** Ids of the first (encoder, or only) stream, already truncated. */
  ids: number[];
  /** 1 keep / 0 padding per id of `ids`. */
  keep: number[];
  /** Ids of the decoder stream of an encoder-decoder. */
  decoderIds?: number[];
  explicit: Record<string, InputSpec>;
}

/** The size a symbolic dimension takes for a past key/value input: batch 1, lengths 0. */
function pastDim(dim: number | string | null, index: number): number {
  if (typeof dim === 'number') return dim;
  const name = (dim ?? '').toLowerCase();
  if (/batch/.test(name) || (index === 0 && !/seq|len|past/.test(name))) return 1;
  return 0;
}

/** Builds every input's tensor, or throws listing the inputs that cannot be filled. */
export function buildFeeds(inputs: readonly ModelInput[], request: FeedRequest): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  const unfilled: string[] = [];
  // Ids given explicitly (--input input_ids=ids:...) size the mask, token types and positions.
  const explicitIds = inputs.map((input) => request.explicit[input.name]).find((spec, index) => spec?.kind === 'ids' && inputRole(inputs[index].name, inputs[index].elementType) === 'ids');
  if (explicitIds?.kind === 'ids' && request.ids.length === 0) {
    request = { ...request, ids: explicitIds.values, keep: explicitIds.values.map(() => 1) };
  }
  const length = request.ids.length;
  for (const input of inputs) {
    const spec = request.explicit[input.name];
    if (spec) {
      feeds[input.name] = explicitTensor(input, spec);
      continue;
    }
    switch (inputRole(input.name, input.elementType)) {
      case 'ids':
        feeds[input.name] = tensorOf(input.elementType, request.ids, [1, length]);
        break;
      case 'decoder-ids':
        if (!request.decoderIds) unfilled.push(`${input.name} (decoder input ids)`);
        else feeds[input.name] = tensorOf(input.elementType, request.decoderIds, [1, request.decoderIds.length]);
        break;
      case 'mask':
        feeds[input.name] = tensorOf(input.elementType, request.keep, [1, length]);
        break;
      case 'mask-index':
        // onnxruntime's 1-D mask_index: the number of real (unpadded) tokens per batch row.
        feeds[input.name] = tensorOf(input.elementType, [request.keep.filter(Boolean).length], [1]);
        break;
      case 'decoder-mask':
        feeds[input.name] = tensorOf(input.elementType, (request.decoderIds ?? []).map(() => 1), [1, request.decoderIds?.length ?? 0]);
        break;
      case 'token-types':
        feeds[input.name] = tensorOf(input.elementType, request.ids.map(() => 0), [1, length]);
        break;
      case 'positions':
        feeds[input.name] = tensorOf(input.elementType, request.ids.map((_, index) => index), [1, length]);
        break;
      case 'past': {
        const dims = input.dims.map(pastDim);
        feeds[input.name] = tensorOf(input.elementType, [], dims);
        break;
      }
      case 'use-cache':
        feeds[input.name] = tensorOf(input.elementType, [0], []);
        break;
      default:
        unfilled.push(`${input.name} (${DataType[input.elementType] ?? input.elementType} [${input.dims.map((d) => d ?? '?').join(', ')}])`);
    }
  }
  const misfits = inputs.filter((input) => feeds[input.name]).flatMap((input) => {
    const given = feeds[input.name].dims;
    const fits = given.length === input.dims.length && input.dims.every((dim, i) => typeof dim !== 'number' || dim === given[i]);
    return fits || input.dims.length === 0 ? [] : [`${input.name} must have shape [${input.dims.map((d) => d ?? '?').join(', ')}], got [${given.join(', ')}]`];
  });
  if (misfits.length > 0) {
    throw new UserFacingError(`The inputs do not fit the model's fixed sizes: ${misfits.join('; ')}.`, 'Give tensors of exactly those sizes (named sizes are free).');
  }
  if (unfilled.length > 0) {
    throw new UserFacingError(
      `This model has inputs Attention Lens cannot fill from text: ${unfilled.join(', ')}.`,
      'Give each one explicitly: --input NAME=ids:1,2,3, --input NAME=FILE.npy or --input NAME=random:D1xD2x... (setting "attentionLens.onnx.inputs" in VS Code).',
    );
  }
  return feeds;
}

/** A fixed sequence length of the ids input, when the model has one (TF exports often do). */
export function fixedSequenceLength(inputs: readonly ModelInput[]): number | null {
  const ids = inputs.find((input) => inputRole(input.name, input.elementType) === 'ids');
  const length = ids?.dims[1];
  return typeof length === 'number' ? length : null;
}
