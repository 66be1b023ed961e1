/**
 * @file Saving what the panel shows: the view as PNG or the heatmap as SVG (made by the webview),
 * the trace's numbers as JSON or CSV, a self-contained HTML report, and the whole trace as a trace
 * file (safetensors, README "Trace files"), each through a save dialog that starts in the workspace.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { buildHtmlReport, TRACE_FILE_EXTENSION, traceFilePieces, writeFileAtomic, writeTraceFile } from '../engine';
import { UserFacingError } from '../shared/errors';
import { type LazyTrace, lazyAttentionBytes, lazyTraceJsonPieces, wholeTrace } from '../shared/lazyTrace';
import { describeFailure } from './words';
import type { AttentionTrace } from '../shared/trace';
import { lazyTraceCsvPieces } from '../shared/traceCsv';

/** The exports of a whole trace, by their command (the panel's export bar and the command palette). */
export type TraceExportCommand = 'attentionLens.exportJson' | 'attentionLens.exportCsv' | 'attentionLens.exportHtml' | 'attentionLens.exportTraceFile';
export const TRACE_EXPORT_COMMANDS: readonly TraceExportCommand[] = [
  'attentionLens.exportJson', 'attentionLens.exportCsv', 'attentionLens.exportHtml', 'attentionLens.exportTraceFile',
];

/** A trace as shown (notices in VS Code's words) and as the engine wrote it (option references), read block by block. */
export interface ExportableTrace {
  trace: LazyTrace;
  portable: LazyTrace;
}

/**
 * Past this much attention, JSON, CSV and the HTML report are refused: as text they take several
 * times the trace's size, more than most readers (Node's JSON.parse included) take back in, and the
 * report would have to hold every block at once. A trace file has no such ceiling.
 */
const MAX_TEXT_EXPORT_BYTES = 512 * 2 ** 20;

function checkTextExport(trace: LazyTrace, what: string): void {
  const bytes = lazyAttentionBytes(trace);
  if (bytes <= MAX_TEXT_EXPORT_BYTES) return;
  const mb = Math.ceil(bytes / 2 ** 20);
  throw new UserFacingError(
    `This trace's attention takes ${mb} MB, too much for ${what} (at most ${MAX_TEXT_EXPORT_BYTES / 2 ** 20} MB): the file would be several times that, and most programs could not read it back.`,
    'Use "Attention Lens: Export Trace..." instead: a safetensors trace file that numpy, PyTorch and Attention Lens read block by block.',
    { code: 'export-too-big', facts: { traceMB: mb } },
  );
}

function defaultFolder(): vscode.Uri | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri;
}

/** A file name from the model and what is exported: "tiny-decoder-attention.json". */
export function exportBaseName(trace: Pick<AttentionTrace, 'model'>): string {
  return trace.model.name.replace(/^builtin:/, '').replace(/\.onnx$/i, '').replace(/[^\w.-]+/g, '_');
}

async function askWhere(name: string, filters: Record<string, string[]>): Promise<vscode.Uri | undefined> {
  const folder = defaultFolder();
  return vscode.window.showSaveDialog({
    title: 'Attention Lens: Export',
    defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
    filters,
  });
}

/**
 * Writes an export so that nothing partial stands under its name: on disk through a temporary
 * sibling renamed into place (atomicFile.ts, piece by piece, so a long trace is never one giant
 * string); on other file systems (remote, virtual) the same through VS Code's file system API.
 */
async function write(target: vscode.Uri, content: Iterable<string> | AsyncIterable<string> | Uint8Array, what: string): Promise<void> {
  if (target.scheme === 'file') {
    await writeFileAtomic(target.fsPath, content, { what });
    return;
  }
  let bytes: Uint8Array;
  if (content instanceof Uint8Array) bytes = content;
  else {
    const pieces: string[] = [];
    for await (const piece of content) pieces.push(piece);
    bytes = new TextEncoder().encode(pieces.join(''));
  }
  const partial = target.with({ path: `${target.path}.${randomBytes(6).toString('hex')}.partial` });
  try {
    await vscode.workspace.fs.writeFile(partial, bytes);
    await vscode.workspace.fs.rename(partial, target, { overwrite: true });
  } catch (error) {
    await Promise.resolve(vscode.workspace.fs.delete(partial)).catch(() => undefined);
    throw error;
  }
}

