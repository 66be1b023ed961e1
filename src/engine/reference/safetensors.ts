/**
 * @file Reading and writing the safetensors format (https://github.com/huggingface/safetensors).
 *
 * Layout: 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {string: string} }`,
 * then the raw little-endian tensor bytes, offsets relative to the end of the header.
 * It is simple enough that a hand-written reader beats a dependency; every offset is checked.
 */
import { UserFacingError } from '../../shared/errors';
import { bfloat16ToFloat, halfToFloat } from '../half';

export { halfToFloat } from '../half';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface SafetensorsTensor {
  /** Values widened to float32. */
  values: Float32Array;
  shape: number[];
  /** The dtype stored in the file. */
  dtype: SafetensorsDtype;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Headers are a few kB in practice; refuse absurd sizes before allocating. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function invalid(origin: string, what: string): UserFacingError {
  return new UserFacingError(
    `${origin} is not a valid safetensors file: ${what}.`,
    'Check that the file was written by a safetensors writer and was not truncated.',
  );
}

function decodeValues(bytes: Uint8Array, dtype: SafetensorsDtype, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) values[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) values[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) values[i] = bfloat16ToFloat(view.getUint16(i * 2, true));
      break;
    default: {
      const unreachable: never = dtype;
      throw new Error(`unsupported dtype ${String(unreachable)}`);
    }
  }
  return values;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a whole file held in memory. `origin` names it in error messages. */
export function parseSafetensors(bytes: Uint8Array, origin = 'the weights file'): SafetensorsFile {
  if (bytes.byteLength < 8) throw invalid(origin, `it has only ${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) {
    throw invalid(origin, `its header claims ${headerLength} bytes but the file has ${bytes.byteLength}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw invalid(origin, 'its header is not UTF-8 JSON');
  }
  if (!isRecord(header)) throw invalid(origin, 'its header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, SafetensorsTensor>();
  const metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (isRecord(entry)) {
        for (const [key, value] of Object.entries(entry)) {
          if (typeof value === 'string') metadata[key] = value;
        }
      }
      continue;
    }
    if (!isRecord(entry)) throw invalid(origin, `entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !(dtype in BYTES_PER_ELEMENT)) {
      throw invalid(origin, `tensor "${name}" has dtype ${String(dtype)}; supported: F32, F16, BF16, F64`);
    }
    if (!Array.isArray(shape) || !shape.every((dim) => Number.isInteger(dim) && dim >= 0)) {
      throw invalid(origin, `tensor "${name}" has a malformed shape`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw invalid(origin, `tensor "${name}" has malformed data_offsets`);
    }
    const typedDtype = dtype as SafetensorsDtype;
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((product, dim) => product * dim, 1);
    if (end < begin || end > data.byteLength) {
      throw invalid(origin, `tensor "${name}" points outside the file (bytes ${begin}-${end} of ${data.byteLength})`);
    }
    if (end - begin !== count * BYTES_PER_ELEMENT[typedDtype]) {
      throw invalid(origin, `tensor "${name}" has ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] needs ${count * BYTES_PER_ELEMENT[typedDtype]}`);
    }
    tensors.set(name, { values: decodeValues(data.subarray(begin, end), typedDtype, count), shape: shape as number[], dtype: typedDtype });
  }
  return { tensors, metadata };
}

/** Writes float32 tensors (in the order given) with optional string metadata. */
export function serializeSafetensors(
  tensors: ReadonlyArray<{ name: string; shape: readonly number[]; values: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const tensor of tensors) {
    const count = tensor.shape.reduce((product, dim) => product * dim, 1);
    if (count !== tensor.values.length) {
      throw new Error(`tensor ${tensor.name}: shape [${tensor.shape.join(', ')}] does not match ${tensor.values.length} values`);
    }
    header[tensor.name] = { dtype: 'F32', shape: [...tensor.shape], data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  const padding = (8 - ((8 + headerBytes.byteLength) % 8)) % 8;
  if (padding > 0) {
    headerBytes = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padding));
  }
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const tensor of tensors) {
    for (let i = 0; i < tensor.values.length; i++) {
      view.setFloat32(position + i * 4, tensor.values[i], true);
    }
    position += tensor.values.length * 4;
  }
  return out;
}
