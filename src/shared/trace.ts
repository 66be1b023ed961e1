/**
 * @file The AttentionTrace: the one data contract every part of Attention Lens speaks.
 *
 * The engine (built-in reference model or an ONNX model) produces a trace; the CLI prints it, the
 * extension host keeps it and the webview draws it. Nothing here imports `vscode` or Node APIs, so
 * the same module serves the worker, the host, the webview and the tests.
 *
 * Layout conventions (every array is row-major, dimension letters used below):
 *   H = heads, Q = query tokens, K = key tokens, T = tokens of a stream.
 *   - `probs`  : Float32Array [H, Q, K]; element (h, q, k) is at `(h * Q + q) * K + k`.
 *                Each row (h, q, ·) sums to 1; blocked cells are exactly 0.
 *   - `scores` : Float32Array [H, Q, K], optional: the scaled logits q·k/sqrt(d_head) BEFORE the
 *                mask is applied (so a blocked cell still shows what the model would have scored).
 *   - `valueWeighted`: Float32Array [H, Q, K], optional: α · ‖v_k W_O‖ per head (AttentionBlock).
 *   - `mask`   : Uint8Array [Q, K], 1 = the key may be attended, 0 = blocked; `null` when the block
 *                applied no mask at all (every cell allowed).
 *   - residual `norms`: Float32Array [T], the L2 norm of each token's residual-stream vector.
 *
 * Token offsets are UTF-16 code-unit indices into the stream's `text` (JavaScript string indices,
 * the same unit VS Code's `document.offsetAt` uses), so `text.slice(start, end) === token.text`
 * for every token. Special tokens that have no source text ([CLS], <s>) have `start === end`.
 *
 * The binary form (see traceBinary.ts) and the JSON form (see traceJson.ts) carry exactly this.
 */

import type { TraceAnalysis } from './analysis';
import type { Backend, BlockKind, MaskKind, ModelKind, ModelSource, ResidualStage, StreamName } from './names';

/** Bumped whenever a field changes meaning or the binary layout changes. */
export const TRACE_FORMAT_VERSION = 2;

export type { Backend, BlockKind, MaskKind, ModelKind, ModelSource, ResidualStage, StreamName } from './names';

/**
 * A fact about a run the user must see: what was cut, filled, found odd or not found, which
 * backend ran and why. `message` may name options by reference (errors.ts `optionRef`); the host
 * that shows or saves the trace renders them (traceWords.ts).
 */
export interface TraceNotice {
  /** What kind of fact: 'truncated', 'backend', 'no-scale', … (README "Notices" lists them). */
  code: string;
  message: string;
}

/** A notice, written compactly where it is raised. */
export function notice(code: string, message: string): TraceNotice {
  return { code, message };
}

export interface ModelInfo {
  /** Display name, e.g. "builtin:tiny-decoder" or the ONNX file name. */
  name: string;
  kind: ModelKind;
  source: ModelSource;
  /** Built-in preset name, when `source === 'builtin'`. */
  preset?: string;
  /** Absolute path of the model file, when loaded from disk. */
  path?: string;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  /** Width of the residual stream; null when a foreign ONNX graph does not tell. */
  dModel: number | null;
  dFF?: number;
  vocabSize?: number;
  /** Post-LN (the paper) or pre-LN (GPT-2). */
  normPlacement?: 'post' | 'pre';
  activation?: 'relu' | 'gelu';
  /** Weight seed for seeded built-in weights; absent when weights came from a file. */
  seed?: number;
  /** Where the weights came from: "seed 1234" or a safetensors path. */
  weights?: string;
  parameterCount?: number;
  tokenizer: string;
}

export interface Token {
  /** Vocabulary id fed to the model. */
  id: number;
  /** Exactly `streamText.slice(start, end)`; empty for special tokens. */
  text: string;
  /** The vocabulary entry, for display ("Ġcat", "##s", "<0xF0>", "[CLS]"). */
  piece: string;
  /** UTF-16 offsets into the stream's `text`, end exclusive. */
  start: number;
  end: number;
  /** Added by the tokenizer or the model (e.g. [CLS], <s>), not from the text. */
  special: boolean;
}

