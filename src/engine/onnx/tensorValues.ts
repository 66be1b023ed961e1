/**
 * @file Tensor contents: reading a TensorProto's values as numbers (from `rawData` or whichever of
 * the typed fields holds them), making constant tensors, and the tensor a Constant node holds in any
 * of its attribute forms. With model.ts, the only place that reads protobufjs's tensor fields.
 */
import { onnx } from 'onnx-proto';
import { bfloat16ToFloat, floatToHalf, halfToFloat } from '../half';
import { UserFacingError } from '../../shared/errors';
import { attrFloat, attrInt, attrInts, attrTensor, ElemType, hasAttribute, type NodeProto, type TensorProto, toNumber } from './model';

export function tensorDims(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((dim) => toNumber(dim));
}

function elementCount(dims: number[]): number {
  return dims.reduce((product, dim) => product * dim, 1);
}

/** Bytes per element of the types whose values can sit in `rawData` as fixed-width numbers. */
const ELEMENT_BYTES: Record<number, number> = {
  [ElemType.FLOAT]: 4,
  [ElemType.UINT8]: 1,
  [ElemType.INT8]: 1,
  [ElemType.UINT16]: 2,
  [ElemType.INT16]: 2,
  [ElemType.INT32]: 4,
  [ElemType.INT64]: 8,
  [ElemType.BOOL]: 1,
  [ElemType.FLOAT16]: 2,
  [ElemType.DOUBLE]: 8,
  [ElemType.UINT32]: 4,
  [ElemType.UINT64]: 8,
  [ElemType.BFLOAT16]: 2,
};

/**
 * The most values tensorValues reads: graph analysis needs axes, shapes, scales and masks, never whole
 * weight matrices, and a corrupted shape must not make it allocate gigabytes.
 */
const MAX_READ_VALUES = 1 << 22;

/** A tensor whose stored bytes cannot be what its header says: the file is damaged. */
function malformedTensor(tensor: TensorProto, why: string): UserFacingError {
  return new UserFacingError(
    `The model's tensor "${tensor.name || '(unnamed)'}" is malformed: ${why}. The file is damaged or was written by a broken exporter.`,
    'Copy or download the model again, or export it again from its framework.',
  );
}

/**
 * A tensor's values as numbers (int64 beyond 2^53 loses precision; bool as 0/1; fp16/bf16 widened).
 * Undefined for external data, strings, other types a graph analysis never needs to read, and tensors
 * of more than MAX_READ_VALUES values. A tensor whose shape is impossible (negative dims) or whose raw
 * bytes do not match its shape and type is a UserFacingError.
 */
export function tensorValues(tensor: TensorProto): Float64Array | undefined {
  if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    return undefined;
  }
  const dims = tensorDims(tensor);
  if (dims.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) {
    throw malformedTensor(tensor, `its shape [${dims.join(', ')}] has a negative or impossible dimension`);
  }
  const count = elementCount(dims);
  const raw = tensor.rawData && tensor.rawData.byteLength > 0 ? tensor.rawData : null;
  const type = tensor.dataType ?? 0;
  if (raw) {
    const size = ELEMENT_BYTES[type];
    if (size === undefined) {
      return undefined;
    }
    if (raw.byteLength !== count * size) {
      throw malformedTensor(tensor, `it holds ${raw.byteLength} bytes, but ${count} values of element type ${type} (shape [${dims.join(', ')}]) take ${count * size}`);
    }
  }
  if (!Number.isSafeInteger(count) || count > MAX_READ_VALUES) {
    return undefined;
  }
  const out = new Float64Array(count);
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const read = rawReader(type, view);
    if (!read) {
      return undefined;
    }
    for (let i = 0; i < count; i++) {
      out[i] = read(i);
    }
    return out;
  }
  // Typed fields: float_data (FLOAT, COMPLEX64), int32_data (INT32 and every narrower type, incl. FLOAT16 bits),
  // int64_data, double_data, uint64_data.
  switch (type) {
    case ElemType.FLOAT:
      copyInto(out, tensor.floatData ?? []);
      return out;
    case ElemType.DOUBLE:
      copyInto(out, tensor.doubleData ?? []);
      return out;
    case ElemType.INT64:
      copyInto(out, (tensor.int64Data ?? []).map((value) => toNumber(value)));
      return out;
    case ElemType.UINT32:
    case ElemType.UINT64:
      copyInto(out, (tensor.uint64Data ?? []).map((value) => toNumber(value)));
      return out;
    case ElemType.FLOAT16:
      copyInto(out, (tensor.int32Data ?? []).map(halfToFloat));
      return out;
    case ElemType.BFLOAT16:
      copyInto(out, (tensor.int32Data ?? []).map(bfloat16ToFloat));
      return out;
    case ElemType.INT32:
    case ElemType.INT16:
    case ElemType.INT8:
    case ElemType.UINT16:
    case ElemType.UINT8:
    case ElemType.BOOL:
      copyInto(out, tensor.int32Data ?? []);
      return out;
    default:
      return undefined;
  }
}

