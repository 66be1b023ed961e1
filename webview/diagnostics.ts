/**
 * @file The diagnostics as the panel words and orders them: severity icons and counts, where one
 * points ("decoder layer 2 head 1"), the header's one-line summary, and the block a diagnostic
 * opens. Pure.
 */
import type { DiagnosticSeverity, TraceDiagnostic } from '../src/shared/analysis';
import { problemsShare } from '../src/shared/problemsShare';
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

/**
 * The one-line summary the header shows on every view. It speaks of errors and warnings, the
 * problems (as VS Code's Problems panel lists them); infos (patterns such as a uniform head, dozens
 * on a random-weight preset) are only counted, so they never make the line look like a fault.
 */
export function diagnosticSummary(diagnostics: readonly TraceDiagnostic[], withStream: boolean): DiagnosticSummary {
  if (diagnostics.length === 0) return { text: 'No problems found', severity: null, first: null };
  const counts = countSeverities(diagnostics);
  const infos = counts.info > 0 ? `${counts.info} info` : '';
  if (counts.error + counts.warning === 0) return { text: `No problems found · ${infos} in the Problems tab`, severity: null, first: null };
  const first = sortDiagnostics(diagnostics)[0];
  const parts: string[] = [];
  if (counts.error > 0) parts.push(plural(counts.error, 'error'));
  if (counts.warning > 0) parts.push(plural(counts.warning, 'warning'));
  const where = diagnosticLocation(first, withStream);
  return {
    text: `${severityIcon(first.severity)} ${parts.join(', ')}: ${first.code}${where ? ` in ${where}` : ''}${infos ? ` (+${infos})` : ''}`,
    severity: first.severity,
    first,
  };
}

/** The Problems tab's count: what VS Code's Problems panel lists, and what the tab adds. */
export interface ProblemsCount {
  /** Errors and warnings, the number VS Code's Problems panel shows for the run ("" when none). */
  badge: string;
  /** "+86 info" when the tab lists infos that VS Code's Problems panel does not; else "". */
  extra: string;
  /** The whole count in words, for the tooltip and screen readers. */
  label: string;
}

export function problemsCount(diagnostics: readonly TraceDiagnostic[]): ProblemsCount {
  const counts = countSeverities(diagnostics);
  // The rule VS Code's Problems panel follows (src/vscode/problems.ts): errors and warnings.
  const { listed, panelOnly } = problemsShare(diagnostics);
  const parts = [counts.error > 0 ? plural(counts.error, 'error') : '', counts.warning > 0 ? plural(counts.warning, 'warning') : ''].filter(Boolean);
  const label = [
    listed > 0 ? `${parts.join(', ')}, as in VS Code's Problems panel` : 'No problems',
    panelOnly > 0 ? `${panelOnly} information-level finding${panelOnly === 1 ? '' : 's'} (patterns, not faults) listed in this tab only` : '',
  ].filter(Boolean).join('; ');
  return { badge: listed > 0 ? String(listed) : '', extra: panelOnly > 0 ? `+${panelOnly} info` : '', label };
}

/** Infos grouped for one line of the Problems tab: how many, and each code with its count (most first). */
export interface InfoGroup {
  infos: TraceDiagnostic[];
  /** "uniform-head ×80, high-entropy ×6" */
  codes: string;
}

export function groupInfos(diagnostics: readonly TraceDiagnostic[]): InfoGroup {
  const infos = diagnostics.filter((d) => d.severity === 'info');
  const byCode = new Map<string, number>();
  for (const d of infos) byCode.set(d.code, (byCode.get(d.code) ?? 0) + 1);
  const codes = [...byCode].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([code, count]) => `${code} ×${count}`).join(', ');
  return { infos, codes };
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
