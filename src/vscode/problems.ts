/**
 * @file The debugger's findings in the Problems panel: a run's errors and warnings (infos stay in the
 * Attention panel, src/shared/problemsShare.ts, so both count the same). When the model is an ONNX
 * file in the workspace they are reported on that file; otherwise on a read-only note of the run's
 * findings (one line each), since a built-in or Hub model has no file to carry them. Each has a
 * related "evidence" entry: clicking it opens a short read-only note on the problem and shows the
 * exact layer and head in the Attention view. Problem, then evidence: two clicks from the list to
 * the heatmap. A new run clears the list when it starts; one that fails or is cancelled puts back
 * the findings of the trace still on show.
 */
import * as vscode from 'vscode';
import type { DiagnosticSeverity as TraceSeverity, TraceDiagnostic } from '../shared/analysis';
import { listedInProblems } from '../shared/problemsShare';
import type { TraceOverview } from '../shared/protocol';
import type { AttentionViews } from './attentionViews';

const EVIDENCE_SCHEME = 'attention-lens-evidence';

const SEVERITY: Record<TraceSeverity, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** What an evidence link points at, kept in its URI so it survives a reload of the document. */
interface Evidence {
  runId: number;
  index: number;
  blockIndex: number | null;
  head: number | null;
}

/** The runs the reporter follows (ExplainController): their start clears the list, their end fills it. */
export interface ReportedRuns {
  /** A run began; without this event the list is cleared only when a run ends. */
  readonly onDidStart?: vscode.Event<unknown>;
  /** `trace`: the run's trace (HostTrace), of which the report reads the overview. */
  readonly onDidFinish: vscode.Event<{ runId: number; trace?: { readonly overview: TraceOverview }; error?: Error }>;
}

function where(diagnostic: Pick<TraceDiagnostic, 'layer' | 'head'>): string {
  return diagnostic.layer === null ? 'model' : `layer ${diagnostic.layer}${diagnostic.head === null ? '' : ` head ${diagnostic.head}`}`;
}

function evidenceUri(evidence: Evidence, diagnostic: TraceDiagnostic): vscode.Uri {
  return vscode.Uri.from({ scheme: EVIDENCE_SCHEME, path: `/${diagnostic.code} (${where(diagnostic)}).md`, query: JSON.stringify(evidence) });
}

/** The note of a run's findings, for models that are no file of the workspace ("builtin-tiny-decoder findings.md"). */
function findingsUri(runId: number, model: string): vscode.Uri {
  return vscode.Uri.from({ scheme: EVIDENCE_SCHEME, path: `/${model.replace(/[\\/:]+/g, '-')} findings.md`, query: JSON.stringify({ runId, findings: true }) });
}

/** The line of the findings note that names finding `n` (of those listed). */
const FINDINGS_FIRST_LINE = 4;

function parseQuery(uri: vscode.Uri): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(uri.query);
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined; // not one of ours
  }
}

function parseEvidence(uri: vscode.Uri): Evidence | undefined {
  const value = parseQuery(uri) as Partial<Evidence> | undefined;
  if (typeof value?.runId === 'number' && typeof value.index === 'number') {
    return { runId: value.runId, index: value.index, blockIndex: value.blockIndex ?? null, head: value.head ?? null };
  }
  return undefined;
}

export class ProblemsReporter implements vscode.Disposable, vscode.TextDocumentContentProvider {
  private readonly collection = vscode.languages.createDiagnosticCollection('attentionLens');
  private readonly disposables: vscode.Disposable[] = [];
  private last: { runId: number; trace: TraceOverview } | undefined;

