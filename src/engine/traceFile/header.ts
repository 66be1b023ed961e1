/**
 * @file The safetensors level of a trace file, checked before anything else is read: the header's
 * length against the file's, the header as a JSON object, every tensor's dtype and shape against its
 * byte length, and the offsets: from 0, contiguous, no overlap, ending exactly at the file's end (the
 * format forbids holes). Then the schema version, before the metadata is trusted. Each fault is a
 * UserFacingError with its own code (TRACE_FILE_ERROR_CODES) and the numbers.
 */
import { UserFacingError } from '../../shared/errors';
import { SCHEMA_KEY, META_KEY, TRACE_FILE_SCHEMA } from './format';

export const TRACE_FILE_ERROR_CODES = [
  'trace-file-not-safetensors', 'trace-file-header-too-long', 'trace-file-truncated', 'trace-file-bad-offsets', 'trace-file-bad-tensor',
  'trace-file-not-a-trace', 'trace-file-schema', 'trace-file-bad-metadata', 'trace-file-unreadable',
] as const;
export type TraceFileErrorCode = (typeof TRACE_FILE_ERROR_CODES)[number];

/** Headers of real traces are kilobytes to a few MB (the tokens); safetensors itself stops at 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

const DAMAGED_HINT = 'The file is damaged or was not written by Attention Lens: save the trace again (or write it again with scripts/attention_lens_dump.py).';

export function traceFileError(code: TraceFileErrorCode, file: string, what: string, facts: Record<string, string | number> = {}, hint = DAMAGED_HINT): UserFacingError {
  return new UserFacingError(`${file} cannot be opened as a trace: ${what}.`, hint, { code, facts: { file, ...facts } });
}

/** The safetensors dtypes and their element sizes (all of the format's, so any valid file parses). */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Offsets in the file (not in the data), end exclusive. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  /** Bytes before the data: 8 + the header's length. */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  /** The `attention_lens` metadata, still text. */
  metaText: string;
}

/** The header's length from the first 8 bytes, checked against the file's size before it is read. */
export function headerLength(first8: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8 || first8.byteLength < 8) throw traceFileError('trace-file-not-safetensors', file, `it has only ${fileBytes} bytes, fewer than a safetensors header's 8-byte length`, { fileBytes });
  const length = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  // Text where the length should be (a JSON trace, a note) is no safetensors file, whatever it claims.
  if (length > BigInt(fileBytes) && first8.every((byte) => byte >= 0x20 && byte < 0x7f)) {
    const text = String.fromCharCode(...first8);
    throw traceFileError('trace-file-not-safetensors', file, `it begins with text (${JSON.stringify(text)}), not with the 8-byte header length a safetensors file begins with${text.startsWith('{') ? ' (a JSON trace?)' : ''}`, { fileBytes });
  }
  if (length > BigInt(MAX_HEADER_BYTES)) {
    throw traceFileError('trace-file-header-too-long', file, `its header claims ${length} bytes, more than safetensors allows (${MAX_HEADER_BYTES})`, { headerBytes: Number(length), fileBytes });
  }
  if (8 + Number(length) > fileBytes) {
    throw traceFileError('trace-file-header-too-long', file, `its header claims ${length} bytes but the file has only ${fileBytes - 8} after the length`, { headerBytes: Number(length), fileBytes });
  }
  return Number(length);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** Parses and checks the header (the bytes after the length) of a file of `fileBytes` bytes. */
