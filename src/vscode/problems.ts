/**
 * @file The debugger's findings in the Problems panel. When the model is an ONNX file in the
 * workspace, each diagnostic of the last run is reported on that file, with a related "evidence"
 * entry: clicking it opens a short read-only note on the problem and shows the exact layer and head
 * in the Attention view. Problem, then evidence: two clicks from the list to the heatmap.
 */
import * as vscode from 'vscode';
import type { DiagnosticSeverity as TraceSeverity, TraceDiagnostic } from '../shared/analysis';
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

function evidenceUri(evidence: Evidence, diagnostic: TraceDiagnostic): vscode.Uri {
  const where = diagnostic.layer === null ? 'model' : `layer ${diagnostic.layer}${diagnostic.head === null ? '' : ` head ${diagnostic.head}`}`;
  return vscode.Uri.from({ scheme: EVIDENCE_SCHEME, path: `/${diagnostic.code} (${where}).md`, query: JSON.stringify(evidence) });
}

function parseEvidence(uri: vscode.Uri): Evidence | undefined {
  try {
    const value = JSON.parse(uri.query) as Partial<Evidence>;
    if (typeof value.runId === 'number' && typeof value.index === 'number') {
      return { runId: value.runId, index: value.index, blockIndex: value.blockIndex ?? null, head: value.head ?? null };
    }
  } catch {
    // not one of ours
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

  /** Reports the diagnostics of a finished run (and clears those of the previous one). */
  report(runId: number, trace: TraceOverview): vscode.Diagnostic[] {
    this.collection.clear();
    this.last = { runId, trace };
    const found = trace.analysis?.diagnostics ?? [];
    if (trace.model.source !== 'onnx' || !trace.model.path || found.length === 0) return [];
    const modelUri = vscode.Uri.file(trace.model.path);
    if (!vscode.workspace.getWorkspaceFolder(modelUri)) return [];
    const diagnostics = found.map((finding, index) => {
      const diagnostic = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), finding.message, SEVERITY[finding.severity]);
      diagnostic.source = 'Attention Lens';
      diagnostic.code = finding.code;
      const evidence = evidenceUri({ runId, index, blockIndex: finding.blockIndex, head: finding.head }, finding);
      diagnostic.relatedInformation = [
        new vscode.DiagnosticRelatedInformation(new vscode.Location(evidence, new vscode.Position(0, 0)), 'Show the evidence in the Attention view'),
      ];
      return diagnostic;
    });
    this.collection.set(modelUri, diagnostics);
    return diagnostics;
  }

  /** The read-only note an evidence link opens. */
  provideTextDocumentContent(uri: vscode.Uri): string {
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

  private async showEvidence(uri: vscode.Uri): Promise<void> {
    const evidence = parseEvidence(uri);
    if (!evidence || evidence.blockIndex === null || this.last?.runId !== evidence.runId) return;
    await this.views.showBlock(evidence.blockIndex, evidence.head ?? 'mean');
  }

  dispose(): void {
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
