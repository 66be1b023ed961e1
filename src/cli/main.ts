/**
 * @file `attention-lens` / `npm start -- "text"`: run a model on a piece of text and print what
 * every layer and head attends to. The model runs in the same engine worker the extension uses.
 *
 * Exit codes: 0 success, 1 bad input (the message says what to do), 2 bad usage, 3 internal error,
 * 130 cancelled.
 */
import * as path from 'node:path';
import {
  decodeUtf8, type DownloadProgress, EngineClient, EngineError, type ExplainOptions, type ExportedModel, type LazyTrace, lazyTrace, MAX_TEXT_BYTES, readRegularFile,
  removePartialFiles, TraceFile,
} from '../engine';
import { CancelledError, USAGE_ERROR_CODES, UserFacingError } from '../shared/errors';
import type { AttentionTrace } from '../shared/trace';
import { renderTraceWords } from '../shared/traceWords';
import { type ExportRequest, type OpenRequest, parseCommandLine, type RunRequest, USAGE, UsageError } from './args';
import { ABLATE_SYNTAX } from './ablateArgs';
import { checkJsonSize } from './jsonSize';
import { writeHtmlReport, writeJsonFile, writeJsonToStdout, writeModelFile, writeToStdout, writeTraceFileOutput } from './outputs';
import { formatLazySummary, formatModelList, formatSummary } from './summary';
import { CLI_OPTION_WORDS, cliWords } from './words';

/**
 * A one-line status on a terminal's stderr (what a long load is doing), rewritten in place and
 * cleared at the end. Nothing is written when stderr is a file or a pipe: logs get no noise.
 */
