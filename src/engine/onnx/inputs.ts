/**
 * @file Feeding an arbitrary ONNX model: discover its inputs, fill the ones a Transformer export
 * usually has (input_ids, attention_mask, token_type_ids, position_ids, decoder_input_ids, empty
 * past key/values, use_cache flags) from the token streams, and take explicit tensors for the rest
 * (`ids:1,2,3`, a .npy file, or `random:2x3x4`; see inputSpec.ts). An input nothing can fill is an
 * error that lists it.
 */
export { type InputSpec, parseInputSpec } from './inputSpec';
import { onnx } from 'onnx-proto';
import { optionRef, UserFacingError } from '../../shared/errors';
import { floatToHalf } from '../half';
import { SeededRandom } from '../reference/random';
import { readRegularFileSync } from '../safeRead';
import type { InputSpec } from './inputSpec';
import { type MaskConvention, ONES_KEEP } from './maskConvention';
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

/** Bytes per element of the element types an input can be fed as. */
const ELEMENT_BYTES: Readonly<Record<number, number>> = {
  [DataType.INT64]: 8, [DataType.INT32]: 4, [DataType.FLOAT]: 4, [DataType.BOOL]: 1, [DataType.FLOAT16]: 2,
};

/**
 * The largest tensor one input may take. ONNX Runtime Web holds at most 4 GiB in all (weights,
 * activations and inputs), so an input of a gigabyte is already far past what a run can hold.
 */
export const MAX_INPUT_BYTES = 2 ** 30;

/** The range of ids an integer input can hold exactly (int64 ids travel as JavaScript numbers). */
function integerRange(elementType: number): { low: number; high: number } {
  return elementType === DataType.INT32 ? { low: -(2 ** 31), high: 2 ** 31 - 1 } : { low: Number.MIN_SAFE_INTEGER, high: Number.MAX_SAFE_INTEGER };
}

