/**
 * @file `attention-lens` / `npm start -- "text"`: run a model on a piece of text and print what
 * every layer and head attends to. The model runs in the same engine worker the extension uses.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { summarizeHeads } from '../engine/analysis/headSummary';
import { PRESET_NAMES } from '../engine/builtin';
import { CancelledError, UserFacingError } from '../engine/errors';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL, type ExplainOptions } from '../engine/explain';
import type { AttentionTrace, Token } from '../engine/trace';
import { findStream } from '../engine/trace';
import { traceJsonChunks } from '../engine/traceJson';
import { EngineClient, EngineError } from '../engine/worker/engineClient';
import { exportBuiltinModel } from '../engine/exportModel';
import { buildHtmlReport } from '../engine/report/htmlReport';
import { EXPORT_FAULTS, type ExportFault } from '../engine/onnx/exportBuiltin';
import { type InputSpec, parseInputSpec } from '../engine/onnx/inputs';
import { PRESETS } from '../engine/reference/config';

const USAGE = `Usage: attention-lens [options] "text to explain"
       attention-lens [options] --file input.txt

Runs a Transformer on the text and prints, for every layer and head, the strongest
attention edge (query token -> key token, weight) and the mean row entropy.

Options:
  --model MODEL             builtin:<preset> or the path of an .onnx file (default ${DEFAULT_MODEL});
                            presets: ${PRESET_NAMES.join(', ')}
  --seed N                  weight seed of a built-in model with random weights (default 0)
  --weights FILE            safetensors weights for the built-in preset
  --tokenizer FILE          tokenizer.json (or its folder). ONNX default: tokenizer.json beside the
                            model, else the one an Attention Lens export carries. Built-in default:
                            bytes; its ids must fit the preset's vocabulary (GPT-2 BPE: gpt2-shape)
  --input NAME=VALUE        an ONNX input given explicitly (repeatable): ids:1,2,3, FILE.npy or
                            random:D1xD2x... (seeded uniform floats); for non-text models
  --backend NAME            ONNX backend: auto (default), wasm, webgpu, native (onnxruntime-node)
  --threads N               WASM threads for ONNX models (default: all cores)
  --export-onnx FILE        write the built-in model (with --seed/--weights/--tokenizer) as ONNX
                            opset 17 and exit
  --fault NAME              with --export-onnx: plant a bug, for teaching and testing the
                            diagnostics (repeatable): missing-scale, causal-off-by-one,
                            softmax-wrong-axis, nan-weight
  --max-tokens N            keep at most N tokens per input (default ${DEFAULT_MAX_TOKENS})
  --decoder-text TEXT       decoder input of an encoder-decoder model
                            (default: the text shifted right behind <s>)
  --pad-to N                pad the encoder input with <pad> to N tokens (shows the padding mask)
  --scores                  also keep pre-softmax scores (in --json output)
  --json FILE               write the whole trace as JSON (README "Trace JSON"); - for stdout
  --html FILE               write a self-contained HTML report (opens offline in any browser)
  --file FILE               read the text from a file instead of the command line
  --list-models             list the built-in presets
  -h, --help                show this help
`;

function parseInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UserFacingError(`${flag} expects a whole number, got "${value}".`, `Example: ${flag} 128`);
  return Number(value);
}

/** A token as the summary shows it: its text, quoted, or its piece for specials. */
function label(token: Token | undefined): string {
  if (!token) return '?';
  return token.special || token.text.trim() === '' || token.piece !== token.text ? token.piece : JSON.stringify(token.text).slice(1, -1);
}

