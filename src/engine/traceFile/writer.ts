/**
 * @file Writing a trace file (format.ts): the header first (every tensor's shape is known from the
 * blocks' sizes before any is read), then each tensor's bytes as its own piece, block by block, so
 * a trace is never concatenated into one buffer; the file is written atomically (atomicFile.ts).
 */
import { endianness } from 'node:os';
import { writeFileAtomic } from '../atomicFile';
import type { HeadStats } from '../../shared/analysis';
import type { AttentionBlock } from '../../shared/trace';
import { encodeHalf } from './f16';
import {
  type AnalysisMeta, type BlockMeta, DTYPE_BYTES, DTYPE_ORDER, HEAD_STAT_COLUMNS, headStatRow, type LazyTrace, META_KEY, type ResidualMeta,
  SCHEMA_KEY, type TensorDtype, tensorNames, TRACE_FILE_SCHEMA, type TraceFileMeta,
} from './format';

export interface TraceFileOptions {
  /** Attention as F16 (half the size; weights within 2^-11 relative, ≥ 6e-8 absolute). Default F32. */
  half?: boolean;
  signal?: AbortSignal;
}

/** One tensor of the file: its entry, and how to make its bytes when their turn comes. */
interface PlannedTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  bytes: () => Promise<Uint8Array>;
}

const littleEndian = endianness() === 'LE';

/** The bytes of a typed array as stored (little-endian): a view where the machine is little-endian. */
function rawBytes(values: Float32Array | Float64Array | Uint8Array): Uint8Array {
  if (littleEndian || values instanceof Uint8Array) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  const size = values.BYTES_PER_ELEMENT;
  for (let i = 0; i < values.length; i++) {
    if (size === 8) view.setFloat64(i * 8, values[i], true);
    else view.setFloat32(i * 4, values[i], true);
  }
  return out;
}

/** JSON that keeps NaN and ±Infinity (a broken model's statistics) as { "$number": "NaN" }. */
export function metaJson(meta: unknown): string {
  return JSON.stringify(meta, (_key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
    if (ArrayBuffer.isView(value)) throw new Error('trace file: an array was left in the metadata (a new trace field needs its tensor)');
    return value;
  });
}

/** Caches one block at a time, since a block's attention, scores and mask are separate tensors. */
function blockReader(trace: LazyTrace): (index: number) => Promise<AttentionBlock> {
  let cached: { index: number; block: Promise<AttentionBlock> } | null = null;
  return (index) => {
    if (cached?.index !== index) cached = { index, block: trace.readBlock(index) };
    return cached.block;
  };
}

