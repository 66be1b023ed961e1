/**
 * @file What a run can be asked for (ExplainOptions), the defaults, and the checks made on entry.
 * Light on purpose (no ONNX Runtime, no model code): the hosts read and check their settings with it.
 */
import { availableParallelism } from 'node:os';
import type { DiagnosticThresholds } from '../shared/analysis';
import { ABLATION_MODES, type AblationMode, type BlockKind } from '../shared/trace';
import { type OptionName, optionRef, UserFacingError } from '../shared/errors';
import { checkEndpoint, HUB_DTYPES, type HubDtype, type HubOptions } from './hub/settings';
import { isHubSpec, parseHubSpec } from './hub/spec';
import type { ResourceLimits } from './limits';
import type { InputSpec } from './onnx/inputSpec';
import { DEFAULT_PRESET } from './reference/config';

/** 'reference' runs built-in models in TypeScript; for ONNX files it means 'auto'. */
export type BackendSetting = 'auto' | 'reference' | 'wasm' | 'webgpu' | 'native';
export const BACKEND_SETTINGS: readonly BackendSetting[] = ['auto', 'reference', 'wasm', 'webgpu', 'native'];

export const DEFAULT_MODEL = `builtin:${DEFAULT_PRESET}`;
export const DEFAULT_MAX_TOKENS = 512;
/** Above this the attention of a single block alone passes hundreds of MB. */
export const MAX_TOKENS_CEILING = 8192;

/** Top tokens per position when a run does not say: the runner-up guesses, few enough to read. */
export const DEFAULT_TOP_K = 5;
/**
 * The most top tokens per position kept: each is an object with its text, so 50 257 of them on 512
 * positions (and again per layer for the lens) would be gigabytes for a list no one reads.
 */
export const MAX_TOP_K = 1000;

/** The most heads one run may ablate: more is a typo, not a question (gpt2-shape has 144). */
export const MAX_ABLATED_HEADS = 4096;

const BLOCK_KINDS: readonly BlockKind[] = ['self', 'encoder-self', 'decoder-self', 'cross'];

/**
 * A head to ablate: 0-based layer and head, and the kind of block when the model has more than one
 * (an encoder-decoder's encoder-self, decoder-self and cross); without a kind, the model's one kind
 * of self-attention.
 */
export interface AblationTarget {
  kind?: BlockKind;
  layer: number;
  head: number;
}

export interface ExplainOptions {
  /** "builtin:<preset>", "hf:ORG/NAME[@REVISION]" (a Hugging Face Hub repository) or the path of an .onnx file; default builtin:trained-decoder. */
  model?: string;
  /** Which ONNX variant of a Hub repository runs (fp32, fp16, q8, q4); default: fp32, else the first there is. */
  dtype?: HubDtype;
  /** How a Hub model is fetched: endpoint, token, offline, cache folder (each defaults to the HF_* environment). */
  hub?: HubOptions;
  /**
   * auto (default), reference, wasm, webgpu or native. Built-in models run in TypeScript with
   * 'reference' (and with 'auto' for the small presets, where it is fastest); otherwise through
   * their own ONNX export on ONNX Runtime. ONNX files run on ONNX Runtime ('reference' = 'auto').
   */
  backend?: BackendSetting;
  /** WASM threads for ONNX models; default: all cores. */
  threads?: number;
  /** Explicit tensors for ONNX inputs by name (non-text models, or inputs text cannot fill). */
  inputs?: Record<string, InputSpec>;
  /** Weight seed of a built-in model. */
  seed?: number;
  /** safetensors weights for a built-in model (tensor names: README "Weights"). */
  weightsPath?: string;
  /** Tokenizer of a built-in model: "bytes" (default) or a tokenizer.json path (its ids must fit the vocabulary). */
  tokenizer?: string;
  /** Tokens kept per stream; longer inputs are truncated, and the trace says so. Default 512. */
  maxTokens?: number;
  /** Decoder input of an encoder-decoder model; default: the selection shifted right behind <s>. */
  decoderText?: string;
  /** Pad the encoder input with <pad> tokens up to this length, to show the padding mask. */
  padTo?: number;
  /** Keep the pre-softmax scores in the trace. */
  includeScores?: boolean;
  /** Top tokens per position in the predictions and the logit lens; default 5, at most the vocabulary. */
  topK?: number;
  /** Also put every layer's residual stream through the final norm and the unembedding (the logit lens). */
  logitLens?: boolean;
  /**
   * Also give each block its value-weighted attention, α · ‖v W_O‖ per head, query and key
   * (AttentionBlock.valueWeighted): built-in models always, ONNX models where the value path is
   * found (else notice value-weighted-unavailable).
   */
  valueWeighted?: boolean;
  /**
   * Heads to ablate: the model runs a second time with their outputs replaced, and the trace's
   * `ablation` says what changed (the trace stays the first run's).
   */
  ablate?: AblationTarget[];
  /** zero (default): the heads' outputs are zeroed; mean: replaced by their mean over the query positions. */
  ablateMode?: AblationMode;
  /** When diagnostics fire (defaults: analysis/types.ts DEFAULT_THRESHOLDS). */
  thresholds?: Partial<DiagnosticThresholds>;
  /** Ceilings that protect the editor from a run it cannot hold (settings "attentionLens.limits.*"). */
  limits?: ResourceLimits;
}