export function formatSummary(trace: AttentionTrace): string {
  const lines: string[] = [];
  const model = trace.model;
  const stacks = [
    model.encoderLayers > 0 ? `${model.encoderLayers} encoder` : '',
    model.decoderLayers > 0 ? `${model.decoderLayers} decoder` : '',
  ].filter(Boolean).join(' + ');
  const forward = trace.timings.find((timing) => timing.stage === 'forward');
  lines.push(`${model.name}: ${model.kind}, ${stacks} layers x ${model.heads} heads, d_model=${model.dModel ?? '?'}, ${model.weights ?? ''}; backend ${trace.backend}${trace.adapter ? ` (${trace.adapter})` : ''}${forward ? `, forward ${forward.ms.toFixed(1)} ms` : ''}`);
  for (const stream of trace.streams) {
    lines.push(`${stream.name} tokens (${stream.tokens.length}, ${model.tokenizer}, ${stream.origin}): ${stream.tokens.map(label).join(' ')}`);
  }
  for (const notice of trace.notices) lines.push(`note: ${notice}`);
  for (const block of trace.blocks) {
    const queryTokens = findStream(trace, block.queryStream).tokens;
    const keyTokens = findStream(trace, block.keyStream).tokens;
    lines.push('');
    lines.push(`layer ${block.layer} ${block.kind} [${block.heads} heads x ${block.queries} queries x ${block.keys} keys], mask: ${block.maskKind}`);
    for (const head of summarizeHeads(block)) {
      const edge = head.strongest
        ? `${label(queryTokens[head.strongest.query])}@${head.strongest.query} -> ${label(keyTokens[head.strongest.key])}@${head.strongest.key}  ${head.strongest.weight.toFixed(3)}`
        : '(no row with a choice)';
      lines.push(`  head ${String(head.head).padStart(2)}  strongest ${edge.padEnd(34)}  entropy ${head.meanEntropyBits.toFixed(2)} bits`);
    }
  }
  const diagnostics = trace.analysis?.diagnostics ?? [];
  lines.push('');
  lines.push(diagnostics.length === 0 ? 'diagnostics: none' : `diagnostics (${diagnostics.length}):`);
  for (const finding of diagnostics) lines.push(`  ${finding.severity.padEnd(7)} ${finding.code.padEnd(17)} ${finding.message}`);
  lines.push('');
  lines.push('residual stream, mean L2 norm per token:');
  for (const step of trace.residual) {
    const mean = step.norms.reduce((sum, norm) => sum + norm, 0) / Math.max(1, step.norms.length);
    lines.push(`  ${step.label.padEnd(36)} ${mean.toFixed(2)}`);
  }
  return lines.join('\n');
}

/** Writes the trace JSON piece by piece, waiting when the stream is full. */
async function writeJson(trace: AttentionTrace, out: Writable): Promise<void> {
  for (const chunk of traceJsonChunks(trace)) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.write('\n');
}

async function writeJsonFile(trace: AttentionTrace, file: string): Promise<void> {
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined); // handled by the races below; an error after them is moot
  try {
    await Promise.race([failed, once(out, 'open')]);
    await Promise.race([failed, writeJson(trace, out)]);
    out.end();
    await Promise.race([failed, once(out, 'finish')]);
  } catch (error) {
    out.destroy();
    if (error instanceof UserFacingError) throw error;
    throw new UserFacingError(`Cannot write the trace to ${file}: ${(error as Error).message}.`, 'Choose a path in a folder that exists and that you can write to.');
  }
}

async function writeHtmlReport(trace: AttentionTrace, file: string): Promise<void> {
  // The report inlines the panel's own bundles, which sit beside this file (dist/) and in media/.
  const asset = (relative: string): string => readFileSync(path.join(__dirname, relative), 'utf8');
  const html = buildHtmlReport(trace, {
    webviewScript: asset('webview.js'),
    reportHostScript: asset('reportHost.js'),
    stylesheet: asset('../media/panel.css'),
  });
  try {
    await writeFile(file, html);
  } catch (error) {
    throw new UserFacingError(`Cannot write the report to ${file}: ${(error as Error).message}.`, 'Choose a path in a folder that exists and that you can write to.');
  }
}

/** `--input NAME=VALUE` flags into explicit input specs. */
function parseInputs(flags: readonly string[], seed: number): Record<string, InputSpec> {
  const inputs: Record<string, InputSpec> = {};
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    if (equals <= 0) throw new UserFacingError(`--input expects NAME=VALUE, got "${flag}".`, 'Example: --input pixel_values=random:1x3x224x224');
    inputs[flag.slice(0, equals)] = parseInputSpec(flag.slice(equals + 1), seed);
  }
  return inputs;
}

