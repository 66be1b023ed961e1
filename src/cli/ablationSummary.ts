/**
 * @file The summary's ablation section: which heads were switched off and how, the KL divergence of
 * the next-token distribution (mean, and the position where it is largest), the positions whose
 * top-1 prediction changed, and the later blocks whose attention moved the most.
 */
import type { AblationResult, AttentionTrace, TokenPrediction } from '../shared/trace';

/** Changed predictions printed before "... and N more". */
const MAX_CHANGED_SHOWN = 12;
/** Blocks listed by how far their attention moved. */
const MAX_BLOCKS_SHOWN = 5;

function prediction(entry: TokenPrediction): string {
  return `${JSON.stringify(entry.text)} ${entry.prob.toFixed(2)}`;
}

function headName(head: AblationResult['heads'][number]): string {
  return `layer ${head.layer} ${head.kind} head ${head.head}`;
}

export function ablationLines(trace: AttentionTrace): string[] {
  const ablation = trace.ablation;
  if (!ablation) return [];
  const lines = ['', `ablation (${ablation.mode}): ${ablation.heads.map(headName).join(', ')}`];
  const kl = ablation.kl ?? [];
  if (kl.length > 0) {
    const mean = kl.reduce((sum, value) => sum + value, 0) / kl.length;
    const worst = kl.reduce((best, value, position) => (value > kl[best] ? position : best), 0);
    lines.push(`  KL(original || ablated) of the ${ablation.stream ?? ''} next-token distribution: mean ${mean.toFixed(4)} bits, max ${kl[worst].toFixed(4)} bits at @${worst}`);
    const changed = ablation.changedTop ?? [];
    lines.push(`  top-1 prediction changed at ${changed.length} of ${kl.length} positions${changed.length > 0 ? ':' : ''}`);
    const shown = changed.slice(0, MAX_CHANGED_SHOWN).map((entry) => `@${entry.position} ${prediction(entry.before)} -> ${prediction(entry.after)}`);
    if (shown.length > 0) lines.push(`    ${shown.join('  ')}${changed.length > shown.length ? `  ... and ${changed.length - shown.length} more` : ''}`);
  } else {
    lines.push('  no next-token distribution to compare (the model has no logits output)');
  }
  const moved = [...ablation.blocks].sort((a, b) => b.maxAbs - a.maxAbs).slice(0, MAX_BLOCKS_SHOWN);
  if (moved.length > 0) {
    lines.push('  attention of later blocks, |ablated - original| (largest first):');
    for (const change of moved) {
      const where = `layer ${change.layer} ${change.kind}`;
      lines.push(`    ${where.padEnd(20)} max ${change.maxAbs.toFixed(3)}  mean per head ${change.meanAbs.map((value) => value.toFixed(4)).join(' ')}`);
    }
  }
  return lines;
}
