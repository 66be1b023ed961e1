/**
 * @file Opening a trace file lazily: the header is read and checked (header.ts, meta.ts) against the
 * file's size taken from the open descriptor, the small tensors (residual norms, head statistics,
 * rollout) are read at once, and a block's attention, mask and scores only when it is asked for,
 * each by one read at its offset. Nothing is read past the end the file had when it was opened; a
 * file that shrank since then is reported as truncated.
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { TRACE_FORMAT_VERSION, type AttentionBlock, type AttentionTrace, type ResidualStep } from '../../shared/trace';
import type { HeadStats, TraceAnalysis } from '../../shared/analysis';
import { headMatrix } from '../../shared/colorLimits';
import { checkRegularFile, openError } from '../safeRead';
import { decodeHalf } from './f16';
import { lazyBlockArrays } from '../../shared/lazyTrace';
import { type BlockMeta, HEAD_STAT_COLUMNS, type LazyBlock, type LazyTrace, type TraceFileMeta } from './format';
import { headerLength, parseHeader, type TensorEntry, traceFileError } from './header';
import { parseTraceMeta } from './meta';

const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
/** The largest array Node allocates (buffer.constants.MAX_LENGTH on 64-bit machines). */
const MAX_TENSOR_BYTES = 2 ** 32;

export interface OpenTraceOptions {
  /** Blocks are read on demand: this bounds only `readTrace`, the whole trace at once (bytes of attention). */
  maxTraceBytes?: number;
}

/** A trace file, open: its trace without blocks at once, each block when asked for. */
export class TraceFile implements LazyTrace {
  private constructor(
    private readonly handle: FileHandle,
    readonly file: string,
    /** The file's size when it was opened. */
    readonly fileBytes: number,
    private readonly tensors: ReadonlyMap<string, TensorEntry>,
    private readonly meta: TraceFileMeta,
    readonly skeleton: AttentionTrace,
    readonly blocks: readonly LazyBlock[],
  ) {}