/** Every tensor and the metadata, from a trace whose blocks are read when written. */
function plan(trace: LazyTrace, half: boolean): { tensors: PlannedTensor[]; meta: TraceFileMeta } {
  const tensors: PlannedTensor[] = [];
  const read = blockReader(trace);
  const { skeleton } = trace;
  const statsByBlock = new Map<number, HeadStats[]>();
  for (const stats of skeleton.analysis?.headStats ?? []) {
    const list = statsByBlock.get(stats.blockIndex) ?? [];
    list.push(stats);
    statsByBlock.set(stats.blockIndex, list);
  }
  const blocks: BlockMeta[] = trace.blocks.map((block, index) => {
    const cells = block.heads * block.queries * block.keys;
    const names: BlockMeta['tensors'] = { attention: tensorNames.attention(index) };
    tensors.push({
      name: names.attention, dtype: half ? 'F16' : 'F32', shape: [block.heads, block.queries, block.keys],
      bytes: async () => {
        const probs = (await read(index)).probs;
        if (probs.length !== cells) throw new Error(`block ${index}: ${probs.length} weights for [${block.heads}, ${block.queries}, ${block.keys}]`);
        return half ? encodeHalf(probs) : rawBytes(probs);
      },
    });
    if (block.hasScores) {
      names.scores = tensorNames.scores(index);
      tensors.push({ name: names.scores, dtype: 'F32', shape: [block.heads, block.queries, block.keys], bytes: async () => rawBytes((await read(index)).scores ?? new Float32Array(cells)) });
    }
    if (block.hasValueWeighted) {
      // Stored like the attention (F16 with --half): the same kind of values, of the same size.
      names.valueWeighted = tensorNames.valueWeighted(index);
      tensors.push({
        name: names.valueWeighted, dtype: half ? 'F16' : 'F32', shape: [block.heads, block.queries, block.keys],
        bytes: async () => {
          const weighted = (await read(index)).valueWeighted;
          if (weighted?.length !== cells) throw new Error(`block ${index}: its value-weighted attention has ${weighted?.length ?? 0} values for [${block.heads}, ${block.queries}, ${block.keys}]`);
          return half ? encodeHalf(weighted) : rawBytes(weighted);
        },
      });
    }
    if (block.hasMask) {
      names.mask = tensorNames.mask(index);
      tensors.push({ name: names.mask, dtype: 'U8', shape: [block.queries, block.keys], bytes: async () => rawBytes((await read(index)).mask ?? new Uint8Array(block.queries * block.keys).fill(1)) });
    }
    const stats = (statsByBlock.get(index) ?? []).sort((a, b) => a.head - b.head);
    if (stats.length === block.heads && stats.every((row, head) => row.head === head)) {
      names.headStats = tensorNames.headStats(index);
      tensors.push({ name: names.headStats, dtype: 'F64', shape: [block.heads, HEAD_STAT_COLUMNS.length], bytes: async () => rawBytes(new Float64Array(stats.flatMap(headStatRow))) });
    }
    const { hasScores: _s, hasMask: _m, hasMeanProbs, hasValueWeighted: _v, ...rest } = block;
    return { ...rest, tensors: names, ...(hasMeanProbs ? { meanProbs: true } : {}) };
  });
  const residual: ResidualMeta[] = skeleton.residual.map(({ norms, ...step }, index) => {
    const name = tensorNames.residual(index);
    tensors.push({ name, dtype: 'F32', shape: [norms.length], bytes: async () => rawBytes(norms) });
    return { ...step, tensor: name };
  });
  let analysis: AnalysisMeta | undefined;
  if (skeleton.analysis) {
    const { headStats: _h, rollout, ...rest } = skeleton.analysis;
    analysis = {
      ...rest,
      headStatsColumns: HEAD_STAT_COLUMNS,
      rollout: rollout.map((entry) => {
        const name = tensorNames.rollout(entry.stream);
        tensors.push({ name, dtype: 'F32', shape: [entry.tokens, entry.tokens], bytes: async () => rawBytes(entry.values) });
        return { stream: entry.stream, tokens: entry.tokens, tensor: name };
      }),
    };
  }
  const { blocks: _b, residual: _r, analysis: _a, ...top } = skeleton;
  return { tensors, meta: { ...top, blocks, residual, ...(analysis ? { analysis } : {}) } };
}

/** The header: tensors in layout order with their offsets, then the metadata; padded to 8 bytes. */
function header(tensors: PlannedTensor[], meta: TraceFileMeta): { bytes: Uint8Array; ordered: PlannedTensor[]; dataBytes: number } {
  const ordered = DTYPE_ORDER.flatMap((dtype) => tensors.filter((tensor) => tensor.dtype === dtype));
  const entries: Record<string, unknown> = { __metadata__: { [SCHEMA_KEY]: String(TRACE_FILE_SCHEMA), [META_KEY]: metaJson(meta) } };
  let offset = 0;
  for (const tensor of ordered) {
    const length = tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BYTES[tensor.dtype];
    entries[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  const text = JSON.stringify(entries);
  const length = Buffer.byteLength(text, 'utf8');
  const padded = Math.ceil((8 + length) / 8) * 8 - 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  Buffer.from(bytes.buffer, bytes.byteOffset + 8, length).write(text, 'utf8');
  return { bytes, ordered, dataBytes: offset };
}

/** The file's pieces: the header, then each tensor's bytes in order (each made when it is written). */
export async function* traceFilePieces(trace: LazyTrace, options: TraceFileOptions = {}): AsyncGenerator<Uint8Array> {
  const { tensors, meta } = plan(trace, options.half ?? false);
  const { bytes, ordered } = header(tensors, meta);
  yield bytes;
  for (const tensor of ordered) {
    const data = await tensor.bytes();
    const expected = tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BYTES[tensor.dtype];
    if (data.byteLength !== expected) throw new Error(`trace file: ${tensor.name} has ${data.byteLength} bytes, its entry says ${expected}`);
    yield data;
  }
}

/** Writes the trace to `file` atomically; returns its size in bytes. */
export function writeTraceFile(file: string, trace: LazyTrace, options: TraceFileOptions = {}): Promise<number> {
  return writeFileAtomic(file, traceFilePieces(trace, options), { signal: options.signal, what: 'the trace' });
}
