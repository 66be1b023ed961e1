/**
 * @file The badges a head earns from its statistics (prev, sink, diag, ind, uni) and the ⚠ of the
 * diagnostics that point at it, as the overview's thumbnails show them. Pure.
 */
import type { DiagnosticThresholds, HeadStats, TraceDiagnostic } from '../src/shared/analysis';
import { uniformEntropyBits } from '../src/shared/entropy';
import type { BlockOverview } from '../src/shared/protocol';
import { windowOf } from './kvGroups';

export interface HeadBadge {
  /** Short text on the thumbnail: prev, sink, diag, uni, ind, ⚠. */
  text: string;
  /** What it means, with the number. */
  title: string;
  kind: 'pattern' | 'problem';
}

/** Statistics above this share make a badge. */
export const BADGE_SHARE = 0.5;

/**
 * The mean entropy (bits) of uniform attention over the keys a block's rows may see: log2 K without
 * a mask; with a causal mask on a square block row q sees q + 1 keys, so the mean of log2(q + 1)
 * (at most the sliding window's W keys: log2 min(q + 1, W)).
 */
export function uniformEntropy(block: Pick<BlockOverview, 'queries' | 'keys' | 'maskKind' | 'slidingWindow'>): number {
  const causal = (block.maskKind === 'causal' || block.maskKind === 'causal+padding') && block.queries === block.keys;
  if (!causal) return uniformEntropyBits(block.keys);
  const window = windowOf(block) ?? Infinity;
  let sum = 0;
  for (let q = 0; q < block.queries; q++) sum += uniformEntropyBits(Math.min(q + 1, window));
  return block.queries > 0 ? sum / block.queries : 0;
}

function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}

/** The diagnostics that point at this head (or at its whole block). */
export function diagnosticsFor(stats: Pick<HeadStats, 'blockIndex' | 'head'>, diagnostics: readonly TraceDiagnostic[]): TraceDiagnostic[] {
  return diagnostics.filter((d) => d.blockIndex === stats.blockIndex && (d.head === null || d.head === stats.head));
}

/**
 * The badges of one head: patterns (mean weight on the previous token, the first token, itself,
 * the induction target above one half; near-uniform entropy) and ⚠ when an error or warning
 * diagnostic points at it (or at its whole block).
 */
export function headBadges(
  stats: HeadStats, uniform: number, diagnostics: readonly TraceDiagnostic[], thresholds: Pick<DiagnosticThresholds, 'uniformEntropyRatio'>,
): HeadBadge[] {
  const badges: HeadBadge[] = [];
  if (stats.prevToken > BADGE_SHARE) badges.push({ text: 'prev', title: `Previous-token head: ${percent(stats.prevToken)} of the weight on the token before`, kind: 'pattern' });
  if (stats.sink > BADGE_SHARE) badges.push({ text: 'sink', title: `Attention sink: ${percent(stats.sink)} of the weight on the first token`, kind: 'pattern' });
  if (stats.diagonal > BADGE_SHARE) badges.push({ text: 'diag', title: `Self head: ${percent(stats.diagonal)} of the weight on the token itself`, kind: 'pattern' });
  if (stats.induction !== null && stats.induction > BADGE_SHARE) badges.push({ text: 'ind', title: `Induction head: ${percent(stats.induction)} of the weight on the token after the previous occurrence`, kind: 'pattern' });
  const pointing = diagnosticsFor(stats, diagnostics);
  if ((uniform > 0 && stats.entropy >= thresholds.uniformEntropyRatio * uniform) || pointing.some((d) => d.code === 'uniform-head')) {
    badges.push({ text: 'uni', title: `Near-uniform: mean entropy ${stats.entropy.toFixed(2)} of at most ${uniform.toFixed(2)} bits`, kind: 'pattern' });
  }
  // Infos (a uniform head) are patterns, already badged; errors and warnings are problems.
  const problems = pointing.filter((d) => d.severity !== 'info');
  if (problems.length > 0) badges.push({ text: '⚠', title: problems.map((d) => `${d.code}: ${d.message}`).join('\n'), kind: 'problem' });
  return badges;
}
