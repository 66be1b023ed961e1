/**
 * @file Saved traces in VS Code: "Attention Lens: Open Trace..." and a read-only custom editor for
 * `*.attn.safetensors` (README "Trace files") that shows a trace file in the same panel a run opens
 * in. The file stays open while its editor does, and the panel's blocks are read from it as it
 * shows them (HostTrace, as a big run's), so a trace of any size opens. A damaged file, or one of
 * another schema, shows the reader's message in the panel and in a notification. Trace files are data that only our own reader parses (no runtime,
 * no code), so a restricted workspace opens them too (trust.ts).
 */
import * as vscode from 'vscode';
import { TraceFile } from '../engine';
import type { TraceDiagnostic } from '../shared/analysis';
import { UserFacingError } from '../shared/errors';
import { listedInProblems } from '../shared/problemsShare';
import type { LazyTrace } from '../shared/lazyTrace';
import type { PanelCapabilities, ToWebviewMessage, TraceOverview } from '../shared/protocol';
import type { AttentionBlock } from '../shared/trace';
import { type Exporter, TRACE_EXPORT_COMMANDS, type TraceExportCommand } from './exports';
import { HostTrace } from './hostTrace';
import { readDisplaySettings, readMemoryBudgetMB } from './settings';
import { WebviewHost, type WebviewHostEvents, type WebviewHostSource } from './webviewHost';
import { describeFailure, vscodeWords } from './words';

/** The run id a trace editor's page knows its trace by: each editor has a page of its own. */
const FILE_RUN_ID = 1;

/** What the panel of a trace file offers: its exports and the log; no model runs, no editor text to highlight. */
const TRACE_FILE_CAPABILITIES: PanelCapabilities = { commands: [...TRACE_EXPORT_COMMANDS, 'attentionLens.showOutput'], editorHighlights: false };

/** A trace file as opened: its trace, read block by block, or why it cannot be shown. */
export type TraceFileContent = { kind: 'trace'; trace: HostTrace } | { kind: 'failed'; message: string; hint?: string };

/** What a trace editor shows now, for the integration tests. */
export interface TraceEditorState {
  uri: string;
  /** The trace without its arrays, as the panel lays it out. */
  trace?: TraceOverview;
  /** Block `index` as the panel gets it, read from the file. */
  readBlock?: (index: number) => Promise<AttentionBlock>;
  /** The message shown instead of a trace. */
  failure?: string;
  /** The block and head the page shows, once it has drawn one. */
  view?: { blockIndex: number; head: number | 'mean' };
}

/** Opens a trace file, its header and small tensors read and checked, its blocks left in the file; never throws. */
export async function readTraceDocument(uri: vscode.Uri): Promise<TraceFileContent> {
  const name = vscode.workspace.asRelativePath(uri);
  if (uri.scheme !== 'file') {
    return { kind: 'failed', message: `${name} is not on this machine's disk, and Attention Lens reads trace files only from disk.`, hint: 'Copy it to a local folder and open it there.' };
  }
  try {
    const file = await TraceFile.open(uri.fsPath);
    // The file is closed when nothing reads it any more: its editors closed and no export running.
    const trace = new HostTrace({ trace: file, storage: 'file', file: uri.fsPath, release: () => file.close() }, readMemoryBudgetMB() * 2 ** 20);
    return { kind: 'trace', trace };
  } catch (error) {
    // The reader's message names the file by its full path; the workspace's own name for it is shorter.
    const shorten = (text: string): string => text.split(uri.fsPath).join(name);
    if (error instanceof UserFacingError) return { kind: 'failed', message: shorten(vscodeWords(error.message)), hint: vscodeWords(error.hint) };
    return { kind: 'failed', message: `${name} cannot be opened as a trace: ${shorten(describeFailure(error))}` };
  }
}

class TraceDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri, readonly content: TraceFileContent, private readonly onDispose: () => void) {}

  dispose(): void {
    if (this.content.kind === 'trace') this.content.trace.drop();
    this.onDispose();
  }
}

const SEVERITY: Record<TraceDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/**
 * A trace file's errors and warnings, as VS Code's Problems panel lists them on the file while it is
 * open: the same share as a run's (src/shared/problemsShare.ts), so the panel's Problems tab, which
 * counts what VS Code lists, is right for a saved trace too.
 */
export function traceFileDiagnostics(trace: TraceOverview): vscode.Diagnostic[] {
  return (trace.analysis?.diagnostics ?? []).filter((finding) => listedInProblems(finding.severity)).map((finding) => {
    const where = finding.layer === null ? '' : ` (layer ${finding.layer}${finding.head === null ? '' : ` head ${finding.head}`})`;
    const diagnostic = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), `${finding.message}${where}`, SEVERITY[finding.severity]);
    diagnostic.source = 'Attention Lens';
    diagnostic.code = finding.code;
    return diagnostic;
  });
}

/** One open trace editor: a webview page serving one document's trace. */
class TraceEditor implements WebviewHostSource, vscode.Disposable {
  readonly host: WebviewHost;
  view: TraceEditorState['view'];

  constructor(readonly document: TraceDocument, panel: vscode.WebviewPanel, extensionUri: vscode.Uri, events: (editor: TraceEditor) => WebviewHostEvents) {
    this.host = new WebviewHost(panel.webview, extensionUri, this, events(this));
  }

  replay(): ToWebviewMessage[] {
    const content = this.document.content;
    return [
      TraceEditor.configure(),
      content.kind === 'trace'
        ? { type: 'traceLoaded', runId: FILE_RUN_ID, trace: content.trace.overview }
        : { type: 'runFailed', runId: FILE_RUN_ID, message: content.message, ...(content.hint ? { hint: content.hint } : {}), cancelled: false },
    ];
  }

