/**
 * @file The blocks of one run the panel has received, and those it has asked for: each block's
 * probabilities as they arrived, with what the panel derives from them on first use (a head's or
 * the mean's matrix with its colour limit, leak and blocked-cell counts). One cache per run; it
 * keeps every block of its run (a run's blocks are what the host already holds, so nothing is
 * evicted). Pure.
 */
import type { BlockColorLimits } from '../src/shared/analysis';
import type { BlockOverview } from '../src/shared/protocol';
import { countBlocked, countLeaks, expectedMask, headMatrix, headMatrixWithLimit, type HeadChoice, type LeakCount } from './attention';

/** A [queries, keys] matrix as the heatmap paints it, with where its colour scale tops out. */
export interface HeadMatrix {
  weights: Float32Array;
  max: number;
  clipped: boolean;
}

/** One block's data as received, with what the panel derived from it. */
export interface BlockData {
  /** [heads, queries, keys] */
  probs: Float32Array;
  /** [queries, keys] what the block must not see (expectedMask, its sliding window included), 1 allowed; null: nothing masked. */
  mask: Uint8Array | null;
  /** [queries, keys] the engine's mean over heads, when it sent one. */
  mean: Float32Array | null;
  /** Leaks and blocked cells, counted on first use (null until then: see BlockCache.counts). */
  leaks: LeakCount | null;
  blocked: number | null;
  /** [queries, keys] matrices per head choice, computed on first use. */
  matrices: Map<HeadChoice, HeadMatrix>;
}

export interface BlockCounts {
  leaks: LeakCount;
  blocked: number;
}

export class BlockCache {
  private readonly received = new Map<number, BlockData>();
  private readonly pending = new Set<number>();

  /**
   * @param blocks the run's blocks (shapes, kinds).
   * @param colorLimits the engine's colour limits per block (analysis.colorLimits), when it sent them.
   */
  constructor(private readonly blocks: readonly BlockOverview[], private readonly colorLimits: readonly BlockColorLimits[] | undefined) {}

  get(blockIndex: number): BlockData | undefined {
    return this.received.get(blockIndex);
  }

  isPending(blockIndex: number): boolean {
    return this.pending.has(blockIndex);
  }

  /** True when a request for the block should go out (neither received nor asked for); it is then pending. */
  startRequest(blockIndex: number): boolean {
    if (this.received.has(blockIndex) || this.pending.has(blockIndex)) return false;
    this.pending.add(blockIndex);
    return true;
  }

  /**
   * Keeps a reply; false when the run has no such block or the arrays have the wrong shape (a reply
   * of the wrong shape would draw garbage: the block stays unloaded, and may be asked for again).
   */
  store(blockIndex: number, probs: Float32Array, mask: Uint8Array | null, mean: Float32Array | null): boolean {
    const block = this.blocks[blockIndex];
    if (!block) return false;
    this.pending.delete(blockIndex);
    const size = block.queries * block.keys;
    if (probs.length !== block.heads * size || (mask !== null && mask.length !== size)) return false;
    // Judge (and hatch) by what the block must not see, not only by the mask the model applied.
    const expected = expectedMask(block.kind, mask, block.queries, block.keys, block.slidingWindow);
    const engineMean = mean !== null && mean.length === size ? mean : null;
    this.received.set(blockIndex, { probs, mask: expected, mean: engineMean, leaks: null, blocked: null, matrices: new Map() });
    return true;
  }

  /** Leaks (every head's masked cells) and blocked cells of a received block, counted on first use. */
  counts(blockIndex: number): BlockCounts | null {
    const data = this.received.get(blockIndex);
    const block = this.blocks[blockIndex];
    if (!data || !block) return null;
    if (data.leaks === null || data.blocked === null) {
      data.leaks = countLeaks(data.probs, data.mask, block.heads, block.queries, block.keys);
      data.blocked = countBlocked(data.mask);
    }
    return { leaks: data.leaks, blocked: data.blocked };
  }

  /** The counts if they were counted already, else null (nothing is counted). */
  countedSoFar(blockIndex: number): BlockCounts | null {
    const data = this.received.get(blockIndex);
    return data && data.leaks !== null && data.blocked !== null ? { leaks: data.leaks, blocked: data.blocked } : null;
  }

  /** A head's (or the mean's) [queries, keys] matrix of a received block, computed on first use. */
  matrix(blockIndex: number, head: HeadChoice): HeadMatrix | null {
    const data = this.received.get(blockIndex);
    const block = this.blocks[blockIndex];
    if (!data || !block) return null;
    let matrix = data.matrices.get(head);
    if (!matrix) {
      // The engine's limits (analysis.colorLimits) spare a 1024² block two scans before it is painted.
      const limits = this.colorLimits?.[blockIndex];
      const known = limits ? (head === 'mean' ? limits.mean : limits.heads[head]) : undefined;
      matrix = known && typeof known.max === 'number' && typeof known.clipped === 'boolean'
        ? { weights: head === 'mean' && data.mean ? data.mean : headMatrix(data.probs, block.heads, block.queries, block.keys, head), max: known.max, clipped: known.clipped }
        : headMatrixWithLimit(data.probs, block.heads, block.queries, block.keys, head, data.mask);
      data.matrices.set(head, matrix);
    }
    return matrix;
  }
}