function checkInteger(value: number | undefined, name: OptionName, low: number, high: number): void {
  if (value !== undefined && (!Number.isInteger(value) || value < low || value > high)) {
    throw new UserFacingError(`Invalid ${optionRef(name)}: ${String(value)}.`, `Use a whole number from ${low} to ${high}.`, { code: 'invalid-option', facts: { option: name, value: String(value) } });
  }
}

/** The most WASM threads ever started: more only costs memory (each thread has its own stack). */
const MAX_THREADS = 1024;

export function validateOptions(options: ExplainOptions): void {
  checkInteger(options.maxTokens, 'maxTokens', 1, MAX_TOKENS_CEILING);
  checkInteger(options.padTo, 'padTo', 1, MAX_TOKENS_CEILING);
  checkInteger(options.seed, 'seed', 0, 0xffffffff);
  checkInteger(options.threads, 'threads', 1, MAX_THREADS);
  // The vocabulary bounds it too, checked once the model is known (analysis/topTokens.ts checkTopK).
  if (options.topK !== undefined && !(Number.isInteger(options.topK) && options.topK >= 1 && options.topK <= MAX_TOP_K)) {
    throw new UserFacingError(`${String(options.topK)} top tokens per position were asked for.`, `Ask for a whole number of top tokens from 1 to ${MAX_TOP_K}.`, { code: 'invalid-top-k', facts: { topK: String(options.topK), limit: MAX_TOP_K } });
  }
  checkAblation(options);
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      const option: OptionName = name === 'maxTraceMB' ? 'maxTraceMB' : 'maxModelMB';
      throw new UserFacingError(`Invalid ${optionRef(option)}: ${String(value)}.`, 'Use a positive number of megabytes.', { code: 'invalid-option', facts: { option, value: String(value) } });
    }
  }
  if (options.dtype !== undefined && !(HUB_DTYPES as readonly string[]).includes(options.dtype)) {
    throw new UserFacingError(`Unknown variant "${String(options.dtype)}" (${optionRef('dtype')}).`, `Use ${HUB_DTYPES.join(', ')}.`, { code: 'invalid-option', facts: { option: 'dtype', value: String(options.dtype) } });
  }
  if (options.model !== undefined && isHubSpec(options.model)) parseHubSpec(options.model);
  if (options.hub?.endpoint) checkEndpoint(options.hub.endpoint);
  if (options.backend !== undefined && !(BACKEND_SETTINGS as readonly string[]).includes(options.backend)) {
    throw new UserFacingError(`Unknown backend "${String(options.backend)}" (${optionRef('backend')}).`, `Use ${BACKEND_SETTINGS.join(', ')}.`, { code: 'invalid-option', facts: { option: 'backend', value: String(options.backend) } });
  }
}

/**
 * The ablation's form: whole numbers, known kinds and modes, no head twice. Whether the layer and
 * head exist is checked once the model is known (analysis/ablation.ts resolveAblation). In facts,
 * code invalid-ablate: each host names its own option.
 */
function checkAblation(options: ExplainOptions): void {
  const refuse = (message: string, target: string): never => {
    throw new UserFacingError(message, 'Name each head as its layer and head, both counted from 0, and use the mode zero or mean.', { code: 'invalid-ablate', facts: { target } });
  };
  if (options.ablateMode !== undefined && !(ABLATION_MODES as readonly string[]).includes(options.ablateMode)) refuse(`Unknown ablation mode "${String(options.ablateMode)}"; the modes are ${ABLATION_MODES.join(', ')}.`, String(options.ablateMode));
  const targets = options.ablate ?? [];
  if (!Array.isArray(targets)) return refuse('The heads to ablate are not a list.', String(targets));
  if (targets.length > MAX_ABLATED_HEADS) refuse(`${targets.length} heads were asked to be ablated; at most ${MAX_ABLATED_HEADS} are.`, String(targets.length));
  const seen = new Set<string>();
  for (const target of targets) {
    const named = `${target?.kind ? `${target.kind} ` : ''}layer ${String(target?.layer)} head ${String(target?.head)}`;
    if (typeof target !== 'object' || target === null || !Number.isSafeInteger(target.layer) || target.layer < 0 || !Number.isSafeInteger(target.head) || target.head < 0) refuse(`The head to ablate ${named} is not a pair of whole numbers from 0.`, named);
    if (target.kind !== undefined && !BLOCK_KINDS.includes(target.kind)) refuse(`The head to ablate ${named} names an unknown kind of block; the kinds are ${BLOCK_KINDS.join(', ')}.`, named);
    const key = `${target.kind ?? ''}:${target.layer}:${target.head}`;
    if (seen.has(key)) refuse(`The head ${named} is asked to be ablated twice.`, named);
    seen.add(key);
  }
}

/**
 * Threads beyond the cores only add memory and contention (256 WASM threads took 2.8 GB and 25 s
 * for a 3 s run): a request for more runs on the cores there are, with a notice.
 */
export function effectiveThreads(requested: number | undefined, cores = availableParallelism()): { threads: number; notice: string | null } {
  if (requested === undefined) return { threads: cores, notice: null };
  if (requested <= cores) return { threads: requested, notice: null };
  return { threads: cores, notice: `${requested} threads were asked for (${optionRef('threads')}), but this machine has ${cores} cores: ${cores} ran.` };
}