export interface TokenStream {
  name: StreamName;
  /** The text the offsets index into. For the stream fed from the user's selection, the selection. */
  text: string;
  /**
   * How this stream's text was chosen: the user's selection, the selection shifted right behind a
   * start token (the default decoder input of an encoder-decoder), or a separate text the user gave.
   */
  origin: 'selection' | 'shifted-selection' | 'custom';
  tokens: Token[];
}

export interface AttentionBlock {
  /** 0-based layer index within its stack. */
  layer: number;
  kind: BlockKind;
  queryStream: StreamName;
  keyStream: StreamName;
  heads: number;
  /**
   * Grouped-query attention: how many key/value heads the block has, and which one each query head
   * reads (`kvHeadOf[h]`). Absent when every query head has its own keys and values.
   */
  kvHeads?: number;
  kvHeadOf?: number[];
  /** Each query sees at most this many most recent keys (a sliding window), when the block has one. */
  slidingWindow?: number;
  /**
   * The model's own name for this attention, from its graph (the module path of an exporter's node
   * names: "model.layers.3.self_attn"); absent when the graph does not name it.
   */
  source?: string;
  queries: number;
  keys: number;
  /** [heads, queries, keys], rows sum to 1. */
  probs: Float32Array;
  /** [heads, queries, keys], scaled logits before masking; optional. */
  scores?: Float32Array;
  /**
   * [queries, keys], the mean over heads: the panel's default view, computed once by the engine
   * after the run so a 1024² block is painted without first averaging its heads. Optional.
   */
  meanProbs?: Float32Array;
  /**
   * [heads, queries, keys], optional: value-weighted attention (Kobayashi et al. 2020),
   * α[h,q,k] · ‖v_k^h W_O^h‖: key k's value vector in head h (bias included; with grouped-query
   * attention the KV head h reads) through head h's rows of the output projection, its norm times
   * the weight. W_O's bias belongs to no head and is left out. Exactly 0 wherever `probs` is 0.
   */
  valueWeighted?: Float32Array;
  maskKind: MaskKind;
  /** [queries, keys], 1 allowed / 0 blocked; null when nothing was masked. */
  mask: Uint8Array | null;
}

export interface ResidualStep {
  /** Human label, e.g. "decoder L2 + cross-attention". */
  label: string;
  stream: StreamName;
  /** Layer the step belongs to; null for the embedding step. */
  layer: number | null;
  stage: ResidualStage;
  /** [tokens of the stream], L2 norm of each token's residual vector after this step. */
  norms: Float32Array;
}

export interface StageTiming {
  /** e.g. "tokenize", "forward", "serialize". */
  stage: string;
  ms: number;
}

export interface Truncation {
  stream: StreamName;
  /** Tokens the text produced. */
  originalTokens: number;
  /** Tokens kept (the first ones). */
  keptTokens: number;
  maxTokens: number;
}

/** One of the most likely next tokens at a position. */
export interface TokenPrediction {
  /** Vocabulary id. */
  id: number;
  /** What the id stands for, from the run's tokenizer ("[id]" where it cannot say). */
  text: string;
  /** Softmax probability over the whole vocabulary, in [0, 1]. */
  prob: number;
}

/** The LM head's top-k next tokens of one stream: `top[position]`, most likely first. */
export interface StreamPredictions {
  stream: StreamName;
  top: TokenPrediction[][];
}

/**
 * The logit lens of one layer: that layer's residual-stream output put through the final norm and
 * the unembedding, as the top-k tokens per position. The last layer's equals the predictions.
 */
export interface LogitLensLayer {
  stream: StreamName;
  /** 0-based layer whose output was read. */
  layer: number;
  top: TokenPrediction[][];
}

/** How an ablated head's output is replaced: by zeros, or by its mean over the input's query positions. */
export type AblationMode = 'zero' | 'mean';
export const ABLATION_MODES: readonly AblationMode[] = ['zero', 'mean'];

/** One head switched off in an ablation run. */
export interface AblatedHead {
  /** Index into `blocks` of the head's block. */
  blockIndex: number;
  kind: BlockKind;
  /** 0-based layer within its stack. */
  layer: number;
  /** 0-based head within the block. */
  head: number;
}