  constructor(private readonly views: AttentionViews) {
    this.disposables.push(
      this.collection,
      vscode.workspace.registerTextDocumentContentProvider(EVIDENCE_SCHEME, this),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor?.document.uri.scheme === EVIDENCE_SCHEME) void this.showEvidence(editor.document.uri);
      }),
    );
  }

  /**
   * Clears the list when a run starts and fills it when one ends: with the new trace's findings, or,
   * when the run failed or was cancelled, again with those of the trace the views still show.
   */
  follow(runs: ReportedRuns): vscode.Disposable {
    const subscriptions = [
      runs.onDidFinish((result) => {
        if (result.trace) this.report(result.runId, result.trace.overview);
        else this.restore();
      }),
      ...(runs.onDidStart ? [runs.onDidStart(() => this.clear())] : []),
    ];
    return vscode.Disposable.from(...subscriptions);
  }

  /** A new run started: the previous run's findings leave the list (the evidence notes still open). */
  clear(): void {
    this.collection.clear();
  }

  /** Puts back the findings of the last reported trace (a run failed or was cancelled; that trace is still on show). */
  restore(): vscode.Diagnostic[] {
    return this.last ? this.report(this.last.runId, this.last.trace) : [];
  }

  /** Reports the errors and warnings of a finished run (and clears those of the previous one). */
  report(runId: number, trace: TraceOverview): vscode.Diagnostic[] {
    this.collection.clear();
    this.last = { runId, trace };
    const found = (trace.analysis?.diagnostics ?? []).map((finding, index) => ({ finding, index })).filter(({ finding }) => listedInProblems(finding.severity));
    if (found.length === 0) return [];
    const modelUri = trace.model.source === 'onnx' && trace.model.path ? vscode.Uri.file(trace.model.path) : undefined;
    const onModel = modelUri !== undefined && vscode.workspace.getWorkspaceFolder(modelUri) !== undefined;
    const target = onModel ? modelUri : findingsUri(runId, trace.model.name);
    const diagnostics = found.map(({ finding, index }, n) => {
      const line = onModel ? 0 : FINDINGS_FIRST_LINE + n;
      const diagnostic = new vscode.Diagnostic(new vscode.Range(line, 0, line, 0), finding.message, SEVERITY[finding.severity]);
      diagnostic.source = 'Attention Lens';
      diagnostic.code = finding.code;
      const evidence = evidenceUri({ runId, index, blockIndex: finding.blockIndex, head: finding.head }, finding);
      diagnostic.relatedInformation = [
        new vscode.DiagnosticRelatedInformation(new vscode.Location(evidence, new vscode.Position(0, 0)), 'Show the evidence in the Attention view'),
      ];
      return diagnostic;
    });
    this.collection.set(target, diagnostics);
    return diagnostics;
  }

  /** The read-only note an evidence link opens, or the run's findings note. */
  provideTextDocumentContent(uri: vscode.Uri): string {
    if (parseQuery(uri)?.findings === true) return this.findingsNote(parseQuery(uri)?.runId);
    const evidence = parseEvidence(uri);
    const trace = this.last?.runId === evidence?.runId ? this.last?.trace : undefined;
    const finding = evidence && trace?.analysis?.diagnostics[evidence.index];
    if (!evidence || !trace || !finding) {
      return '# Attention Lens\n\nThis finding belongs to an earlier run. Run "Explain Attention" again to see the current ones.\n';
    }
    const block = finding.blockIndex === null ? undefined : trace.blocks[finding.blockIndex];
    return [
      `# ${finding.code} (${finding.severity})`,
      '',
      finding.message,
      '',
      `Model: ${trace.model.name}${trace.model.path ? ` (${trace.model.path})` : ''}`,
      block ? `Where: layer ${block.layer}, ${block.kind} attention${finding.head === null ? '' : `, head ${finding.head}`}; the Attention view now shows it.` : '',
      '',
      `Thresholds: setting "attentionLens.diagnostics.*" (README, "Diagnostics").`,
      '',
    ].join('\n');
  }

  /** One line per listed finding, at the lines its diagnostic points at (FINDINGS_FIRST_LINE on). */
  private findingsNote(runId: unknown): string {
    const trace = this.last?.runId === runId ? this.last?.trace : undefined;
    if (!trace) return '# Attention Lens\n\nThese findings belong to an earlier run. Run "Explain Attention" again to see the current ones.\n';
    const listed = (trace.analysis?.diagnostics ?? []).filter((finding) => listedInProblems(finding.severity));
    return [
      `# Findings of ${trace.model.name}`,
      '',
      'Errors and warnings of the last run (the information-level findings are in the Attention view\'s Problems tab). Each entry of the Problems panel has a link that shows its evidence in the Attention view.',
      '',
      ...listed.map((finding) => `- ${finding.severity} ${finding.code} (${where(finding)}): ${finding.message}`),
      '',
    ].join('\n');
  }

  private async showEvidence(uri: vscode.Uri): Promise<void> {
    const evidence = parseEvidence(uri);
    if (!evidence || evidence.blockIndex === null || this.last?.runId !== evidence.runId) return;
    await this.views.showBlock(evidence.blockIndex, evidence.head ?? 'mean');
  }

  dispose(): void {
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