function copyInto(out: Float64Array, values: ArrayLike<number>): void {
  // A scalar stored once for a larger shape would be malformed; copy what is there.
  for (let i = 0; i < Math.min(out.length, values.length); i++) {
    out[i] = values[i] ?? 0;
  }
}

function rawReader(type: number, view: DataView): ((index: number) => number) | undefined {
  switch (type) {
    case ElemType.FLOAT:
      return (i) => view.getFloat32(i * 4, true);
    case ElemType.DOUBLE:
      return (i) => view.getFloat64(i * 8, true);
    case ElemType.FLOAT16:
      return (i) => halfToFloat(view.getUint16(i * 2, true));
    case ElemType.BFLOAT16:
      return (i) => bfloat16ToFloat(view.getUint16(i * 2, true));
    case ElemType.INT64:
      return (i) => Number(view.getBigInt64(i * 8, true));
    case ElemType.UINT64:
      return (i) => Number(view.getBigUint64(i * 8, true));
    case ElemType.INT32:
      return (i) => view.getInt32(i * 4, true);
    case ElemType.UINT32:
      return (i) => view.getUint32(i * 4, true);
    case ElemType.INT16:
      return (i) => view.getInt16(i * 2, true);
    case ElemType.UINT16:
      return (i) => view.getUint16(i * 2, true);
    case ElemType.INT8:
      return (i) => view.getInt8(i);
    case ElemType.UINT8:
    case ElemType.BOOL:
      return (i) => view.getUint8(i);
    default:
      return undefined;
  }
}

/** A constant tensor with its values in `rawData`. Types: FLOAT, FLOAT16, DOUBLE, INT64, INT32, BOOL. */
export function makeTensor(name: string, dataType: number, dims: number[], values: ArrayLike<number>): TensorProto {
  const count = elementCount(dims);
  if (values.length !== count) {
    throw new Error(`makeTensor ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
  }
  let raw: Uint8Array;
  switch (dataType) {
    case ElemType.FLOAT:
      raw = new Uint8Array(Float32Array.from(values).buffer);
      break;
    case ElemType.DOUBLE:
      raw = new Uint8Array(Float64Array.from(values).buffer);
      break;
    case ElemType.FLOAT16:
      raw = new Uint8Array(Uint16Array.from(Array.from(values, floatToHalf)).buffer);
      break;
    case ElemType.INT64:
      raw = new Uint8Array(BigInt64Array.from(Array.from(values, (value) => BigInt(Math.trunc(value)))).buffer);
      break;
    case ElemType.INT32:
      raw = new Uint8Array(Int32Array.from(values).buffer);
      break;
    case ElemType.BOOL:
    case ElemType.UINT8:
      raw = Uint8Array.from(values, (value) => (dataType === ElemType.BOOL ? (value ? 1 : 0) : value));
      break;
    default:
      throw new Error(`makeTensor ${name}: unsupported element type ${dataType}`);
  }
  return new onnx.TensorProto({ name, dataType, dims, rawData: raw });
}

/** The tensor of a Constant node, from whichever attribute form it uses. */
export function constantNodeTensor(node: NodeProto): TensorProto | undefined {
  const tensor = attrTensor(node, 'value');
  if (tensor) {
    return tensor;
  }
  if (hasAttribute(node, 'value_float')) {
    return makeTensor('', ElemType.FLOAT, [], [attrFloat(node, 'value_float') ?? 0]);
  }
  if (hasAttribute(node, 'value_int')) {
    return makeTensor('', ElemType.INT64, [], [attrInt(node, 'value_int') ?? 0]);
  }
  const ints = attrInts(node, 'value_ints');
  if (ints) {
    return makeTensor('', ElemType.INT64, [ints.length], ints);
  }
  const floats = (node.attribute ?? []).find((attribute) => attribute.name === 'value_floats')?.floats;
  if (floats) {
    return makeTensor('', ElemType.FLOAT, [floats.length], floats);
  }
  return undefined;
}
