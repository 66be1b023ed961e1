/**
 * @file Saving what the panel shows: the view as PNG or the heatmap as SVG (made by the webview),
 * the trace's numbers as JSON or CSV, and a self-contained HTML report, each through a save dialog
 * that starts in the workspace.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { writeFileAtomic, buildHtmlReport } from '../engine';
import { renderTraceWords } from '../shared/traceWords';
import { VSCODE_OPTION_WORDS } from './words';
import type { AttentionTrace } from '../shared/trace';
import { traceCsvChunks } from '../shared/traceCsv';
import { traceJsonChunks } from '../shared/traceJson';

function defaultFolder(): vscode.Uri | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri;
}

/** A file name from the model and what is exported: "tiny-decoder-attention.json". */
export function exportBaseName(trace: AttentionTrace): string {
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
async function write(target: vscode.Uri, content: Iterable<string> | Uint8Array, what: string): Promise<void> {
  if (target.scheme === 'file') {
    await writeFileAtomic(target.fsPath, content, { what });
    return;
  }
  const bytes = content instanceof Uint8Array ? content : new TextEncoder().encode([...content].join(''));
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

  /** Writes an image the webview made; returns where, or undefined when the user cancelled. */
  async saveImage(format: 'png' | 'svg', data: string, suggestedName: string): Promise<vscode.Uri | undefined> {
    const target = await askWhere(`${suggestedName}.${format}`, format === 'png' ? { 'PNG image': ['png'] } : { 'SVG image': ['svg'] });
    if (!target) return undefined;
    const bytes = format === 'png' ? Buffer.from(data.slice(data.indexOf(',') + 1), 'base64') : new TextEncoder().encode(data);
    await write(target, new Uint8Array(bytes), 'the image');
    await done(target);
    return target;
  }

  async saveJson(trace: AttentionTrace): Promise<vscode.Uri | undefined> {
    const target = await askWhere(`${exportBaseName(trace)}-attention.json`, { JSON: ['json'] });
    if (!target) return undefined;
    await write(target, traceJsonChunks(renderTraceWords(trace, VSCODE_OPTION_WORDS)), 'the trace');
    await done(target);
    return target;
  }

  async saveCsv(trace: AttentionTrace): Promise<vscode.Uri | undefined> {
    const target = await askWhere(`${exportBaseName(trace)}-attention.csv`, { CSV: ['csv'] });
    if (!target) return undefined;
    await write(target, traceCsvChunks(trace), 'the attention CSV');
    await done(target);
    return target;
  }

  async saveHtml(trace: AttentionTrace): Promise<vscode.Uri | undefined> {
    const target = await askWhere(`${exportBaseName(trace)}-report.html`, { 'HTML report': ['html'] });
    if (!target) return undefined;
    const asset = (relative: string): Promise<string> => readFile(vscode.Uri.joinPath(this.extensionUri, relative).fsPath, 'utf8');
    const html = buildHtmlReport(trace, {
      webviewScript: await asset('dist/webview.js'),
      reportHostScript: await asset('dist/reportHost.js'),
      stylesheet: await asset('media/panel.css'),
    });
    await write(target, html, 'the report');
    await done(target);
    return target;
  }
}
