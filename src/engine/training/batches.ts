/**
 * @file Seeded batches: windows of T + 1 consecutive ids from a token stream, the first T the
 * input and the last T the targets (each position predicts the next byte). Window starts are
 * uniform over the stream, drawn from a generator seeded by (seed, "batches"), so a seed fixes
 * every batch of a run.
 */
import type { BatchShape } from './model';
import { hashSeed, SeededRandom } from '../reference/random';

export interface Batch {
  /** [S · T] input ids. */
  ids: Int32Array;
  /** [S · T] the id that follows each input. */
  targets: Int32Array;
  shape: BatchShape;
}

/** Copies the windows starting at `starts` into a batch. */
export function batchFromWindows(stream: Uint16Array, starts: readonly number[], length: number): Batch {
  const ids = new Int32Array(starts.length * length);
  const targets = new Int32Array(starts.length * length);
  starts.forEach((start, sequence) => {
    if (start < 0 || start + length + 1 > stream.length) throw new Error(`window ${start}..${start + length} is outside the stream of ${stream.length}`);
    for (let t = 0; t < length; t++) {
      ids[sequence * length + t] = stream[start + t];
      targets[sequence * length + t] = stream[start + t + 1];
    }
  });
  return { ids, targets, shape: { sequences: starts.length, length } };
}

export class BatchSampler {
  private readonly random: SeededRandom;

  constructor(private readonly stream: Uint16Array, seed: number) {
    this.random = new SeededRandom(hashSeed(seed, 'batches'));
  }

  next(shape: BatchShape): Batch {
    const last = this.stream.length - shape.length - 1;
    const starts = Array.from({ length: shape.sequences }, () => Math.floor(this.random.next() * (last + 1)));
    return batchFromWindows(this.stream, starts, shape.length);
  }
}

/** Non-overlapping windows covering a stream from the start (evaluation); at most `limit` of them. */
export function evaluationWindows(stream: Uint16Array, length: number, limit = Infinity): number[] {
  const starts: number[] = [];
  for (let start = 0; start + length + 1 <= stream.length && starts.length < limit; start += length) starts.push(start);
  return starts;
}

/** A batch split into `count` shards of consecutive sequences (the first shards get the extra one). */
export function splitBatch(batch: Batch, count: number): Batch[] {
  const { sequences, length } = batch.shape;
  const shards: Batch[] = [];
  let first = 0;
  for (let shard = 0; shard < count; shard++) {
    const size = Math.floor(sequences / count) + (shard < sequences % count ? 1 : 0);
    if (size === 0) continue;
    shards.push({
      ids: batch.ids.slice(first * length, (first + size) * length),
      targets: batch.targets.slice(first * length, (first + size) * length),
      shape: { sequences: size, length },
    });
    first += size;
  }
  return shards;
}
