/**
 * @file Measuring what the heads of a decoder learned, on the reference model itself: run
 * `Transformer.forward` on ids, wrap the attention blocks in an AttentionTrace, and read the
 * previous-token and induction scores of analysis/headStats.ts.
 *
 * The induction probe is the usual one (Olsson et al. 2022): a random sequence repeated, so that in
 * the second copy every token's successor is predictable only by finding the token's earlier
 * occurrence and attending to what followed it.
 */
import { computeHeadStats } from '../../src/engine/analysis/headStats';
import type { HeadStats } from '../../src/shared/analysis';
import { neverCancelled } from '../../src/shared/errors';
import { hashSeed, SeededRandom } from '../../src/engine/reference/random';
import type { Transformer } from '../../src/engine/reference/transformer';
import { BYTE_ID_OFFSET } from '../../src/engine/tokenizers/bytes';
import { type AttentionTrace, type Token, TRACE_FORMAT_VERSION } from '../../src/shared/trace';

/** A decoder's trace on byte ids, with one token per id (the statistics need only the ids). */
export function decoderTrace(transformer: Transformer, ids: readonly number[]): AttentionTrace {
  const output = transformer.forward({ decoderIds: ids }, neverCancelled);
  const tokens: Token[] = ids.map((id, index) => {
    const text = id >= BYTE_ID_OFFSET ? String.fromCharCode(id - BYTE_ID_OFFSET) : '';
    return { id, text, piece: text, start: index, end: index + 1, special: id < BYTE_ID_OFFSET };
  });
  const config = transformer.config;
  return {
    formatVersion: TRACE_FORMAT_VERSION,
    model: {
      name: 'trained decoder', kind: config.kind, source: 'builtin', encoderLayers: config.encoderLayers,
      decoderLayers: config.decoderLayers, heads: config.heads, dModel: config.dModel, tokenizer: 'bytes',
    },
    backend: 'reference',
    streams: [{ name: 'decoder', text: tokens.map((token) => token.text).join(''), origin: 'selection', tokens }],
    blocks: output.blocks,
    residual: output.residual,
    timings: [],
    truncation: [],
    notices: [],
    createdAt: new Date(0).toISOString(),
  };
}

/** `length` random printable ASCII characters (33-126), then the same again, as byte ids. */
export function repeatedRandomIds(seed: number, length: number): number[] {
  const random = new SeededRandom(hashSeed(seed, 'induction probe'));
  const half = Array.from({ length }, () => BYTE_ID_OFFSET + 33 + Math.floor(random.next() * 94));
  return [...half, ...half];
}

export interface HeadScore {
  layer: number;
  head: number;
  score: number;
}

/** The head with the highest value of `statistic` (NaN and null count as lowest). */
export function bestHead(stats: readonly HeadStats[], statistic: 'prevToken' | 'induction'): HeadScore {
  let best: HeadScore = { layer: -1, head: -1, score: Number.NEGATIVE_INFINITY };
  for (const head of stats) {
    const score = head[statistic];
    if (score !== null && Number.isFinite(score) && score > best.score) best = { layer: head.layer, head: head.head, score };
  }
  return best;
}

/** Best previous-token head on `ids` and best induction head on a repeated random sequence. */
export function probeHeads(transformer: Transformer, naturalIds: readonly number[], inductionSeed = 0, inductionLength = 50): { previousToken: HeadScore; induction: HeadScore } {
  return {
    previousToken: bestHead(computeHeadStats(decoderTrace(transformer, naturalIds)), 'prevToken'),
    induction: bestHead(computeHeadStats(decoderTrace(transformer, repeatedRandomIds(inductionSeed, inductionLength))), 'induction'),
  };
}
