/**
 * @file What the Ablation view shows, from the trace's `ablation` alone: the heads, the KL per
 * position and its mean, the changed top-1 predictions and the later blocks' |Δ attention|. The
 * numbers are the trace's own; only the mean over positions is formed here (the trace keeps the
 * per-position values). Pure, so it is unit-tested without a DOM.
 */
import type { AblatedHead, AblationResult, BlockKind, Token } from '../src/shared/trace';
import type { AblationHeadRef } from '../src/shared/protocol';

export interface AblationSummary {
  heads: Array<{ ref: AblationHeadRef; blockIndex: number; text: string }>;
  mode: AblationResult['mode'];
  /** Per position, in bits; null when the model has no logits (attention changes only). */
  kl: readonly number[] | null;
  /** The mean of `kl` over the positions, in bits. */
  meanKl: number | null;
  changed: Array<{ position: number; token: string; before: string; after: string }>;
  blocks: Array<{ blockIndex: number; maxAbs: string; heads: Array<{ mean: number; max: number; text: string }> }>;
}

const KIND_SHORT: Readonly<Record<BlockKind, string>> = {
  'self': '',
  'encoder-self': 'enc ',
  'decoder-self': '',
  'cross': 'cross ',
};

/** "L0 H3", or "cross L1 H2" where the kind must be said (an encoder-decoder's blocks). */
export function headName(head: Pick<AblatedHead, 'kind' | 'layer' | 'head'>, sayKind: boolean): string {
  return `${sayKind ? KIND_SHORT[head.kind] : ''}L${head.layer} H${head.head}`;
}

/** A probability as a percentage with enough digits to tell small ones apart. */
export function formatProb(prob: number): string {
  const percent = prob * 100;
  return `${percent >= 10 ? percent.toFixed(0) : percent >= 1 ? percent.toFixed(1) : percent.toPrecision(2)}%`;
}

/** Bits of KL (or a |Δ| weight) with three significant digits; 0 stays "0". */
export function formatSmall(value: number): string {
  return value === 0 ? '0' : value.toPrecision(3);
}

export function summarizeAblation(ablation: AblationResult, tokens: readonly Token[], label: (token: Token | undefined) => string, sayKind: boolean): AblationSummary {
  const kl = ablation.kl ?? null;
  return {
    heads: ablation.heads.map((head) => ({ ref: { kind: head.kind, layer: head.layer, head: head.head }, blockIndex: head.blockIndex, text: headName(head, sayKind) })),
    mode: ablation.mode,
    kl,
    meanKl: kl && kl.length > 0 ? kl.reduce((sum, value) => sum + value, 0) / kl.length : null,
    changed: (ablation.changedTop ?? []).map((change) => ({
      position: change.position,
      token: label(tokens[change.position]),
      before: `${JSON.stringify(change.before.text)} ${formatProb(change.before.prob)}`,
      after: `${JSON.stringify(change.after.text)} ${formatProb(change.after.prob)}`,
    })),
    blocks: ablation.blocks.map((change) => ({
      blockIndex: change.blockIndex,
      maxAbs: formatSmall(change.maxAbs),
      heads: change.meanAbs.map((mean, head) => {
        const max = change.maxAbsPerHead[head] ?? 0;
        return { mean, max, text: `${formatSmall(mean)} / ${formatSmall(max)}` };
      }),
    })),
  };
}
