/**
 * @file Seeded batches: windows of T + 1 consecutive ids from a token stream, the first T the
 * input and the last T the targets (each position predicts the next byte). Window starts are
 * uniform over the stream, and a given share of windows are synthetic (repeated random segments),
 * all drawn from one generator seeded by (seed, "batches"), so a seed fixes every batch of a run.
 */
import { hashSeed, SeededRandom } from '../../src/engine/reference/random';
import { BYTE_ID_OFFSET } from '../../src/engine/tokenizers/bytes';

/**
 * The shape of a batch: S sequences of T tokens. Defined here with the batches, not in model.ts:
 * model.ts imports attentionSupervision.ts, which needs this type, and would otherwise close a cycle.
 */
export interface BatchShape {
  sequences: number;
  /** T: tokens per sequence. */
  length: number;
}

export interface Batch {
  /** [S · T] input ids. */
  ids: Int32Array;
  /** [S · T] the id that follows each input. */
  targets: Int32Array;
  shape: BatchShape;
  /** [S] 1 where the sequence is synthetic (repeatedSegmentsWindow), 0 for corpus text. */
  synthetic: Uint8Array;
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
  return { ids, targets, shape: { sequences: starts.length, length }, synthetic: new Uint8Array(starts.length) };
}

/** Printable ASCII with the space: the alphabet of the synthetic repeated segments. */
const FIRST_PRINTABLE = 32;
const PRINTABLE_COUNT = 95;

/**
 * A synthetic window of `size` ids: random printable characters in segments of 4-64, each segment
 * written twice in a row. Only an induction mechanism predicts the second copy (find the earlier
 * occurrence of the current character, read what followed it), so a minority of these windows
 * rewards forming previous-token and induction heads, which natural text alone forms slowly.
 */
export function repeatedSegmentsWindow(random: SeededRandom, size: number): Uint16Array {
  const window = new Uint16Array(size);
  let at = 0;
  while (at < size) {
    const length = 4 + Math.floor(random.next() * 61);
    const segment = Array.from({ length }, () => BYTE_ID_OFFSET + FIRST_PRINTABLE + Math.floor(random.next() * PRINTABLE_COUNT));
    for (let copy = 0; copy < 2; copy++) {
      for (let i = 0; i < length && at < size; i++) window[at++] = segment[i];
    }
  }
  return window;
}

export class BatchSampler {
  private readonly random: SeededRandom;

  /** @param syntheticShare the probability of each sequence being a repeatedSegmentsWindow (0: none) */
  constructor(private readonly stream: Uint16Array, seed: number, private readonly syntheticShare = 0) {
    this.random = new SeededRandom(hashSeed(seed, 'batches'));
  }

  next(shape: BatchShape): Batch {
    const last = this.stream.length - shape.length - 1;
    const ids = new Int32Array(shape.sequences * shape.length);
    const targets = new Int32Array(shape.sequences * shape.length);
    const flags = new Uint8Array(shape.sequences);
    for (let sequence = 0; sequence < shape.sequences; sequence++) {
      const synthetic = this.syntheticShare > 0 && this.random.next() < this.syntheticShare;
      flags[sequence] = synthetic ? 1 : 0;
      const source = synthetic ? repeatedSegmentsWindow(this.random, shape.length + 1) : this.stream;
      const start = synthetic ? 0 : Math.floor(this.random.next() * (last + 1));
      for (let t = 0; t < shape.length; t++) {
        ids[sequence * shape.length + t] = source[start + t];
        targets[sequence * shape.length + t] = source[start + t + 1];
      }
    }
    return { ids, targets, shape: { ...shape }, synthetic: flags };
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
      synthetic: batch.synthetic.slice(first, first + size),
    });
    first += size;
  }
  return shards;
}
