/**
 * @file The command line, parsed and checked: every flag's value is validated here, so a value that
 * cannot be right for any model (`--max-tokens 0`, `--backend bogus`, `--fault` without
 * `--export-onnx`) is a usage error (exit 2) before any model is loaded.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRESET_NAMES, DEFAULT_MAX_TOKENS, DEFAULT_MODEL, MAX_TOKENS_CEILING, DEFAULT_TOP_K, MAX_TOP_K, EXPORT_FAULTS, type ExportOptions, type ExportFault, type InputSpec, parseInputSpec, BACKEND_SETTINGS, type BackendSetting } from '../engine';
import { UserFacingError } from '../shared/errors';
import { HUB_DTYPES, type HubDtype, isHubSpec, parseHubSpec } from '../engine';
import { JSON_REFUSE_MB, JSON_WARN_MB } from './jsonSize';
import { ABLATE_SYNTAX, parseAblateFlags, parseAblateMode } from './ablateArgs';
import type { AblationTarget } from '../engine';
import type { AblationMode } from '../shared/trace';

export const USAGE = `Usage: attention-lens [options] "text to explain"
       attention-lens [options] --file input.txt
       attention-lens --open trace.attn.safetensors [--json FILE] [--html FILE] [--save FILE [--half]]

Runs a Transformer on the text and prints, for every layer and head, the strongest
attention edge (query token -> key token, weight) and the mean row entropy.

Options:
  --model MODEL             builtin:<preset>, hf:ORG/NAME[@REVISION] (a Hugging Face Hub repository,
                            fetched into its cache), the path of an .onnx file, or a folder laid
                            out as an export (onnx/model.onnx, encoder_model.onnx +
                            decoder_model.onnx, ...) (default ${DEFAULT_MODEL});
                            presets: ${PRESET_NAMES.join(', ')}
  --dtype NAME              which ONNX variant of a Hub repository or folder runs:
                            ${HUB_DTYPES.join(', ')} (default fp32, else the first there is)
  --offline                 Hub models only from the cache, never the network (as HF_HUB_OFFLINE=1);
                            HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE/HF_HOME are read as Hugging Face's
                            own tools read them
  --seed N                  weight seed of a built-in model with random weights (default 0)
  --weights FILE            safetensors weights for the built-in preset
  --tokenizer FILE          tokenizer.json (or its folder). ONNX default: tokenizer.json beside the
                            model, else the one an Attention Lens export carries. Built-in default:
                            bytes; its ids must fit the preset's vocabulary (GPT-2 BPE: gpt2-shape)
  --input NAME=VALUE        an ONNX input given explicitly (repeatable): ids:1,2,3, FILE.npy or
                            random:D1xD2x... (seeded uniform floats); for non-text models
  --backend NAME            ONNX backend: ${BACKEND_SETTINGS.join(', ')} (default auto)
  --threads N               WASM threads for ONNX models (default: all cores)
  --export-onnx FILE        write the built-in model (with --seed/--weights/--tokenizer) as ONNX
                            opset 17 and exit
  --attention NAME          with --export-onnx: how attention is written: plain (default: MatMul,
                            Softmax) or fused (decoder self-attention as com.microsoft
                            GroupQueryAttention, as onnxruntime-genai's model builder writes it)
  --fault NAME              with --export-onnx: plant a bug, for teaching and testing the
                            diagnostics (repeatable): ${EXPORT_FAULTS.join(', ')}
  --max-tokens N            keep at most N tokens per input (default ${DEFAULT_MAX_TOKENS}, at most ${MAX_TOKENS_CEILING})
  --decoder-text TEXT       decoder input of an encoder-decoder model
                            (default: the text shifted right behind <s>)
  --pad-to N                pad the encoder input with <pad> to N tokens (shows the padding mask)
  --scores                  also keep pre-softmax scores (in --json output)
  --top-k N                 how many most likely next tokens the predictions (and the logit lens)
                            keep per position (default ${DEFAULT_TOP_K}, at most the vocabulary and ${MAX_TOP_K})
  --logit-lens              also put the residual stream after every layer through the final norm
                            and the unembedding, and print the top-1 per layer and position
  --value-weighted          also compute value-weighted attention, α·‖v W_O‖ per head (in --json,
                            --save); print per head how many queries' strongest key differs from α's
  --ablate L.H              run the model again with this head's output zeroed (repeatable) and
                            print what changed: KL divergence of the next-token distribution per
                            position, changed top-1 predictions, attention of later blocks.
                            L.H = ${ABLATE_SYNTAX}
  --ablate-mode MODE        zero (default) or mean: replace the head's output by its mean over the
                            input's positions
  --json FILE               write the whole trace as JSON (README "Trace JSON"); - for stdout.
                            For small traces: past ${JSON_WARN_MB} MB it warns, past ${JSON_REFUSE_MB} MB it refuses
                            (most JSON readers cannot read it back); use --save
  --save FILE               write the whole trace as a safetensors trace file (README "Trace
                            files"; name it *.attn.safetensors), read back with --open, in VS Code
                            or with numpy
  --half                    with --save: attention as 16-bit floats (half the size)
  --open FILE               read a saved trace file instead of running a model, and print its
                            summary (with --json, --html, --save: write it in that form)
  --html FILE               write a self-contained HTML report (opens offline in any browser)
  --file FILE               read the text from a file instead of the command line
  --max-model-mb N          largest model (with its external data) or weights file loaded (default 4096)
  --max-trace-mb N          largest attention a run may keep, in MB (default 2048)
  --time-limit SECONDS      stop a run that takes longer (default: no limit)
  --list-models             list the built-in presets
  -h, --help                show this help

Exit codes: 0 success, 1 bad input (the message says what to do), 2 bad usage,
3 internal error, 130 cancelled (Ctrl+C).
`;

type ExportAttention = NonNullable<ExportOptions['attention']>;
/** `--attention` values: a record, so that a new kind of export cannot be left out here. */
const ATTENTION_KINDS: Record<ExportAttention, true> = { plain: true, fused: true };
const EXPORT_ATTENTIONS = Object.keys(ATTENTION_KINDS) as ExportAttention[];

