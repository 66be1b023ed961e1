/**
 * @file The diagnostics as the panel words and orders them: severity icons and counts, where one
 * points ("decoder layer 2 head 1"), the header's one-line summary, and the block a diagnostic
 * opens. Pure.
 */
import type { DiagnosticSeverity, TraceDiagnostic } from '../src/shared/analysis';
import type { BlockOverview } from '../src/shared/protocol';

const SEVERITY_RANK: Readonly<Record<DiagnosticSeverity, number>> = { error: 0, warning: 1, info: 2 };

export function severityIcon(severity: DiagnosticSeverity): string {
  return severity === 'error' ? '✖' : severity === 'warning' ? '⚠' : 'ℹ';
}

/** Errors first, then warnings, then infos; within a severity, model order. */
export function sortDiagnostics(diagnostics: readonly TraceDiagnostic[]): TraceDiagnostic[] {
  return diagnostics
    .map((d, index) => ({ d, index }))
    .sort((a, b) => SEVERITY_RANK[a.d.severity] - SEVERITY_RANK[b.d.severity] || a.index - b.index)
    .map(({ d }) => d);
}

export interface SeverityCounts {
  error: number;
  warning: number;
  info: number;
}

export function countSeverities(diagnostics: readonly TraceDiagnostic[]): SeverityCounts {
  const counts: SeverityCounts = { error: 0, warning: 0, info: 0 };
  for (const d of diagnostics) counts[d.severity]++;
  return counts;
}

/** "decoder layer 2 head 1", "layer 0", "encoder layer 1" (the stream named only when asked). */
export function diagnosticLocation(d: Pick<TraceDiagnostic, 'layer' | 'head' | 'stream'>, withStream: boolean): string {
  const parts: string[] = [];
  if (d.layer !== null) parts.push(`${withStream && d.stream ? `${d.stream} ` : ''}layer ${d.layer}`);
  else if (withStream && d.stream) parts.push(`${d.stream}`);
  if (d.head !== null) parts.push(`head ${d.head}`);
  return parts.join(' ');
}

export interface DiagnosticSummary {
  /** "⚠ 1 error, 2 warnings: mask-leak in layer 2 head 1" or "No problems found". */
  text: string;
  /** The worst severity present, null when there is nothing. */
  severity: DiagnosticSeverity | null;
  /** The diagnostic the summary names (the first of the worst severity). */
  first: TraceDiagnostic | null;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The one-line summary the header shows on every view. */
export function diagnosticSummary(diagnostics: readonly TraceDiagnostic[], withStream: boolean): DiagnosticSummary {
  if (diagnostics.length === 0) return { text: 'No problems found', severity: null, first: null };
  const counts = countSeverities(diagnostics);
  const first = sortDiagnostics(diagnostics)[0];
  const parts: string[] = [];
  if (counts.error > 0) parts.push(plural(counts.error, 'error'));
  if (counts.warning > 0) parts.push(plural(counts.warning, 'warning'));
  if (counts.info > 0) parts.push(`${counts.info} info`);
  const where = diagnosticLocation(first, withStream);
  return {
    text: `${severityIcon(first.severity)} ${parts.join(', ')}: ${first.code}${where ? ` in ${where}` : ''}`,
    severity: first.severity,
    first,
  };
}

/**
 * The block a diagnostic opens: its own, else the first self-attention block of its stream and
 * layer (a residual norm problem names a layer, not a block); null when nothing fits.
 */
export function diagnosticBlock(d: TraceDiagnostic, blocks: ReadonlyArray<Pick<BlockOverview, 'layer' | 'kind' | 'queryStream'>>): number | null {
  if (d.blockIndex !== null && d.blockIndex < blocks.length) return d.blockIndex;
  if (d.layer === null) return null;
  const sameLayer = blocks
    .map((block, index) => ({ block, index }))
    .filter(({ block }) => block.layer === d.layer && (d.stream === null || block.queryStream === d.stream));
  const self = sameLayer.find(({ block }) => block.kind !== 'cross') ?? sameLayer[0];
  return self ? self.index : null;
}