/** Refuses a tensor whose size passes MAX_INPUT_BYTES, before anything is allocated. */
export function checkInputSize(name: string, elementType: number, dims: readonly number[]): void {
  const elements = dims.reduce((product, dim) => product * dim, 1);
  const bytes = elements * (ELEMENT_BYTES[elementType] ?? 8);
  if (!(bytes <= MAX_INPUT_BYTES)) {
    throw new UserFacingError(
      `The input "${name}" would take ${formatBytes(bytes)} (shape [${dims.join(', ')}], ${elements} elements), over the ${MAX_INPUT_BYTES / 2 ** 20} MB one input may have.`,
      `Give a smaller shape in ${optionRef('inputs')}.`,
      { code: 'input-too-big', facts: { input: name, elements, limitMB: MAX_INPUT_BYTES / 2 ** 20 } },
    );
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 40 ? `${(bytes / 2 ** 40).toFixed(1)} TB` : bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${(bytes / 2 ** 20).toFixed(0)} MB`;
}

/** Integer inputs take integers in their type's range: NaN, 1.5 or 2^63 would wrap or round silently. */
function checkIntegers(name: string, elementType: number, values: ArrayLike<number>): void {
  const { low, high } = integerRange(elementType);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isInteger(value) || value < low || value > high) {
      const type = elementType === DataType.INT32 ? 'int32' : 'int64';
      throw new UserFacingError(
        `The input "${name}" is ${type}, but value ${i} is ${String(value)}${Number.isInteger(value) ? ', outside the range it can hold exactly' : ', not a whole number'}.`,
        `Give whole numbers from ${low} to ${high} for ${name}.`,
        { code: 'bad-input-value', facts: { input: name, index: i, value: String(value) } },
      );
    }
  }
}

/** A tensor of `elementType` holding `values` (integers for integer types, checked). */
export function tensorOf(elementType: number, values: ArrayLike<number>, dims: number[], name = 'input'): HostTensor {
  checkInputSize(name, elementType, dims);
  switch (elementType) {
    case DataType.INT64: {
      checkIntegers(name, elementType, values);
      const data = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
      return { type: 'int64', data, dims };
    }
    case DataType.INT32:
      checkIntegers(name, elementType, values);
      return { type: 'int32', data: Int32Array.from(values), dims };
    case DataType.FLOAT:
      return { type: 'float32', data: Float32Array.from(values), dims };
    case DataType.BOOL:
      return { type: 'bool', data: Uint8Array.from(values, (value) => (value ? 1 : 0)), dims };
    case DataType.FLOAT16: {
      const data = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = floatToHalf(values[i]);
      return { type: 'float16', data, dims };
    }
    default:
      throw new UserFacingError(
        `The input "${name}" has ONNX element type ${DataType[elementType] ?? elementType}, which Attention Lens cannot fill.`,
        'Re-export the model with float32, float16, int64, int32 or bool inputs.',
        { code: 'unsupported-input-type', facts: { input: name, elementType } },
      );
  }
}

/**
 * The shape an `ids:` list takes: the input's declared rank, with the ids along the last axis and
 * every other axis 1 (a batch of one). `[batch]` (ONNX Runtime's 1-D mask_index) gets `[n]`,
 * `[batch, sequence]` gets `[1, n]`, a scalar takes exactly one value.
 */
export function idsShape(input: ModelInput, count: number): number[] {
  const rank = input.dims.length;
  if (rank === 0) {
    if (count !== 1) {
      throw new UserFacingError(`The input "${input.name}" is a scalar, but ${count} values were given.`, `Give one value: ids:N.`, { code: 'bad-input-value', facts: { input: input.name } });
    }
    return [];
  }
  return [...Array.from({ length: rank - 1 }, () => 1), count];
}

/** Elements a `random:` or `.npy` input may have before it passes MAX_INPUT_BYTES. */
function maxElements(elementType: number): number {
  return Math.floor(MAX_INPUT_BYTES / (ELEMENT_BYTES[elementType] ?? 8));
}

/** The largest input file read (.npy): the input ceiling plus room for its header. */
const MAX_NPY_BYTES = MAX_INPUT_BYTES * 2 + 65536;

/**
 * A mask input's tensor: every real key kept and every padding key blocked, in the mask's own
 * convention (maskConvention.ts). `[batch, keys]` masks get `[1, n]`; masks of rank 3 or 4
 * (`[batch, 1, queries, keys]`, as Megatron writes) get their declared shape, fixed sizes kept, with
 * one row per query. `causal` also blocks each query's later keys.
 */
export function maskTensor(input: ModelInput, keep: readonly number[], convention: MaskConvention, causal = false): HostTensor {
  const n = keep.length;
  const rank = input.dims.length;
  const value = (query: number, key: number): number => (keep[key] && (!causal || key <= query) ? convention.keep : convention.block);
  if (rank <= 2) {
    if (causal) {
      throw new UserFacingError(`The input "${input.name}" is a [batch, keys] mask: it cannot hold a causal mask.`, `Leave ${input.name} to be filled, or give it as a .npy file.`, { code: 'bad-input-value', facts: { input: input.name } });
    }
    return tensorOf(input.elementType, keep.map((kept) => (kept ? convention.keep : convention.block)), [1, n], input.name);
  }
  const dims = input.dims.map((dim, axis) => {
    if (axis === rank - 1) return n;
    if (axis === rank - 2 && dim !== 1) return n;
    return axis === 0 ? 1 : typeof dim === 'number' ? dim : 1;
  });
  const queries = dims[rank - 2];
  const total = dims.reduce((product, dim) => product * dim, 1);
  checkInputSize(input.name, input.elementType, dims);
  const values = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    const key = i % n;
    const query = queries === 1 ? n - 1 : Math.floor(i / n) % queries;
    values[i] = value(query, key);
  }
  return tensorOf(input.elementType, values, dims, input.name);
}

function explicitTensor(input: ModelInput, spec: Exclude<InputSpec, { kind: 'causal' }>): HostTensor {
  switch (spec.kind) {
    case 'ids':
      return tensorOf(input.elementType, spec.values, idsShape(input, spec.values.length), input.name);
    case 'random': {
      checkInputSize(input.name, input.elementType, spec.shape);
      const random = new SeededRandom(spec.seed);
      const count = spec.shape.reduce((product, dim) => product * dim, 1);
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) values[i] = isIntegerType(input.elementType) ? Math.floor(random.next() * 100) : random.uniform(-1, 1);
      return tensorOf(input.elementType, values, spec.shape, input.name);
    }
    case 'npy': {
      const bytes = readRegularFileSync(spec.path, { maxBytes: MAX_NPY_BYTES, what: `the .npy file for input "${input.name}"`, option: 'inputs' });
      const array = parseNpy(bytes, spec.path, maxElements(input.elementType));
      return tensorOf(input.elementType, array.values, array.shape, input.name);
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
  /** Per mask input, the values that keep and block a key (TapPlan.maskConventions); default 1 / 0. */
  maskConventions?: Record<string, MaskConvention>;
  /** Rows of the token embedding, when the graph shows it: token ids must be below it. */
  vocabularySize?: number | null;
}

/** Explicit values for names the model does not have would be ignored silently: refuse them. */
export function checkExplicitNames(inputs: readonly ModelInput[], explicit: Record<string, InputSpec>): void {
  const names = new Set(inputs.map((input) => input.name));
  const unknown = Object.keys(explicit).filter((name) => !names.has(name));
  if (unknown.length > 0) {
    const list = inputs.map((input) => `${input.name} (${DataType[input.elementType] ?? input.elementType} [${input.dims.map((d) => d ?? '?').join(', ')}])`).join(', ');
    throw new UserFacingError(
      `This model has no input named ${unknown.map((name) => `"${name}"`).join(', ')}; its inputs are ${list || 'none'}.`,
      `Give values only for the model's own inputs in ${optionRef('inputs')}.`,
      { code: 'unknown-input', facts: { inputs: unknown.join(',') } },
    );
  }
}