/** A command line that cannot be right whatever the model: exit code 2, with the usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface RunRequest {
  kind: 'run';
  /** The text, or undefined when it is read from `file`. */
  text?: string;
  file?: string;
  model: string;
  seed?: number;
  weights?: string;
  tokenizer?: string;
  backend?: BackendSetting;
  threads?: number;
  inputs: Record<string, InputSpec>;
  maxTokens?: number;
  decoderText?: string;
  padTo?: number;
  scores: boolean;
  /** `--top-k`: tokens per position in the predictions and the logit lens. */
  topK?: number;
  /** `--logit-lens`: the residual stream after every layer through the final norm and unembedding. */
  logitLens: boolean;
  /** `--value-weighted`: each block's α · ‖v W_O‖ too; absent: not asked for. */
  valueWeighted?: boolean;
  /** `--ablate`: heads to switch off in a second run; empty: none. */
  ablate: AblationTarget[];
  /** `--ablate-mode`: how their output is replaced. */
  ablateMode?: AblationMode;
  json?: string;
  html?: string;
  /** `--save`: the trace file to write, and `--half`: its attention as F16. */
  save?: string;
  half: boolean;
  maxModelMB?: number;
  maxTraceMB?: number;
  timeLimitSeconds?: number;
  /** `--dtype`: the variant of a Hub repository. */
  dtype?: HubDtype;
  /** `--offline`: Hub models from the cache only. */
  offline: boolean;
}

export interface ExportRequest {
  kind: 'export';
  file: string;
  model: string;
  seed?: number;
  weights?: string;
  tokenizer?: string;
  faults: ExportFault[];
  /** How the export writes attention (`--attention`); undefined: plain. */
  attention?: ExportAttention;
}

/** `--open FILE`: a saved trace, printed and written in other forms; no model runs. */
export interface OpenRequest {
  kind: 'open';
  file: string;
  json?: string;
  html?: string;
  save?: string;
  half: boolean;
}

export type CliRequest = { kind: 'help' } | { kind: 'list-models' } | RunRequest | ExportRequest | OpenRequest;

/** A whole number flag within [low, high]. */
function wholeNumber(value: string | undefined, flag: string, low: number, high: number): number | undefined {
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < low || number > high) {
    throw new UsageError(`${flag} expects a whole number from ${low} to ${high}, got "${value}".`);
  }
  return number;
}

/** A positive number flag (megabytes, seconds). */
function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) throw new UsageError(`${flag} expects a positive number, got "${value}".`);
  return number;
}

/** `--input NAME=VALUE` flags into explicit input specs; a malformed one is a usage error. */
function parseInputFlags(flags: readonly string[], seed: number): Record<string, InputSpec> {
  const inputs: Record<string, InputSpec> = {};
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    if (equals <= 0) throw new UsageError(`--input expects NAME=VALUE, got "${flag}" (example: --input pixel_values=random:1x3x224x224).`);
    const name = flag.slice(0, equals);
    if (name in inputs) throw new UsageError(`--input gives "${name}" twice.`);
    try {
      inputs[name] = parseInputSpec(flag.slice(equals + 1), seed);
    } catch (error) {
      if (error instanceof UserFacingError) throw new UsageError(`--input ${name}: ${error.message} ${error.hint}`);
      throw error;
    }
  }
  return inputs;
}

