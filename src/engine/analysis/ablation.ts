/**
 * @file Head ablation, what both backends share: which blocks the heads asked for are in, the KL
 * divergence and top-1 changes of the next-token distribution between the original and the ablated
 * run, and how the attention of the later blocks moved. The runs themselves are the backends'
 * (ablationReference.ts gates the reference model, ablationOnnx.ts feeds an ONNX graph's gates).
 */
import { type CancellationCheck, neverCancelled, UserFacingError } from '../../shared/errors';
import type { AblatedHead, AblationBlockChange, AttentionBlock, BlockKind, ChangedPrediction } from '../../shared/trace';
import { maskAllows } from '../../shared/trace';
import type { AblationTarget } from '../options';
import { type IdText, topTokens } from './topTokens';

type BlockPlace = Pick<AttentionBlock, 'kind' | 'layer' | 'heads'>;

/** "decoder-self layers 0-2 with heads 0-3": what a model offers, for the message that refuses a head. */
export function ablationRanges(blocks: readonly BlockPlace[]): string {
  const kinds = [...new Set(blocks.map((block) => block.kind))];
  return kinds.map((kind) => {
    const ofKind = blocks.filter((block) => block.kind === kind);
    const layers = ofKind.map((block) => block.layer);
    const heads = ofKind.map((block) => block.heads);
    const span = (low: number, high: number): string => (low === high ? `${low}` : `${low}-${high}`);
    return `${kind} layers ${span(Math.min(...layers), Math.max(...layers))} with heads 0-${Math.min(...heads) - 1}${Math.min(...heads) === Math.max(...heads) ? '' : ` (up to ${Math.max(...heads) - 1})`}`;
  }).join('; ');
}

function describeTarget(target: AblationTarget): string {
  return `${target.kind ? `${target.kind} ` : ''}layer ${target.layer} head ${target.head}`;
}

/**
 * The blocks and heads the targets name in this run's blocks. A target without a kind names the
 * model's one kind of self-attention; in a model with two (an encoder-decoder) it must say which.
 * Refused with code invalid-ablate and the ranges there are.
 */
export function resolveAblation(targets: readonly AblationTarget[], blocks: readonly BlockPlace[]): AblatedHead[] {
  const ranges = ablationRanges(blocks);
  const refuse = (target: AblationTarget, why: string): never => {
    throw new UserFacingError(`Cannot ablate ${describeTarget(target)}: ${why}. This model has ${ranges}.`, 'Name a layer and a head the model has, both counted from 0.', {
      code: 'invalid-ablate', facts: { target: describeTarget(target), ranges },
    });
  };
  const selfKinds = [...new Set(blocks.filter((block) => block.kind !== 'cross').map((block) => block.kind))];
  return targets.map((target): AblatedHead => {
    if (target.kind === undefined && selfKinds.length > 1) refuse(target, `the model has ${selfKinds.join(' and ')} blocks, so the kind of block must be named`);
    const kinds: ReadonlySet<BlockKind> = new Set(target.kind !== undefined ? [target.kind] : selfKinds);
    const blockIndex = blocks.findIndex((block) => kinds.has(block.kind) && block.layer === target.layer);
    if (blockIndex < 0) return refuse(target, blocks.some((block) => kinds.has(block.kind)) ? `there is no layer ${target.layer}` : `there is no ${target.kind ?? 'self-attention'} block`);
    const block = blocks[blockIndex];
    if (target.head >= block.heads) refuse(target, `its block has ${block.heads} heads`);
    return { blockIndex, kind: block.kind, layer: block.layer, head: target.head };
  });
}

/** log softmax of one row, in float64. */
function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const offset = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - offset;
  return out;
}

/**
 * KL(P ‖ Q) in bits of the softmax distributions of two logits rows: Σ p·(log p − log q). Float64,
 * so the same rows give exactly 0.
 */
export function klDivergenceBits(original: ArrayLike<number>, ablated: ArrayLike<number>): number {
  const p = logSoftmax(original);
  const q = logSoftmax(ablated);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const weight = Math.exp(p[i]);
    if (weight > 0) kl += weight * (p[i] - q[i]);
  }
  return kl / Math.LN2;
}

/** Logits of one run, read in rows: [count, vocabulary] from `start` (a head computes them in chunks). */
export interface LogitRows {
  positions: number;
  vocabulary: number;
  rows(start: number, count: number): Float32Array;
}

/** Rows compared at once: bounds the logits held (gpt2-shape: 50257 per row, twice). */
const ROWS_PER_CHUNK = 64;

/** Per position, KL(original ‖ ablated) and whether the top-1 changed. */
export function comparePredictions(original: LogitRows, ablated: LogitRows, text: IdText, cancel: CancellationCheck = neverCancelled): { kl: number[]; changedTop: ChangedPrediction[] } {
  const kl: number[] = [];
  const changedTop: ChangedPrediction[] = [];
  const width = original.vocabulary;
  for (let start = 0; start < original.positions; start += ROWS_PER_CHUNK) {
    cancel.throwIfCancelled();
    const count = Math.min(ROWS_PER_CHUNK, original.positions - start);
    const before = original.rows(start, count);
    const after = ablated.rows(start, count);
    for (let row = 0; row < count; row++) {
      const p = before.subarray(row * width, (row + 1) * width);
      const q = after.subarray(row * width, (row + 1) * width);
      kl.push(klDivergenceBits(p, q));
      const [top] = topTokens(p, 1, text);
      const [next] = topTokens(q, 1, text);
      if (top && next && top.id !== next.id) changedTop.push({ position: start + row, before: top, after: next });
    }
  }
  return { kl, changedTop };
}

/**
 * |ablated − original| of every block from `from` on (the first ablated head's block: the heads are
 * gated after their softmax, so their own block's attention moves only where a later pass reads it):
 * the largest, and per head the mean over the cells the mask allows and the largest.
 */
export function attentionChanges(original: readonly AttentionBlock[], ablated: readonly AttentionBlock[], from: number): AblationBlockChange[] {
  const changes: AblationBlockChange[] = [];
  for (let blockIndex = from; blockIndex < original.length; blockIndex++) {
    const before = original[blockIndex];
    const after = ablated[blockIndex];
    if (!after || after.probs.length !== before.probs.length) throw new Error(`the ablation run's block ${blockIndex} does not match the original run's`);
    const cells = before.queries * before.keys;
    const meanAbs: number[] = [];
    const maxAbsPerHead: number[] = [];
    for (let head = 0; head < before.heads; head++) {
      let sum = 0;
      let count = 0;
      let max = 0;
      for (let query = 0; query < before.queries; query++) {
        for (let key = 0; key < before.keys; key++) {
          if (!maskAllows(before, query, key)) continue;
          const at = head * cells + query * before.keys + key;
          const delta = Math.abs(after.probs[at] - before.probs[at]);
          sum += delta;
          count++;
          if (delta > max) max = delta;
        }
      }
      meanAbs.push(count > 0 ? sum / count : 0);
      maxAbsPerHead.push(max);
    }
    changes.push({ blockIndex, kind: before.kind, layer: before.layer, maxAbs: Math.max(0, ...maxAbsPerHead), meanAbs, maxAbsPerHead });
  }
  return changes;
}