/** Token ids index the embedding: a negative id, or one past its rows, reads memory that is not a token. */
function checkTokenIds(name: string, ids: readonly number[], vocabularySize: number | null | undefined): void {
  const bad = ids.findIndex((id) => id < 0 || (vocabularySize != null && id >= vocabularySize));
  if (bad >= 0) {
    const range = vocabularySize != null ? `0 to ${vocabularySize - 1} (the model's embedding has ${vocabularySize} rows)` : 'from 0 up';
    throw new UserFacingError(
      `Token id ${ids[bad]} (position ${bad} of "${name}") is not a token of this model: ids run ${range}.`,
      `Give ids in that range in ${optionRef('inputs')}, or use the tokenizer the model was trained with.`,
      { code: 'bad-token-id', facts: { input: name, position: bad, id: ids[bad] } },
    );
  }
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
  checkExplicitNames(inputs, request.explicit);
  for (const input of inputs) {
    const spec = request.explicit[input.name];
    const role = inputRole(input.name, input.elementType);
    if (spec?.kind === 'ids' && (role === 'ids' || role === 'decoder-ids')) checkTokenIds(input.name, spec.values, request.vocabularySize);
  }
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
    const convention = request.maskConventions?.[input.name] ?? ONES_KEEP;
    if (spec?.kind === 'causal') {
      const role = inputRole(input.name, input.elementType);
      if (role !== 'mask' && role !== 'decoder-mask') {
        throw new UserFacingError(`"causal" fills a mask input, but "${input.name}" is not one.`, `Give ${input.name} as ids:, random: or a .npy file.`, { code: 'bad-input-value', facts: { input: input.name } });
      }
      feeds[input.name] = maskTensor(input, role === 'mask' ? request.keep : (request.decoderIds ?? []).map(() => 1), convention, true);
      continue;
    }
    if (spec) {
      feeds[input.name] = explicitTensor(input, spec);
      continue;
    }
    switch (inputRole(input.name, input.elementType)) {
      case 'ids':
        feeds[input.name] = tensorOf(input.elementType, request.ids, [1, length], input.name);
        break;
      case 'decoder-ids':
        if (!request.decoderIds) unfilled.push(`${input.name} (decoder input ids)`);
        else feeds[input.name] = tensorOf(input.elementType, request.decoderIds, [1, request.decoderIds.length], input.name);
        break;
      case 'mask':
        feeds[input.name] = maskTensor(input, request.keep, convention);
        break;
      case 'mask-index':
        // onnxruntime's 1-D mask_index: the number of real (unpadded) tokens per batch row.
        feeds[input.name] = tensorOf(input.elementType, [request.keep.filter(Boolean).length], [1], input.name);
        break;
      case 'decoder-mask':
        feeds[input.name] = maskTensor(input, (request.decoderIds ?? []).map(() => 1), convention);
        break;
      case 'token-types':
        feeds[input.name] = tensorOf(input.elementType, request.ids.map(() => 0), [1, length], input.name);
        break;
      case 'positions':
        feeds[input.name] = tensorOf(input.elementType, request.ids.map((_, index) => index), [1, length], input.name);
        break;
      case 'past': {
        const dims = input.dims.map(pastDim);
        feeds[input.name] = tensorOf(input.elementType, [], dims, input.name);
        break;
      }
      case 'use-cache':
        feeds[input.name] = tensorOf(input.elementType, [0], [], input.name);
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
    throw new UserFacingError(`The inputs do not fit the model's fixed sizes: ${misfits.join('; ')}.`, 'Give tensors of exactly those sizes (named sizes are free).', { code: 'input-shape-mismatch' });
  }
  if (unfilled.length > 0) {
    throw new UserFacingError(
      `This model has inputs Attention Lens cannot fill from text: ${unfilled.join(', ')}.`,
      `Give each one explicitly with ${optionRef('inputs')}: ids:1,2,3, a .npy file, or random:D1xD2x...`,
      { code: 'unfilled-inputs', facts: { inputs: unfilled.join(', ') } },
    );
  }
  return feeds;
}

/**
 * A fixed sequence length, when the model has one: the ids input's (TensorFlow exports often fix
 * it), or a mask input's last axis (Megatron writes attention_mask [batch, 1, 64, 64]).
 */
export function fixedSequenceLength(inputs: readonly ModelInput[]): number | null {
  const ids = inputs.find((input) => inputRole(input.name, input.elementType) === 'ids');
  const length = ids?.dims[1];
  if (typeof length === 'number') return length;
  for (const input of inputs) {
    if (inputRole(input.name, input.elementType) !== 'mask' || input.dims.length < 2) continue;
    const last = input.dims[input.dims.length - 1];
    if (typeof last === 'number' && last > 1) return last;
  }
  return null;
}

/** The feeds a session takes: a session of a cut-down graph may have fewer inputs than the model. */
export function feedsFor(session: { inputNames: readonly string[] }, feeds: Record<string, HostTensor>): Record<string, HostTensor> {
  return Object.fromEntries(session.inputNames.filter((name) => name in feeds).map((name) => [name, feeds[name]]));
}