const OPTIONS = {
  model: { type: 'string' },
  seed: { type: 'string' },
  weights: { type: 'string' },
  tokenizer: { type: 'string' },
  input: { type: 'string', multiple: true },
  backend: { type: 'string' },
  threads: { type: 'string' },
  'export-onnx': { type: 'string' },
  fault: { type: 'string', multiple: true },
  attention: { type: 'string' },
  'max-tokens': { type: 'string' },
  'decoder-text': { type: 'string' },
  'pad-to': { type: 'string' },
  scores: { type: 'boolean' },
  'top-k': { type: 'string' },
  'logit-lens': { type: 'boolean' },
  'value-weighted': { type: 'boolean' },
  ablate: { type: 'string', multiple: true },
  'ablate-mode': { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  save: { type: 'string' },
  half: { type: 'boolean' },
  open: { type: 'string' },
  file: { type: 'string' },
  'max-model-mb': { type: 'string' },
  'max-trace-mb': { type: 'string' },
  'time-limit': { type: 'string' },
  dtype: { type: 'string' },
  offline: { type: 'boolean' },
  'list-models': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Flags that only make sense for a run, refused with --export-onnx rather than ignored. */
const RUN_ONLY = ['input', 'backend', 'threads', 'max-tokens', 'decoder-text', 'pad-to', 'scores', 'top-k', 'logit-lens', 'value-weighted', 'ablate', 'ablate-mode', 'json', 'html', 'save', 'half', 'open', 'file', 'max-trace-mb', 'time-limit', 'dtype', 'offline'] as const;

/** Flags that make or run a model, refused with --open (a saved trace runs nothing). */
/** A folder given as --model (an export in a repository's layout). */
function isFolder(model: string): boolean {
  try {
    return statSync(model).isDirectory();
  } catch {
    return false;
  }
}

const MODEL_FLAGS = ['model', 'seed', 'weights', 'tokenizer', 'input', 'backend', 'threads', 'export-onnx', 'fault', 'attention', 'max-tokens', 'decoder-text', 'pad-to', 'scores', 'top-k', 'logit-lens', 'value-weighted', 'ablate', 'ablate-mode', 'file', 'max-model-mb', 'max-trace-mb', 'time-limit', 'dtype', 'offline'] as const;

/** An output file flag's value: a name (`-` only where stdout is allowed). */
function outputFile(value: string | undefined, flag: string, stdout: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '' || (!stdout && value === '-')) throw new UsageError(`${flag} needs a file name${stdout ? ' (or - for stdout)' : ''}.`);
  return value;
}

function parseOpen(values: Record<string, unknown>, positionals: readonly string[]): OpenRequest {
  const misplaced = MODEL_FLAGS.filter((flag) => values[flag] !== undefined);
  if (misplaced.length > 0) throw new UsageError(`--open reads a saved trace and runs no model: ${misplaced.map((flag) => `--${flag}`).join(', ')} would be ignored.`);
  if (positionals.length > 0) throw new UsageError('--open reads a saved trace and takes no text.');
  const file = outputFile(values.open as string, '--open', false) as string;
  if (values.half && values.save === undefined) throw new UsageError('--half makes a trace file\'s attention 16-bit: use it with --save FILE.');
  return {
    kind: 'open',
    file,
    json: outputFile(values.json as string | undefined, '--json', true),
    html: outputFile(values.html as string | undefined, '--html', false),
    save: outputFile(values.save as string | undefined, '--save', false),
    half: values.half === true,
  };
}

export function parseCommandLine(argv: readonly string[]): CliRequest {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: OPTIONS });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values['list-models']) return { kind: 'list-models' };
  if (values.open !== undefined) return parseOpen(values, positionals);
  const model = values.model ?? DEFAULT_MODEL;
  if (model.trim() === '') throw new UsageError('--model is empty; give builtin:<preset> or the path of an .onnx file.');
  const seed = wholeNumber(values.seed, '--seed', 0, 0xffffffff);
  const faults = values.fault ?? [];
  const unknownFaults = faults.filter((fault) => !(EXPORT_FAULTS as readonly string[]).includes(fault));
  if (unknownFaults.length > 0) throw new UsageError(`Unknown fault: ${unknownFaults.join(', ')}. Use one of: ${EXPORT_FAULTS.join(', ')}.`);

  const attention = values.attention;
  if (attention !== undefined && !(EXPORT_ATTENTIONS as readonly string[]).includes(attention)) {
    throw new UsageError(`Unknown --attention "${attention}". Use one of: ${EXPORT_ATTENTIONS.join(', ')}.`);
  }

  if (values['export-onnx'] !== undefined) {
    const misplaced = RUN_ONLY.filter((flag) => values[flag] !== undefined);
    if (misplaced.length > 0) throw new UsageError(`--export-onnx writes a model and runs nothing: ${misplaced.map((flag) => `--${flag}`).join(', ')} would be ignored.`);
    if (positionals.length > 0) throw new UsageError('--export-onnx takes no text.');
    if (values['export-onnx'].trim() === '') throw new UsageError('--export-onnx needs a file name.');
    // The fused kernel has no Softmax, scale or causal mask of ours to break: only nan-weight still plants its bug.
    const unplantable = attention === 'fused' ? faults.filter((fault) => fault !== 'nan-weight') : [];
    if (unplantable.length > 0) throw new UsageError(`--fault ${unplantable.join(', ')} breaks plain attention operators, which --attention fused does not write; only nan-weight goes with it.`);
    return { kind: 'export', file: values['export-onnx'], model, seed, weights: values.weights, tokenizer: values.tokenizer, faults: faults as ExportFault[], ...(attention ? { attention: attention as ExportAttention } : {}) };
  }
  if (faults.length > 0) throw new UsageError('--fault plants a bug in an exported model: use it with --export-onnx FILE.');
  if (attention !== undefined) throw new UsageError('--attention chooses how an exported model writes attention: use it with --export-onnx FILE.');

  const dtype = values.dtype;
  if (dtype !== undefined && !(HUB_DTYPES as readonly string[]).includes(dtype)) throw new UsageError(`Unknown --dtype "${dtype}". Use one of: ${HUB_DTYPES.join(', ')}.`);
  if (values.offline && !isHubSpec(model)) throw new UsageError('--offline is for Hugging Face models (--model hf:ORG/NAME).');
  if (dtype !== undefined && !isHubSpec(model) && !isFolder(model)) throw new UsageError('--dtype is for Hugging Face models (--model hf:ORG/NAME) and folders that hold an export\'s variants.');
  if (isHubSpec(model)) {
    try {
      parseHubSpec(model);
    } catch (error) {
      if (error instanceof UserFacingError) throw new UsageError(`${error.message} Write --model hf:ORG/NAME or hf:ORG/NAME@REVISION.`);
      throw error;
    }
  }

  const backend = values.backend;
  if (backend !== undefined && !(BACKEND_SETTINGS as readonly string[]).includes(backend)) {
    throw new UsageError(`Unknown backend "${backend}". Use one of: ${BACKEND_SETTINGS.join(', ')}.`);
  }
  const inputs = parseInputFlags(values.input ?? [], seed ?? 0);
  const usage = (message: string): Error => new UsageError(message);
  const ablate = parseAblateFlags(values.ablate ?? [], usage);
  const ablateMode = parseAblateMode(values['ablate-mode'], ablate.length > 0, usage);
  if (values.file !== undefined && positionals.length > 0) throw new UsageError('Give the text either on the command line or with --file, not both.');
  if (values.file === undefined && positionals.length === 0 && Object.keys(inputs).length === 0) throw new UsageError('No text given.');
  outputFile(values.json, '--json', true);
  outputFile(values.html, '--html', false);
  outputFile(values.save, '--save', false);
  if (values.half && values.save === undefined) throw new UsageError('--half makes a trace file\'s attention 16-bit: use it with --save FILE.');
  return {
    kind: 'run',
    text: values.file === undefined ? positionals.join(' ') : undefined,
    file: values.file,
    model,
    seed,
    weights: values.weights,
    tokenizer: values.tokenizer,
    backend: backend as BackendSetting | undefined,
    threads: wholeNumber(values.threads, '--threads', 1, 1024),
    inputs,
    maxTokens: wholeNumber(values['max-tokens'], '--max-tokens', 1, MAX_TOKENS_CEILING),
    decoderText: values['decoder-text'],
    padTo: wholeNumber(values['pad-to'], '--pad-to', 1, MAX_TOKENS_CEILING),
    scores: values.scores ?? false,
    topK: wholeNumber(values['top-k'], '--top-k', 1, MAX_TOP_K),
    logitLens: values['logit-lens'] ?? false,
    ...(values['value-weighted'] ? { valueWeighted: true } : {}),
    ablate,
    ...(ablateMode !== undefined ? { ablateMode } : {}),
    json: values.json,
    html: values.html,
    save: values.save,
    half: values.half ?? false,
    maxModelMB: positiveNumber(values['max-model-mb'], '--max-model-mb'),
    maxTraceMB: positiveNumber(values['max-trace-mb'], '--max-trace-mb'),
    timeLimitSeconds: positiveNumber(values['time-limit'], '--time-limit'),
    ...(dtype !== undefined ? { dtype: dtype as HubDtype } : {}),
    offline: values.offline ?? false,
  };
}