async function exportOnnx(file: string, flags: { model: string; seed?: string; weights?: string; tokenizer?: string; faults: string[] }): Promise<number> {
  try {
    const unknown = flags.faults.filter((fault) => !(EXPORT_FAULTS as readonly string[]).includes(fault));
    if (unknown.length > 0) throw new UserFacingError(`Unknown fault: ${unknown.join(', ')}.`, `Use one of: ${EXPORT_FAULTS.join(', ')}.`);
    const bytes = await exportBuiltinModel({ model: flags.model, seed: parseInteger(flags.seed, '--seed'), weightsPath: flags.weights, tokenizer: flags.tokenizer, faults: flags.faults as ExportFault[] });
    try {
      await writeFile(file, bytes);
    } catch (error) {
      throw new UserFacingError(`Cannot write ${file}: ${(error as Error).message}.`, 'Choose a path in a folder that exists and that you can write to.');
    }
    process.stdout.write(`${flags.model} exported to ${file} (${(bytes.length / 1e6).toFixed(1)} MB, ONNX opset 17)\n`);
    return 0;
  } catch (error) {
    if (error instanceof UserFacingError) {
      process.stderr.write(`${error.message}\n${error.hint}\n`);
      return 1;
    }
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    return 3;
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        seed: { type: 'string' },
        weights: { type: 'string' },
        tokenizer: { type: 'string' },
        input: { type: 'string', multiple: true },
        backend: { type: 'string' },
        threads: { type: 'string' },
        'export-onnx': { type: 'string' },
        fault: { type: 'string', multiple: true },
        'max-tokens': { type: 'string' },
        'decoder-text': { type: 'string' },
        'pad-to': { type: 'string' },
        scores: { type: 'boolean' },
        json: { type: 'string' },
        html: { type: 'string' },
        file: { type: 'string' },
        'list-models': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values['list-models']) {
    for (const name of PRESET_NAMES) {
      const config = PRESETS[name];
      process.stdout.write(`builtin:${name.padEnd(14)} ${config.kind.padEnd(16)} layers ${config.encoderLayers}+${config.decoderLayers}  heads ${config.heads}  d_model ${config.dModel}  d_ff ${config.dFF}  ${config.normPlacement}-LN ${config.activation}\n`);
    }
    return 0;
  }
  if (values['export-onnx'] !== undefined) {
    return exportOnnx(values['export-onnx'], { model: values.model ?? DEFAULT_MODEL, seed: values.seed, weights: values.weights, tokenizer: values.tokenizer, faults: values.fault ?? [] });
  }
  let text: string;
  if (values.file !== undefined) {
    try {
      text = readFileSync(values.file, 'utf8');
    } catch (error) {
      process.stderr.write(`Cannot read ${values.file}: ${(error as Error).message}\n`);
      return 1;
    }
  } else if (positionals.length > 0) {
    text = positionals.join(' ');
  } else if ((values.input ?? []).length > 0) {
    text = '';
  } else {
    process.stderr.write(`No text given.\n\n${USAGE}`);
    return 2;
  }

  const client = new EngineClient(path.join(__dirname, 'engineWorker.js'));
  const controller = new AbortController();
  const onInterrupt = (): void => controller.abort();
  process.once('SIGINT', onInterrupt);
  try {
    const options: ExplainOptions = {
      model: values.model,
      seed: parseInteger(values.seed, '--seed'),
      weightsPath: values.weights,
      tokenizer: values.tokenizer,
      backend: values.backend as ExplainOptions['backend'],
      threads: parseInteger(values.threads, '--threads'),
      inputs: parseInputs(values.input ?? [], parseInteger(values.seed, '--seed') ?? 0),
      maxTokens: parseInteger(values['max-tokens'], '--max-tokens'),
      decoderText: values['decoder-text'],
      padTo: parseInteger(values['pad-to'], '--pad-to'),
      includeScores: values.scores ?? false,
    };
    const trace = await client.explain(text, options, controller.signal);
    if (values.json === '-') {
      await writeJson(trace, process.stdout);
    } else {
      process.stdout.write(`${formatSummary(trace)}\n`);
      if (values.json !== undefined) {
        await writeJsonFile(trace, values.json);
        process.stdout.write(`\ntrace written to ${values.json}\n`);
      }
      if (values.html !== undefined) {
        await writeHtmlReport(trace, values.html);
        process.stdout.write(`\nreport written to ${values.html}\n`);
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof UserFacingError) {
      process.stderr.write(`${error.message}\n${error.hint}\n`);
      return 1;
    }
    if (error instanceof CancelledError) {
      process.stderr.write('Cancelled.\n');
      return 130;
    }
    if (error instanceof EngineError && !error.internal) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    return 3;
  } finally {
    process.off('SIGINT', onInterrupt);
    await client.dispose();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
