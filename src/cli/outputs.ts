/**
 * @file The command line's outputs: the trace as JSON (to a file or stdout), the HTML report and an
 * exported model. Files are written atomically (atomicFile.ts): a full disk, a failed write, a
 * second writer or Ctrl+C never leaves a partial file under the name asked for. A stdout that
 * closes early (`| head`) ends the output quietly, as `cat` does.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type FileContent, writeFileAtomic, buildHtmlReport } from '../engine';
import { UserFacingError } from '../shared/errors';
import type { AttentionTrace } from '../shared/trace';
import { traceJsonChunks } from '../shared/traceJson';

/** Writes the trace's JSON to a file; returns its size in bytes. */
export function writeJsonFile(trace: AttentionTrace, file: string, signal: AbortSignal): Promise<number> {
  return writeFileAtomic(file, jsonPieces(trace), { signal, what: 'the trace' });
}

function* jsonPieces(trace: AttentionTrace): Generator<string> {
  yield* traceJsonChunks(trace);
  yield '\n';
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
export function writeToStdout(pieces: Iterable<string>): Promise<boolean> {
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
    const iterator = pieces[Symbol.iterator]();
    const pump = (): void => {
      try {
        for (;;) {
          if (settled) return;
          const next = iterator.next();
          if (next.done) {
            out.write('', () => finish(true));
            return;
          }
          if (!out.write(next.value)) {
            out.once('drain', pump);
            return;
          }
        }
      } catch (error) {
        finish(error as Error);
      }
    };
    pump();
  });
}

/** The trace's JSON on stdout; false when the reader closed it early. */
export function writeJsonToStdout(trace: AttentionTrace): Promise<boolean> {
  return writeToStdout(jsonPieces(trace));
}
