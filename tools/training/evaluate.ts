/**
 * @file Held-out loss and the unigram baseline it is compared with.
 *
 * Held-out loss: the held-out stream cut into non-overlapping windows of T + 1 ids, every position
 * of a window predicting the next id from the window's earlier ids; the mean −log p in nats per
 * byte (one id is one byte, or a </s> between files), and in bits per byte (÷ ln 2).
 *
 * Unigram baseline: p(id) = (count(id) + 1) / (N + V), counts from the training stream, add-one
 * smoothed over the V = 260 ids: what a model that ignores context entirely would score.
 */
import { neverCancelled } from '../../src/shared/errors';
import type { Transformer } from '../../src/engine/reference/transformer';
import { type Batch, batchFromWindows } from './batches';

export interface LossFigures {
  natsPerByte: number;
  bitsPerByte: number;
  /** Predicted positions the mean is over. */
  tokens: number;
}

export function lossFigures(natsPerByte: number, tokens: number): LossFigures {
  return { natsPerByte, bitsPerByte: natsPerByte / Math.LN2, tokens };
}

/** How often each of `vocab` ids occurs in the stream. */
export function unigramCounts(stream: Uint16Array, vocab: number): number[] {
  const counts = new Array<number>(vocab).fill(0);
  for (let i = 0; i < stream.length; i++) counts[stream[i]]++;
  return counts;
}

/** Mean −ln p(target) under the add-one-smoothed unigram of `counts`, over every target of the batches. */
export function unigramLoss(counts: readonly number[], batches: readonly Batch[]): LossFigures {
  const total = counts.reduce((sum, count) => sum + count, 0) + counts.length;
  let nats = 0;
  let tokens = 0;
  for (const batch of batches) {
    for (const target of batch.targets) {
      if (target < 0) continue;
      nats -= Math.log((counts[target] + 1) / total);
      tokens++;
    }
  }
  return lossFigures(nats / tokens, tokens);
}

/** The held-out windows as batches of at most `sequences` windows each. */
export function windowBatches(stream: Uint16Array, starts: readonly number[], length: number, sequences: number): Batch[] {
  const batches: Batch[] = [];
  for (let first = 0; first < starts.length; first += sequences) {
    batches.push(batchFromWindows(stream, starts.slice(first, first + sequences), length));
  }
  return batches;
}

/**
 * Mean −ln p(target) of the reference Transformer (float32, as the extension runs it) over the
 * windows of `batches`, each window run on its own: the check that the shipped file is the model.
 */
export function referenceLoss(transformer: Transformer, batches: readonly Batch[]): LossFigures {
  let nats = 0;
  let tokens = 0;
  for (const batch of batches) {
    const { sequences, length } = batch.shape;
    for (let sequence = 0; sequence < sequences; sequence++) {
      const ids = Array.from(batch.ids.subarray(sequence * length, (sequence + 1) * length));
      const hidden = transformer.forward({ decoderIds: ids }, neverCancelled).decoderOutput;
      if (!hidden) throw new Error('the model has no decoder');
      const logits = transformer.head.logits(hidden);
      const vocab = logits.cols;
      for (let position = 0; position < length; position++) {
        const target = batch.targets[sequence * length + position];
        if (target < 0) continue;
        const row = logits.data.subarray(position * vocab, (position + 1) * vocab);
        let max = -Infinity;
        for (const logit of row) max = Math.max(max, logit);
        let sum = 0;
        for (const logit of row) sum += Math.exp(logit - max);
        nats += Math.log(sum) + max - row[target];
        tokens++;
      }
    }
  }
  return lossFigures(nats / tokens, tokens);
}