async function done(target: vscode.Uri): Promise<void> {
  const action = await vscode.window.showInformationMessage(`Attention Lens: saved ${vscode.workspace.asRelativePath(target)}.`, 'Open');
  if (action === 'Open') await vscode.commands.executeCommand('vscode.open', target);
}

export class Exporter {
  constructor(private readonly extensionUri: vscode.Uri) {}

  /**
   * Runs an export command on `shown` (or says there is nothing to export yet); a failure is shown
   * as a message. Returns where the file went, or undefined.
   * @param target for the trace file: where to write it without asking (the command's argument)
   */
  async exportTrace(command: TraceExportCommand, shown: ExportableTrace | undefined, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    if (!shown) {
      void vscode.window.showInformationMessage('Run "Explain Attention" first: there is nothing to export yet.');
      return undefined;
    }
    try {
      switch (command) {
        case 'attentionLens.exportJson':
          return await this.saveJson(shown.trace);
        case 'attentionLens.exportCsv':
          return await this.saveCsv(shown.trace);
        case 'attentionLens.exportHtml':
          return await this.saveHtml(shown.trace);
        case 'attentionLens.exportTraceFile':
          return await this.saveTraceFile(shown.portable, target);
        default: {
          const unreachable: never = command;
          return unreachable;
        }
      }
    } catch (error) {
      void vscode.window.showErrorMessage(`Attention Lens: the export failed: ${describeFailure(error)}`);
      return undefined;
    }
  }

  /** Writes an image the webview made; returns where, or undefined when the user cancelled. */
  async saveImage(format: 'png' | 'svg', data: string, suggestedName: string): Promise<vscode.Uri | undefined> {
    const target = await askWhere(`${suggestedName}.${format}`, format === 'png' ? { 'PNG image': ['png'] } : { 'SVG image': ['svg'] });
    if (!target) return undefined;
    const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : new TextEncoder().encode(data);
    await write(target, new Uint8Array(bytes), 'the image');
    await done(target);
    return target;
  }

  async saveJson(trace: LazyTrace): Promise<vscode.Uri | undefined> {
    checkTextExport(trace, 'JSON');
    const target = await askWhere(`${exportBaseName(trace.skeleton)}-attention.json`, { JSON: ['json'] });
    if (!target) return undefined;
    await write(target, lazyTraceJsonPieces(trace), 'the trace');
    await done(target);
    return target;
  }

  async saveCsv(trace: LazyTrace): Promise<vscode.Uri | undefined> {
    checkTextExport(trace, 'CSV');
    const target = await askWhere(`${exportBaseName(trace.skeleton)}-attention.csv`, { CSV: ['csv'] });
    if (!target) return undefined;
    await write(target, lazyTraceCsvPieces(trace), 'the attention CSV');
    await done(target);
    return target;
  }

  async saveHtml(trace: LazyTrace): Promise<vscode.Uri | undefined> {
    checkTextExport(trace, 'an HTML report');
    const target = await askWhere(`${exportBaseName(trace.skeleton)}-report.html`, { 'HTML report': ['html'] });
    if (!target) return undefined;
    const asset = (relative: string): Promise<string> => readFile(vscode.Uri.joinPath(this.extensionUri, relative).fsPath, 'utf8');
    const html = buildHtmlReport(await wholeTrace(trace), {
      webviewScript: await asset('dist/webview.js'),
      reportHostScript: await asset('dist/reportHost.js'),
      stylesheet: await asset('media/panel.css'),
    });
    await write(target, html, 'the report');
    await done(target);
    return target;
  }

  /**
   * Writes the trace as a trace file. `trace` keeps its option references (as the CLI's --save
   * does), so whichever host opens the file words its notices its own way.
   * @param target where to write, without asking (a command's argument); else a save dialog asks
   */
  async saveTraceFile(trace: LazyTrace, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const asked = target === undefined;
    target ??= await askWhere(`${exportBaseName(trace.skeleton)}${TRACE_FILE_EXTENSION}`, { 'Attention Lens trace (safetensors)': ['safetensors'] });
    if (!target) return undefined;
    if (target.scheme === 'file') {
      await writeTraceFile(target.fsPath, trace);
    } else {
      const pieces: Uint8Array[] = [];
      for await (const piece of traceFilePieces(trace)) pieces.push(piece.slice());
      await write(target, Buffer.concat(pieces), 'the trace');
    }
    // Asked through a dialog: say where it went and offer to open it (in the trace editor).
    if (asked) void done(target);
    return target;
  }
}