class StatusLine {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  show(text: string): void {
    if (!this.stream.isTTY) return;
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    this.stream.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}

const EXIT = { ok: 0, badInput: 1, usage: 2, internal: 3, cancelled: 130 } as const;

/** Engine codes of a value no run of this model can take, and the flag that gave it: usage errors (exit 2). */
const FLAG_OF_CODE: Readonly<Record<string, string>> = { 'invalid-top-k': '--top-k', 'invalid-ablate': '--ablate' };

/** Prints an error the way its kind deserves and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\nRun attention-lens --help for the options.\n`);
    return EXIT.usage;
  }
  if (error instanceof UserFacingError) {
    // The engine counts top tokens and names heads in facts only (the vocabulary and the layers are
    // known once the model is): here they are --top-k and --ablate.
    const flag = FLAG_OF_CODE[error.code];
    const hint = error.code === 'invalid-ablate' ? `Write --ablate ${ABLATE_SYNTAX}, and --ablate-mode zero or mean.` : cliWords(error.hint);
    process.stderr.write(`${flag ? `${flag}: ` : ''}${cliWords(error.message)}\n${hint}\n`);
    return USAGE_ERROR_CODES.has(error.code) || flag ? EXIT.usage : EXIT.badInput;
  }
  if (error instanceof CancelledError) {
    process.stderr.write('Cancelled.\n');
    return EXIT.cancelled;
  }
  if (error instanceof EngineError && !error.internal) {
    process.stderr.write(`${cliWords(error.message)}\n`);
    return EXIT.badInput;
  }
  process.stderr.write(`Internal error (please report it): ${(error as Error).stack ?? String(error)}\n`);
  return EXIT.internal;
}

async function exportModel(request: ExportRequest, signal: AbortSignal): Promise<number> {
  // The engine thread exports: the CLI process itself never loads model code.
  const client = new EngineClient(path.join(__dirname, 'engineWorker.js'));
  let exported: ExportedModel;
  // Weights too big for one ONNX file go to a data file beside it, named after it.
  const dataLocation = `${path.basename(request.file)}.data`;
  try {
    exported = await client.exportModel({ model: request.model, seed: request.seed, weightsPath: request.weights, tokenizer: request.tokenizer, faults: request.faults, attention: request.attention, dataLocation }, signal);
  } finally {
    await client.dispose();
  }
  const external = exported.externalData;
  if (external) await writeModelFile(path.join(path.dirname(request.file), external.location), external.data);
  await writeModelFile(request.file, exported.model);
  const megabytes = (exported.model.byteLength + (external?.data.byteLength ?? 0)) / 1e6;
  process.stdout.write(`${request.model} exported to ${request.file}${external ? ` and ${external.location} beside it` : ''} (${megabytes.toFixed(1)} MB, ONNX opset 17${request.attention === 'fused' ? ' with com.microsoft GroupQueryAttention' : ''})\n`);
  return EXIT.ok;
}

/** The text to explain, and a notice when the file was not valid UTF-8. */
async function readText(request: RunRequest): Promise<{ text: string; notice?: string }> {
  if (request.file === undefined) return { text: request.text ?? '' };
  const bytes = await readRegularFile(request.file, { maxBytes: MAX_TEXT_BYTES, what: 'the text file' });
  const decoded = decodeUtf8(bytes);
  return {
    text: decoded.text,
    ...(decoded.invalidSequences > 0
      ? { notice: `${request.file} is not valid UTF-8: ${decoded.invalidSequences} byte sequence(s) were read as U+FFFD (the replacement character).` }
      : {}),
  };
}

function explainOptions(request: RunRequest): ExplainOptions {
  const limits = {
    ...(request.maxModelMB !== undefined ? { maxModelMB: request.maxModelMB } : {}),
    ...(request.maxTraceMB !== undefined ? { maxTraceMB: request.maxTraceMB } : {}),
  };
  return {
    model: request.model,
    seed: request.seed,
    weightsPath: request.weights,
    tokenizer: request.tokenizer,
    backend: request.backend,
    threads: request.threads,
    inputs: request.inputs,
    maxTokens: request.maxTokens,
    decoderText: request.decoderText,
    padTo: request.padTo,
    includeScores: request.scores,
    ...(request.topK !== undefined ? { topK: request.topK } : {}),
    ...(request.logitLens ? { logitLens: true } : {}),
    ...(request.valueWeighted ? { valueWeighted: true } : {}),
    ...(request.ablate.length > 0 ? { ablate: request.ablate, ...(request.ablateMode ? { ablateMode: request.ablateMode } : {}) } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(request.dtype !== undefined ? { dtype: request.dtype } : {}),
    // The rest of the Hub's settings (endpoint, token, cache) the engine reads from HF_* itself.
    ...(request.offline ? { hub: { offline: true } } : {}),
  };
}

/** "Downloading onnx/model.onnx: 12.3 of 498.0 MB, 8.1 MB/s" for the status line. */
function downloadStatus(progress: DownloadProgress): string {
  const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
  const size = progress.total !== null ? `${mb(progress.bytes)} of ${mb(progress.total)} MB` : `${mb(progress.bytes)} MB`;
  return `Downloading ${progress.file}: ${size}, ${mb(progress.bytesPerSecond)} MB/s…`;
}

/** After Ctrl+C, how long the run may take to stop by itself before this process stops it. */
const CANCEL_GRACE_MS = 2000;

async function run(request: RunRequest, signal: AbortSignal): Promise<number> {
  const { text, notice } = await readText(request);
  // The engine's thread is never terminated under a run: inside onnxruntime-node's native forward
  // pass that aborts the whole process with a native error. A cancel that does not stop the run in
  // time ends this process instead (main's Ctrl+C handling).
  const client = new EngineClient(path.join(__dirname, 'engineWorker.js'), {
    cancelGraceMs: Number.POSITIVE_INFINITY,
    ...(request.timeLimitSeconds !== undefined ? { timeLimitMs: request.timeLimitSeconds * 1000 } : {}),
  });
  const status = new StatusLine(process.stderr);
  let trace: AttentionTrace;
  try {
    trace = await client.explain(text, explainOptions(request), signal, undefined, (stage, download) => status.show(download ? downloadStatus(download) : `${stage}…`));
  } finally {
    status.clear();
    await client.dispose();
  }
  if (notice) trace.notices.unshift({ code: 'invalid-utf8', message: notice });
  const lazy = lazyTrace(trace);
  // A trace file keeps the notices' option references, so each host that opens it words them its own way.
  const saved = request.save !== undefined ? await writeTraceFileOutput(lazy, request.save, request.half, signal) : null;
  renderTraceWords(trace, CLI_OPTION_WORDS);
  return writeOutputs({ ...lazy, skeleton: { ...trace, blocks: [] } }, request, () => Promise.resolve(trace), () => formatSummary(trace), signal, saved);
}

/** `--open`: a saved trace, printed as its run printed it, and written in the forms asked for. */
async function openTrace(request: OpenRequest, signal: AbortSignal): Promise<number> {
  const file = await TraceFile.open(request.file);
  try {
    const saved = request.save !== undefined ? await writeTraceFileOutput(file, request.save, request.half, signal) : null;
    renderTraceWords(file.skeleton, CLI_OPTION_WORDS);
    return await writeOutputs(file, request, () => file.readTrace(), () => formatLazySummary(file), signal, saved);
  } finally {
    await file.close();
  }
}

/** The summary (or the JSON on stdout), then the files asked for. */
async function writeOutputs(
  trace: LazyTrace, request: { json?: string; html?: string; save?: string }, whole: () => Promise<AttentionTrace>, summary: () => string | Promise<string>,
  signal: AbortSignal, saved: number | null,
): Promise<number> {
  // JSON is for small traces: a big one is written with a warning, a huge one refused (jsonSize.ts).
  const checkJson = (target: string): void => {
    const warning = checkJsonSize(trace, target);
    if (warning) process.stderr.write(`${warning}\n`);
  };
  if (request.json === '-') {
    checkJson('-');
    await writeJsonToStdout(trace);
    return EXIT.ok;
  }
  if (!(await writeToStdout([`${await summary()}\n`]))) return EXIT.ok;
  if (saved !== null) await writeToStdout([`\ntrace saved to ${request.save} (${(saved / 1e6).toFixed(1)} MB)\n`]);
  if (request.json !== undefined) {
    checkJson(request.json);
    await writeJsonFile(trace, request.json, signal);
    await writeToStdout([`\ntrace written to ${request.json}\n`]);
  }
  if (request.html !== undefined) {
    await writeHtmlReport(await whole(), request.html, signal);
    await writeToStdout([`\nreport written to ${request.html}\n`]);
  }
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  let request;
  try {
    request = parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    return report(error);
  }
  if (request.kind === 'help') {
    await writeToStdout([USAGE]);
    return EXIT.ok;
  }
  if (request.kind === 'list-models') {
    await writeToStdout([`${formatModelList()}\n`]);
    return EXIT.ok;
  }
  // Ctrl+C cancels the run (and any file being written); a second one stops at once, removing
  // whatever was being written.
  const controller = new AbortController();
  let interrupts = 0;
  const stopNow = (): void => {
    removePartialFiles();
    process.stderr.write('Cancelled.\n');
    process.exit(EXIT.cancelled);
  };
  const onInterrupt = (): void => {
    interrupts++;
    if (interrupts > 1) stopNow();
    controller.abort();
    // A forward pass checks for the cancel between sub-layers; ONNX Runtime's cannot be interrupted.
    setTimeout(stopNow, CANCEL_GRACE_MS).unref();
  };
  process.on('SIGINT', onInterrupt);
  try {
    if (request.kind === 'export') return await exportModel(request, controller.signal);
    return request.kind === 'open' ? await openTrace(request, controller.signal) : await run(request, controller.signal);
  } catch (error) {
    return report(error);
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
