/**
 * @file The binary form of an AttentionTrace, for the worker → host → webview hops and for files.
 *
 * Layout (little-endian):
 *   0  "ALTR"                magic
 *   4  u32 version           TRACE_FORMAT_VERSION at write time
 *   8  u32 headerBytes       length of the UTF-8 JSON header that follows
 *   12 header JSON           the trace with every typed array replaced by {"$blob": i}, every
 *                            non-finite number (NaN, ±Infinity: a broken model's statistics) by
 *                            {"$number": "NaN" | "Infinity" | "-Infinity"}, plus
 *                            "$blobs": [{ dtype: "f32" | "u8", offset, length }] (offset from the data start)
 *      spaces               padding so the data starts at a multiple of 8
 *   .. data                  the arrays' bytes, each starting at a multiple of 8
 *
 * Everything else (tokens, notices, the predictions and logit lens as { id, text, prob } lists, the
 * ablation's per-position KL and per-block |Δ| statistics)
 * travels in the header as plain JSON.
 *
 * Decoding returns views into the given buffer when it is aligned (no copy of the attention data).
 */
import { type AttentionTrace, TRACE_FORMAT_VERSION } from './trace';

const MAGIC = 0x52544c41; // "ALTR" read as a little-endian u32
const PREAMBLE_BYTES = 12;

interface BlobEntry {
  dtype: 'f32' | 'u8';
  offset: number;
  length: number;
}

const align8 = (value: number): number => Math.ceil(value / 8) * 8;

export function encodeTrace(trace: AttentionTrace): Uint8Array {
  const arrays: Array<Float32Array | Uint8Array> = [];
  const entries: BlobEntry[] = [];
  let dataBytes = 0;
  const headerJson = JSON.stringify(trace, (_key, value: unknown) => {
    if (value instanceof Float32Array || value instanceof Uint8Array) {
      entries.push({ dtype: value instanceof Float32Array ? 'f32' : 'u8', offset: dataBytes, length: value.length });
      arrays.push(value);
      dataBytes = align8(dataBytes + value.byteLength);
      return { $blob: arrays.length - 1 };
    }
    // JSON would turn these into null, and a NaN statistic would arrive as "no value".
    if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
    return value;
  });
  // Splice the blob table in as the last member of the top-level object.
  const fullHeader = `${headerJson.slice(0, -1)},"$blobs":${JSON.stringify(entries)}}`;
  let headerBytes = new TextEncoder().encode(fullHeader);
  const dataStart = align8(PREAMBLE_BYTES + headerBytes.byteLength);
  const padded = new Uint8Array(dataStart - PREAMBLE_BYTES).fill(0x20);
  padded.set(headerBytes);
  headerBytes = padded;

  const out = new Uint8Array(dataStart + dataBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, TRACE_FORMAT_VERSION, true);
  view.setUint32(8, headerBytes.byteLength, true);
  out.set(headerBytes, PREAMBLE_BYTES);
  arrays.forEach((array, index) => {
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), dataStart + entries[index].offset);
  });
  return out;
}

function isBlobReference(value: unknown): value is { $blob: number } {
  return typeof value === 'object' && value !== null && typeof (value as { $blob?: unknown }).$blob === 'number';
}

const NON_FINITE: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

function nonFiniteNumber(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const text = (value as { $number?: unknown }).$number;
  return typeof text === 'string' && Object.keys(value).length === 1 && text in NON_FINITE ? NON_FINITE[text] : undefined;
}

export function decodeTrace(bytes: Uint8Array): AttentionTrace {
  if (bytes.byteLength < PREAMBLE_BYTES) throw new Error('not an Attention Lens trace: too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error('not an Attention Lens trace: bad magic');
  const version = view.getUint32(4, true);
  if (version !== TRACE_FORMAT_VERSION) {
    throw new Error(`trace format version ${version} is not supported (this build reads version ${TRACE_FORMAT_VERSION})`);
  }
  const headerLength = view.getUint32(8, true);
  const dataStart = PREAMBLE_BYTES + headerLength;
  if (dataStart > bytes.byteLength) throw new Error('trace is truncated (header runs past the end)');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, dataStart))) as { $blobs?: BlobEntry[] };
  const entries = header.$blobs;
  if (!Array.isArray(entries)) throw new Error('trace header has no blob table');
  // Views need 4-byte alignment of the absolute offset; copy once when the caller's buffer is not aligned.
  const aligned = (bytes.byteOffset + dataStart) % 8 === 0 ? bytes : bytes.slice();
  const base = aligned.byteOffset + dataStart;
  if (dataStart % 8 !== 0) throw new Error('trace header length breaks the 8-byte data alignment');
  const arrays = entries.map((entry, index) => {
    if (entry.dtype !== 'f32' && entry.dtype !== 'u8') throw new Error(`trace array ${index} has unknown dtype ${String(entry.dtype)}`);
    if (!Number.isInteger(entry.offset) || entry.offset < 0 || entry.offset % 8 !== 0 || !Number.isInteger(entry.length) || entry.length < 0) {
      throw new Error(`trace array ${index} has an invalid offset or length`);
    }
    const byteLength = entry.length * (entry.dtype === 'f32' ? 4 : 1);
    if (dataStart + entry.offset + byteLength > bytes.byteLength) throw new Error(`trace is truncated (array ${index} runs past the end)`);
    return entry.dtype === 'f32'
      ? new Float32Array(aligned.buffer, base + entry.offset, entry.length)
      : new Uint8Array(aligned.buffer, base + entry.offset, entry.length);
  });
  const revive = (value: unknown): unknown => {
    if (isBlobReference(value)) {
      const array = arrays[value.$blob];
      if (!array) throw new Error(`trace refers to missing array ${value.$blob}`);
      return array;
    }
    const number = nonFiniteNumber(value);
    if (number !== undefined) return number;
    if (Array.isArray(value)) return value.map(revive);
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, member] of Object.entries(value)) {
        if (key !== '$blobs') out[key] = revive(member);
      }
      return out;
    }
    return value;
  };
  return revive(header) as AttentionTrace;
}