  /** Opens and checks `file`; faults are UserFacingErrors with a trace-file-* code. */
  static async open(file: string): Promise<TraceFile> {
    const limits = { maxBytes: Number.MAX_SAFE_INTEGER, what: 'the trace file' };
    let handle: FileHandle;
    try {
      handle = await open(file, OPEN_FLAGS);
    } catch (error) {
      throw openError(error, file, limits);
    }
    try {
      const info: Stats = await handle.stat();
      checkRegularFile(info, file, limits);
      const size = info.size;
      const first = await readAt(handle, 0, Math.min(8, size), file);
      const length = headerLength(first, size, file);
      const header = parseHeader(await readAt(handle, 8, length, file), size, file);
      const meta = parseTraceMeta(header.metaText, header.tensors, file);
      const reader = new TraceFile(handle, file, size, header.tensors, meta, { ...emptyTrace(), blocks: [] }, blocksOf(meta));
      await reader.readSkeleton();
      return reader;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Block `index` with its attention (widened to float32 from F16), mask and scores. */
  async readBlock(index: number): Promise<AttentionBlock> {
    const meta = this.meta.blocks[index];
    if (!meta) throw new RangeError(`trace file ${this.file} has ${this.meta.blocks.length} blocks, not ${index + 1}`);
    const { tensors, meanProbs: hadMean, ...rest } = meta;
    const probs = await this.readFloats(tensors.attention);
    const block: AttentionBlock = {
      ...rest,
      probs,
      ...(tensors.scores !== undefined ? { scores: await this.readFloats(tensors.scores) } : {}),
      ...(tensors.valueWeighted !== undefined ? { valueWeighted: await this.readFloats(tensors.valueWeighted) } : {}),
      mask: tensors.mask !== undefined ? (await this.readTensor(tensors.mask)) as Uint8Array : null,
    };
    // The mean of heads is not stored: it is computed as the engine computes it (explain.ts).
    if (hadMean) block.meanProbs = headMatrix(probs, block.heads, block.queries, block.keys, 'mean');
    return block;
  }

  /** The whole trace in memory, for small files; refused past `maxTraceBytes` of attention. */
  async readTrace(options: OpenTraceOptions = {}): Promise<AttentionTrace> {
    const bytes = this.blocks.reduce((sum, block) => sum + block.heads * block.queries * block.keys * 4 * lazyBlockArrays(block), 0);
    const limit = options.maxTraceBytes ?? Number.POSITIVE_INFINITY;
    if (bytes > limit) {
      throw traceFileError('trace-file-unreadable', this.file, `its attention takes ${(bytes / 2 ** 20).toFixed(0)} MB in memory, over the ${(limit / 2 ** 20).toFixed(0)} MB limit for reading it whole`,
        { traceMB: Math.ceil(bytes / 2 ** 20) }, 'Read it a block at a time, or raise the trace limit if the machine has the memory.');
    }
    const blocks: AttentionBlock[] = [];
    for (let index = 0; index < this.blocks.length; index++) blocks.push(await this.readBlock(index));
    return { ...this.skeleton, blocks };
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  /** Residual norms, head statistics and rollout: small, read at once. */
  private async readSkeleton(): Promise<void> {
    const { blocks: _b, residual: residualMeta, analysis: analysisMeta, ...top } = this.meta;
    const residual: ResidualStep[] = [];
    for (const { tensor, ...step } of residualMeta) residual.push({ ...step, norms: await this.readFloats(tensor) });
    let analysis: TraceAnalysis | undefined;
    if (analysisMeta) {
      const { headStatsColumns: _c, rollout: rolloutMeta, ...rest } = analysisMeta;
      const headStats: HeadStats[] = [];
      for (const [blockIndex, block] of this.meta.blocks.entries()) {
        if (block.tensors.headStats === undefined) continue;
        const rows = await this.readTensor(block.tensors.headStats) as Float64Array;
        for (let head = 0; head < block.heads; head++) headStats.push(headStatsRow(block, blockIndex, head, rows));
      }
      const rollout: TraceAnalysis['rollout'] = [];
      for (const entry of rolloutMeta) rollout.push({ stream: entry.stream, tokens: entry.tokens, values: await this.readFloats(entry.tensor) });
      analysis = { ...rest, headStats, rollout };
    }
    Object.assign(this.skeleton, { ...top, residual, ...(analysis ? { analysis } : {}) });
  }

  private async readFloats(name: string): Promise<Float32Array> {
    return (await this.readTensor(name)) as Float32Array;
  }

  /** One tensor, read at its offset; F16 widened to float32. */
  private async readTensor(name: string): Promise<Float32Array | Float64Array | Uint8Array> {
    const entry = this.tensors.get(name);
    if (!entry) throw new Error(`trace file: no tensor ${name}`); // meta.ts checked every name
    const bytes = await readAt(this.handle, entry.begin, entry.end - entry.begin, this.file, this.fileBytes);
    switch (entry.dtype) {
      case 'F16':
        return decodeHalf(bytes);
      case 'F32':
        return littleEndianArray(bytes, 4) as Float32Array;
      case 'F64':
        return littleEndianArray(bytes, 8) as Float64Array;
      default:
        return bytes;
    }
  }
}

/** One head's statistics from its row of `head_stats.N` (NaN induction: no row counted). */
function headStatsRow(block: BlockMeta, blockIndex: number, head: number, rows: Float64Array): HeadStats {
  const at = (column: (typeof HEAD_STAT_COLUMNS)[number]): number => rows[head * HEAD_STAT_COLUMNS.length + HEAD_STAT_COLUMNS.indexOf(column)];
  const induction = at('induction');
  return {
    blockIndex, layer: block.layer, kind: block.kind, head,
    entropy: at('entropy'), minEntropy: at('minEntropy'), meanDistance: at('meanDistance'), prevToken: at('prevToken'), sink: at('sink'), diagonal: at('diagonal'),
    induction: Number.isNaN(induction) ? null : induction,
  };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The values of little-endian bytes read into a buffer of their own (readAt): on a little-endian
 * machine a view of those bytes, no copy (a block of a long input is 50 MB: copying it value by
 * value would hold the host's thread for a tenth of a second); elsewhere swapped into a new array.
 */
function littleEndianArray(bytes: Uint8Array, size: 4 | 8): Float32Array | Float64Array {
  const count = bytes.byteLength / size;
  if (LITTLE_ENDIAN && bytes.byteOffset % size === 0) {
    return size === 4 ? new Float32Array(bytes.buffer, bytes.byteOffset, count) : new Float64Array(bytes.buffer, bytes.byteOffset, count);
  }
  const out = size === 4 ? new Float32Array(count) : new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = size === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
  return out;
}

function blocksOf(meta: TraceFileMeta): LazyBlock[] {
  return meta.blocks.map(({ tensors, meanProbs, ...rest }) => ({
    ...rest, hasScores: tensors.scores !== undefined, hasMask: tensors.mask !== undefined, hasMeanProbs: meanProbs === true, ...(tensors.valueWeighted !== undefined ? { hasValueWeighted: true } : {}),
  }));
}

function emptyTrace(): Omit<AttentionTrace, 'blocks'> {
  return { formatVersion: TRACE_FORMAT_VERSION, model: { name: '', kind: 'decoder', source: 'onnx', encoderLayers: 0, decoderLayers: 0, heads: 0, dModel: null, tokenizer: '' }, backend: 'reference', streams: [], residual: [], timings: [], truncation: [], notices: [], createdAt: '' };
}

/**
 * Reads exactly `length` bytes at `position`, never past `limit` (the size at open): a file cut
 * short since then is truncated, not read as zeros.
 */
async function readAt(handle: FileHandle, position: number, length: number, file: string, limit = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
  if (position + length > limit) throw traceFileError('trace-file-truncated', file, `it needs bytes up to ${position + length} but has ${limit}`);
  if (length > MAX_TENSOR_BYTES) throw traceFileError('trace-file-unreadable', file, `one tensor of ${length} bytes is more than Node can read at once (${MAX_TENSOR_BYTES})`);
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw traceFileError('trace-file-truncated', file, `it ended at byte ${position + done}, before the ${position + length} its header promised (it was cut short while open)`);
    done += bytesRead;
  }
  return out;
}
