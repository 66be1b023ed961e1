/**
 * @file Reads NumPy .npy files (format 1.0-3.0, C order) for explicit model inputs, e.g. an image
 * tensor for a vision encoder. Values are widened to float64 numbers; the caller casts them.
 */
import { UserFacingError } from '../../shared/errors';

export interface NpyArray {
  shape: number[];
  values: Float64Array;
}

const READERS: Record<string, { bytes: number; read(view: DataView, offset: number): number }> = {
  '<f4': { bytes: 4, read: (view, offset) => view.getFloat32(offset, true) },
  '<f8': { bytes: 8, read: (view, offset) => view.getFloat64(offset, true) },
  '<i4': { bytes: 4, read: (view, offset) => view.getInt32(offset, true) },
  '<i8': { bytes: 8, read: (view, offset) => Number(view.getBigInt64(offset, true)) },
  '<u4': { bytes: 4, read: (view, offset) => view.getUint32(offset, true) },
  '|u1': { bytes: 1, read: (view, offset) => view.getUint8(offset) },
  '|i1': { bytes: 1, read: (view, offset) => view.getInt8(offset) },
  '|b1': { bytes: 1, read: (view, offset) => view.getUint8(offset) },
};

/**
 * @param maxElements refuse arrays with more elements, before allocating them (the caller's memory
 *        budget: a header may claim any shape)
 */
export function parseNpy(bytes: Uint8Array, origin: string, maxElements = Number.MAX_SAFE_INTEGER): NpyArray {
  const invalid = (what: string): UserFacingError =>
    new UserFacingError(`${origin} is not a readable .npy file: ${what}.`, 'Save the array with numpy.save (little-endian, C order).', { code: 'bad-npy', facts: { path: origin } });
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((byte, i) => bytes[i] !== byte)) throw invalid('no NumPy magic bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  if (headerStart + headerLength > bytes.length) throw invalid('the header runs past the end');
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw invalid('its header has no descr, fortran_order or shape');
  if (fortran === 'True') throw invalid('Fortran-ordered arrays are not supported');
  const reader = READERS[descr];
  if (!reader) throw invalid(`dtype ${descr} is not supported (use float32, float64, int32, int64, uint8 or bool)`);
  const shape = shapeText.split(',').map((part) => part.trim()).filter((part) => part.length > 0).map(Number);
  if (shape.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) throw invalid(`its shape (${shapeText.trim()}) is not a list of sizes ≥ 0`);
  const count = shape.reduce((product, dim) => product * dim, 1);
  if (count > maxElements) throw invalid(`shape (${shape.join(', ')}) has ${count} elements, more than ${maxElements} an input may have`);
  const dataStart = headerStart + headerLength;
  if (dataStart + count * reader.bytes > bytes.length) throw invalid(`shape (${shape.join(', ')}) needs more data than the file has`);
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = reader.read(view, dataStart + i * reader.bytes);
  return { shape, values };
}