  trace(runId: number): LazyTrace | undefined {
    return runId === FILE_RUN_ID && this.document.content.kind === 'trace' ? this.document.content.trace.shown : undefined;
  }

  static configure(): ToWebviewMessage {
    const display = readDisplaySettings();
    return { type: 'configure', colorMap: display.colorMap, defaultView: display.defaultHead, capabilities: TRACE_FILE_CAPABILITIES };
  }

  dispose(): void {
    this.host.dispose();
  }
}

export class TraceEditorProvider implements vscode.CustomReadonlyEditorProvider<TraceDocument>, vscode.Disposable {
  static readonly viewType = 'attentionLens.traceFile';

  private readonly editors = new Set<TraceEditor>();
  /** The open trace files' findings (a run's are src/vscode/problems.ts's). */
  private readonly problems = vscode.languages.createDiagnosticCollection('attentionLens.traceFiles');
  private readonly disposables: vscode.Disposable[] = [this.problems];

  constructor(private readonly extensionUri: vscode.Uri, private readonly exporter: Exporter, private readonly log: vscode.LogOutputChannel) {
    this.disposables.push(vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('attentionLens.colorMap') && !event.affectsConfiguration('attentionLens.defaultHead')) return;
      for (const editor of this.editors) editor.host.post(TraceEditor.configure());
    }));
  }

  /** Registers the editor and "Open Trace..." (which takes a file's URI as its argument, or asks). */
  static register(extensionUri: vscode.Uri, exporter: Exporter, log: vscode.LogOutputChannel): { provider: TraceEditorProvider; disposable: vscode.Disposable } {
    const provider = new TraceEditorProvider(extensionUri, exporter, log);
    const disposable = vscode.Disposable.from(
      provider,
      vscode.window.registerCustomEditorProvider(TraceEditorProvider.viewType, provider, {
        webviewOptions: { retainContextWhenHidden: true },
        supportsMultipleEditorsPerDocument: true,
      }),
      vscode.commands.registerCommand('attentionLens.openTrace', (uri?: unknown) => provider.open(uri instanceof vscode.Uri ? uri : undefined)),
    );
    return { provider, disposable };
  }

  /** "Open Trace...": a file from the argument or an open dialog, shown in this editor. */
  async open(uri?: vscode.Uri): Promise<void> {
    const target = uri ?? (await vscode.window.showOpenDialog({
      title: 'Attention Lens: Open Trace',
      canSelectMany: false,
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      filters: { 'Attention Lens trace (safetensors)': ['safetensors'] },
    }))?.[0];
    // Any *.safetensors may be a trace (attention_lens_dump.py writes them); the editor says if it is not.
    if (target) await vscode.commands.executeCommand('vscode.openWith', target, TraceEditorProvider.viewType);
  }

  async openCustomDocument(uri: vscode.Uri): Promise<TraceDocument> {
    const content = await readTraceDocument(uri);
    if (content.kind === 'failed') {
      this.log.warn(`trace file ${uri.toString(true)}: ${content.message}`);
      void vscode.window.showErrorMessage(`Attention Lens: ${content.hint ? `${content.message} ${content.hint}` : content.message}`);
    } else {
      this.log.info(`trace file ${uri.toString(true)}: ${content.trace.overview.model.name}, ${content.trace.overview.blocks.length} blocks`);
    }
    if (content.kind === 'trace') this.problems.set(uri, traceFileDiagnostics(content.trace.overview));
    return new TraceDocument(uri, content, () => this.problems.delete(uri));
  }

  resolveCustomEditor(document: TraceDocument, panel: vscode.WebviewPanel): void {
    const editor = new TraceEditor(document, panel, this.extensionUri, (self) => this.events(self));
    this.editors.add(editor);
    panel.onDidDispose(() => {
      this.editors.delete(editor);
      editor.dispose();
    });
  }

  /** What the open trace editors show (for tests). */
  states(): TraceEditorState[] {
    return [...this.editors].map(({ document, view }) => ({
      uri: document.uri.toString(),
      ...(document.content.kind === 'trace' ? { trace: document.content.trace.overview, readBlock: document.content.trace.shown.readBlock } : { failure: document.content.hint ? `${document.content.message} ${document.content.hint}` : document.content.message }),
      ...(view ? { view } : {}),
    }));
  }

  /** The page's requests: exports of this file's trace; no editor text to highlight. */
  private events(editor: TraceEditor): WebviewHostEvents {
    const content = editor.document.content;
    const held = content.kind === 'trace' ? content.trace : undefined;
    return {
      onHover: () => undefined,
      onHoverRollout: () => undefined,
      onViewChanged: (_host, message) => {
        if (message.runId === FILE_RUN_ID) editor.view = { blockIndex: message.blockIndex, head: message.head };
      },
      onExportImage: (_host, message) => void this.exporter.saveImage(message.format, message.data, message.suggestedName).catch((error: unknown) => {
        void vscode.window.showErrorMessage(`Attention Lens: the export failed: ${describeFailure(error)}`);
      }),
      onCommand: (_host, command) => {
        if (!(TRACE_EXPORT_COMMANDS as readonly string[]).includes(command)) void vscode.commands.executeCommand(command);
        else if (!held) void this.exporter.exportTrace(command as TraceExportCommand, undefined);
        // The file stays open for the export even if its editor closes meanwhile.
        else void held.use((trace) => this.exporter.exportTrace(command as TraceExportCommand, { trace: trace.shown, portable: trace.portable }));
      },
      onFocusChanged: () => undefined,
    };
  }

  dispose(): void {
    for (const editor of this.editors) editor.dispose();
    this.editors.clear();
    while (this.disposables.length > 0) this.disposables.pop()?.dispose();
  }
}
