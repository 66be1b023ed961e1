/**
 * @file The command line's outputs: the trace as JSON (to a file or stdout), as a trace file
 * (safetensors), the HTML report and an exported model. Files are written atomically (atomicFile.ts): a full disk, a failed write, a
 * second writer or Ctrl+C never leaves a partial file under the name asked for. A stdout that
 * closes early (`| head`) ends the output quietly, as `cat` does.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type FileContent, writeFileAtomic, buildHtmlReport, type LazyTrace, writeTraceFile } from '../engine';
import { UserFacingError } from '../shared/errors';
import type { AttentionTrace } from '../shared/trace';
import { lazyTraceJsonPieces } from '../shared/lazyTrace';

/** Writes the trace's JSON to a file; returns its size in bytes. */
export function writeJsonFile(trace: LazyTrace, file: string, signal: AbortSignal): Promise<number> {
  return writeFileAtomic(file, lazyTraceJsonPieces(trace), { signal, what: 'the trace' });
}

/** Writes the trace as a safetensors trace file (README "Trace files"); returns its size in bytes. */
export function writeTraceFileOutput(trace: LazyTrace, file: string, half: boolean, signal: AbortSignal): Promise<number> {
  return writeTraceFile(file, trace, { half, signal });
}

export async function writeHtmlReport(trace: AttentionTrace, file: string, signal: AbortSignal): Promise<number> {
  // The report inlines the panel's own bundles, which sit beside this file (dist/) and in media/.
  const asset = (relative: string): string => {
    try {
      return readFileSync(path.join(__dirname, relative), 'utf8');
    } catch (error) {
      throw new UserFacingError(`The report cannot be built: ${relative} is missing from this installation (${(error as Error).message}).`, 'Reinstall Attention Lens, or run `npm run build` in a checkout.');
    }
  };
  const html = buildHtmlReport(trace, {
    webviewScript: asset('webview.js'),
    reportHostScript: asset('reportHost.js'),
    stylesheet: asset('../media/panel.css'),
  });
  return writeFileAtomic(file, html, { signal, what: 'the report' });
}

export function writeModelFile(file: string, bytes: FileContent): Promise<number> {
  return writeFileAtomic(file, bytes, { what: 'the model' });
}

/**
 * Writes pieces to stdout, waiting when it is full. Resolves false when the reader went away
 * (EPIPE): the rest is dropped without a word, as other command-line tools do.
 */
export function writeToStdout(pieces: Iterable<string> | AsyncIterable<string>): Promise<boolean> {
  const out = process.stdout;
  return new Promise<boolean>((resolve, reject) => {
    let settled = false;
    const finish = (result: boolean | Error): void => {
      if (settled) return;
      settled = true;
      out.off('error', onError);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onError = (error: NodeJS.ErrnoException): void => finish(error.code === 'EPIPE' ? false : error);
    out.on('error', onError);
    // Waits for room in the pipe, or for the error that says there will be none.
    const drained = (): Promise<void> => new Promise<void>((resume) => {
      const go = (): void => {
        out.off('drain', go);
        out.off('error', go);
        resume();
      };
      out.once('drain', go);
      out.once('error', go);
    });
    const pump = async (): Promise<void> => {
      for await (const piece of pieces) {
        if (settled) return;
        if (!out.write(piece)) await drained();
      }
      if (!settled) out.write('', () => finish(true));
    };
    pump().catch((error: Error) => finish(error));
  });
}

/** The trace's JSON on stdout; false when the reader closed it early. */
export function writeJsonToStdout(trace: LazyTrace): Promise<boolean> {
  return writeToStdout(lazyTraceJsonPieces(trace));
}