/** A position whose most likely next token changed when the heads were ablated. */
export interface ChangedPrediction {
  position: number;
  before: TokenPrediction;
  after: TokenPrediction;
}

/**
 * How the attention of one block later in the residual stream than the first ablated head moved:
 * |ablated − original| over its cells, per head (the full difference is not kept: a run's
 * attention twice over).
 */
export interface AblationBlockChange {
  blockIndex: number;
  kind: BlockKind;
  layer: number;
  /** The largest |Δ| over every head and cell of the block. */
  maxAbs: number;
  /** Per head, the mean |Δ| over its allowed cells. */
  meanAbs: number[];
  /** Per head, the largest |Δ|. */
  maxAbsPerHead: number[];
}

/**
 * The model run a second time with some heads' outputs replaced (zeroed, or set to their mean over
 * the query positions): what changed in its next-token predictions and in the attention of the
 * blocks after them. The trace itself stays the original run's.
 */
export interface AblationResult {
  heads: AblatedHead[];
  mode: AblationMode;
  /** The stream the LM head reads (absent, with kl and changedTop, when the model has no logits). */
  stream?: StreamName;
  /** Per position, KL(original ‖ ablated) of the next-token distribution, in bits. */
  kl?: number[];
  /** Positions whose top-1 prediction changed, with the top-1 before and after. */
  changedTop?: ChangedPrediction[];
  /** Every block after the first ablated head's block, in trace order. */
  blocks: AblationBlockChange[];
}

export interface AttentionTrace {
  formatVersion: number;
  model: ModelInfo;
  backend: Backend;
  /** The GPU adapter when the backend is webgpu, e.g. "nvidia ampere, NVIDIA H200". */
  adapter?: string;
  streams: TokenStream[];
  blocks: AttentionBlock[];
  residual: ResidualStep[];
  timings: StageTiming[];
  truncation: Truncation[];
  /** Things the user should know about this run, in plain words (truncation, substitutions). */
  /** Facts the user must see with the result, each with a code hosts can decide by (README lists them). */
  notices: TraceNotice[];
  /** ISO time the trace was made. */
  createdAt: string;
  /** Head statistics, rollout and diagnostics (analysis/), computed by the engine after the run. */
  analysis?: TraceAnalysis;
  /** Top-k next tokens per position, for each stream that feeds an LM head; absent without one. */
  predictions?: StreamPredictions[];
  /** The logit lens, one entry per layer in order, when the run asked for it and the model allows it. */
  logitLens?: LogitLensLayer[];
  /** What ablating the heads the run was asked to switch off changed; absent when it asked for none. */
  ablation?: AblationResult;
}

/** The stream a block's queries or keys index into. */
export function findStream(trace: AttentionTrace, name: StreamName): TokenStream {
  const stream = trace.streams.find((candidate) => candidate.name === name);
  if (!stream) {
    throw new Error(`trace has no "${name}" token stream`);
  }
  return stream;
}

/** Index of element (head, query, key) in a `[heads, queries, keys]` array. */
export function probIndex(block: Pick<AttentionBlock, 'queries' | 'keys'>, head: number, query: number, key: number): number {
  return (head * block.queries + query) * block.keys + key;
}

/** One attention row as a view (no copy). */
export function attentionRow(block: Pick<AttentionBlock, 'probs' | 'queries' | 'keys'>, head: number, query: number): Float32Array {
  const offset = probIndex(block, head, query, 0);
  return block.probs.subarray(offset, offset + block.keys);
}

/** One head's [queries, keys] weights as a view (no copy). */
export function headProbs(block: Pick<AttentionBlock, 'probs' | 'queries' | 'keys'>, head: number): Float32Array {
  const size = block.queries * block.keys;
  return block.probs.subarray(head * size, (head + 1) * size);
}

/** Whether the block lets `query` attend to `key` (every cell when it applied no mask). */
export function maskAllows(block: Pick<AttentionBlock, 'mask' | 'keys'>, query: number, key: number): boolean {
  return !block.mask || block.mask[query * block.keys + key] === 1;
}
