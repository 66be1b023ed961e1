/**
 * @file The summary's predictions: per stream one line of the top-1 next token at each position,
 * and, when the trace has a logit lens, a table of the top-1 per layer (rows) and position
 * (columns), so one sees from which layer on the model knows its guess.
 */
import type { AttentionTrace, TokenPrediction } from '../shared/trace';

/** A predicted token as printed: its text quoted as JSON (spaces and newlines visible). */
function tokenCell(prediction: TokenPrediction | undefined): string {
  return prediction ? JSON.stringify(prediction.text) : '?';
}

/** "text 0.42": the top-1 and its probability. */
function topCell(top: readonly TokenPrediction[]): string {
  const best = top[0];
  return best ? `${tokenCell(best)} ${best.prob.toFixed(2)}` : '?';
}

export function predictionLines(trace: AttentionTrace): string[] {
  const lines: string[] = [];
  for (const entry of trace.predictions ?? []) {
    const k = entry.top[0]?.length ?? 0;
    lines.push('', `${entry.stream} predictions (top-1 of ${k} per position, after each token):`);
    lines.push(`  ${entry.top.map((top, position) => `@${position} ${topCell(top)}`).join('  ')}`);
  }
  const lens = trace.logitLens ?? [];
  if (lens.length > 0) {
    const rows = lens.map((layer) => [`${layer.stream} L${layer.layer}`, ...layer.top.map(topCell)]);
    const header = ['logit lens', ...(lens[0]?.top.map((_, position) => `@${position}`) ?? [])];
    const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]?.length ?? 0)));
    const format = (row: readonly string[]): string => `  ${row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd()}`;
    lines.push('', 'logit lens (top-1 per layer and position, after the final norm and the unembedding):', format(header), ...rows.map(format));
  }
  return lines;
}
