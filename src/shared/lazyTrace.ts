/**
 * @file A trace whose blocks are read when asked for. It is what a trace file gives (a block is one
 * read at its offset), what a trace file and the JSON are written from (block by block), and what a
 * host holds when the trace stays where it was computed: the VS Code extension host keeps a big
 * run's trace in a temporary trace file and reads the blocks the panel shows, not all of them.
 *
 * Pure: it runs in the extension host, the CLI and the engine.
 */
import { type TraceOverview, traceOverview } from './protocol';
import type { AttentionBlock, AttentionTrace } from './trace';
import { blockToJson, traceToJson } from './traceJson';

/** A block without its arrays, saying which of the optional ones it has. */
export type LazyBlock = Omit<AttentionBlock, 'probs' | 'scores' | 'mask' | 'meanProbs' | 'valueWeighted'> & {
  hasScores: boolean;
  hasMask: boolean;
  hasMeanProbs: boolean;
  /** The block has value-weighted attention (absent: it has none, as in traces from before it existed). */
  hasValueWeighted?: boolean;
};

/** A trace whose blocks are read when asked for. */
export interface LazyTrace {
  /** The trace without attention, masks and scores (`blocks` is empty); residual and analysis are whole. */
  skeleton: AttentionTrace;
  /** Each block without its arrays, in order. */
  blocks: readonly LazyBlock[];
  /** Block `index` with its arrays. */
  readBlock(index: number): Promise<AttentionBlock>;
}

/** A block's description without its arrays. */
export function lazyBlock({ probs: _probs, scores, mask, meanProbs, valueWeighted, ...rest }: AttentionBlock): LazyBlock {
  return { ...rest, hasScores: scores !== undefined, hasMask: mask !== null, hasMeanProbs: meanProbs !== undefined, ...(valueWeighted ? { hasValueWeighted: true } : {}) };
}

/** How many [heads, queries, keys] float arrays a block holds: its weights, its scores, its value-weighted attention. */
export function lazyBlockArrays(block: LazyBlock): number {
  return 1 + (block.hasScores ? 1 : 0) + (block.hasValueWeighted ? 1 : 0);
}

/** A whole trace in memory as a LazyTrace. */
export function lazyTrace(trace: AttentionTrace): LazyTrace {
  return {
    skeleton: { ...trace, blocks: [] },
    blocks: trace.blocks.map(lazyBlock),
    readBlock: async (index) => {
      const block = trace.blocks[index];
      if (!block) throw new RangeError(`the trace has ${trace.blocks.length} blocks, not ${index + 1}`);
      return block;
    },
  };
}

/** The same blocks under another skeleton (the trace in a host's words: notices and diagnostics reworded). */
export function withSkeleton(trace: LazyTrace, skeleton: AttentionTrace): LazyTrace {
  return { skeleton: { ...skeleton, blocks: [] }, blocks: trace.blocks, readBlock: (index) => trace.readBlock(index) };
}

/** Bytes of attention (and scores and masks) the trace's blocks hold, as float32. */
export function lazyAttentionBytes(trace: LazyTrace): number {
  let bytes = 0;
  for (const block of trace.blocks) {
    const cells = block.heads * block.queries * block.keys;
    bytes += cells * 4 * lazyBlockArrays(block) + (block.hasMask ? block.queries * block.keys : 0);
  }
  return bytes;
}

/** The trace with every block in memory (for what needs them all: a report, a test). */
export async function wholeTrace(trace: LazyTrace): Promise<AttentionTrace> {
  const blocks: AttentionBlock[] = [];
  for (let index = 0; index < trace.blocks.length; index++) blocks.push(await trace.readBlock(index));
  return { ...trace.skeleton, blocks };
}

/**
 * What the panel lays out from: the trace without its arrays, as traceOverview (protocol.ts) makes
 * it from a whole trace (residual norms and rollout copied); the `has*` flags are dropped.
 */
export function lazyOverview(trace: LazyTrace): TraceOverview {
  return {
    ...traceOverview({ ...trace.skeleton, blocks: [] }),
    blocks: trace.blocks.map(({ hasScores: _scores, hasMask: _mask, hasMeanProbs: _mean, hasValueWeighted: _weighted, ...rest }) => rest),
  };
}

/**
 * Reads through a cache of the blocks read last, up to `maxBytes` of arrays: the panel asks again
 * for the block it shows (another head, a reloaded page, the editor's hover), and each read of a
 * big block from a file costs a read of tens of MB.
 */
export function cachedBlocks(trace: LazyTrace, maxBytes: number): LazyTrace {
  const cache = new Map<number, Promise<AttentionBlock>>();
  const sizes = new Map<number, number>();
  let held = 0;
  const readBlock = (index: number): Promise<AttentionBlock> => {
    const hit = cache.get(index);
    if (hit) {
      // Most recently used last: Map keeps insertion order.
      cache.delete(index);
      cache.set(index, hit);
      return hit;
    }
    const meta = trace.blocks[index];
    const size = meta ? meta.heads * meta.queries * meta.keys * 4 * ((meta.hasValueWeighted ? 2 : 1) + (meta.hasMeanProbs ? 1 / Math.max(1, meta.heads) : 0)) : 0;
    const reading = trace.readBlock(index);
    if (size > maxBytes) return reading;
    cache.set(index, reading);
    sizes.set(index, size);
    held += size;
    // A failed read is not kept: the next request tries again.
    reading.catch(() => {
      if (cache.get(index) === reading) {
        cache.delete(index);
        held -= sizes.get(index) ?? 0;
        sizes.delete(index);
      }
    });
    for (const [oldest] of cache) {
      if (held <= maxBytes || oldest === index) break;
      cache.delete(oldest);
      held -= sizes.get(oldest) ?? 0;
      sizes.delete(oldest);
    }
    return reading;
  };
  return { skeleton: trace.skeleton, blocks: trace.blocks, readBlock };
}

/**
 * The trace's JSON (traceJson.ts) in pieces, one block at a time as each is read, so a long trace's
 * blocks are never all in memory together and never one giant string.
 */
export async function* lazyTraceJsonPieces(trace: LazyTrace): AsyncGenerator<string> {
  const text = JSON.stringify(traceToJson(trace.skeleton));
  // Inside strings every quote is escaped, so the first exact match is the key itself.
  const marker = '"blocks":[]';
  const at = text.indexOf(marker);
  yield `${text.slice(0, at)}"blocks":[`;
  for (let index = 0; index < trace.blocks.length; index++) {
    yield `${index > 0 ? ',' : ''}${JSON.stringify(blockToJson(await trace.readBlock(index)))}`;
  }
  yield `]${text.slice(at + marker.length)}\n`;
}