export function parseHeader(headerBytes: Uint8Array, fileBytes: number, file: string): ParsedHeader {
  const dataStart = 8 + headerBytes.byteLength;
  let header: unknown;
  try {
    // The format requires the JSON to start with '{'; text after it may be padded with spaces.
    if (headerBytes[0] !== 0x7b) throw new Error('no object');
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw traceFileError('trace-file-not-safetensors', file, 'its header is not a UTF-8 JSON object (not a safetensors file)', { fileBytes });
  }
  if (!isRecord(header)) throw traceFileError('trace-file-not-safetensors', file, 'its header is not a JSON object (not a safetensors file)', { fileBytes });
  const tensors = new Map<string, TensorEntry>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isRecord(entry)) throw traceFileError('trace-file-bad-tensor', file, `tensor "${name}" has no dtype, shape and data_offsets`, { tensor: name });
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !(dtype in ELEMENT_BYTES)) throw traceFileError('trace-file-bad-tensor', file, `tensor "${name}" has an unknown dtype ${JSON.stringify(dtype)}`, { tensor: name });
    if (!Array.isArray(shape) || !shape.every(isCount)) throw traceFileError('trace-file-bad-tensor', file, `tensor "${name}" has a malformed shape ${JSON.stringify(shape)}`, { tensor: name });
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw traceFileError('trace-file-bad-offsets', file, `tensor "${name}" has malformed data_offsets ${JSON.stringify(offsets)}`, { tensor: name });
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw traceFileError('trace-file-bad-offsets', file, `tensor "${name}" ends (byte ${end}) before it begins (byte ${begin})`, { tensor: name });
    const elements = (shape as number[]).reduce((product, dim) => product * dim, 1);
    const needed = elements * ELEMENT_BYTES[dtype];
    if (!Number.isSafeInteger(needed) || end - begin !== needed) {
      throw traceFileError('trace-file-bad-tensor', file, `tensor "${name}" has ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${needed}`, { tensor: name });
    }
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end });
  }
  checkOffsets([...tensors.values()], dataStart, fileBytes, file);
  return { dataStart, tensors, metaText: metadataText(header.__metadata__, file) };
}

/** Offsets from 0, contiguous and without overlap, covering the data exactly. */
function checkOffsets(entries: TensorEntry[], dataStart: number, fileBytes: number, file: string): void {
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = dataStart;
  for (const entry of sorted) {
    if (entry.begin < position) {
      const previous = sorted[sorted.indexOf(entry) - 1];
      throw traceFileError('trace-file-bad-offsets', file, `tensors "${previous?.name}" and "${entry.name}" overlap (data bytes ${entry.begin - dataStart}-${position - dataStart})`, { tensor: entry.name });
    }
    if (entry.begin > position) throw traceFileError('trace-file-bad-offsets', file, `data bytes ${position - dataStart}-${entry.begin - dataStart} before tensor "${entry.name}" belong to no tensor (safetensors allows no holes)`, { tensor: entry.name });
    position = entry.end;
  }
  if (position > fileBytes) {
    throw traceFileError('trace-file-truncated', file, `its tensors need ${position - dataStart} bytes of data but the file has ${fileBytes - dataStart} (it was cut short)`, { neededBytes: position, fileBytes });
  }
  if (position < fileBytes) throw traceFileError('trace-file-bad-offsets', file, `${fileBytes - position} bytes after the last tensor belong to no tensor`, { fileBytes });
}

/** The `attention_lens` text, after the schema version was found and matched. */
function metadataText(metadata: unknown, file: string): string {
  const values = isRecord(metadata) ? metadata : {};
  const schema = values[SCHEMA_KEY];
  const meta = values[META_KEY];
  if (schema === undefined && meta === undefined) {
    throw traceFileError('trace-file-not-a-trace', file, `it is a safetensors file without Attention Lens metadata ("${META_KEY}" in __metadata__): model weights, or another tool's tensors`, {},
      'Open a trace saved by Attention Lens or written by scripts/attention_lens_dump.py.');
  }
  if (schema !== String(TRACE_FILE_SCHEMA)) {
    const written = typeof schema === 'string' ? `schema ${schema}` : 'no schema version';
    throw traceFileError('trace-file-schema', file, `it was written with trace file ${written}, and this version of Attention Lens reads schema ${TRACE_FILE_SCHEMA}`,
      { schema: typeof schema === 'string' ? schema : '', expected: TRACE_FILE_SCHEMA },
      'Open it with the version of Attention Lens that wrote it, or write the trace again with this one.');
  }
  if (typeof meta !== 'string') throw traceFileError('trace-file-bad-metadata', file, `its __metadata__ has no "${META_KEY}" text`);
  return meta;
}
