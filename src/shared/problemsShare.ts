/**
 * @file Which of a run's diagnostics VS Code's Problems panel lists, so the extension (which puts
 * them there, src/vscode/problems.ts) and the panel's Problems tab (which counts them,
 * webview/problems.ts) follow one rule: errors and warnings. Infos (a uniform head, say) describe a
 * pattern, not a fault; a random-weight preset has dozens of them, so they stay in the panel's tab,
 * grouped into one line. Pure.
 */
import type { DiagnosticSeverity, TraceDiagnostic } from './analysis';

/** Whether VS Code's Problems panel lists a diagnostic of this severity. */
export function listedInProblems(severity: DiagnosticSeverity): boolean {
  return severity !== 'info';
}

export interface ProblemsShare {
  /** What VS Code's Problems panel lists: the errors and warnings. */
  listed: number;
  /** What only the panel's Problems tab shows: the infos. */
  panelOnly: number;
}

export function problemsShare(diagnostics: ReadonlyArray<Pick<TraceDiagnostic, 'severity'>>): ProblemsShare {
  let listed = 0;
  for (const d of diagnostics) if (listedInProblems(d.severity)) listed++;
  return { listed, panelOnly: diagnostics.length - listed };
}
